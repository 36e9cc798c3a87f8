"""Choosing which positions a language-model head projects to the vocabulary."""

from __future__ import annotations

import torch


def keep_positions(hidden_states: torch.Tensor, logits_to_keep: int | torch.Tensor) -> torch.Tensor:
    """(B, T, C) -> the positions ``logits_to_keep`` names, before the (large) vocabulary projection.

    An int keeps the last that many positions (0 keeps all; generation passes 1). A 1-D tensor
    holds positions kept in every row; a 2-D integer tensor holds (B, N) positions per row; a 2-D
    boolean tensor is a (B, T) mask and gives a flat (kept, C) result.
    """
    if isinstance(logits_to_keep, int):
        return hidden_states[:, -logits_to_keep:] if logits_to_keep else hidden_states
    if logits_to_keep.dim() == 2 and logits_to_keep.dtype == torch.bool:
        return hidden_states[logits_to_keep]
    if logits_to_keep.dim() == 2:
        return torch.take_along_dim(hidden_states, logits_to_keep[..., None], dim=1)
    return hidden_states[:, logits_to_keep]
