"""ALiBi, attention with linear biases (Press et al., https://arxiv.org/abs/2108.12409).

No position embeddings: head h adds ``slope_h * key_position`` to its attention scores. The paper
writes the bias as ``slope * (key - query)``; a softmax does not change when one constant is added
to a whole row of scores, so ``slope * key`` gives the same weights with one (B, H, 1, K) bias for
every query, which is how the families that use it compute it:

    scores (B, H, Q, K) = q @ kᵀ * scale  +  bias (B, H, 1, K)  +  causal/padding mask (B, 1, Q, K)

The families differ in the slopes (:func:`alibi_slopes`, :func:`mpt_alibi_slopes`) and in the key
positions (:func:`key_positions`: BLOOM and Falcon count the real tokens of each row, so left
padding shifts nothing; MPT counts back from the last key).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .attention import cache_causal_mask


def alibi_slopes(num_heads: int, device: torch.device | None = None) -> torch.Tensor:
    """(H,) float32 slopes of the paper, as BLOOM and Falcon compute them.

    For a power of two n: ``r, r², ..., rⁿ`` with ``r = 2^(-8/n)``. Otherwise the slopes of the
    largest power of two p below ``num_heads``, then the odd powers ``q¹, q³, ...`` of
    ``q = 2^(-8/2p)`` (every other slope of 2p heads) for the remaining heads.

    >>> alibi_slopes(4)
    tensor([0.2500, 0.0625, 0.0156, 0.0039])
    """
    if num_heads < 1:
        raise ValueError(f"ALiBi needs at least one attention head, got num_heads={num_heads}: fix the config.")
    below = 2 ** math.floor(math.log2(num_heads))
    slopes = _powers(2.0 ** (-8.0 / below), torch.arange(1, below + 1, dtype=torch.int32, device=device))
    if below == num_heads:
        return slopes
    remaining = min(below, num_heads - below)
    odd = torch.arange(1, 2 * remaining + 1, 2, dtype=torch.int32, device=device)
    return torch.cat([slopes, _powers(2.0 ** (-8.0 / (2 * below)), odd)])


def _powers(ratio: float, exponents: torch.Tensor) -> torch.Tensor:
    # float32 ratio raised to integer powers in float32 (not computed in float64 and rounded once):
    # the references' rounding, which differs in the last bit for ratios that are not powers of two
    return torch.pow(torch.tensor(ratio, dtype=torch.float32, device=exponents.device), exponents)


def mpt_alibi_slopes(num_heads: int, max_bias: float = 8.0, device: torch.device | None = None) -> torch.Tensor:
    """(H,) float32 slopes as MPT computes them: ``2^(-i * max_bias / n)`` for ``i = 1..n``, n the
    power of two at or above ``num_heads``; with fewer heads than n, the odd-indexed slopes then
    the even-indexed ones, cut to ``num_heads``. ``max_bias=8`` gives :func:`alibi_slopes`' values.
    """
    if num_heads < 1:
        raise ValueError(f"ALiBi needs at least one attention head, got num_heads={num_heads}: fix the config.")
    padded = 2 ** math.ceil(math.log2(num_heads))
    exponents = torch.arange(1, padded + 1, dtype=torch.int64, device=device).float() * (max_bias / padded)
    slopes = 1.0 / torch.pow(2, exponents)
    if padded != num_heads:
        slopes = torch.cat([slopes[1::2], slopes[::2]])[:num_heads]
    return slopes


def key_positions(attention_mask: torch.Tensor | None, key_length: int, device: torch.device) -> torch.Tensor:
    """(B or 1, K) integer positions of the keys: with a (B, K) 1/0 padding mask, each real key's
    count of real keys before it (padding keys get 0: they are masked anyway); else 0..K-1. A
    shorter mask (a static cache's K slots) counts the keys past its end as real ones."""
    if attention_mask is None:
        return torch.arange(key_length, device=device)[None]
    attention_mask = attention_mask[:, -key_length:].to(device)
    if attention_mask.shape[-1] < key_length:  # a static cache's buffer reaches past the mask: future keys
        attention_mask = F.pad(attention_mask, (0, key_length - attention_mask.shape[-1]), value=1)
    return (attention_mask.cumsum(-1) - 1) * attention_mask


def alibi_bias(slopes: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(H,) slopes and (B, K) key positions -> the (B, H, 1, K) bias added to the scores, in the
    slopes' dtype (float32 for BLOOM and MPT, bfloat16 for Falcon); callers cast it to theirs."""
    return slopes[None, :, None, None] * positions[:, None, None, :]


def alibi_attention_mask(bias: torch.Tensor, attention_mask: torch.Tensor | None, cache_position: torch.Tensor,
                         dtype: torch.dtype) -> torch.Tensor:
    """The (B, H, T, K) additive mask of an ALiBi attention over K keys from position 0 (what a
    growing or static cache returns): causal and key padding (``attention_mask``, (B, K) 1/0 or None) plus the (B or 1, H, 1, K)
    ``bias`` in ``dtype``. Always a tensor: SDPA's own causal masking cannot carry the bias."""
    causal = cache_causal_mask(attention_mask, cache_position, 0, bias.shape[-1], dtype)
    return causal + bias.to(dtype)


def decoder_alibi_mask(slopes: torch.Tensor, attention_mask: torch.Tensor | None, cache, cache_position: torch.Tensor,
                       length: int, dtype: torch.dtype, divisor: float | None = None) -> torch.Tensor:
    """The (B, H, T, K) mask of a decoder step whose key positions count each row's real tokens
    (BLOOM, Falcon): causal and padding plus the bias of the (H,) ``slopes``, over the K keys the
    cache returns (past + T, or a static cache's whole buffer). With ``divisor`` (Falcon's
    sqrt(head_dim)) the bias is cast to ``dtype`` first, then divided, as that reference does."""
    keys = cache.key_span(0, cache_position, length)[1] if cache is not None else length
    bias = alibi_bias(slopes, key_positions(attention_mask, keys, cache_position.device))
    if divisor is not None:
        bias = bias.to(dtype) / divisor
    return alibi_attention_mask(bias, attention_mask, cache_position, dtype)
