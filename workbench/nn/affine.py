"""An elementwise affine map in place of a normalisation layer (MobileBERT's "NoNorm",
https://arxiv.org/abs/2004.02984 section 4.1): ``x * weight + bias``, without the statistics a
LayerNorm computes, so it costs one fused multiply-add on a phone."""

from __future__ import annotations

import torch
from torch import nn


class NoNorm(nn.Module):
    """``x * weight + bias`` over the last dimension; ``eps`` is accepted (and unused) so it takes a
    LayerNorm's arguments."""

    def __init__(self, size: int, eps: float | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.zeros(size))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states * self.weight + self.bias
