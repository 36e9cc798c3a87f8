"""Bucketed relative position bias (T5, https://arxiv.org/abs/1910.10683, section 2.1).

Instead of position embeddings, each attention head adds a learned scalar to every score, looked
up by the bucket of ``key_position - query_position``: small distances get a bucket each, larger
ones share logarithmically wider buckets up to ``max_distance``, beyond which all distances share
the last bucket. Encoders tell left from right (half the buckets each); causal decoders only look
left, so all buckets go to the past.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def relative_position_bucket(relative_position: torch.Tensor, bidirectional: bool = True, num_buckets: int = 32,
                             max_distance: int = 128) -> torch.Tensor:
    """Integer tensor of ``key - query`` distances -> bucket ids in ``[0, num_buckets)``, same shape.

    Follows Mesh TensorFlow's ``_relative_position_bucket`` operation for operation (the float
    rounding decides the bucket at the log-spaced boundaries).
    """
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative_position > 0).long() * num_buckets  # keys to the right: upper half
        distance = relative_position.abs()
    else:
        distance = -torch.clamp(relative_position, max=0)  # a future key (masked anyway) counts as distance 0
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    # distance 0 gives log(0) = -inf here; torch.where below never picks it
    log_ratio = torch.log(distance.float() / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (log_ratio * (num_buckets - max_exact)).long()
    large = torch.clamp(large, max=num_buckets - 1)
    return buckets + torch.where(is_small, distance, large)


def relative_position_bias(table: nn.Embedding, query_length: int, key_length: int, *, bidirectional: bool,
                           max_distance: int, past: int = 0) -> torch.Tensor:
    """(1, H, Q, K) additive attention bias from ``table`` (num_buckets, H).

    Queries sit at positions ``past .. past + Q - 1`` (``past`` tokens come from a cache), keys at
    ``0 .. K - 1``.
    """
    device = table.weight.device
    query_position = torch.arange(past, past + query_length, dtype=torch.long, device=device)[:, None]
    key_position = torch.arange(key_length, dtype=torch.long, device=device)[None, :]
    buckets = relative_position_bucket(key_position - query_position, bidirectional, table.num_embeddings, max_distance)
    return table(buckets).permute(2, 0, 1)[None]  # (Q, K, H) -> (1, H, Q, K)
