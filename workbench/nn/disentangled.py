"""Disentangled attention's relative-position terms (DeBERTa, https://arxiv.org/abs/2006.03654, section 3.1).

Each token has a content vector; each distance ``query_position - key_position`` has a position
vector (a row of a learned table of ``2 * span`` rows, row ``distance + span``). Besides the usual
content-to-content score, a query adds

    content-to-position (c2p): its content against the position vector of its distance to the key
    position-to-content (p2c): the key's content against the position vector of the reverse distance

DeBERTa-v2 also squeezes long distances into log-spaced buckets (:func:`log_bucket_position`), so a
table of ``2 * num_buckets`` rows covers ``max_position`` tokens.
"""

from __future__ import annotations

import torch


def log_bucket_position(relative_position: torch.Tensor, num_buckets: int, max_position: int) -> torch.Tensor:
    """Signed distances (long) -> signed buckets (float): distances within ``num_buckets // 2`` stay
    themselves, longer ones grow logarithmically, reaching ``num_buckets - 1`` at ``max_position - 1``.

    The float operations follow DeBERTa's ``make_log_bucket_position`` in order (the rounding at the
    bucket boundaries depends on them).
    """
    half = num_buckets // 2
    sign = torch.sign(relative_position)
    near = (relative_position < half) & (relative_position > -half)
    # near distances get a stand-in (half - 1) so the log below stays finite; they are not used
    distance = torch.where(near, torch.tensor(half - 1).type_as(relative_position), relative_position.abs())
    log_range = torch.log(torch.tensor((max_position - 1) / half))
    log_position = torch.ceil(torch.log(distance / half) / log_range * (half - 1)) + half
    return torch.where(distance <= half, relative_position.type_as(log_position), log_position * sign)


def relative_positions(query_length: int, key_length: int, device: torch.device, num_buckets: int = -1,
                       max_position: int = -1) -> torch.Tensor:
    """(Q, K) long tensor of ``query_position - key_position``, log-bucketed when ``num_buckets``
    and ``max_position`` are both positive."""
    query = torch.arange(query_length, dtype=torch.long, device=device)
    key = torch.arange(key_length, dtype=torch.long, device=device)
    distance = query[:, None] - key[None, :]
    if num_buckets > 0 and max_position > 0:
        distance = log_bucket_position(distance, num_buckets, max_position)
    return distance.long()


def content_to_position(query: torch.Tensor, position_key: torch.Tensor, relative_position: torch.Tensor,
                        span: int | torch.Tensor) -> torch.Tensor:
    """c2p scores (B, H, Q, K): query (B, H, Q, D) against position keys (B or 1, H, 2 * span, D),
    each picked at row ``relative_position + span`` (clamped into the table)."""
    scores = torch.matmul(query, position_key.transpose(-1, -2))  # (B, H, Q, 2 * span)
    index = torch.clamp(relative_position + span, 0, span * 2 - 1)  # (Q, K)
    return torch.gather(scores, -1, index.expand(*scores.shape[:-1], index.shape[-1]))


def position_to_content(key: torch.Tensor, position_query: torch.Tensor, relative_position: torch.Tensor,
                        span: int | torch.Tensor) -> torch.Tensor:
    """p2c scores (B, H, Q, K) for self-attention (Q == K): each key's content (B, H, K, D) against
    the position queries (B or 1, H, 2 * span, D) of the reverse distance, row ``span - relative_position``."""
    scores = torch.matmul(key, position_query.transpose(-1, -2))  # (B, H, K, 2 * span)
    index = torch.clamp(-relative_position + span, 0, span * 2 - 1)  # (K, K)
    return torch.gather(scores, -1, index.expand(*scores.shape[:-1], index.shape[-1])).transpose(-1, -2)
