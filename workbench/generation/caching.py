"""Which key/value cache a ``generate()`` call uses, and the compiled single-token step.

    cache_implementation   cache                                        for
    None / "dynamic"       DynamicCache (grows)                         every model
    "sliding_window"       SlidingWindowCache (windowed layers keep     models that set sliding_window
                           only their window)
    "static" / "hybrid"    StaticCache(max_cache_len=max_length)        Llama-family decoders

``past_key_values=`` a cache the caller built is used as given. With a static cache and a
``compile_config`` (or on an accelerator, as the reference does), the decode steps (one token per
row) run through ``torch.compile(model.forward)``; the prompt pass stays eager, so the compiled
graph sees one set of shapes for the whole generation.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch.nn import functional as F

from ..nn.cache import Cache, DynamicCache, SlidingWindowCache, StaticCache
from .configuration import CompileConfig

logger = logging.getLogger(__name__)

CACHE_IMPLEMENTATIONS = (None, "dynamic", "static", "hybrid", "sliding_window")


def prepare_cache(model, config, model_kwargs: dict[str, Any]) -> None:
    """Put the cache ``config.cache_implementation`` names into ``model_kwargs["past_key_values"]``."""
    implementation = config.cache_implementation
    given = model_kwargs.get("past_key_values")
    if implementation not in CACHE_IMPLEMENTATIONS:
        raise ValueError(f"cache_implementation={implementation!r} is not available in workbench: use one of "
                         f"{[c for c in CACHE_IMPLEMENTATIONS if c]}.")
    if given is not None:
        if implementation is not None:
            raise ValueError("Pass either past_key_values (a cache you built) or cache_implementation, not both.")
        if isinstance(given, StaticCache) and given.max_cache_len < config.max_length:
            raise ValueError(f"The StaticCache passed holds {given.max_cache_len} positions, but generation may reach "
                             f"{config.max_length}: build it with max_cache_len >= {config.max_length}.")
        return
    if not config.use_cache:
        return
    if implementation in (None, "dynamic"):
        model_kwargs["past_key_values"] = DynamicCache()
        return
    if not getattr(model, "_supports_static_cache", False):
        raise ValueError(f"{type(model).__name__} supports the dynamic cache only, not cache_implementation="
                         f"{implementation!r}: drop the argument (the Llama-family decoders support it).")
    if implementation == "sliding_window":
        if getattr(model.config, "sliding_window", None) is None:
            logger.warning("cache_implementation='sliding_window', but %s has no sliding_window: every layer keeps "
                           "all positions.", type(model).__name__)
        model_kwargs["past_key_values"] = SlidingWindowCache(model.config)
    else:
        model_kwargs["past_key_values"] = StaticCache(model.config, max_cache_len=config.max_length)


def compiles(model, config, cache: Cache | None) -> bool:
    """The reference's rule: a compileable (static) cache, on an accelerator or when the caller
    passed a ``compile_config`` (on the CPU compiling costs seconds to minutes: opt in)."""
    if config.disable_compile or cache is None or not cache.is_compileable:
        return False
    return model.device.type != "cpu" or config.compile_config is not None


class DecodeStep:
    """Calls the model for one generation step: eagerly for the prompt, through the compiled
    forward (cached on the model per compile settings) for the one-token steps."""

    def __init__(self, model, config, cache: Cache | None) -> None:
        self.model = model
        self.compiled = None
        if compiles(model, config, cache):
            self.compiled = compiled_forward(model, config.compile_config or CompileConfig())
            self.max_len = cache.max_cache_len

    def __call__(self, inputs: dict[str, Any], seen: int):
        if self.compiled is None or inputs["input_ids"].shape[1] != 1 or seen == 0:
            return self.model(**inputs, return_dict=True)
        # slices of the growing ids and positions: fresh tensors, or their strides change every step
        inputs = {k: v.clone(memory_format=torch.contiguous_format) if isinstance(v, torch.Tensor) else v
                  for k, v in inputs.items()}
        inputs["cache_position"] = torch.full((1,), seen, dtype=torch.long, device=inputs["input_ids"].device)
        mask = inputs.get("attention_mask")
        if mask is not None:  # one shape for every step: the columns past this one are future keys, masked anyway
            inputs["attention_mask"] = F.pad(mask, (0, self.max_len - mask.shape[1]), value=1)
        return self.compiled(**inputs, return_dict=True)


def compiled_forward(model, compile_config: CompileConfig):
    """``torch.compile(model.forward)`` with ``compile_config``'s settings, built once per settings."""
    settings = compile_config.to_dict()
    if model.device.type == "cpu" and settings.get("mode") == "reduce-overhead":
        settings["mode"] = None  # CUDA graphs: nothing to reduce on the CPU
    key = repr(sorted(settings.items(), key=lambda item: item[0]))
    cached = model.__dict__.get("_compiled_forward")
    if cached is None or cached[0] != key:
        cached = (key, torch.compile(model.forward, **settings))
        model.__dict__["_compiled_forward"] = cached
    return cached[1]
