"""Logit soft-capping (Gemma 2, https://arxiv.org/abs/2408.00118): ``cap * tanh(x / cap)``.

Squashes logits smoothly into (-cap, cap) instead of clipping them, so large attention scores
or vocabulary logits cannot dominate while small ones pass nearly unchanged.
"""

from __future__ import annotations

import torch


def soft_cap(logits: torch.Tensor, cap: float | None) -> torch.Tensor:
    """``cap * tanh(logits / cap)``; ``cap`` None (or 0) leaves the logits as they are."""
    if not cap:
        return logits
    return torch.tanh(logits / cap) * cap
