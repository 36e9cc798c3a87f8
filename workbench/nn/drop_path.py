"""Stochastic depth (https://arxiv.org/abs/1603.09382): drop a residual branch for whole samples."""

from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    """While training, zero the branch for each sample with probability ``drop_prob`` and scale the
    kept ones by ``1 / (1 - drop_prob)``; the identity in eval mode.

    >>> DropPath(0.5).eval()(torch.ones(2, 3)).sum().item()
    6.0
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return hidden
        keep = 1.0 - self.drop_prob
        shape = (hidden.shape[0],) + (1,) * (hidden.dim() - 1)  # one draw per sample
        mask = torch.floor(torch.rand(shape, dtype=hidden.dtype, device=hidden.device) + keep)
        return hidden / keep * mask

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


def drop_path_rates(rate: float, depths) -> list[float]:
    """The per-block rates rising linearly from 0 to ``rate`` over all blocks of all stages."""
    total = sum(depths)
    return [rate * i / max(total - 1, 1) for i in range(total)]
