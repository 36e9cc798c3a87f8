"""Rotary embeddings on interleaved channel pairs, the layout of Mesh-TensorFlow's original RoPE
(GPT-J, CodeGen): channels (0, 1), (2, 3), ... turn together, where LLaMA-style RoPE
(:mod:`workbench.nn.rope`) turns channel i with channel i + R/2.

    pair layout:  x = [a0 b0 a1 b1 ...]  ->  [a0 cos0 - b0 sin0, b0 cos0 + a0 sin0, a1 cos1 - b1 sin1, ...]

The angles are the same ones :class:`~workbench.nn.rope.RotaryEmbedding` gives (its (B, T, R) cos
and sin hold each angle twice, once per half); :func:`pair_tables` reorders them once per forward
pass, and :func:`rotate_pairs` turns (B, T, H, D) heads by them. Channels past R pass through.
"""

from __future__ import annotations

import torch


def pair_tables(cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, R) half-layout cos/sin -> the (B, T, 1, R) cos and signed sin of the pair layout.

    Angle i sits at channels 2i and 2i + 1; the sine is ``[-sin_i, +sin_i]`` there, so the
    rotation is ``x * cos + swap_pairs(x) * signed_sin`` (negating the sine instead of the channel
    gives the same floats: negation is exact).
    """
    half = cos.shape[-1] // 2
    cos, sin = cos[..., :half], sin[..., :half]  # (B, T, R/2): one entry per angle
    signed = torch.stack((-sin, sin), dim=-1).flatten(-2)
    return cos.repeat_interleave(2, dim=-1)[:, :, None], signed[:, :, None]


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, T, H, D) heads by the :func:`pair_tables`; channels past R pass through."""
    rotary = cos.shape[-1]
    turned = x[..., :rotary]
    swapped = turned.unflatten(-1, (rotary // 2, 2)).flip(-1).flatten(-2)  # (b0 a0 b1 a1 ...)
    out = turned * cos + swapped * signed_sin
    return out if rotary == x.shape[-1] else torch.cat((out, x[..., rotary:]), dim=-1)
