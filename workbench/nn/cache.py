"""Key/value caches for incremental decoding.

A cache holds, per layer, the keys and values of the positions seen so far, shaped
(B, H_kv, K, D). Attention layers call ``update`` with the new positions and attend over what
it returns; the model asks ``key_span`` first, to build a mask over exactly those K keys. The
generation loop (``workbench.generation``) owns the cache's lifetime.

    DynamicCache        grows by concatenation (K = every position so far)
    SlidingWindowCache  grows too, but layers with a sliding window keep only their last
                        ``window - 1`` positions (all a later query can see)
    StaticCache         preallocated (B, H_kv, max_cache_len, D) buffers written in place at
                        ``cache_position``: fixed shapes, so ``torch.compile`` traces one graph for
                        every decode step; windowed layers keep a ``window``-slot buffer that
                        shifts left by one slot per step once full

Each is a list of per-layer objects (``cache.layers``); ``cache[i]`` gives layer i's (keys, values).
"""

from __future__ import annotations

from typing import Any

import torch


def layer_windows_of(config: Any) -> list[int | None]:
    """Per layer, the sliding window its attention uses (None: full causal attention)."""
    window = getattr(config, "sliding_window", None)
    layers = config.num_hidden_layers
    types = getattr(config, "layer_types", None) or ["sliding_attention" if window else "full_attention"] * layers
    return [window if kind == "sliding_attention" else None for kind in types[:layers]]


# ---------------------------------------------------------------------------------------------
# layers


class DynamicLayer:
    """Every position, concatenated."""

    def __init__(self) -> None:
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None

    def update(self, key, value, cache_position=None):
        if self.keys is None:
            self.keys, self.values = key, value
        else:
            self.keys = torch.cat([self.keys, key], dim=-2)
            self.values = torch.cat([self.values, value], dim=-2)
        return self.keys, self.values

    def seen(self) -> int:
        """Positions written so far (whether or not they are still held)."""
        return 0 if self.keys is None else self.keys.shape[-2]

    def key_span(self, cache_position, length: int):
        """(position of the first key ``update`` will return, number of keys) for ``length`` new positions."""
        return 0, self.seen() + length

    def reorder(self, rows: torch.Tensor) -> None:
        if self.keys is not None:
            self.keys, self.values = self.keys.index_select(0, rows), self.values.index_select(0, rows)

    def crop(self, length: int) -> None:
        if self.keys is not None:
            self.keys, self.values = self.keys[..., :length, :], self.values[..., :length, :]


class SlidingWindowLayer(DynamicLayer):
    """A window of ``window`` keys (the query's own included): after each update only the last
    ``window - 1`` positions are kept. A longer prompt still attends over all its keys in one pass."""

    def __init__(self, window: int) -> None:
        super().__init__()
        self.window = window
        self.total = 0  # positions written so far; the last min(total, window - 1) are held

    def update(self, key, value, cache_position=None):
        keys, values = super().update(key, value)
        self.total += key.shape[-2]
        first = max(keys.shape[-2] - (self.window - 1), 0)
        self.keys, self.values = keys[..., first:, :], values[..., first:, :]
        return keys, values

    def seen(self) -> int:
        return self.total

    def key_span(self, cache_position, length: int):
        held = 0 if self.keys is None else self.keys.shape[-2]
        return self.total - held, held + length

    def crop(self, length: int) -> None:
        held = 0 if self.keys is None else self.keys.shape[-2]
        first = self.total - held
        if length >= self.total:
            return
        if first > 0 and length - first < self.window - 1:
            raise ValueError(
                f"Cannot crop a sliding-window cache layer back to {length} positions: it holds positions "
                f"{first}..{self.total - 1} only (window {self.window}), and the earlier ones a query at {length} "
                "would attend to are gone. Use cache_implementation='dynamic' where positions must be dropped "
                "(assisted generation)."
            )
        self.keys, self.values = self.keys[..., :length - first, :], self.values[..., :length - first, :]
        self.total = length


