"""Semantic segmentation: label maps processed beside their images, and logits turned back into maps.

    processor(images, segmentation_maps=maps)
        images ─► pixel_values (as every image processor)
        maps   ─► [reduce labels: 0 -> 255 (ignored), k -> k - 1] ─► nearest resize (and crop) ─► labels (B, H, W) int64
    processor.post_process_semantic_segmentation(outputs, target_sizes)
        logits (B, classes, h, w) ─► [bilinear resize to each target size] ─► argmax ─► one (H, W) map per image

``do_reduce_labels`` is for datasets such as ADE20k whose label 0 is a background that is not a class.
"""

from __future__ import annotations

from typing import Any

import torch

from .image_processing import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, BILINEAR, BaseImageProcessor, BatchFeature
from .image_processing import IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD

IGNORE_LABEL = 255


def reduce_labels(label: torch.Tensor) -> torch.Tensor:
    """0 (background) -> 255 (ignored by the loss), every other label k -> k - 1; 255 stays 255."""
    label = torch.where(label == 0, torch.full_like(label, IGNORE_LABEL), label) - 1
    return torch.where(label == IGNORE_LABEL - 1, torch.full_like(label, IGNORE_LABEL), label)


class SegmentationMapsMixin:
    """``segmentation_maps=`` beside the images, and ``post_process_semantic_segmentation``."""

    extra_inputs = ("segmentation_maps",)

    def preprocess(self, images: Any, segmentation_maps: Any = None, **kwargs: Any) -> BatchFeature:
        """``pixel_values`` for the images and, given ``segmentation_maps`` (one (H, W) map per image:
        PIL images, arrays or tensors of class ids), their ``labels`` resized and cropped as the images are."""
        options = self.call_options(kwargs)
        images = self.prepare_images(images, options)
        data = self._preprocess(images, **{**options, "do_reduce_labels": False})
        if segmentation_maps is not None:
            maps = self.prepare_images(segmentation_maps, options, expected_ndims=2, do_convert_rgb=False,
                                       input_data_format="channels_first")
            if len(maps) != len(images):
                raise ValueError(f"Got {len(images)} images and {len(maps)} segmentation maps: pass one (H, W) map "
                                 "per image.")
            if options.get("do_reduce_labels"):
                maps = [reduce_labels(label) for label in maps]
            map_options = {**options, "do_rescale": False, "do_normalize": False, "do_pad": False, "resample": "nearest_exact",
                           "trace": None}  # a trace follows the images, not their maps
            data["labels"] = [label[0].to(torch.int64) for label in self._preprocess(maps, **map_options)["pixel_values"]]
        return self.to_batch(data, options["return_tensors"])

    def post_process_semantic_segmentation(self, outputs: Any, target_sizes: Any = None,
                                           return_segmentation_scores: bool = False) -> list:
        """One (H, W) map of class ids per image from ``outputs.logits`` (B, classes, h, w), resized
        (bilinear, on the logits) to ``target_sizes[i]`` = (height, width) when given. With
        ``return_segmentation_scores=True``, dicts with ``segmentation`` and the resized logits
        (``segmentation_scores``)."""
        logits = outputs.logits
        if target_sizes is not None and len(target_sizes) != len(logits):
            raise ValueError(f"Got {len(target_sizes)} target sizes for a batch of {len(logits)} logits: pass one "
                             "(height, width) per image.")
        if isinstance(target_sizes, torch.Tensor):
            target_sizes = target_sizes.tolist()
        results = []
        for index, scores in enumerate(logits):
            if target_sizes is not None:
                size = [int(value) for value in target_sizes[index]]
                scores = torch.nn.functional.interpolate(scores[None], size=size, mode="bilinear", align_corners=False)[0]
            segmentation = scores.argmax(dim=0)
            results.append(BatchFeature(segmentation=segmentation, segmentation_scores=scores)
                           if return_segmentation_scores else segmentation)
        return results


class SegformerImageProcessor(SegmentationMapsMixin, BaseImageProcessor):
    """SegFormer: 512 x 512 bilinear, ImageNet's mean and std; label maps as the mixin says."""

    settings = {**BaseImageProcessor.settings, "do_resize": True, "size": {"height": 512, "width": 512},
                "resample": BILINEAR, "do_rescale": True, "do_normalize": True, "do_reduce_labels": False,
                "image_mean": IMAGENET_DEFAULT_MEAN, "image_std": IMAGENET_DEFAULT_STD}

    def __init__(self, **kwargs: Any) -> None:
        if "reduce_labels" in kwargs:  # the name in old configs
            kwargs.setdefault("do_reduce_labels", kwargs.pop("reduce_labels"))
        super().__init__(**kwargs)

    def process_one(self, image: torch.Tensor, options: dict[str, Any]) -> torch.Tensor:
        return super().process_one(image, {**options, "do_center_crop": False})  # the reference never crops here


class MobileNetV2ImageProcessor(SegmentationMapsMixin, BaseImageProcessor):
    """MobileNetV2: the short side to 256 (bilinear), the central 224 x 224; label maps for its
    DeepLabV3 head as the mixin says."""

    settings = {**BaseImageProcessor.settings, "do_resize": True, "do_rescale": True, "do_normalize": True, "size": {"shortest_edge": 256}, "resample": BILINEAR, "do_center_crop": True,
                "crop_size": {"height": 224, "width": 224}, "do_reduce_labels": False,
                "image_mean": IMAGENET_STANDARD_MEAN, "image_std": IMAGENET_STANDARD_STD}
    default_to_square = False


SegformerImageProcessorFast = SegformerImageProcessor
MobileNetV2ImageProcessorFast = MobileNetV2ImageProcessor
