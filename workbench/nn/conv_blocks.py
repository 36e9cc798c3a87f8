"""Convolution blocks of convolutional vision models: conv ─► batch norm ─► activation (PyTorch-style
or TensorFlow "SAME" padding), a LayerNorm over the channels of (B, C, H, W) maps, a frozen batch norm,
and the two initialisations of convolutions and batch norms the conv families use.

    (B, C_in, H, W) ─► convolution ─► normalization ─► activation ─► (B, C_out, H', W')

The attribute names (``convolution``, ``normalization``) are the checkpoint keys of the Hugging Face
conv layers built this way (ResNet's conv layers and shortcuts, MobileNetV2's, ...).
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
    """``convolution`` ─► ``normalization`` (BatchNorm2d; none with ``norm_eps=None``) ─► ``activation``
    (named by ``activation``; none with None, as in a residual branch's last conv or a shortcut). No conv
    bias by default: the norm's shift replaces it.

    ``tf_padding=True`` pads each input by :func:`tf_same_padding` (the convolution pads nothing);
    else the convolution pads ``(kernel_size - 1) // 2 * dilation`` on every side, PyTorch's usual
    "same" for odd kernels at stride 1. ``norm_momentum`` is passed to BatchNorm2d as is (it only
    matters in training).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, *,
                 groups: int = 1, dilation: int = 1, bias: bool = False, tf_padding: bool = False,
                 norm_eps: float | None = 1e-5, norm_momentum: float = 0.1, activation: str | None = "relu") -> None:
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


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and a fixed affine transform, all four held as buffers:
    ``x * weight / sqrt(running_var + eps) + (bias - running_mean * scale)``.

    Detection models train with a batch of one or two large images, whose batch statistics are
    too noisy to learn from, so they keep the pretrained backbone's norms frozen (torchvision's
    ``FrozenBatchNorm2d``, with ``eps`` inside the square root as DETR has it).
    A checkpoint's ``num_batches_tracked`` means nothing here and is dropped on load.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def reset_statistics(self) -> None:
        """The identity transform (what a fresh ``BatchNorm2d`` computes in eval mode)."""
        for name, value in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            getattr(self, name).fill_(value)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # (C,) -> (1, C, 1, 1) to broadcast over (B, C, H, W)
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return hidden_states * scale[None, :, None, None] + shift[None, :, None, None]


def freeze_batch_norms(module: nn.Module) -> nn.Module:
    """Replace every ``BatchNorm2d`` under ``module`` by a :class:`FrozenBatchNorm2d` holding its
    values (none when built on the meta device: loading fills them). Call it while building a model,
    before an optimizer sees the parameters: the replaced norms' weights become buffers."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=1e-5)
            if not child.weight.is_meta:
                with torch.no_grad():
                    for key in ("weight", "bias", "running_mean", "running_var"):
                        getattr(frozen, key).copy_(getattr(child, key))
            setattr(module, name, frozen.to(child.weight.device))
        else:
            freeze_batch_norms(child)
    return module


@torch.no_grad()
def init_conv_model_weights(module: nn.Module) -> bool:
    """The usual init of conv nets' modules (torchvision's ResNet): ``Conv2d`` kaiming-normal with
    fan-out for ReLU and zero bias; batch norms (trained or frozen) the identity with fresh
    statistics. Returns whether ``module`` was one of those."""
    if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        module.reset_parameters()  # weight 1, bias 0, running mean 0 and variance 1, no batches tracked
    elif isinstance(module, FrozenBatchNorm2d):
        module.reset_statistics()
    else:
        return False
    return True


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
