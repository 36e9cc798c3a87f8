"""The attention mask of a decoder-only model's step, over the keys its cache returns.

A growing (dynamic) cache returns the keys of every position up to the last query; a static cache
returns its whole buffer, whose slots past the current position hold zeros or stale keys that
the causal mask hides. ``LlamaModel._masks`` asks for one mask per sliding window; a model whose
layers all attend the same way asks for one.
"""

from __future__ import annotations

import torch

from .attention import cache_causal_mask


def decoder_mask(attention_mask: torch.Tensor | None, cache, cache_position: torch.Tensor, length: int,
                 dtype: torch.dtype, layer_idx: int = 0, window: int | None = None) -> torch.Tensor | None:
    """Additive (B or 1, 1, T, K) mask for ``length`` queries at ``cache_position`` over the keys
    ``cache`` will return for layer ``layer_idx`` (all of them without a cache): causal, optionally
    windowed, plus key padding from the (B, L) 1/0 ``attention_mask``. None where SDPA's own
    causal masking (or none, for one decode step) is exact."""
    padded = attention_mask is not None and (torch.compiler.is_compiling() or not bool(attention_mask.all()))
    padding = attention_mask if padded else None
    exact = cache is None or not cache.is_compileable  # keys end at the last query
    start, keys = cache.key_span(layer_idx, cache_position, length) if cache is not None else (0, length)
    window_matters = window is not None and keys > window
    if exact and padding is None and not window_matters and (length == 1 or keys == length):
        return None
    return cache_causal_mask(padding, cache_position, start, keys, dtype, window)
