"""Stochastic depth (https://arxiv.org/abs/1603.09382): drop a residual branch for whole samples.

    x ─► branch(x) ─► DropPath ─► + x
"""

from __future__ import annotations

import torch
from torch import nn


def drop_path(hidden_states: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Zero the whole residual branch of each sample with probability ``drop_prob`` while training,
    scaling the kept ones by 1 / (1 - drop_prob); the identity in eval mode or with ``drop_prob`` 0."""
    if drop_prob == 0.0 or not training:
        return hidden_states
    keep = 1.0 - drop_prob
    shape = (hidden_states.shape[0],) + (1,) * (hidden_states.dim() - 1)  # one draw per sample
    kept = torch.floor(keep + torch.rand(shape, dtype=hidden_states.dtype, device=hidden_states.device))
    return hidden_states / keep * kept


class DropPath(nn.Module):
    """:func:`drop_path` as a module (it follows ``train()`` / ``eval()``).

    >>> DropPath(0.5).eval()(torch.ones(2, 3)).sum().item()
    6.0
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return drop_path(hidden_states, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


def drop_path_rates(rate: float, depths) -> list[float]:
    """The per-block rates rising linearly from 0 to ``rate`` over all blocks of all stages (float32
    steps, as the reference computes them; on the CPU, since models are built on the meta device)."""
    return torch.linspace(0, rate, sum(depths), device="cpu").tolist()
