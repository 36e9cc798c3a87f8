"""``DetrImageProcessor``: images of any size for DETR, and its predictions as boxes.

    images ─► resize (short side 800, long side at most 1333, bilinear) ─► rescale, normalize
           ─► zero-pad bottom / right to the batch's largest ─► pixel_values (B, 3, H, W), pixel_mask (B, H, W)
    post_process_object_detection(outputs, threshold, target_sizes)
        softmax over the classes, the "no object" class dropped ─► best class and its score per query
        ─► boxes (cx, cy, w, h) in [0, 1] -> (x0, y0, x1, y1) in pixels of each target size ─► scores > threshold

Training annotations (COCO boxes and masks) are not converted yet: pass ``labels`` to the model yourself.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import BatchFeature
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
        even with ``return_tensors=None`` (as in the reference)."""
        if annotations is not None or masks_path is not None or return_segmentation_masks:
            raise NotImplementedError("DetrImageProcessor in workbench does not convert COCO annotations yet: call it "
                                      "on the images alone and build the model's labels (class_labels, boxes as "
                                      "normalised (cx, cy, w, h)) yourself.")
        options = self.call_options(kwargs)
        data = self._preprocess(self.prepare_images(images, options), **options)
        data = {key: torch.stack(value) for key, value in data.items()}
        return self.to_batch(data, options["return_tensors"])

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
