"""Rotary position embeddings (RoPE, https://arxiv.org/abs/2104.09864) and their scaled variants.

A config describes its RoPE in ``config.rope_parameters``::

    {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}

Older config.json files spell it ``rope_theta`` + ``rope_scaling`` (with ``type`` for
``rope_type``); :func:`standardize_rope_parameters` folds them into the dict above.

Each rope type turns the config into inverse frequencies ``inv_freq`` (one per rotated pair of
channels) and an attention factor that scales cos and sin (YaRN's temperature). Nothing here is a
registered buffer: models are built on the meta device, so :class:`RotaryEmbedding` computes its
frequencies on first use, on the device the positions live on, and keeps them per device.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

DEFAULT_THETA = 10_000.0
# rope types whose scaling needs the context length the model was pre-trained with
_NEEDS_ORIGINAL_LENGTH = ("llama3", "yarn", "longrope")


def standardize_rope_parameters(config: Any) -> None:
    """Fold the legacy ``rope_theta`` / ``rope_scaling`` / ``partial_rotary_factor`` keys of
    ``config`` into one ``config.rope_parameters`` dict, as the reference does when it reads a config.

    ``rope_scaling`` wins over ``rope_parameters``; keys already in the dict win over loose keys.
    """
    loose = config.__dict__
    scaling = loose.pop("rope_scaling", None)
    theta = loose.pop("rope_theta", None)
    partial = loose.pop("partial_rotary_factor", None)
    params = dict(scaling or getattr(config, "rope_parameters", None) or {})
    params.setdefault("rope_type", params.get("type", "default"))
    params.setdefault("rope_theta", theta if theta is not None else DEFAULT_THETA)
    if partial is not None:
        params.setdefault("partial_rotary_factor", partial)
    if params["rope_type"] in _NEEDS_ORIGINAL_LENGTH:
        original = loose.get("original_max_position_embeddings")  # Phi-3 style: a top-level key wins
        if original is not None:
            params["original_max_position_embeddings"] = original
        else:
            params.setdefault("original_max_position_embeddings", config.max_position_embeddings)
    if params["rope_type"] not in _FREQUENCIES:
        raise ValueError(
            f"rope_type {params['rope_type']!r} (config.rope_parameters) is not supported; "
            f"use one of {sorted(_FREQUENCIES)}."
        )
    config.rope_parameters = params


def head_dim_of(config: Any) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def rotary_dim_of(config: Any) -> int:
    """Channels per head that rotate (``partial_rotary_factor`` of the head; the rest pass through)."""
    return int(head_dim_of(config) * config.rope_parameters.get("partial_rotary_factor", 1.0))


def rope_frequencies(config: Any, seq_len: int | torch.Tensor | None = None,
                     device: torch.device | None = None) -> tuple[torch.Tensor, float]:
    """``(inv_freq, attention_factor)`` for ``config.rope_parameters``: (rotary_dim // 2,) float32.

    ``seq_len`` matters only to ``dynamic`` RoPE (the length the base is stretched for).
    """
    params = config.rope_parameters
    return _FREQUENCIES[params["rope_type"]](config, params, seq_len, device)


def _base_frequencies(base: float | torch.Tensor, dim: int, device=None) -> torch.Tensor:
    # theta_i = base^(-2i/d), i = 0 .. d/2 - 1
    exponents = torch.arange(0, dim, 2, dtype=torch.int64, device=device).to(torch.float) / dim
    return 1.0 / (base ** exponents)


def _default(config, params, seq_len, device):
    return _base_frequencies(params["rope_theta"], rotary_dim_of(config), device), 1.0


def _linear(config, params, seq_len, device):
    """Position interpolation (https://arxiv.org/abs/2306.15595): every frequency divided by ``factor``."""
    inv_freq, _ = _default(config, params, seq_len, device)
    return inv_freq / params["factor"], 1.0


def _dynamic(config, params, seq_len, device):
    """Dynamic NTK scaling: past ``max_position_embeddings``, the base grows with the sequence."""
    dim = rotary_dim_of(config)
    factor, trained = params["factor"], config.max_position_embeddings
    if seq_len is None:
        seq_len = trained
    elif isinstance(seq_len, torch.Tensor):
        seq_len = torch.maximum(seq_len, torch.tensor(trained, dtype=seq_len.dtype, device=seq_len.device))
    else:
        seq_len = max(seq_len, trained)
    base = params["rope_theta"] * ((factor * seq_len / trained) - (factor - 1)) ** (dim / (dim - 2))
    return _base_frequencies(base, dim, device), 1.0


def _llama3(config, params, seq_len, device):
    """Llama 3.1: long wavelengths divided by ``factor``, short ones kept, a smooth blend between."""
    inv_freq, _ = _default(config, params, seq_len, device)
    factor, low, high = params["factor"], params["low_freq_factor"], params["high_freq_factor"]
    trained = params["original_max_position_embeddings"]
    wavelength = 2 * math.pi / inv_freq
    scaled = torch.where(wavelength > trained / low, inv_freq / factor, inv_freq)
    smooth = (trained / wavelength - low) / (high - low)
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelength >= trained / high) & (wavelength <= trained / low)
    return torch.where(medium, blended, scaled), 1.0


def _yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def _yarn(config, params, seq_len, device):
    """YaRN (https://arxiv.org/abs/2309.00071): interpolate low frequencies, keep high ones, ramp
    linearly between the dimensions that turn ``beta_slow`` and ``beta_fast`` times over the
    pre-trained context; cos and sin are scaled by the attention factor."""
    base, dim = params["rope_theta"], rotary_dim_of(config)
    trained = params["original_max_position_embeddings"]
    factor = params.get("factor") or config.max_position_embeddings / trained
    attention_factor = params.get("attention_factor")
    if attention_factor is None:
        mscale, mscale_all_dim = params.get("mscale"), params.get("mscale_all_dim")
        if mscale and mscale_all_dim:
            attention_factor = float(_yarn_mscale(factor, mscale) / _yarn_mscale(factor, mscale_all_dim))
        else:
            attention_factor = _yarn_mscale(factor)
    beta_fast, beta_slow = params.get("beta_fast") or 32, params.get("beta_slow") or 1

    def dimension_for(rotations: float) -> float:  # the channel that turns `rotations` times over `trained`
        return dim * math.log(trained / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low, high = dimension_for(beta_fast), dimension_for(beta_slow)
    if params.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1).to(device)
    keep = 1 - ramp  # weight of the original (extrapolated) frequency per channel pair
    periods = base ** (torch.arange(0, dim, 2).to(device=device, dtype=torch.float) / dim)
    inv_freq = (1.0 / (factor * periods)) * (1 - keep) + (1.0 / periods) * keep
    return inv_freq, attention_factor


def _longrope(config, params, seq_len, device):
    """LongRoPE (https://arxiv.org/abs/2402.13753, Phi-3): each frequency divided by its own factor,
    ``short_factor`` within the pre-trained context, ``long_factor`` for a ``seq_len`` past it; cos
    and sin are scaled by ``sqrt(1 + log(factor) / log(original length))``."""
    dim, trained = rotary_dim_of(config), params["original_max_position_embeddings"]
    factor = params.get("factor")
    if factor is None:  # Phi-3 raises max_position_embeddings and keeps the pre-trained length apart
        factor = config.max_position_embeddings / trained
    attention_factor = params.get("attention_factor")
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(trained))
    which = "long_factor" if seq_len is not None and seq_len > trained else "short_factor"
    rescale = torch.tensor(params[which], dtype=torch.float32, device=device)
    exponents = torch.arange(0, dim, 2, dtype=torch.int64, device=device).float() / dim
    return 1.0 / (rescale * params["rope_theta"] ** exponents), attention_factor


