"""Normalisation layers."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class RMSNorm(nn.Module):
    """Root-mean-square norm (https://arxiv.org/abs/1910.07467), computed in float32.

    ``y = x / sqrt(mean(x²) + eps) * (weight_offset + weight)``. The families differ in where the
    float32 result goes back to a lower precision, which matters below float32 only:

    - ``weight_offset=0``, ``output_dtype="input"`` (LLaMA): cast to the input's dtype, then scaled;
    - ``weight_offset=1`` (Gemma stores ``weight - 1``, so a zero weight is the identity): scaled in
      float32 by ``1 + weight``, then cast to the input's dtype;
    - ``output_dtype="weight"`` (T5): cast to the weight's dtype when that is float16 or bfloat16,
      else left float32 (T5 keeps ``wo`` in float32, so its residual stream is float32 under float16).
    """

    def __init__(self, hidden_size: int, eps: float = 1e-6, weight_offset: float = 0.0,
                 output_dtype: str = "input") -> None:
        super().__init__()
        if output_dtype not in ("input", "weight"):
            raise ValueError(f"RMSNorm output_dtype must be 'input' or 'weight', not {output_dtype!r}.")
        self.weight = nn.Parameter(torch.ones(hidden_size) if weight_offset == 0 else torch.zeros(hidden_size))
        self.variance_epsilon = eps
        self.weight_offset = weight_offset
        self.output_dtype = output_dtype

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        shape, dtype = (hidden_states.shape[-1],), hidden_states.dtype
        if self.weight_offset:
            normed = F.rms_norm(hidden_states.float(), shape, eps=self.variance_epsilon)
            return (normed * (self.weight_offset + self.weight.float())).to(dtype)
        if dtype == torch.float32 and self.weight.dtype == torch.float32:  # one kernel, weight included
            return F.rms_norm(hidden_states, shape, self.weight, self.variance_epsilon)
        normed = F.rms_norm(hidden_states.float(), shape, eps=self.variance_epsilon)
        if self.output_dtype == "input":
            return self.weight * normed.to(dtype)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            normed = normed.to(self.weight.dtype)
        return self.weight * normed

    def extra_repr(self) -> str:
        offset = f", weight_offset={self.weight_offset}" if self.weight_offset else ""
        return f"{tuple(self.weight.shape)}, eps={self.variance_epsilon}{offset}"
