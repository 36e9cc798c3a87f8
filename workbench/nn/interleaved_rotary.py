"""Rotary position embeddings on interleaved channel pairs (RoFormer, https://arxiv.org/abs/2104.09864).

Channels (2i, 2i + 1) of a head turn together by the angle ``pos / 10000^(2i / D)``: the layout of
the RoFormer paper and its code. (LLaMA-style RoPE in ``rope.py`` pairs channel i with i + D/2.)
The angles come from a fixed sinusoidal table whose rows hold all the sines, then all the cosines
(:func:`workbench.nn.positions.sinusoidal_table` with ``interleaved=False``).
"""

from __future__ import annotations

import torch


def interleaved_rotary_tables(table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, D) rows ``[sin_0 .. sin_{D/2-1}, cos_0 .. cos_{D/2-1}]`` -> sin, cos of shape (1, 1, T, D)
    with each pair's value repeated on both of its channels (``sin_0, sin_0, sin_1, sin_1, ...``)."""
    sin, cos = table[None, None].chunk(2, dim=-1)  # (1, 1, T, D/2) each
    return torch.stack([sin, sin], dim=-1).flatten(-2), torch.stack([cos, cos], dim=-1).flatten(-2)


def rotate_every_two(x: torch.Tensor) -> torch.Tensor:
    """(..., D) -> (..., D): each pair (a, b) becomes (-b, a)."""
    return torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)


def apply_interleaved_rotary(x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
    """Rotate (B, H, T, D) heads by the (1, 1, T, D) tables of :func:`interleaved_rotary_tables`."""
    return x * cos + rotate_every_two(x) * sin
