"""GPT-2's ``Conv1D``: a linear layer whose weight is stored transposed, (in, out).

The name comes from OpenAI's TensorFlow code, where the projection was a width-1 convolution.
The maths is ``x @ weight + bias``. Keeping the (in, out) layout means GPT-2 checkpoints load
and save without transposing anything.
"""

from __future__ import annotations

import torch
from torch import nn


class Conv1D(nn.Module):
    """``Conv1D(out_features, in_features)``: argument order as in the reference library.

    >>> layer = Conv1D(6, 4)
    >>> layer.weight.shape, layer(torch.zeros(2, 3, 4)).shape
    (torch.Size([4, 6]), torch.Size([2, 3, 6]))
    """

    def __init__(self, out_features: int, in_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))  # (in, out), not nn.Linear's (out, in)
        self.bias = nn.Parameter(torch.zeros(out_features))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (..., in) -> (..., out)
        flat = torch.addmm(self.bias, x.reshape(-1, self.in_features), self.weight)
        return flat.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"
