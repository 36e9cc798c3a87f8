"""Choosing which positions a language-model head projects to the vocabulary."""

from __future__ import annotations

import torch


def last_token_rows(logits: torch.Tensor, input_ids: torch.Tensor | None, pad_token_id: int | None,
                    owner: str) -> torch.Tensor:
    """(B, T, N) -> (B, N): each row at its rightmost token that is not ``pad_token_id`` (so left and
    right padding both work); the last position when there are no ids to look at (inputs_embeds)
    or no pad id in a batch of one. ``owner`` names the model in the error for a batch without a pad id."""
    batch = logits.shape[0]
    if pad_token_id is None and batch != 1:
        raise ValueError(
            f"{owner} cannot score a batch of {batch} without config.pad_token_id: set it "
            "(model.config.pad_token_id = tokenizer.pad_token_id) so the last real token of each row can be found."
        )
    if pad_token_id is None or input_ids is None:
        last = -1
    else:
        positions = torch.arange(input_ids.shape[-1], device=logits.device, dtype=torch.int32)
        last = (positions * (input_ids != pad_token_id).to(logits.device, torch.int32)).argmax(-1)
    return logits[torch.arange(batch, device=logits.device), last]


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
