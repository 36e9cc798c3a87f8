"""Losses shared by the task heads, chosen the way the reference chooses them."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def sequence_classification_loss(logits: torch.Tensor, labels: torch.Tensor, config) -> torch.Tensor:
    """Regression (one label), single-label (integer labels) or multi-label (float labels) loss.

    The problem type is inferred once and stored in ``config.problem_type``, as the reference does.
    """
    num_labels = logits.shape[-1]
    if config.problem_type is None:
        if num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    if config.problem_type == "regression":
        return F.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype)) if num_labels == 1 else F.mse_loss(logits, labels)
    if config.problem_type == "single_label_classification":
        return F.cross_entropy(logits.view(-1, num_labels), labels.view(-1))
    if config.problem_type == "multi_label_classification":
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    raise ValueError(
        f"config.problem_type={config.problem_type!r} is not one of 'regression', "
        "'single_label_classification', 'multi_label_classification'."
    )


def token_classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over every token; label -100 marks tokens to ignore."""
    return F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1).to(logits.device))


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token loss: position t predicts label t+1; -100 labels are ignored."""
    shifted = labels[..., 1:].contiguous().to(logits.device)
    return F.cross_entropy(logits[..., :-1, :].float().reshape(-1, logits.shape[-1]), shifted.view(-1))


def span_loss(start_logits: torch.Tensor, end_logits: torch.Tensor, start_positions: torch.Tensor,
              end_positions: torch.Tensor) -> torch.Tensor:
    """Question answering: mean of start and end cross-entropy; positions past the end are ignored."""
    ignored = start_logits.shape[1]
    start_positions = start_positions.view(-1).clamp(0, ignored)
    end_positions = end_positions.view(-1).clamp(0, ignored)
    start = F.cross_entropy(start_logits, start_positions, ignore_index=ignored)
    end = F.cross_entropy(end_logits, end_positions, ignore_index=ignored)
    return (start + end) / 2
