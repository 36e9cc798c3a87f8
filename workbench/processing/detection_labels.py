"""COCO detection annotations as DETR's training targets, following each image through the
processor's steps as the reference does:

    {"image_id": 7, "annotations": [{"bbox": [x, y, w, h], "category_id": 3, "area": a, "iscrowd": 0}, ...]}
      ─► crowd boxes dropped, (x, y, w, h) -> (x0, y0, x1, y1) clipped to the image, empty boxes dropped
      ─► scaled with the resize ─► (cx, cy, w, h) / (width, height) of the resized image (do_convert_annotations)
      ─► rescaled to the padded image ─► {"class_labels", "boxes", "area", "iscrowd", "image_id", "orig_size", "size"}
"""

from __future__ import annotations

from typing import Any

import torch


def check_annotations(annotations: Any, count: int) -> list[dict]:
    """One COCO detection dict per image, or an error that shows the expected shape."""
    annotations = [annotations] if isinstance(annotations, dict) else list(annotations)
    for annotation in annotations:
        if not (isinstance(annotation, dict) and "image_id" in annotation
                and isinstance(annotation.get("annotations"), (list, tuple))):
            raise ValueError("DETR's annotations are COCO detection dicts, one per image: {'image_id': int, "
                             "'annotations': [{'bbox': [x, y, width, height], 'category_id': int, 'area': float}, ...]}.")
    if len(annotations) != count:
        raise ValueError(f"Got {count} images and {len(annotations)} annotations: pass one annotation dict per image.")
    return annotations


def coco_target(annotation: dict, height: int, width: int) -> dict[str, torch.Tensor]:
    """The kept objects of one image in corner format, in pixels of its (height, width)."""
    objects = [obj for obj in annotation["annotations"] if obj.get("iscrowd", 0) == 0]
    classes = torch.as_tensor([obj["category_id"] for obj in objects], dtype=torch.int64)
    area = torch.as_tensor([obj["area"] for obj in objects], dtype=torch.float32)
    boxes = torch.as_tensor([obj["bbox"] for obj in objects], dtype=torch.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    boxes[:, 0::2] = boxes[:, 0::2].clip(min=0, max=width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(min=0, max=height)
    keep = (boxes[:, 3] > boxes[:, 1]) & (boxes[:, 2] > boxes[:, 0])
    target = {"image_id": torch.as_tensor([annotation["image_id"]], dtype=torch.int64), "class_labels": classes[keep],
              "boxes": boxes[keep], "area": area[keep], "iscrowd": torch.zeros_like(classes)[keep],
              "orig_size": torch.as_tensor([int(height), int(width)], dtype=torch.int64)}
    if any("keypoints" in obj for obj in objects):
        keypoints = torch.as_tensor([obj["keypoints"] for obj in objects], dtype=torch.float32)[keep]
        target["keypoints"] = keypoints.reshape(-1, 3) if len(keypoints) else keypoints
    return target


def resize_target(target: dict, old_size: tuple[int, int], new_size: tuple[int, int]) -> dict:
    ratio_height, ratio_width = new_size[0] / old_size[0], new_size[1] / old_size[1]
    scale = torch.as_tensor([ratio_width, ratio_height, ratio_width, ratio_height], dtype=torch.float32)
    return {**target, "boxes": target["boxes"] * scale, "area": target["area"] * (ratio_width * ratio_height),
            "size": torch.as_tensor(new_size, dtype=torch.int64)}


def normalize_target(target: dict, height: int, width: int) -> dict:
    """Corner boxes in pixels -> (cx, cy, w, h) as fractions of the image."""
    x0, y0, x1, y1 = target["boxes"].unbind(-1)
    boxes = torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], dim=-1)
    return {**target, "boxes": boxes / torch.as_tensor([width, height, width, height], dtype=torch.float32)}


def pad_target(target: dict, old_size: tuple[int, int], new_size: tuple[int, int], relative_boxes: bool) -> dict:
    """Relative boxes re-expressed as fractions of the padded image (padding adds on the bottom / right)."""
    if tuple(old_size) == tuple(new_size):
        return target
    target = {**target, "size": torch.as_tensor(new_size, dtype=torch.int64)}
    if relative_boxes:
        ratio_height, ratio_width = old_size[0] / new_size[0], old_size[1] / new_size[1]
        target["boxes"] = target["boxes"] * torch.as_tensor([ratio_width, ratio_height, ratio_width, ratio_height])
    return target
