"""Fixed position encodings."""

from __future__ import annotations

import torch
from torch import nn


def sinusoidal_table(num_positions: int, dim: int, interleaved: bool = True) -> torch.Tensor:
    """(num_positions, dim) table of "Attention Is All You Need" (https://arxiv.org/abs/1706.03762):
    channel pair i holds sin and cos of ``pos / 10000^(2i / dim)``.

    ``interleaved`` puts each pair side by side (columns 2i, 2i+1: XLM, DistilBERT); otherwise
    all the sines come first and all the cosines after them (Marian, Pegasus).
    """
    positions = torch.arange(num_positions, dtype=torch.float64)[:, None]
    pair = torch.arange(dim, dtype=torch.float64) // 2
    angles = positions / torch.pow(10000.0, 2 * pair / dim)  # (P, dim), float64 as the reference's numpy
    sines, cosines = torch.sin(angles[:, 0::2]), torch.cos(angles[:, 1::2])
    if not interleaved:
        return torch.cat([sines, cosines], dim=-1).float()
    table = torch.empty_like(angles)
    table[:, 0::2] = sines
    table[:, 1::2] = cosines
    return table.float()


class SinusoidalEmbedding(nn.Embedding):
    """A position embedding that starts from :func:`sinusoidal_table` instead of random values.

    By default it stays an ordinary trainable weight (saved and loaded like any embedding); only
    its initial values differ. ``frozen=True`` makes it a fixed table (no gradient), as Marian
    and Pegasus have it.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, interleaved: bool = True, frozen: bool = False,
                 **kwargs) -> None:
        super().__init__(num_embeddings, embedding_dim, **kwargs)
        self.interleaved = interleaved
        if frozen:
            self.weight.requires_grad_(False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight.is_meta or not hasattr(self, "interleaved"):  # nn.Embedding.__init__ calls this first
            return
        with torch.no_grad():
            self.weight.copy_(sinusoidal_table(self.num_embeddings, self.embedding_dim, self.interleaved))


class OffsetPositionalEmbedding(nn.Embedding):
    """A learned position embedding whose first ``offset`` rows are never read: position p reads
    row p + offset. fairseq reserved two rows this way (for padding); BART, mBART and OPT
    checkpoints keep them, so their tables have ``max_positions + 2`` rows."""

    def __init__(self, num_positions: int, embedding_dim: int, offset: int = 2) -> None:
        super().__init__(num_positions + offset, embedding_dim)
        self.offset = offset

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return super().forward(positions + self.offset)
