"""Fixed position encodings."""

from __future__ import annotations

import torch
from torch import nn


def sinusoidal_table(num_positions: int, dim: int) -> torch.Tensor:
    """(num_positions, dim) table of "Attention Is All You Need" (https://arxiv.org/abs/1706.03762):
    column pairs (2i, 2i+1) hold sin and cos of ``pos / 10000^(2i / dim)``."""
    positions = torch.arange(num_positions, dtype=torch.float64)[:, None]
    pair = torch.arange(dim, dtype=torch.float64) // 2
    angles = positions / torch.pow(10000.0, 2 * pair / dim)  # (P, dim), float64 as the reference's numpy
    table = torch.empty_like(angles)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.float()


class SinusoidalEmbedding(nn.Embedding):
    """A position embedding that starts from :func:`sinusoidal_table` instead of random values.

    It stays an ordinary trainable weight (saved and loaded like any embedding); only its
    initial values differ.
    """

    def reset_parameters(self) -> None:
        if self.weight.is_meta:
            return
        with torch.no_grad():
            self.weight.copy_(sinusoidal_table(self.num_embeddings, self.embedding_dim))
