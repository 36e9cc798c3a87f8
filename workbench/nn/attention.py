"""Scaled dot-product attention, the masks it takes, and the multi-head attention module built on it.

    hidden ─► q_proj ──────────────────────────────────────────────┐
    hidden or encoder states ─► k_proj, v_proj ─► (cache) ─────────┴─► attention ─► out_proj

Masks are additive float tensors of shape (B, 1, Q, K): 0 where a query may attend, the dtype's
minimum where it may not. A fully masked row (a left-padding query) then gives a uniform
softmax instead of NaN, and its output is ignored downstream.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .linear import Linear, fused_for_inference
from .softcap import soft_cap


def padding_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype, query_length: int | None = None) -> torch.Tensor | None:
    """(B, K) 1/0 mask -> additive (B, 1, 1 or Q, K) mask for bidirectional attention; None if all ones
    (always a mask while compiling or exporting: a traced graph cannot branch on the mask's values)."""
    if attention_mask is None or (not torch.compiler.is_compiling() and bool(attention_mask.all())):
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
    softcap: float | None = None,
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
    ``softcap`` squashes the scaled scores to ``softcap * tanh(scores / softcap)`` before the mask
    (Gemma 2); SDPA has no such step, so a capped attention always takes the explicit path.
    """
    eager = eager or bool(softcap)
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
    scores = soft_cap(torch.matmul(query.to(scores_dtype), key.to(scores_dtype).transpose(-1, -2)) * scale, softcap)
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


def split_heads(x: torch.Tensor, head_dim: int) -> torch.Tensor:
    """(B, T, H * D) -> (B, H, T, D)."""
    return x.view(*x.shape[:2], -1, head_dim).transpose(1, 2)


def multi_head_attention(query, key, value, mask, *, cache=None, layer_idx: int = 0,
                         cache_kwargs: dict | None = None, causal: bool = False, scale: float | None = None,
                         eager: bool = False, dropout: float = 0.0, upcast: bool = False,
                         softcap: float | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The core every multi-head attention shares: (B, H, T, D) queries and this step's (B, Hkv, T, D)
    keys and values -> keys and values appended to ``cache`` (layer ``layer_idx``; ``cache_kwargs``
    such as ``{"cache_position": ...}`` say where) -> :func:`attention` over everything cached ->
    output (B, T, H * D), weights (B, H, T, K) or None. Families with their own projections
    (GPT-2's fused ``c_attn``, LLaMA's rotary queries and keys) call it between theirs."""
    if cache is not None:  # (B, Hkv, past + T, D)
        extra = (cache_kwargs,) if cache_kwargs else ()  # an EncoderDecoderCache's update takes none
        key, value = cache.update(key, value, layer_idx, *extra)
    out, weights = attention(query, key, value, mask, causal=causal, scale=scale, eager=eager, dropout=dropout,
                             upcast=upcast, softcap=softcap)
    return out.reshape(*out.shape[:2], -1), weights  # (B, T, H, D) -> (B, T, H * D)


class MultiHeadAttention(nn.Module):
    """Multi-head attention over ``q_proj``, ``k_proj``, ``v_proj`` and ``out_proj`` (the checkpoint
    keys of BART, OPT, Whisper and their relatives). One module serves as encoder self-attention,
    decoder causal self-attention (``causal=True``; keys and values appended to the cache) and
    cross-attention (``forward(..., encoder_states=...)``: keys and values projected from the
    encoder states on the first step, then read from an :class:`~workbench.nn.cache.EncoderDecoderCache`).

    ``bias`` applies to every projection unless ``key_bias`` (Whisper: False) says otherwise for
    ``k_proj``; ``scale_queries`` multiplies the queries by ``1/sqrt(head_dim)`` before the product
    with the keys (OPT's order) instead of scaling the scores. Without gradients, q/k/v (or k/v of a
    cross-attention) run as one matrix product (:func:`workbench.nn.linear.fused_for_inference`).
    """

    def __init__(self, hidden_size: int, num_heads: int, layer_idx: int = 0, *, causal: bool = False,
                 bias: bool = True, key_bias: bool | None = None, dropout: float = 0.0,
                 scale_queries: bool = False) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"The hidden size ({hidden_size}) must be a multiple of the attention heads "
                             f"({num_heads}): fix the config.")
        self.num_heads, self.head_dim = num_heads, hidden_size // num_heads
        self.layer_idx, self.causal, self.dropout = layer_idx, causal, dropout
        self.scale_queries = scale_queries
        self.k_proj = Linear(hidden_size, hidden_size, bias=bias if key_bias is None else key_bias)
        self.v_proj = Linear(hidden_size, hidden_size, bias=bias)
        self.q_proj = Linear(hidden_size, hidden_size, bias=bias)
        self.out_proj = Linear(hidden_size, hidden_size, bias=bias)

    def _self_projections(self, hidden_states):
        """(B, T, C) -> queries, keys, values (B, H, T, D); one fused product when nothing records gradients."""
        linears = [self.q_proj, self.k_proj, self.v_proj]
        fused = fused_for_inference(self, "_qkv", linears)
        if fused is not None:
            return [split_heads(t, self.head_dim) for t in fused(hidden_states).split(fused.sizes, dim=-1)]
        return [split_heads(m(hidden_states), self.head_dim) for m in linears]

    def _cross_keys_values(self, encoder_states, cache):
        """(B, S, C) encoder states -> keys, values (B, H, S, D): from the cache after the first step."""
        cached = cache.cross_attention(self.layer_idx) if cache is not None else None
        if cached is not None:
            return cached
        fused = fused_for_inference(self, "_kv", [self.k_proj, self.v_proj])
        if fused is not None:
            key, value = fused(encoder_states).split(fused.sizes, dim=-1)
        else:
            key, value = self.k_proj(encoder_states), self.v_proj(encoder_states)
        key, value = split_heads(key, self.head_dim), split_heads(value, self.head_dim)
        if cache is not None:
            cache.store_cross_attention(key, value, self.layer_idx)
        return key, value

    def forward(self, hidden_states, mask=None, eager: bool = False, cache=None, encoder_states=None):
        """(B, T, C) -> (B, T, C), attention weights (B, H, T, K) when ``eager`` (else None)."""
        if encoder_states is None:
            query, key, value = self._self_projections(hidden_states)
        else:
            query = split_heads(self.q_proj(hidden_states), self.head_dim)
            key, value = self._cross_keys_values(encoder_states, cache)
            cache = None  # nothing to append: the encoder's keys are stored once
        scale = self.head_dim**-0.5
        if self.scale_queries:
            query, scale = query * scale, 1.0
        out, weights = multi_head_attention(query, key, value, mask, cache=cache, layer_idx=self.layer_idx,
                                            causal=self.causal, scale=scale, eager=eager,
                                            dropout=self.dropout if self.training else 0.0)
        return self.out_proj(out), weights
