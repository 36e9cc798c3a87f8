"""Key/value caches for incremental decoding.

A cache holds, per layer, the keys and values of every position seen so far, shaped
(B, H_kv, T, D). Attention layers call ``update`` with the new positions and attend over what
it returns. The generation loop (``workbench.generation``) owns the cache's lifetime.
"""

from __future__ import annotations

import torch


class DynamicCache:
    """Grows by concatenation; the default for ``use_cache=True``."""

    def __init__(self) -> None:
        self.key_cache: list[torch.Tensor] = []
        self.value_cache: list[torch.Tensor] = []

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        if layer_idx == len(self.key_cache):
            self.key_cache.append(key)
            self.value_cache.append(value)
        else:
            self.key_cache[layer_idx] = torch.cat([self.key_cache[layer_idx], key], dim=-2)
            self.value_cache[layer_idx] = torch.cat([self.value_cache[layer_idx], value], dim=-2)
        return self.key_cache[layer_idx], self.value_cache[layer_idx]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.key_cache[layer_idx].shape[-2] if layer_idx < len(self.key_cache) else 0

    def __len__(self) -> int:
        return len(self.key_cache)

    def __getitem__(self, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.key_cache[layer_idx], self.value_cache[layer_idx]

    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        """Follow beam search: keep the rows ``beam_idx`` picks."""
        for i in range(len(self.key_cache)):
            self.key_cache[i] = self.key_cache[i].index_select(0, beam_idx)
            self.value_cache[i] = self.value_cache[i].index_select(0, beam_idx)

    def crop(self, length: int) -> None:
        """Drop positions past ``length`` (assisted generation rejects draft tokens this way)."""
        for i in range(len(self.key_cache)):
            self.key_cache[i] = self.key_cache[i][..., :length, :]
            self.value_cache[i] = self.value_cache[i][..., :length, :]


class EncoderDecoderCache:
    """The cache of an encoder-decoder's decoder: ``self_attention_cache`` grows by one position per
    step; ``cross_attention_cache`` holds the keys and values of the encoder output, computed on
    the first step and reused after (a layer has them when ``cross_attention_cache.get_seq_length(i)``
    is non-zero)."""

    def __init__(self, self_attention_cache: DynamicCache | None = None,
                 cross_attention_cache: DynamicCache | None = None) -> None:
        self.self_attention_cache = self_attention_cache if self_attention_cache is not None else DynamicCache()
        self.cross_attention_cache = cross_attention_cache if cross_attention_cache is not None else DynamicCache()

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Decoder positions seen so far."""
        return self.self_attention_cache.get_seq_length(layer_idx)

    def __len__(self) -> int:
        return len(self.self_attention_cache)

    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        self.self_attention_cache.reorder_cache(beam_idx)
        self.cross_attention_cache.reorder_cache(beam_idx)

    def crop(self, length: int) -> None:
        """Drop decoder positions past ``length``; the encoder's keys and values stay."""
        self.self_attention_cache.crop(length)
