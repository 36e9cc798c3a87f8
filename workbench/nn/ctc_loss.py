"""Connectionist temporal classification loss (https://www.cs.toronto.edu/~graves/icml_2006.pdf)."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def ctc_loss(logits: torch.Tensor, labels: torch.Tensor, logit_lengths: torch.Tensor, blank_id: int,
             reduction: str = "mean", zero_infinity: bool = False, ignore_index: int = -100) -> torch.Tensor:
    """(B, T, V) frame logits against (B, U) label ids; each row has ``logit_lengths[b]`` valid frames.

    Label positions holding ``ignore_index`` (-100, what collators pad with) or the blank id (a
    target never holds the blank) are left out. The loss runs in float32 (CTC has no float16 kernel);
    ``reduction="mean"`` divides each row by its target length before averaging, as torch does."""
    labels = labels.to(logits.device)
    keep = (labels != ignore_index) & (labels != blank_id)
    log_probs = F.log_softmax(logits, dim=-1, dtype=torch.float32).transpose(0, 1)  # (T, B, V)
    with torch.backends.cudnn.flags(enabled=False):  # cuDNN's CTC needs other layouts and lengths
        return F.ctc_loss(log_probs, labels.masked_select(keep), logit_lengths, keep.sum(-1), blank=blank_id,
                          reduction=reduction, zero_infinity=zero_infinity)
