"""``DetrImageProcessor``: images of any size for DETR, and its predictions as boxes.

    images ─► resize (short side 800, long side at most 1333, bilinear) ─► rescale, normalize
           ─► zero-pad bottom / right to the batch's largest ─► pixel_values (B, 3, H, W), pixel_mask (B, H, W)
    post_process_object_detection(outputs, threshold, target_sizes)
        softmax over the classes, the "no object" class dropped ─► best class and its score per query
        ─► boxes (cx, cy, w, h) in [0, 1] -> (x0, y0, x1, y1) in pixels of each target size ─► scores > threshold

COCO detection annotations become the model's ``labels`` (detection_labels.py); panoptic annotations
and segmentation masks are not converted.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import BatchFeature
from .detection_labels import check_annotations, coco_target, normalize_target, pad_target, resize_target
from .image_processing import BILINEAR, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, BaseImageProcessor


def center_to_corners(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) boxes (center_x, center_y, width, height) -> (x0, y0, x1, y1)."""
    center_x, center_y, width, height = boxes.unbind(-1)
    return torch.stack([center_x - 0.5 * width, center_y - 0.5 * height, center_x + 0.5 * width,
                        center_y + 0.5 * height], dim=-1)


class DetrImageProcessor(BaseImageProcessor):
    """>>> processor = DetrImageProcessor()  # doctest: +SKIP
    >>> batch = processor([small_image, large_image], return_tensors="pt")  # doctest: +SKIP
    >>> batch.pixel_values.shape, batch.pixel_mask.shape  # padded to the larger image  # doctest: +SKIP
    """

    settings = {**BaseImageProcessor.settings, "do_resize": True, "size": {"shortest_edge": 800, "longest_edge": 1333},
                "resample": BILINEAR, "do_rescale": True, "do_normalize": True, "do_pad": True,
                "image_mean": IMAGENET_DEFAULT_MEAN, "image_std": IMAGENET_DEFAULT_STD,
                "format": "coco_detection", "do_convert_annotations": None}
    default_to_square = False
    model_input_names = ["pixel_values", "pixel_mask"]
    extra_inputs = ("annotations",)

    def __init__(self, **kwargs: Any) -> None:
        if "pad_and_return_pixel_mask" in kwargs:  # the name in old configs
            kwargs.setdefault("do_pad", kwargs.pop("pad_and_return_pixel_mask"))
        if isinstance(kwargs.get("size"), int):  # old configs: the shortest edge, with max_size as the longest
            kwargs.setdefault("max_size", 1333)
        elif "max_size" in kwargs and isinstance(kwargs.get("size"), dict):
            kwargs.pop("max_size")
        super().__init__(**kwargs)
        if self.do_convert_annotations is None:  # as the reference: converting boxes follows normalising pixels
            self.do_convert_annotations = self.do_normalize

    def preprocess(self, images: Any, annotations: Any = None, return_segmentation_masks: bool | None = None,
                   masks_path: Any = None, **kwargs: Any) -> BatchFeature:
        """``pixel_values`` (B, 3, H, W) and ``pixel_mask`` (B, H, W) (1 = image, 0 = padding), as tensors
        even with ``return_tensors=None`` (as in the reference); with COCO detection ``annotations``
        (one dict per image), ``labels``: one dict of tensors per image (see detection_labels.py)."""
        if masks_path is not None or return_segmentation_masks:
            raise NotImplementedError("DetrImageProcessor in workbench converts COCO detection boxes, not segmentation "
                                      "masks or panoptic annotations: drop return_segmentation_masks / masks_path.")
        options = self.call_options(kwargs)
        if options.get("format", "coco_detection") != "coco_detection" and annotations is not None:
            raise NotImplementedError(f"format={options['format']!r}: workbench converts 'coco_detection' annotations only.")
        prepared = self.prepare_images(images, options)
        targets = None
        if annotations is not None:
            annotations = check_annotations(annotations, len(prepared))
            targets = [coco_target(annotation, *image.shape[-2:]) for annotation, image in zip(annotations, prepared)]
        pixel_values, targets = self._process_with_targets(prepared, targets, options)
        data = {"pixel_values": pixel_values}
        if options["do_pad"]:
            height, width = ((options["pad_size"]["height"], options["pad_size"]["width"]) if options.get("pad_size")
                             else (max(x.shape[-2] for x in pixel_values), max(x.shape[-1] for x in pixel_values)))
            if targets is not None:
                targets = [pad_target(target, image.shape[-2:], (height, width), options["do_convert_annotations"])
                           for target, image in zip(targets, pixel_values)]
            data["pixel_values"], data["pixel_mask"] = self.pad(pixel_values, {"height": height, "width": width})
        batch = self.to_batch({key: torch.stack(value) for key, value in data.items()}, options["return_tensors"])
        if targets is not None:
            batch["labels"] = [self.to_batch(target, options["return_tensors"]) for target in targets]
        return batch

    def _process_with_targets(self, images: list[torch.Tensor], targets: list[dict] | None,
                              options: dict[str, Any]) -> tuple[list[torch.Tensor], list[dict] | None]:
        """Resize, rescale and normalize each image, carrying its target's boxes along."""
        processed, carried = [], []
        for index, image in enumerate(images):
            target = targets[index] if targets is not None else None
            old_size = tuple(image.shape[-2:])
            image = self.process_one(image, {**options, "do_center_crop": False})
            if target is not None and options["do_resize"]:
                target = resize_target(target, old_size, tuple(image.shape[-2:]))
            if target is not None and options["do_convert_annotations"]:
                target = normalize_target(target, *image.shape[-2:])
            processed.append(image)
            carried.append(target)
        return processed, (carried if targets is not None else None)

    def post_process_object_detection(self, outputs: Any, threshold: float = 0.5, target_sizes: Any = None) -> list[dict]:
        """One dict per image with ``scores``, ``labels`` and ``boxes`` (x0, y0, x1, y1) of the queries
        whose best class scores above ``threshold``; boxes in pixels of ``target_sizes[i]`` = (height,
        width) when given, else relative. ``outputs`` is anything with ``.logits`` (B, queries,
        classes + 1) and ``.pred_boxes`` (B, queries, 4)."""
        logits, pred_boxes = outputs.logits, outputs.pred_boxes
        if target_sizes is not None and len(target_sizes) != len(logits):
            raise ValueError(f"Got {len(target_sizes)} target sizes for a batch of {len(logits)}: pass one "
                             "(height, width) per image.")
        scores, labels = torch.nn.functional.softmax(logits, -1)[..., :-1].max(-1)  # the last class is "no object"
        boxes = center_to_corners(pred_boxes)
        if target_sizes is not None:
            if isinstance(target_sizes, torch.Tensor):
                heights, widths = target_sizes.unbind(1)
            else:
                heights = torch.tensor([float(size[0]) for size in target_sizes])
                widths = torch.tensor([float(size[1]) for size in target_sizes])
            scale = torch.stack([widths, heights, widths, heights], dim=1).to(boxes.device)
            boxes = boxes * scale[:, None, :]
        results = []
        for score, label, box in zip(scores, labels, boxes):
            keep = score > threshold
            results.append({"scores": score[keep], "labels": label[keep], "boxes": box[keep]})
        return results


DetrImageProcessorFast = DetrImageProcessor
