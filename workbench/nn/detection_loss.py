"""The set-prediction loss of query-based detectors (DETR, https://arxiv.org/abs/2005.12872).

    predictions (B, Q, classes + 1), boxes (B, Q, 4) ──► Hungarian matching per image ──► for the matched
    pairs: box L1 + generalized IoU; for every query: cross-entropy, "no object" for the unmatched ones

``labels`` is one dict per image: ``class_labels`` (N,) and ``boxes`` (N, 4) as normalized
(center_x, center_y, width, height); for mask losses also ``masks`` (N, H, W). The matching uses
scipy's ``linear_sum_assignment`` (scipy is needed only to compute this loss).
"""

from __future__ import annotations

import re

import torch
from torch.nn import functional as F


def center_to_corners(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) boxes (cx, cy, w, h) -> (x0, y0, x1, y1)."""
    center_x, center_y, width, height = boxes.unbind(-1)
    return torch.stack([center_x - 0.5 * width, center_y - 0.5 * height,
                        center_x + 0.5 * width, center_y + 0.5 * height], dim=-1)


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 4), (M, 4) corner boxes -> IoU (N, M) and the union areas (N, M)."""
    boxes1, boxes2 = boxes1.float(), boxes2.float()
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    overlap = (torch.min(boxes1[:, None, 2:], boxes2[:, 2:]) - torch.max(boxes1[:, None, :2], boxes2[:, :2])).clamp(min=0)
    inter = overlap[..., 0] * overlap[..., 1]
    union = area1[:, None] + area2 - inter
    return inter / union, union


