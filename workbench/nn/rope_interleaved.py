"""Rotary embeddings whose rotated channels are interleaved pairs ``(x0, x1), (x2, x3), ...``
(GPT-J's and Cohere's layout) instead of the two halves ``(x_i, x_{i + R/2})`` LLaMA rotates.

Pair ``i`` turns by the same angle in both layouts; only where its two channels sit differs.
:func:`rotate_pairs` takes the half-layout tables that :func:`workbench.nn.rope.head_tables`
builds once per forward pass and rearranges them, so one rotary embedding serves both layouts.
"""

from __future__ import annotations

import torch


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, T, H, D) heads pairwise by (B, T, 1, R) half-layout ``head_tables``; channels
    past R pass through. ``y[2i] = x[2i] cos - x[2i+1] sin``, ``y[2i+1] = x[2i+1] cos + x[2i] sin``."""
    rotary = cos.shape[-1]
    half = rotary // 2
    cos = cos[..., :half].repeat_interleave(2, dim=-1)  # (B, T, 1, R): c0, c0, c1, c1, ...
    sin = signed_sin[..., half:]  # the half layout stores -sin then +sin
    signed = torch.stack((-sin, sin), dim=-1).flatten(-2)  # -s0, s0, -s1, s1, ...
    turned = x[..., :rotary]
    swapped = turned.unflatten(-1, (half, 2)).flip(-1).flatten(-2)  # x1, x0, x3, x2, ...
    rotated = turned * cos + swapped * signed
    return rotated if rotary == x.shape[-1] else torch.cat((rotated, x[..., rotary:]), dim=-1)
