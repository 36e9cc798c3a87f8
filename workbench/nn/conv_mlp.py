"""A feed-forward block with a 3×3 depthwise convolution between its two linears (SegFormer's
Mix-FFN, https://arxiv.org/abs/2105.15203), which gives tokens their positions instead of a
position embedding.

    (B, N, C) ─► fc1 ─► (B, hidden, H, W) ─► depthwise 3×3 ─► activation ─► dropout ─► fc2 ─► dropout
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .activations import get_activation


class TokenDepthwiseConv(nn.Module):
    """(B, H · W, C) tokens -> the same, through a 3×3 depthwise convolution over their (H, W) grid."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, 3, 1, 1, groups=channels)

    def forward(self, hidden: torch.Tensor, height: int, width: int) -> torch.Tensor:
        batch, _, channels = hidden.shape
        grid = hidden.transpose(1, 2).reshape(batch, channels, height, width)
        return self.dwconv(grid).flatten(2).transpose(1, 2)


class DepthwiseConvMLP(nn.Module):
    """``fc2(act(dwconv(fc1(x))))``; ``names`` are the checkpoint keys of the two linears and the
    convolution's module (SegFormer: ``dense1``, ``dwconv``, ``dense2``).

    >>> mlp = DepthwiseConvMLP(8, 16, "gelu")
    >>> mlp(torch.ones(2, 4 * 4, 8), 4, 4).shape
    torch.Size([2, 16, 8])
    """

    def __init__(self, channels: int, hidden: int, activation: str, dropout: float = 0.0,
                 names: tuple[str, str, str] = ("fc1", "dwconv", "fc2")) -> None:
        super().__init__()
        self.names = names
        first, conv, second = names
        setattr(self, first, nn.Linear(channels, hidden))
        setattr(self, conv, TokenDepthwiseConv(hidden))
        setattr(self, second, nn.Linear(hidden, channels))
        self.act_fn = get_activation(activation)
        self.dropout = dropout

    def forward(self, hidden: torch.Tensor, height: int, width: int) -> torch.Tensor:
        first, conv, second = (getattr(self, name) for name in self.names)
        hidden = self.act_fn(conv(first(hidden), height, width))
        hidden = F.dropout(hidden, self.dropout, self.training)
        return F.dropout(second(hidden), self.dropout, self.training)
