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
    """The two caches of an encoder-decoder's decoder.

    * ``self_attention_cache`` grows by the new positions every step, like a decoder-only cache;
    * ``cross_attention_cache`` holds each layer's keys and values of the encoder output. They
      depend on the encoder output only, so they are computed on the first step and reused.

    ``get_seq_length`` counts decoder positions. Beam search reorders both caches; assisted
    generation's ``crop`` touches the self-attention cache only.
    """

    def __init__(self, self_attention_cache: DynamicCache | None = None,
                 cross_attention_cache: DynamicCache | None = None) -> None:
        self.self_attention_cache = self_attention_cache if self_attention_cache is not None else DynamicCache()
        self.cross_attention_cache = cross_attention_cache if cross_attention_cache is not None else DynamicCache()
        # layer index -> whether its cross-attention keys/values are in the cache (the reference's name)
        self.is_updated = {i: True for i in range(len(self.cross_attention_cache))}

    @classmethod
    def from_legacy_cache(cls, past: tuple) -> "EncoderDecoderCache":
        """``((self_key, self_value, cross_key, cross_value), ...)`` per layer -> a cache."""
        cache = cls()
        for layer_idx, (key, value, *cross) in enumerate(past):
            cache.self_attention_cache.update(key, value, layer_idx)
            if cross:
                cache.store_cross_attention(cross[0], cross[1], layer_idx)
        return cache

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Self-attention: append the new positions, return everything so far."""
        return self.self_attention_cache.update(key, value, layer_idx)

    def cross_attention(self, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The layer's cached cross-attention keys and values, or None before the first step."""
        return self.cross_attention_cache[layer_idx] if self.is_updated.get(layer_idx) else None

    def store_cross_attention(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int) -> None:
        self.cross_attention_cache.update(key, value, layer_idx)
        self.is_updated[layer_idx] = True

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.self_attention_cache.get_seq_length(layer_idx)

    def __len__(self) -> int:
        return len(self.self_attention_cache)

    def __getitem__(self, layer_idx: int) -> tuple[torch.Tensor, ...]:
        """The legacy per-layer tuple: self-attention key, value, then cross-attention key, value."""
        cross = self.cross_attention(layer_idx) or ()
        return (*self.self_attention_cache[layer_idx], *cross)

    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        """Follow beam search. Beams of one prompt share their encoder output, so the
        cross-attention rows are equal within a prompt's beams; they are reordered anyway so the
        cache stays a consistent pair whatever rows ``beam_idx`` picks."""
        self.self_attention_cache.reorder_cache(beam_idx)
        self.cross_attention_cache.reorder_cache(beam_idx)

    def crop(self, length: int) -> None:
        self.self_attention_cache.crop(length)


def as_encoder_decoder_cache(past_key_values, use_cache: bool) -> EncoderDecoderCache | None:
    """What an encoder-decoder's decoder accepts as ``past_key_values``, as an :class:`EncoderDecoderCache`:
    None (a new cache if ``use_cache``), the legacy per-layer tuples, or a self-attention
    :class:`DynamicCache` alone (the cross-attention keys and values are then computed again)."""
    if past_key_values is None:
        return EncoderDecoderCache() if use_cache else None
    if isinstance(past_key_values, (tuple, list)):
        return EncoderDecoderCache.from_legacy_cache(past_key_values)
    if isinstance(past_key_values, DynamicCache):
        return EncoderDecoderCache(past_key_values)
    return past_key_values