class StaticLayer:
    """(B, H_kv, max_len, D) buffers, allocated on the first update; slot i holds position i.
    Slots past the current position hold zeros or stale keys, which the causal mask hides."""

    def __init__(self, max_len: int) -> None:
        self.max_len = max_len
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None
        self.length: torch.Tensor | None = None  # 0-d: positions written (a tensor, so compiled steps never read a Python int)

    def _allocate(self, key: torch.Tensor, value: torch.Tensor, slots: int) -> None:
        batch, heads, _, _ = key.shape
        self.keys = torch.zeros(batch, heads, slots, key.shape[-1], dtype=key.dtype, device=key.device)
        self.values = torch.zeros(batch, heads, slots, value.shape[-1], dtype=value.dtype, device=value.device)
        self.length = torch.zeros((), dtype=torch.long, device=key.device)

    def update(self, key, value, cache_position=None):
        if self.keys is None:
            self._allocate(key, value, self.max_len)
        if cache_position is None:
            cache_position = torch.arange(key.shape[-2], device=key.device) + self.length
        self.keys.index_copy_(2, cache_position, key.to(self.keys.dtype))
        self.values.index_copy_(2, cache_position, value.to(self.values.dtype))
        self.length.copy_(cache_position[-1] + 1)
        return self.keys, self.values

    def seen(self) -> int:
        return 0 if self.length is None else int(self.length)

    def key_span(self, cache_position, length: int):
        # checked here, once per forward rather than per layer, and only where reading the
        # position costs no device sync
        if cache_position is not None and cache_position.device.type == "cpu" and not torch.compiler.is_compiling():
            last = int(cache_position[-1])
            if last >= self.max_len:
                raise ValueError(f"The static cache holds {self.max_len} positions, but position {last} was written: "
                                 "build it with a larger max_cache_len (or generate fewer tokens).")
        return 0, self.max_len

    def reorder(self, rows: torch.Tensor) -> None:
        if self.keys is not None:  # in place: the buffers a compiled step holds stay the same tensors
            self.keys.copy_(self.keys.index_select(0, rows))
            self.values.copy_(self.values.index_select(0, rows))

    def crop(self, length: int) -> None:
        if self.length is not None:
            self.length.fill_(min(length, int(self.length)))


class StaticSlidingWindowLayer(StaticLayer):
    """``window`` slots. Before the buffer is full slot i holds position i; after, each decode step
    shifts the slots left by one and writes the new position in the last one, so slot i holds
    position ``p + 1 - window + i``. A prompt longer than the window attends over all its keys and
    leaves the last ``window`` of them. Positions past the window are gone: no crop back."""

    def __init__(self, window: int) -> None:
        super().__init__(window)
        self.window = window

    def update(self, key, value, cache_position=None):
        if self.keys is None:
            self._allocate(key, value, self.window)
        length = key.shape[-2]
        if cache_position is None:
            cache_position = torch.arange(length, device=key.device) + self.length
        if length == 1:  # decode: shift once full, then write at min(p, window - 1)
            full = cache_position >= self.window  # (1,)
            for buffer, new in ((self.keys, key), (self.values, value)):
                buffer.copy_(torch.where(full.view(1, 1, 1, 1), buffer.roll(-1, dims=2), buffer))
                buffer.index_copy_(2, cache_position.clamp(max=self.window - 1), new.to(buffer.dtype))
            self.length.copy_(cache_position[-1] + 1)
            return self.keys, self.values
        if not torch.compiler.is_compiling() and int(self.length) > 0:
            raise NotImplementedError(
                "A static sliding-window cache layer takes several new positions only as the first (prompt) pass: "
                "after that it cannot re-check drafted tokens. Use cache_implementation='dynamic' for assisted generation."
            )
        kept = min(length, self.window)
        self.keys[:, :, :kept].copy_(key[:, :, length - kept:])
        self.values[:, :, :kept].copy_(value[:, :, length - kept:])
        self.length.fill_(length)
        if length > self.window:  # the prompt attends over all of its own keys
            return key, value
        return self.keys, self.values

    def key_span(self, cache_position, length: int):
        if length > self.window:
            return 0, length
        if length > 1:
            return 0, self.window
        return (cache_position[0] + 1 - self.window).clamp(min=0), self.window

    def crop(self, length: int) -> None:
        if self.length is not None and length < int(self.length):
            raise ValueError("A static sliding-window cache cannot drop positions (crop): it no longer holds the earlier "
                             "ones. Use cache_implementation='dynamic' for assisted generation.")


# ---------------------------------------------------------------------------------------------
# caches