_FREQUENCIES = {"default": _default, "linear": _linear, "dynamic": _dynamic, "llama3": _llama3, "yarn": _yarn,
                "longrope": _longrope}


class RotaryEmbedding(nn.Module):
    """Position ids -> (cos, sin), each (B, T, rotary_dim), in the activations' dtype.

    No tensors are registered (nothing to load, nothing on the meta device); ``inv_freq`` is
    computed on first use per device, in float32 on the CPU as the reference does, then moved.
    """

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.rope_type = config.rope_parameters["rope_type"]
        self._inv_freq: dict[torch.device | tuple[str, torch.device], torch.Tensor] = {}
        self.attention_scaling = 1.0

    def inv_freq(self, device: torch.device) -> torch.Tensor:
        cached = self._inv_freq.get(device)
        if cached is None:
            cached, self.attention_scaling = rope_frequencies(self.config)
            cached = self._inv_freq[device] = cached.to(device)
        return cached

    @torch.no_grad()
    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        inv_freq = self.inv_freq(position_ids.device)
        if self.rope_type == "dynamic":
            # stateless: stretch for this call's longest position (the reference keeps the
            # stretched base for later shorter calls until one fits the trained length again)
            longest = position_ids.max() + 1
            stretched, _ = rope_frequencies(self.config, seq_len=longest, device=position_ids.device)
            inv_freq = torch.where(longest > self.config.max_position_embeddings, stretched, inv_freq)
        elif self.rope_type == "longrope":  # long factors once this call reaches past the pre-trained length
            trained = self.config.rope_parameters["original_max_position_embeddings"]
            long = self._inv_freq.get(("long", position_ids.device))
            if long is None:
                long, _ = rope_frequencies(self.config, seq_len=trained + 1, device=position_ids.device)
                self._inv_freq[("long", position_ids.device)] = long
            inv_freq = torch.where(position_ids.max() + 1 > trained, long, inv_freq)
        angles = position_ids[..., None].float() * inv_freq  # (B, T, rotary_dim / 2)
        angles = torch.cat((angles, angles), dim=-1)  # (B, T, rotary_dim)
        cos, sin = angles.cos(), angles.sin()
        if self.attention_scaling != 1.0:
            cos, sin = cos * self.attention_scaling, sin * self.attention_scaling
        return cos.to(dtype), sin.to(dtype)

    def extra_repr(self) -> str:
        return f"rope_type={self.rope_type!r}"


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(query: torch.Tensor, key: torch.Tensor, cos: torch.Tensor,
                 sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate (B, H, T, D) queries and keys by (B, T, R) cos/sin; channels past R pass through."""
    cos, sin = cos[:, None], sin[:, None]  # (B, 1, T, R)
    rotary = cos.shape[-1]

    def rotate(x: torch.Tensor) -> torch.Tensor:
        if rotary == x.shape[-1]:
            return x * cos + _rotate_half(x) * sin
        turned, passed = x[..., :rotary], x[..., rotary:]
        return torch.cat((turned * cos + _rotate_half(turned) * sin, passed), dim=-1)

    return rotate(query), rotate(key)


def head_tables(cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, R) cos/sin -> the (B, T, 1, R) cos and signed sin :func:`rotate_heads` takes; built
    once per forward pass and shared by every layer.

    ``rotate_half(x) * sin`` equals ``x.roll(R/2) * [-sin, sin]``: one roll instead of two
    slices, a negation and a concatenation, with the same float results (negation is exact).
    """
    half = sin.shape[-1] // 2
    return cos[:, :, None], torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)[:, :, None]


