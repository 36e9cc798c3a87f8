"""One vector per sequence from its hidden states (XLM's "sequence summary", kept by ELECTRA and
RoFormer for multiple choice).

    hidden (B, T, C) ─► pick (first / last token, or mean) ─► first_dropout ─► summary (Linear or
    identity) ─► activation ─► last_dropout ─► (B, C or num_labels)

The config keys read here are the ones those checkpoints' config.json files carry:
``summary_type``, ``summary_use_proj``, ``summary_proj_to_labels``, ``summary_activation``,
``summary_first_dropout``, ``summary_last_dropout``. A config without them summarises by the last
token with no projection (the reference's fallback).
"""

from __future__ import annotations

import torch
from torch import nn

from .activations import get_activation

_PICK = {
    "first": lambda hidden: hidden[:, 0],
    "last": lambda hidden: hidden[:, -1],
    "mean": lambda hidden: hidden.mean(dim=1),
}


class SequenceSummary(nn.Module):
    """(B, T, C) hidden states -> (B, C) summary (or (B, num_labels) with ``summary_proj_to_labels``)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.summary_type = getattr(config, "summary_type", None) or "last"
        if self.summary_type not in _PICK:
            raise ValueError(f"config.summary_type {self.summary_type!r} is not supported; use one of {sorted(_PICK)}.")
        self.summary = nn.Identity()
        if getattr(config, "summary_use_proj", False):
            to_labels = getattr(config, "summary_proj_to_labels", False) and config.num_labels > 0
            self.summary = nn.Linear(config.hidden_size, config.num_labels if to_labels else config.hidden_size)
        activation = getattr(config, "summary_activation", None)
        self.activation = get_activation(activation) if activation else nn.Identity()
        self.first_dropout = _dropout(getattr(config, "summary_first_dropout", 0.0))
        self.last_dropout = _dropout(getattr(config, "summary_last_dropout", 0.0))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        picked = _PICK[self.summary_type](hidden_states)
        return self.last_dropout(self.activation(self.summary(self.first_dropout(picked))))


def _dropout(probability: float | None) -> nn.Module:
    return nn.Dropout(probability) if probability else nn.Identity()
