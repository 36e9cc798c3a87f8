"""Convolutional building blocks: conv ─► batch norm ─► activation, TensorFlow "SAME" padding, a
LayerNorm over the channels of (B, C, H, W) maps, stochastic depth, and the reference's initialisation
of convolutions and batch norms.

Module attribute names (``convolution``, ``normalization``) are the checkpoint keys of the
conv layers of the Hugging Face vision families that use them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .activations import get_activation


def tf_same_padding(features: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """Zero-pad (B, C, H, W) ``features`` as TensorFlow's "SAME" padding does before ``conv``: the output
    has ceil(H / stride) rows, and an odd total pad puts the extra row (column) at the bottom (right).
    The pad is worked out on the undilated kernel, then scaled by the dilation (as the TF ports did)."""
    pads = []
    for size, stride, kernel, dilation in zip(features.shape[-2:], conv.stride, conv.kernel_size, conv.dilation):
        total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
        pads.append((total // 2 * dilation, (total - total // 2) * dilation))
    (top, bottom), (left, right) = pads
    return F.pad(features, (left, right, top, bottom), "constant", 0.0)


class ConvNormActivation(nn.Module):
    """``convolution`` ─► ``normalization`` (BatchNorm2d, optional) ─► activation (optional).

    ``tf_padding=True`` pads each input by :func:`tf_same_padding` (the convolution pads nothing);
    else the convolution pads ``(kernel_size - 1) // 2 * dilation`` on every side, PyTorch's usual
    "same-ish" padding. ``norm_momentum`` is passed to BatchNorm2d as is (it only matters in training).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1, groups: int = 1,
                 dilation: int = 1, bias: bool = False, tf_padding: bool = False, norm_eps: float | None = 1e-5,
                 norm_momentum: float = 0.1, activation: str | None = "relu") -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"A convolution of {groups} groups needs channel counts divisible by {groups}, "
                             f"not {in_channels} -> {out_channels}: fix the channel counts in the config.")
        self.tf_padding = tf_padding
        padding = 0 if tf_padding else (kernel_size - 1) // 2 * dilation
        self.convolution = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                     dilation=dilation, groups=groups, bias=bias)
        self.normalization = (nn.BatchNorm2d(out_channels, eps=norm_eps, momentum=norm_momentum)
                              if norm_eps is not None else None)
        self.activation = get_activation(activation) if activation else None

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.tf_padding:
            features = tf_same_padding(features, self.convolution)
        features = self.convolution(features)
        if self.normalization is not None:
            features = self.normalization(features)
        return self.activation(features) if self.activation is not None else features


class ChannelsFirstLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of (B, C, H, W) maps: each pixel's C values are normalised."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # (B, C, H, W) -> (B, H, W, C): normalise the last dim, then back
        return super().forward(features.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class DropPath(nn.Module):
    """Stochastic depth (https://arxiv.org/abs/1603.09382): in training, each sample's residual
    branch is dropped with probability ``drop_prob`` and kept ones are scaled by 1 / (1 - drop_prob);
    the identity in eval."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return features
        keep = 1.0 - self.drop_prob
        shape = (features.shape[0],) + (1,) * (features.dim() - 1)  # one draw per sample
        mask = torch.floor(keep + torch.rand(shape, dtype=features.dtype, device=features.device))
        return features.div(keep) * mask

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


def init_conv_and_batch_norm(module: nn.Module, std: float) -> bool:
    """The reference's initialisation of a convolution (weights normal(0, std), zero bias) or a batch
    norm (unit scale, zero shift, running statistics of N(0, 1), no batches counted). Returns whether
    ``module`` was one of them, so a model's ``_init_weights`` can fall back to its base's otherwise."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        nn.init.normal_(module.weight, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
        return True
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        if module.weight is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        if module.running_mean is not None:
            module.reset_running_stats()
        return True
    return False