def generalized_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Generalized IoU (https://giou.stanford.edu/) of (N, 4) and (M, 4) corner boxes -> (N, M)."""
    for name, boxes in (("boxes1", boxes1), ("boxes2", boxes2)):
        if not (boxes[:, 2:] >= boxes[:, :2]).all():
            raise ValueError(f"{name} must be corner boxes (x0, y0, x1, y1) with x1 >= x0 and y1 >= y0; got {boxes}")
    iou, union = box_iou(boxes1, boxes2)
    hull = (torch.max(boxes1[:, None, 2:], boxes2[:, 2:]) - torch.min(boxes1[:, None, :2], boxes2[:, :2])).clamp(min=0)
    area = hull[..., 0] * hull[..., 1]
    return iou - (area - union) / area


def _linear_sum_assignment():
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:
        raise ImportError("The detection loss matches predictions to targets with scipy's linear_sum_assignment: "
                          "pip install scipy (or call the model without labels).") from None
    return linear_sum_assignment


@torch.no_grad()
def hungarian_match(logits: torch.Tensor, pred_boxes: torch.Tensor, labels: list[dict], class_cost: float,
                    bbox_cost: float, giou_cost: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per image, (query indices, target indices) of the cheapest one-to-one matching, whose cost is
    ``bbox_cost * L1 + class_cost * (-p(class)) + giou_cost * (-GIoU)``. NaN or infinite costs are
    matched last instead of failing (a diverging model shows in its loss)."""
    if class_cost == 0 and bbox_cost == 0 and giou_cost == 0:
        raise ValueError("class_cost, bbox_cost and giou_cost are all 0: the matching needs at least one of them.")
    assign = _linear_sum_assignment()
    batch, queries = logits.shape[:2]
    probabilities = logits.flatten(0, 1).softmax(-1)  # (B * Q, classes + 1)
    boxes = pred_boxes.flatten(0, 1)
    target_ids = torch.cat([target["class_labels"] for target in labels])
    target_boxes = torch.cat([target["boxes"] for target in labels])
    cost = (bbox_cost * torch.cdist(boxes, target_boxes, p=1) - class_cost * probabilities[:, target_ids]
            - giou_cost * generalized_box_iou(center_to_corners(boxes), center_to_corners(target_boxes)))
    largest = torch.finfo(cost.dtype).max
    cost = torch.nan_to_num(cost, nan=largest, posinf=largest, neginf=largest).view(batch, queries, -1).cpu()
    sizes = [len(target["boxes"]) for target in labels]
    matches = [assign(block[i]) for i, block in enumerate(cost.split(sizes, -1))]
    return [(torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)) for rows, cols in matches]


def _matched(indices) -> tuple[torch.Tensor, torch.Tensor]:
    """(image index, query index) of every matched query, image by image."""
    images = torch.cat([torch.full_like(rows, i) for i, (rows, _) in enumerate(indices)])
    return images, torch.cat([rows for rows, _ in indices])


def _matched_targets(indices) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.cat([torch.full_like(cols, i) for i, (_, cols) in enumerate(indices)])
    return images, torch.cat([cols for _, cols in indices])


def class_and_box_losses(logits, pred_boxes, labels, indices, num_boxes: float, eos_coefficient: float) -> dict:
    """``loss_ce`` (the "no object" class weighted by ``eos_coefficient``), ``loss_bbox`` (L1),
    ``loss_giou`` and ``cardinality_error`` (how far the count of predicted objects is off; no gradient)."""
    num_classes = logits.shape[-1] - 1
    weight = torch.ones(num_classes + 1, device=logits.device)
    weight[-1] = eos_coefficient
    matched = _matched(indices)
    target_classes = torch.full(logits.shape[:2], num_classes, dtype=torch.int64, device=logits.device)
    target_classes[matched] = torch.cat([target["class_labels"][cols] for target, (_, cols) in zip(labels, indices)])
    losses = {"loss_ce": F.cross_entropy(logits.transpose(1, 2), target_classes, weight)}
    with torch.no_grad():
        counts = torch.as_tensor([len(target["class_labels"]) for target in labels], device=logits.device)
        predicted = (logits.argmax(-1) != num_classes).sum(1)
        losses["cardinality_error"] = F.l1_loss(predicted.float(), counts.float())
    source = pred_boxes[matched]
    target = torch.cat([target["boxes"][cols] for target, (_, cols) in zip(labels, indices)], dim=0)
    losses["loss_bbox"] = F.l1_loss(source, target, reduction="none").sum() / num_boxes
    giou = torch.diag(generalized_box_iou(center_to_corners(source), center_to_corners(target)))
    losses["loss_giou"] = (1 - giou).sum() / num_boxes
    return losses


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, num_boxes: float, alpha: float = 0.25,
                       gamma: float = 2) -> torch.Tensor:
    """RetinaNet's focal loss (https://arxiv.org/abs/1708.02002) of (N, P) mask logits, averaged per mask."""
    probability = logits.sigmoid()
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    loss = loss * (1 - (probability * targets + (1 - probability) * (1 - targets))) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.mean(1).sum() / num_boxes


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, num_boxes: float) -> torch.Tensor:
    """1 - the soft Dice coefficient of (N, P) mask logits against binary targets, summed over masks."""
    probability = logits.sigmoid().flatten(1)
    numerator = 2 * (probability * targets).sum(1)
    return (1 - (numerator + 1) / (probability.sum(-1) + targets.sum(-1) + 1)).sum() / num_boxes


def mask_losses(pred_masks: torch.Tensor, labels: list[dict], indices, num_boxes: float) -> dict:
    """``loss_mask`` (focal) and ``loss_dice`` of the matched queries' (B, Q, h, w) mask logits, upsampled
    bilinearly to the targets' size (the targets zero-padded to the largest of the batch)."""
    source = pred_masks[_matched(indices)]
    height = max(target["masks"].shape[1] for target in labels)
    width = max(target["masks"].shape[2] for target in labels)
    padded = torch.zeros(len(labels), max(len(t["masks"]) for t in labels), height, width,
                         dtype=source.dtype, device=source.device)
    for i, target in enumerate(labels):
        masks = target["masks"]
        padded[i, : masks.shape[0], : masks.shape[1], : masks.shape[2]] = masks
    target_masks = padded[_matched_targets(indices)].flatten(1)
    source = F.interpolate(source[:, None], size=(height, width), mode="bilinear", align_corners=False)[:, 0].flatten(1)
    return {"loss_mask": sigmoid_focal_loss(source, target_masks, num_boxes),
            "loss_dice": dice_loss(source, target_masks, num_boxes)}


def detection_loss(config, logits, pred_boxes, labels: list[dict], pred_masks=None,
                   auxiliary: list[dict] | None = None) -> tuple[torch.Tensor, dict]:
    """The weighted sum of the losses (weights and matching costs from ``config``: ``class_cost``,
    ``bbox_cost``, ``giou_cost``, ``eos_coefficient``, ``*_loss_coefficient``) and the dict of each one;
    ``auxiliary`` (one ``{"logits", "pred_boxes"}`` per earlier decoder layer) adds their class and box
    losses, suffixed ``_0``, ``_1``, ..."""
    costs = dict(class_cost=config.class_cost, bbox_cost=config.bbox_cost, giou_cost=config.giou_cost)
    num_boxes = max(float(sum(len(target["class_labels"]) for target in labels)), 1.0)
    indices = hungarian_match(logits, pred_boxes, labels, **costs)
    losses = class_and_box_losses(logits, pred_boxes, labels, indices, num_boxes, config.eos_coefficient)
    if pred_masks is not None:
        losses.update(mask_losses(pred_masks, labels, indices, num_boxes))
    for i, layer in enumerate(auxiliary or ()):
        layer_indices = hungarian_match(layer["logits"], layer["pred_boxes"], labels, **costs)
        layer_losses = class_and_box_losses(layer["logits"], layer["pred_boxes"], labels, layer_indices, num_boxes,
                                            config.eos_coefficient)
        losses.update({f"{name}_{i}": value for name, value in layer_losses.items()})
    weights = {"loss_ce": 1, "loss_bbox": config.bbox_loss_coefficient, "loss_giou": config.giou_loss_coefficient,
               "loss_mask": config.mask_loss_coefficient, "loss_dice": config.dice_loss_coefficient}
    # "loss_ce_0" weighs as "loss_ce"; cardinality_error is for logging only
    total = sum(value * weights[base] for name, value in losses.items() if (base := re.sub(r"_\d+$", "", name)) in weights)
    return total, losses