def rotate_heads(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, T, H, D) heads (the layout a fused q/k/v projection gives, so queries and keys
    turn in one go) by the :func:`head_tables`; channels past R pass through."""
    rotary = cos.shape[-1]
    half = rotary // 2
    if rotary == x.shape[-1]:
        return x * cos + x.roll(half, dims=-1) * signed_sin
    turned, passed = x[..., :rotary], x[..., rotary:]
    return torch.cat((turned * cos + turned.roll(half, dims=-1) * signed_sin, passed), dim=-1)


# ---------------------------------------------------------------------------------------------
# interleaved pairs: channels (0, 1), (2, 3), ... turn together (Mesh-TensorFlow's original RoPE,
# RoFormer, GPT-J, CodeGen, Cohere), where the functions above turn channel i with i + R/2.
#
#     x = [a0 b0 a1 b1 ...]  ->  [a0 cos0 - b0 sin0, b0 cos0 + a0 sin0, a1 cos1 - b1 sin1, ...]
#
# Pair i turns by the same angle in both layouts; only where its two channels sit differs.


def _pair_layout(cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., R/2) cos and sin, one per angle -> (..., R) cos ``c0 c0 c1 c1 ...`` and signed sin
    ``-s0 s0 -s1 s1 ...``, so the rotation is ``x * cos + swap_pairs(x) * signed_sin`` (negating
    the sine instead of the channel gives the same floats: negation is exact)."""
    return cos.repeat_interleave(2, dim=-1), torch.stack((-sin, sin), dim=-1).flatten(-2)


def pair_tables(cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, R) cos/sin of :class:`RotaryEmbedding` (each angle twice, once per half) -> the
    (B, T, 1, R) cos and signed sin :func:`rotate_pairs` takes; built once per forward pass."""
    half = cos.shape[-1] // 2
    cos, signed_sin = _pair_layout(cos[..., :half], sin[..., :half])
    return cos[:, :, None], signed_sin[:, :, None]


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """Rotate heads pairwise by the :func:`pair_tables` (or :func:`interleaved_rotary_tables`), which
    broadcast against ``x`` ((B, T, H, D) or (B, H, T, D)); channels past R pass through."""
    rotary = cos.shape[-1]
    turned = x[..., :rotary]
    swapped = turned.unflatten(-1, (rotary // 2, 2)).flip(-1).flatten(-2)  # b0 a0 b1 a1 ...
    out = turned * cos + swapped * signed_sin
    return out if rotary == x.shape[-1] else torch.cat((out, x[..., rotary:]), dim=-1)


def interleaved_rotary_tables(table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RoFormer's angles: (T, D) rows ``[sin_0 .. sin_{D/2-1}, cos_0 .. cos_{D/2-1}]`` (a fixed
    sinusoidal table, :func:`workbench.nn.positions.sinusoidal_table` with ``interleaved=False``)
    -> the (1, 1, T, D) signed sin and cos of the pair layout, for :func:`apply_interleaved_rotary`."""
    sin, cos = table[None, None].chunk(2, dim=-1)  # (1, 1, T, D/2) each
    cos, signed_sin = _pair_layout(cos, sin)
    return signed_sin, cos


def apply_interleaved_rotary(x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
    """:func:`rotate_pairs` in RoFormer's argument order: (B, H, T, D) heads by the (1, 1, T, D)
    signed sin and cos of :func:`interleaved_rotary_tables`."""
    return rotate_pairs(x, cos, sin)
