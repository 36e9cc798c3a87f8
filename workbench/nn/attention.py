"""Scaled dot-product attention and the masks it takes.

Masks are additive float tensors of shape (B, 1, Q, K): 0 where a query may attend, the dtype's
minimum where it may not. A fully masked row (a left-padding query) then gives a uniform
softmax instead of NaN, and its output is ignored downstream.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def padding_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype, query_length: int | None = None) -> torch.Tensor | None:
    """(B, K) 1/0 mask -> additive (B, 1, 1 or Q, K) mask for bidirectional attention; None if all ones."""
    if attention_mask is None or bool(attention_mask.all()):
        return None
    mask = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - mask) * torch.finfo(dtype).min


def causal_mask(
    attention_mask: torch.Tensor | None,
    query_length: int,
    key_length: int,
    dtype: torch.dtype,
    device: torch.device,
    sliding_window: int | None = None,
) -> torch.Tensor | None:
    """Additive (B or 1, 1, Q, K) mask: causal, optionally windowed, plus key padding.

    Queries are the last ``query_length`` of ``key_length`` positions (the earlier ones come from
    the cache). Returns None when plain causal attention needs no explicit mask (SDPA's
    ``is_causal`` or a single decode step cover it).
    """
    has_padding = attention_mask is not None and not bool(attention_mask.all())
    past = key_length - query_length
    window_matters = sliding_window is not None and key_length > sliding_window
    if not has_padding and not window_matters and (query_length == 1 or past == 0):
        return None
    query_pos = torch.arange(past, key_length, device=device)[:, None]
    key_pos = torch.arange(key_length, device=device)[None, :]
    allowed = key_pos <= query_pos
    if sliding_window is not None:
        allowed = allowed & (key_pos > query_pos - sliding_window)
    allowed = allowed[None, None]
    if has_padding:
        allowed = allowed & attention_mask[:, None, None, -key_length:].bool()
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device)
    return mask.masked_fill(~allowed, torch.finfo(dtype).min)


def cache_causal_mask(
    attention_mask: torch.Tensor | None,
    cache_position: torch.Tensor,
    key_start: int | torch.Tensor,
    key_length: int,
    dtype: torch.dtype,
    sliding_window: int | None = None,
) -> torch.Tensor:
    """Additive (B or 1, 1, T, K) mask for queries at positions ``cache_position`` (T,) over keys
    at positions ``key_start, ..., key_start + K - 1`` (what a cache returns: see
    ``Cache.key_span``): causal, optionally windowed, plus key padding from the (B, L) 1/0
    ``attention_mask`` (columns are positions; keys past its end are future ones, hidden anyway).
    Built from tensors only, so a compiled decode step traces it once.
    """
    key_pos = torch.arange(key_length, device=cache_position.device) + key_start  # (K,)
    query_pos = cache_position[:, None]  # (T, 1)
    allowed = key_pos <= query_pos  # (T, K)
    if sliding_window is not None:
        allowed = allowed & (key_pos > query_pos - sliding_window)
    allowed = allowed[None, None]
    if attention_mask is not None:
        columns = key_pos.clamp(max=attention_mask.shape[-1] - 1)
        allowed = allowed & attention_mask.index_select(1, columns).bool()[:, None, None, :]
    blocked = torch.tensor(torch.finfo(dtype).min, dtype=dtype, device=cache_position.device)
    return torch.where(allowed, torch.zeros((), dtype=dtype, device=cache_position.device), blocked)


def attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    causal: bool = False,
    dropout: float = 0.0,
    scale: float | None = None,
    eager: bool = False,
    upcast: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, H, Q, D) queries over (B, Hkv, K, D) keys/values -> (B, Q, H, D) output, weights.

    Grouped-query attention: ``Hkv`` may divide ``H``. SDPA shares the key/value heads without
    copying them when it can (no mask, or a single decode step); otherwise, and in eager mode,
    keys and values are repeated to ``H`` heads.
    ``eager`` computes the softmax weights explicitly (needed for ``output_attentions``);
    otherwise PyTorch's fused SDPA kernel runs and the weights are None.
    ``causal`` applies only when ``mask`` is None (the mask helpers return None exactly when
    plain causal attention is enough). ``upcast`` computes the eager scores in float32 whatever
    the input dtype (GPT-2's ``reorder_and_upcast_attn``, for stable mixed-precision training).
    """
    batch, heads, length, _ = query.shape
    groups = heads // key.shape[1]
    is_causal = causal and mask is None and length > 1
    if not eager:
        if groups > 1 and mask is None:  # the kernel shares each key/value head itself
            out = F.scaled_dot_product_attention(query, key, value, dropout_p=dropout, is_causal=is_causal,
                                                 scale=scale, enable_gqa=True)
            return out.transpose(1, 2), None
        if groups > 1 and length == 1 and mask.shape[1] == 1:
            # one decode step: the H queries become `groups` queries per key/value head, so the
            # cache is never repeated; a (B, 1, 1, K) mask broadcasts over them
            packed = query.reshape(batch, heads // groups, groups, query.shape[-1])
            out = F.scaled_dot_product_attention(packed, key, value, attn_mask=mask, dropout_p=dropout, scale=scale)
            return out.reshape(batch, heads, 1, -1).transpose(1, 2), None
    if groups > 1:
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    if not eager:
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout, is_causal=is_causal, scale=scale)
        return out.transpose(1, 2), None
    scale = scale if scale is not None else query.shape[-1] ** -0.5
    scores_dtype = torch.float32 if upcast else query.dtype
    scores = torch.matmul(query.to(scores_dtype), key.to(scores_dtype).transpose(-1, -2)) * scale
    if is_causal:
        q, k = query.shape[2], key.shape[2]
        blocked = torch.ones(q, k, dtype=torch.bool, device=query.device).triu(k - q + 1)
        scores = scores.masked_fill(blocked, torch.finfo(scores.dtype).min)
    if mask is not None:
        scores = scores + mask
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    if dropout:
        weights = F.dropout(weights, p=dropout, training=True)
    return torch.matmul(weights, value).transpose(1, 2), weights
