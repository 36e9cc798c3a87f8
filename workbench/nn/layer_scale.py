"""Per-channel residual-branch scaling and stochastic depth, the two things deep vision transformers and
ConvNets put on a residual branch before adding it back:

    x ─► branch(x) ─► LayerScale (× λ, one learned value per channel) ─► DropPath ─► + x

LayerScale: CaiT, https://arxiv.org/abs/2103.17239 (the parameter is ``lambda1``, the key DINOv2-style
checkpoints use). DropPath (stochastic depth): https://arxiv.org/abs/1603.09382.
"""

from __future__ import annotations

import torch
from torch import nn


class LayerScale(nn.Module):
    """(..., D) -> (..., D) times ``lambda1`` (D,), which starts at ``init_value``."""

    def __init__(self, hidden_size: int, init_value: float = 1.0) -> None:
        super().__init__()
        self.init_value = init_value
        self.lambda1 = nn.Parameter(torch.full((hidden_size,), float(init_value)))

    def reset_parameters(self) -> None:
        nn.init.constant_(self.lambda1, self.init_value)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states * self.lambda1


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
    """:func:`drop_path` as a module (it follows ``train()`` / ``eval()``)."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return drop_path(hidden_states, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"
