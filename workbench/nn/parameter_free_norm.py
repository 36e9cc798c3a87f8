"""A layer norm with no learnable parameters, computed in float32."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ParameterFreeLayerNorm(nn.Module):
    """``(x - mean(x)) / sqrt(var(x) + eps)`` over the last dimension: no weight, no bias (nothing in
    the checkpoint). Computed in float32 and cast back, so bfloat16 activations round once, at the end."""

    def __init__(self, hidden_size: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.normalized_shape = (hidden_size,)
        self.eps = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        normed = F.layer_norm(hidden_states.float(), self.normalized_shape, None, None, eps=self.eps)
        return normed.to(hidden_states.dtype)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape[0]}, eps={self.eps}"
