"""Per-channel residual-branch scaling (CaiT's LayerScale, https://arxiv.org/abs/2103.17239): what deep
vision transformers put on a residual branch before adding it back (with :mod:`.drop_path`):

    x ─► branch(x) ─► LayerScale (× λ, one learned value per channel) ─► DropPath ─► + x

The parameter is ``lambda1``, the key DINOv2-style checkpoints use (ConvNeXt's is its own
``layer_scale_parameter``, a parameter of its layer).
"""

from __future__ import annotations

import torch
from torch import nn


class LayerScale(nn.Module):
    """(..., D) -> (..., D) times ``lambda1`` (D,), which starts at ``init_value``."""

    def __init__(self, hidden_size: int, init_value: float = 1.0) -> None:
        super().__init__()
        self.init_value = init_value
        self.lambda1 = nn.Parameter(torch.full((hidden_size,), float(init_value)))

    def reset_parameters(self) -> None:
        nn.init.constant_(self.lambda1, self.init_value)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states * self.lambda1
