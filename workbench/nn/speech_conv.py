"""The convolutional front end of wav2vec 2.0-style speech encoders (https://arxiv.org/abs/2006.11477).

    input_values (B, samples) ─► conv 0 ─► norm ─► GELU ─► conv 1 ─► ... ─► (B, conv_dim[-1], frames)
    frames ─► [LayerNorm] ─► projection ─► (B, frames, hidden)
    hidden ─► grouped positional conv (weight norm, or batch norm first) ─► GELU ─► added to hidden

The feature encoder's norm is "group" (one GroupNorm with a group per channel, after the first
conv only: each channel normalised over time) or "layer" (a LayerNorm over channels after every
conv). Attention masks follow the convs: a clip of ``n`` samples gives
:func:`conv_output_lengths` frames, and :func:`frame_mask` marks them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .activations import get_activation


def conv_output_lengths(lengths: torch.Tensor | int, kernels: Sequence[int], strides: Sequence[int]):
    """Samples -> frames through unpadded convs: ``(n - kernel) // stride + 1`` per layer."""
    for kernel, stride in zip(kernels, strides):
        lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1 if torch.is_tensor(lengths) \
            else (lengths - kernel) // stride + 1
    return lengths


def frame_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """(B,) valid frame counts -> (B, frames) bool mask, True on each row's first ``lengths`` frames."""
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None].to(torch.long)


