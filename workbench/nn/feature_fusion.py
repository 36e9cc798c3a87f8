"""Attentional feature fusion (AFF, https://arxiv.org/abs/2009.14082), the 2-D block.

    x, residual (B, C, H, W) ─► s = x + residual ─┬─► local:  1x1 conv ─► BN ─► ReLU ─► 1x1 conv ─► BN ─┐
                                                  └─► global: avg pool ─► (the same, on 1x1) ──────────┴─► + ─► sigmoid = w
    out = 2 · x · w + 2 · residual · (1 - w)

A learned per-position, per-channel blend of two feature maps of the same shape. Module names are
the checkpoints' (``local_att.0``, ``global_att.1``, ...: the indices of their ``nn.Sequential``).
"""

from __future__ import annotations

import torch
from torch import nn


def _bottleneck(channels: int, inner: int, pooled: bool) -> nn.Sequential:
    """1x1 conv (channels -> inner) ─► BN ─► ReLU ─► 1x1 conv (inner -> channels) ─► BN, after a global
    average pool when ``pooled``."""
    layers = [nn.AdaptiveAvgPool2d(1)] if pooled else []
    layers += [nn.Conv2d(channels, inner, kernel_size=1), nn.BatchNorm2d(inner), nn.ReLU(inplace=True),
               nn.Conv2d(inner, channels, kernel_size=1), nn.BatchNorm2d(channels)]
    return nn.Sequential(*layers)


class AttentionalFeatureFusion(nn.Module):
    """Blend ``hidden`` with ``residual`` (both (B, C, H, W)) by weights computed from their sum;
    ``reduction`` narrows the bottleneck to ``channels // reduction``."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        inner = int(channels // reduction)
        self.local_att = _bottleneck(channels, inner, pooled=False)
        self.global_att = _bottleneck(channels, inner, pooled=True)
        self.sigmoid = nn.Sigmoid()

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        both = hidden + residual
        weight = self.sigmoid(self.local_att(both) + self.global_att(both))  # (B, C, H, W), the global part broadcast
        return 2 * hidden * weight + 2 * residual * (1 - weight)
