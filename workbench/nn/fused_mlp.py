"""The gated feed-forward block with gate and up stored as one matrix (Phi-3's ``gate_up_proj``).

    x ─► gate_up_proj ─► [gate | up] ─► activation(gate) * up ─► down_proj

The checkpoint holds the fused (2 * intermediate, hidden) weight, so the module does too (a
strict state-dict load, and ``save_pretrained`` writes it back unchanged); the product is split
at run time. Same math as :class:`workbench.nn.mlp.GatedMLP`.
"""

from __future__ import annotations

import torch
from torch import nn

from .activations import get_activation
from .linear import Linear


class FusedGatedMLP(nn.Module):
    """``down_proj(act(gate) * up)`` with ``gate, up = gate_up_proj(x).chunk(2)``.

    >>> FusedGatedMLP(8, 16, "silu")(torch.ones(2, 8)).shape
    torch.Size([2, 8])
    """

    def __init__(self, hidden_size: int, intermediate_size: int, activation: str, bias: bool = False) -> None:
        super().__init__()
        self.gate_up_proj = Linear(hidden_size, 2 * intermediate_size, bias=bias)
        self.down_proj = Linear(intermediate_size, hidden_size, bias=bias)
        self.act_fn = get_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)  # (B, T, I) each
        return self.down_proj(self.act_fn(gate) * up)