class FeatureConvLayer(nn.Module):
    """One conv of the feature encoder: ``conv`` ─► ``layer_norm`` ("group", "layer" or none) ─► activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, *, bias: bool,
                 norm: str | None, activation: str) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size=kernel, stride=stride, bias=bias)
        self.norm = norm
        if norm == "group":  # a group per channel: each channel normalised over time
            self.layer_norm = nn.GroupNorm(out_channels, out_channels, affine=True)
        elif norm == "layer":
            self.layer_norm = nn.LayerNorm(out_channels)
        self.activation = get_activation(activation)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.conv(hidden)  # (B, C, T)
        if self.norm == "group":
            hidden = self.layer_norm(hidden)
        elif self.norm == "layer":
            hidden = self.layer_norm(hidden.transpose(-2, -1)).transpose(-2, -1)
        return self.activation(hidden)


class ConvFeatureEncoder(nn.Module):
    """Raw audio (B, samples) -> (B, conv_dim[-1], frames): the stack of :class:`FeatureConvLayer`."""

    def __init__(self, config) -> None:
        super().__init__()
        if config.feat_extract_norm not in ("group", "layer"):
            raise ValueError(f"config.feat_extract_norm is {config.feat_extract_norm!r}: use 'group' or 'layer'.")
        dims = list(config.conv_dim)
        if not len(dims) == len(config.conv_kernel) == len(config.conv_stride):
            raise ValueError(f"conv_dim ({len(dims)}), conv_kernel ({len(config.conv_kernel)}) and conv_stride "
                             f"({len(config.conv_stride)}) need one entry per conv layer: fix the config.")

        def norm(i: int) -> str | None:
            return "layer" if config.feat_extract_norm == "layer" else ("group" if i == 0 else None)

        self.conv_layers = nn.ModuleList(
            FeatureConvLayer(dims[i - 1] if i else 1, dims[i], config.conv_kernel[i], config.conv_stride[i],
                             bias=config.conv_bias, norm=norm(i), activation=config.feat_extract_activation)
            for i in range(len(dims)))

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        hidden = input_values[:, None]  # (B, 1, samples)
        for layer in self.conv_layers:
            hidden = layer(hidden)
        return hidden


class FeatureProjection(nn.Module):
    """(B, frames, conv_dim[-1]) -> (B, frames, hidden), and the normed features before the projection
    (wav2vec 2.0 returns them as ``extract_features``; HuBERT may skip the norm)."""

    def __init__(self, in_features: int, hidden_size: int, eps: float, dropout: float, layer_norm: bool = True) -> None:
        super().__init__()
        if layer_norm:
            self.layer_norm = nn.LayerNorm(in_features, eps=eps)
        self.has_norm = layer_norm
        self.projection = nn.Linear(in_features, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        normed = self.layer_norm(features) if self.has_norm else features
        return self.dropout(self.projection(normed)), normed


class WeightNorm(nn.Module):
    """The two factors of a weight-normed tensor (https://arxiv.org/abs/1602.07868): ``original0`` is
    the magnitude g, ``original1`` the direction v (torch's ``parametrizations.weight_norm`` names,
    which checkpoints use; older ones say ``weight_g`` and ``weight_v``). ``dim`` is the axis kept
    by the norm: weight = v * g / ||v||, the norm taken over every other axis."""

    def __init__(self, shape: Sequence[int], dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.original1 = nn.Parameter(torch.empty(*shape))
        self.original0 = nn.Parameter(torch.empty(*[n if i == dim else 1 for i, n in enumerate(shape)]))

    def norm(self) -> torch.Tensor:
        others = [i for i in range(self.original1.dim()) if i != self.dim]
        return torch.linalg.vector_norm(self.original1, dim=others, keepdim=True)

    def forward(self) -> torch.Tensor:
        return self.original1 * (self.original0 / self.norm())

    @torch.no_grad()
    def reset_from_direction(self, std: float) -> None:
        """v ~ N(0, std), g = ||v||: the weight starts equal to v."""
        nn.init.normal_(self.original1, std=std)
        self.original0.copy_(self.norm())


class WeightNormConv1d(nn.Module):
    """A grouped, padded Conv1d whose weight is weight-normed over the kernel axis (dim 2)."""

    def __init__(self, channels: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.kernel_size, self.groups, self.in_channels = kernel, groups, channels
        self.parametrizations = nn.ModuleDict({"weight": WeightNorm((channels, channels // groups, kernel), dim=2)})
        self.bias = nn.Parameter(torch.empty(channels))

    @property
    def weight(self) -> torch.Tensor:
        return self.parametrizations["weight"]()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv1d(hidden, self.weight, self.bias, padding=self.kernel_size // 2, groups=self.groups)


class PositionalConvEmbedding(nn.Module):
    """wav2vec 2.0's relative positions: a wide grouped conv over time, (B, T, C) -> (B, T, C).

    ``batch_norm`` (HuBERT's ``conv_pos_batch_norm``) normalises the input and leaves the conv
    plain; otherwise the conv is weight-normed. An even kernel padded by half gives one frame too
    many: the last is dropped."""

    def __init__(self, hidden_size: int, kernel: int, groups: int, activation: str, batch_norm: bool = False) -> None:
        super().__init__()
        if batch_norm:
            self.batch_norm = nn.BatchNorm1d(hidden_size)
            self.conv = nn.Conv1d(hidden_size, hidden_size, kernel, padding=kernel // 2, groups=groups)
        else:
            self.batch_norm = None
            self.conv = WeightNormConv1d(hidden_size, kernel, groups)
        self.kernel, self.channels = kernel, hidden_size
        self.extra_frame = 1 if kernel % 2 == 0 else 0
        self.activation = get_activation(activation)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = hidden.transpose(1, 2)  # (B, C, T)
        if self.batch_norm is not None:
            hidden = self.batch_norm(hidden)
        hidden = self.conv(hidden)
        if self.extra_frame:
            hidden = hidden[:, :, : -self.extra_frame]
        return self.activation(hidden).transpose(1, 2)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """wav2vec 2.0's init: weights N(0, 2 / sqrt(kernel * channels)), bias 0."""
        std = 2 * math.sqrt(1 / (self.kernel * self.channels))
        if isinstance(self.conv, WeightNormConv1d):
            self.conv.parametrizations["weight"].reset_from_direction(std)
        else:
            nn.init.normal_(self.conv.weight, std=std)
        nn.init.zeros_(self.conv.bias)
