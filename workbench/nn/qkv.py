"""Splitting a fused query/key/value projection into heads, for the layouts checkpoints use.

A fused projection stays one module (its checkpoint key, ``query_key_value`` or ``c_attn``); its
(B, T, width) output is cut into queries (B, H, T, D) and keys, values (B, Hkv, T, D) at run time:

    interleaved   per head [q, k, v]                                 BLOOM, Falcon (classic), GPTBigCode (MHA)
    multi-query   [q₀ ... q_H-1, k, v]: one key/value head            Falcon-7B, GPTBigCode / StarCoder
    grouped       per key/value head [q ... q (H/Hkv of them), k, v]  Falcon-40B/180B (new_decoder_architecture)
    blocks        [all q | all k | all v]                            MPT (Wqkv), GPT-2 (c_attn)

The results are views of the projection's output where the layout allows.
"""

from __future__ import annotations

import torch


def split_interleaved(fused: torch.Tensor, num_heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, T, H * 3D), per head [q, k, v] -> queries, keys, values, each (B, H, T, D)."""
    batch, length, width = fused.shape
    heads = fused.view(batch, length, num_heads, 3, width // (3 * num_heads))
    return tuple(heads[..., i, :].transpose(1, 2) for i in range(3))


def split_grouped(fused: torch.Tensor, num_heads: int, num_kv_heads: int) -> tuple[torch.Tensor, ...]:
    """(B, T, (H + 2 Hkv) D), per key/value head its H/Hkv queries then k and v -> queries (B, H, T, D),
    keys and values (B, Hkv, T, D). ``num_kv_heads=1`` is the multi-query layout."""
    if num_heads % num_kv_heads:
        raise ValueError(f"The attention heads ({num_heads}) must be a multiple of the key/value heads "
                         f"({num_kv_heads}): fix the config.")
    batch, length, width = fused.shape
    group = num_heads // num_kv_heads
    heads = fused.view(batch, length, num_kv_heads, group + 2, width // (num_heads + 2 * num_kv_heads))
    query = heads[:, :, :, :group].flatten(2, 3)  # (B, T, H, D), the groups in key/value head order
    return query.transpose(1, 2), heads[:, :, :, group].transpose(1, 2), heads[:, :, :, group + 1].transpose(1, 2)


def split_blocks(fused: torch.Tensor, sizes: tuple[int, int, int], head_dim: int) -> tuple[torch.Tensor, ...]:
    """(B, T, q + k + v widths) as [all q | all k | all v] -> queries, keys, values (B, heads, T, D)."""
    batch, length, _ = fused.shape
    return tuple(part.view(batch, length, -1, head_dim).transpose(1, 2) for part in fused.split(sizes, dim=-1))
