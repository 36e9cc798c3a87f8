"""Activation functions by the names config.json uses (``hidden_act``)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class GELUTanh(nn.Module):
    """GELU with the tanh approximation (GPT-2's ``gelu_new``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x, approximate="tanh")


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ExactGELUTanhFormula(nn.Module):
    """``gelu_new`` written out as in the original GPT-2 code (kept for exact parity)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


_ACTIVATIONS = {
    "gelu": nn.GELU,
    "gelu_new": ExactGELUTanhFormula,
    "gelu_pytorch_tanh": GELUTanh,
    "gelu_fast": GELUTanh,
    "quick_gelu": QuickGELU,
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def get_activation(name: str) -> nn.Module:
    """``"gelu"`` -> ``nn.GELU()``; an unknown name is an error that lists the known ones."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"Activation {name!r} (config hidden_act) is not supported; use one of {sorted(_ACTIVATIONS)}.") from None
