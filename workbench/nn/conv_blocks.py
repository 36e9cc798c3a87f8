"""Convolution blocks of convolutional vision models: conv -> norm -> activation, and a frozen batch norm.

    (B, C_in, H, W) ─► convolution ─► normalization ─► activation ─► (B, C_out, H', W')

The attribute names (``convolution``, ``normalization``) are the checkpoint keys of the Hugging Face
conv layers built this way (ResNet's conv layers and shortcuts, ...).
"""

from __future__ import annotations

import torch
from torch import nn

from .activations import get_activation


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """The symmetric padding that keeps H and W at stride 1 for an odd kernel (``kernel_size // 2``
    when ``dilation`` is 1): what most PyTorch-born vision models use instead of TensorFlow's
    asymmetric "SAME"."""
    return dilation * (kernel_size - 1) // 2


class ConvNormActivation(nn.Module):
    """``Conv2d`` (no bias by default: the norm's shift replaces it), ``BatchNorm2d``, then the
    activation named by ``activation`` (None: none, as in a residual branch's last conv or a shortcut).

    ``padding`` is an int, or ``"same"`` (the default) for :func:`same_padding` of the kernel.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, *,
                 padding: int | str = "same", dilation: int = 1, groups: int = 1, bias: bool = False,
                 activation: str | None = "relu", eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        if padding == "same":
            padding = same_padding(kernel_size, dilation)
        self.convolution = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                     dilation=dilation, groups=groups, bias=bias)
        self.normalization = nn.BatchNorm2d(out_channels, eps=eps, momentum=momentum)
        self.activation = get_activation(activation) if activation is not None else nn.Identity()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.normalization(self.convolution(hidden_states)))


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