class Cache:
    """Per-layer key/value storage; see the module docstring."""

    is_compileable = False

    def __init__(self, layers: list | None = None, layer_factory=None) -> None:
        self.layers = layers if layers is not None else []
        self._factory = layer_factory  # makes layer i when a model writes it first (sizes unknown up front)

    def _layer(self, layer_idx: int):
        while len(self.layers) <= layer_idx:
            if self._factory is None:
                raise IndexError(f"This cache has {len(self.layers)} layers; layer {layer_idx} was written.")
            self.layers.append(self._factory(len(self.layers)))
        return self.layers[layer_idx]

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int,
               cache_kwargs: dict[str, Any] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Store (B, H_kv, T, D) keys and values of ``layer_idx``; return those to attend over.
        ``cache_kwargs={"cache_position": (T,) positions}`` says where they go (default: after the last)."""
        position = cache_kwargs.get("cache_position") if cache_kwargs else None
        return self._layer(layer_idx).update(key, value, position)

    def key_span(self, layer_idx: int, cache_position: torch.Tensor | None, length: int):
        """Before ``update``: (position of the first key it will return, as an int or a 0-d tensor;
        how many keys) for ``length`` new positions at ``cache_position``."""
        return self._layer(layer_idx).key_span(cache_position, length)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.layers[layer_idx].seen() if layer_idx < len(self.layers) else 0

    def get_max_cache_shape(self, layer_idx: int = 0) -> int:
        """Positions a layer holds at most; -1 when it grows without bound."""
        layer = self.layers[layer_idx] if layer_idx < len(self.layers) else None
        return getattr(layer, "max_len", -1) if layer is not None else -1

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        layer = self.layers[layer_idx]
        return layer.keys, layer.values

    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        """Follow beam search: keep the rows ``beam_idx`` picks."""
        for layer in self.layers:
            layer.reorder(beam_idx)

    def crop(self, length: int) -> None:
        """Drop positions past ``length`` (assisted generation rejects draft tokens this way)."""
        for layer in self.layers:
            layer.crop(length)

    @property
    def can_crop(self) -> bool:
        return not any(isinstance(layer, (SlidingWindowLayer, StaticSlidingWindowLayer)) for layer in self.layers)

    # the reference's per-layer lists, for code that reads them
    @property
    def key_cache(self) -> list[torch.Tensor]:
        return [layer.keys for layer in self.layers]

    @property
    def value_cache(self) -> list[torch.Tensor]:
        return [layer.values for layer in self.layers]


class DynamicCache(Cache):
    """Grows by concatenation; the default for ``use_cache=True``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(layer_factory=lambda i: DynamicLayer())


class SlidingWindowCache(Cache):
    """A growing cache whose windowed layers (``config.sliding_window`` with ``config.layer_types``)
    keep only their last ``window - 1`` positions; the other layers keep everything."""

    def __init__(self, config: Any) -> None:
        windows = layer_windows_of(config)
        super().__init__([SlidingWindowLayer(w) if w else DynamicLayer() for w in windows])


class StaticCache(Cache):
    """Preallocated buffers, written in place: the shapes never change, so a compiled decode step
    runs every step without recompiling.

    >>> cache = StaticCache(model.config, max_cache_len=128)            # doctest: +SKIP
    >>> model.generate(ids, past_key_values=cache, max_new_tokens=64)    # doctest: +SKIP

    Layers with a sliding window shorter than ``max_cache_len`` get a window-sized buffer.
    Batch size, head sizes, dtype and device come from the first keys written.
    """

    is_compileable = True

    def __init__(self, config: Any = None, max_cache_len: int | None = None, **_: Any) -> None:
        if max_cache_len is None:
            max_cache_len = getattr(config, "max_position_embeddings", None)
            if max_cache_len is None:
                raise ValueError("StaticCache needs max_cache_len (the most positions it will hold).")
        self.max_cache_len = max_cache_len
        if config is None:
            super().__init__(layer_factory=lambda i: StaticLayer(max_cache_len))
        else:
            super().__init__([StaticSlidingWindowLayer(w) if w and w < max_cache_len else StaticLayer(max_cache_len)
                              for w in layer_windows_of(config)])


class EncoderDecoderCache:
    """The two caches of an encoder-decoder's decoder.

    * ``self_attention_cache`` grows by the new positions every step, like a decoder-only cache;
    * ``cross_attention_cache`` holds each layer's keys and values of the encoder output. They
      depend on the encoder output only, so they are computed on the first step and reused.

    ``get_seq_length`` counts decoder positions. Beam search reorders both caches; assisted
    generation's ``crop`` touches the self-attention cache only.
    """

    is_compileable = False  # the self-attention cache grows every step

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


def as_decoder_cache(past_key_values, use_cache: bool) -> Cache | None:
    """What a decoder-only model accepts as ``past_key_values``, as a :class:`Cache`: None (a new
    :class:`DynamicCache` if ``use_cache``), the legacy ``((key, value), ...)`` per layer, or a cache."""
    if past_key_values is None:
        return DynamicCache() if use_cache else None
    if isinstance(past_key_values, (tuple, list)):
        cache = DynamicCache()
        for layer_idx, (key, value) in enumerate(past_key_values):
            cache.update(key, value, layer_idx)
        return cache
    return past_key_values


def next_positions(cache: Cache | None, length: int, device: torch.device) -> torch.Tensor:
    """(T,) cache positions of ``length`` new tokens: right after those ``cache`` holds (from 0
    without one). A decoder's default ``cache_position``."""
    past = cache.get_seq_length() if cache is not None else 0
    return torch.arange(past, past + length, device=device)
