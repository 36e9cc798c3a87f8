"""Feed-forward blocks: the gated one of LLaMA-style decoders and T5 v1.1 (https://arxiv.org/abs/2002.05202),

    x ─► gate ─► activation ─┐
    x ─► up ─────────────────┴─► × ─► (dropout) ─► down

whose three linears are named after the checkpoint's keys, which differ between families
(``gate_proj``/``up_proj``/``down_proj`` for LLaMA, ``wi_0``/``wi_1``/``wo`` for T5); and the plain
``fc1 ─► activation ─► fc2`` of CLIP-style vision and text towers (:class:`FeedForward`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .activations import get_activation
from .linear import Linear, fused_for_inference

LLAMA_NAMES = ("gate_proj", "up_proj", "down_proj")


class FeedForward(nn.Module):
    """``fc2(activation_fn(fc1(x)))``, (..., D) -> (..., D) through ``intermediate_size``: the MLP of
    CLIP's, SigLIP's and BLIP's towers (checkpoint keys ``mlp.fc1`` / ``mlp.fc2``). ``activation`` is a
    config name (``hidden_act``)."""

    def __init__(self, hidden_size: int, intermediate_size: int, activation: str) -> None:
        super().__init__()
        self.activation_fn = get_activation(activation)
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.fc2 = nn.Linear(intermediate_size, hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation_fn(self.fc1(hidden_states)))


class GatedMLP(nn.Module):
    """``down(act(gate(x)) * up(x))``; ``activation`` is a config name (``hidden_act``: "silu",
    "gelu_new", ...). Without gradients, gate and up run as one matrix product
    (:func:`workbench.nn.linear.fused_for_inference`).

    >>> mlp = GatedMLP(8, 16, "silu")
    >>> mlp(torch.ones(2, 8)).shape
    torch.Size([2, 8])
    """

    def __init__(self, hidden_size: int, intermediate_size: int, activation: str, bias: bool = False,
                 dropout: float = 0.0, names: tuple[str, str, str] = LLAMA_NAMES) -> None:
        super().__init__()
        self.names = names
        gate, up, down = names
        setattr(self, gate, Linear(hidden_size, intermediate_size, bias=bias))
        setattr(self, up, Linear(hidden_size, intermediate_size, bias=bias))
        setattr(self, down, Linear(intermediate_size, hidden_size, bias=bias))
        self.act_fn = get_activation(activation)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up, down = (getattr(self, name) for name in self.names)
        fused = fused_for_inference(self, "_gate_up", [gate, up])
        if fused is None:  # recording gradients (or cannot fuse): through the separate modules
            inner = self.act_fn(gate(x)) * up(x)
        else:
            gated, upped = fused(x).split(fused.sizes, dim=-1)
            inner = self.act_fn(gated) * upped
        if self.dropout:
            inner = F.dropout(inner, self.dropout, self.training)
        dtype = down.weight.dtype if down.weight.is_floating_point() else inner.dtype  # int8/int4: quantized
        return down(inner.to(dtype))  # T5 keeps its down projection in float32 under float16
