"""A quantized GGUF file's Linear layers kept in their blocks, on PyTorch's CPU int4 kernel::

    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file="model.Q4_K_M.gguf", keep_quantized=True)
    model.dequantize()   # float nn.Linear layers, equal to a load without keep_quantized

Every GGUF block format below is a sum of "passes" of the kernel behind
:class:`workbench.quantization.Int4Linear` (``aten._weight_int4pack_mm_for_cpu``):
``w = (q - 8) * scale + zero``, q in 0..15, one scale and zero per group of 32 inputs of a row::

    Q4_0  (d; 4-bit q)        w = d (q - 8)                 1 pass: scale d, zero 0
    Q4_1  (d, m; 4-bit q)     w = d q + m                   1 pass: scale d, zero m + 8d
    Q4_K  (256: d, dmin; 6-bit sc, mn per 32)
                              w = d sc q - dmin mn          1 pass: scale d sc, zero 8 d sc - dmin mn
    Q8_0  (d; int8 q)         q + 128 = 16 h + l            2 passes: (h - 8) 16d  +  (l - 8) d + 8d
    Q5_0  (d; 5-bit q)        w = d (q - 16), q = 16 h + l  2 passes: (l - 8) d - 8d  +  (h + 8 - 8) 16d
    Q6_K  (256: d; int8 sc per 16; 6-bit q)
                              w = d sc (q - 32)             no exact form (sub-blocks of 16 are below the
                                                            kernel's smallest group): requantized to 8 bits
                                                            per group of 32, as 2 passes (lossy)

Two passes run as one kernel call on a weight of 2N rows (the passes stacked), whose halves are
added in float32. The kernel's fast path takes bfloat16 activations and bfloat16 scales
(benchmarks/RESULTS_quant_kernels.md), so the weight it multiplies by differs from the file's by the
bf16 rounding of each group's scale and zero (at most 2^-9 relative, the size of the activations'
own rounding). Each layer also keeps its blocks' scale bytes (the fp16 d, m, ...: 2-4 bytes per 32
weights), so :meth:`GGUFInt4Linear.dequantized_weight` and ``model.dequantize()`` give exactly the
float32 values a load without ``keep_quantized`` gives (bitwise; Q6_K: the requantized values).

What stays float: the token embedding (a lookup, which cannot read packed blocks), F32/F16/BF16
tensors, and a Linear weight of another type (Q5_1, Q2_K, Q3_K, Q5_K, IQ*, ...) or shape, which is
dequantized to float32 as without ``keep_quantized`` (logged by name). A tied output layer
(SmolLM2's) gets its own packed copy of the embedding's blocks: it is the largest matrix of a decode
step. The model is marked quantized (``is_quantized``; ``quantization_config``, a
:class:`GGUFQuantization`), so training needs an adapter, as after ``load_in_4bit=True``.
"""

from __future__ import annotations

import functools
import logging
import os
from collections import Counter
from typing import Any

import numpy as np
import torch
from torch import nn

from .gguf import iter_gguf_blocks
from .quantization import INT4_TILE, Int4Linear, pack_int4, unpack_int4

logger = logging.getLogger("workbench")

GROUP = 32  # the kernel's group: each GGUF block (Q4_K: sub-block) of 32 weights is one group
FLOAT_TYPES = ("F32", "F16", "BF16", "F64")
_ROWS_PER_STEP = 64 * 64  # rows repacked at a time: bounds the temporaries of the largest matrices


# ---------------------------------------------------------------------------------------------
# GGUF blocks -> int4 passes (numpy over the file's raw blocks, one row per output row)


def _f16(blocks: np.ndarray, at: int) -> np.ndarray:
    """The fp16 at byte ``at`` of every block, as float32 (rows, nblocks)."""
    return np.ascontiguousarray(blocks[..., at:at + 2]).view(np.float16)[..., 0].astype(np.float32)


def _nibbles_32(qs: np.ndarray) -> np.ndarray:
    """16 bytes -> 32 values: element j is the low nibble of byte j, element j + 16 its high one."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=-1)


def _pass(q: np.ndarray, scale: np.ndarray, zero: np.ndarray, n: int, k: int):
    """(q uint8 (N, K), scale (N, K/32), zero (N, K/32)) torch tensors: one int4 kernel pass."""
    return (torch.from_numpy(np.ascontiguousarray(q.reshape(n, k).astype(np.uint8))),
            torch.from_numpy(np.ascontiguousarray(scale.reshape(n, k // GROUP).astype(np.float32))),
            torch.from_numpy(np.ascontiguousarray(zero.reshape(n, k // GROUP).astype(np.float32))))


def q4_0_passes(data: np.ndarray, n: int, k: int):
    blocks = data.reshape(n, k // 32, 18)
    d = _f16(blocks, 0)
    return [_pass(_nibbles_32(blocks[..., 2:]), d, np.zeros_like(d), n, k)]


def q4_1_passes(data: np.ndarray, n: int, k: int):
    blocks = data.reshape(n, k // 32, 20)
    d, m = _f16(blocks, 0), _f16(blocks, 2)
    return [_pass(_nibbles_32(blocks[..., 4:]), d, m + 8 * d, n, k)]


def q8_0_passes(data: np.ndarray, n: int, k: int):
    blocks = data.reshape(n, k // 32, 34)
    d = _f16(blocks, 0)
    q = blocks[..., 2:].view(np.int8).astype(np.int16) + 128  # 0..255 = 16 h + l
    high, low = q >> 4, q & 0x0F
    return [_pass(high, 16 * d, np.zeros_like(d), n, k), _pass(low, d, 8 * d, n, k)]


def q5_0_passes(data: np.ndarray, n: int, k: int):
    blocks = data.reshape(n, k // 32, 22)
    d = _f16(blocks, 0)
    qh = np.ascontiguousarray(blocks[..., 2:6]).view(np.uint32)[..., 0]  # bit j: fifth bit of element j
    high = (qh[..., None] >> np.arange(32, dtype=np.uint32)) & 1
    low = _nibbles_32(blocks[..., 6:])
    return [_pass(low, d, -8 * d, n, k), _pass(high + 8, 16 * d, np.zeros_like(d), n, k)]


def _k_scales(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_K's 12 bytes -> 8 six-bit scales and 8 six-bit mins per super-block."""
    s = scales.astype(np.uint8)
    sc = np.empty(s.shape[:-1] + (8,), np.uint8)
    mn = np.empty_like(sc)
    sc[..., :4], mn[..., :4] = s[..., 0:4] & 63, s[..., 4:8] & 63
    sc[..., 4:] = (s[..., 8:12] & 0x0F) | ((s[..., 0:4] >> 6) << 4)
    mn[..., 4:] = (s[..., 8:12] >> 4) | ((s[..., 4:8] >> 6) << 4)
    return sc.astype(np.float32), mn.astype(np.float32)


def q4_k_passes(data: np.ndarray, n: int, k: int):
    blocks = data.reshape(n, k // 256, 144)
    d, dmin = _f16(blocks, 0)[..., None], _f16(blocks, 2)[..., None]
    sc, mn = _k_scales(blocks[..., 4:16])
    qs = blocks[..., 16:].reshape(n, k // 256, 4, 32)  # 4 chunks of 64 values: low nibbles, then high
    q = np.stack([qs & 0x0F, qs >> 4], axis=3).reshape(n, k // 256, 8, 32)
    scale = d * sc  # (n, k/256, 8): one per sub-block of 32
    return [_pass(q, scale, 8 * scale - dmin * mn, n, k)]


def q6_k_values(data: np.ndarray, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Q6_K -> (q (N, K) in 0..63, scale (N, K/16)) with w = scale * (q - 32)."""
    blocks = data.reshape(n, k // 256, 210)
    ql, qh = blocks[..., :128].reshape(n, -1, 2, 64), blocks[..., 128:192].reshape(n, -1, 2, 32)
    sc = blocks[..., 192:208].view(np.int8).astype(np.float32)
    d = _f16(blocks, 208)[..., None]
    parts = [(ql[..., :32] & 0x0F) | (((qh >> 0) & 3) << 4), (ql[..., 32:] & 0x0F) | (((qh >> 2) & 3) << 4),
             (ql[..., :32] >> 4) | (((qh >> 4) & 3) << 4), (ql[..., 32:] >> 4) | (((qh >> 6) & 3) << 4)]
    q = np.stack(parts, axis=3).reshape(n, k)  # per half of 128: [l, l+32, l+64, l+96] blocks of 32
    return q.astype(np.int16), (d * sc).reshape(n, k // 16)


def int8_group_passes(weight: torch.Tensor):
    """Lossy: symmetric 8 bits per group of 32 as two int4 passes (for a format with no exact
    repack). The scale is rounded to bfloat16 first (the kernel's), and q against it."""
    n, k = weight.shape
    groups = weight.reshape(n, k // GROUP, GROUP).double()
    d = (groups.abs().amax(-1) / 127).clamp(min=1e-30).to(torch.bfloat16).float()
    q = (torch.round(groups / d.double()[..., None]).clamp(-128, 127).to(torch.int16) + 128).reshape(n, k)
    return [((q >> 4).to(torch.uint8), 16 * d, torch.zeros_like(d)), ((q & 15).to(torch.uint8), d, 8 * d)]


def q6_k_passes(data: np.ndarray, n: int, k: int):
    q, scale = q6_k_values(data, n, k)
    return int8_group_passes(torch.from_numpy((np.repeat(scale, 16, axis=1) * (q - 32)).astype(np.float32)))


REPACKERS = {"Q4_0": q4_0_passes, "Q4_1": q4_1_passes, "Q4_K": q4_k_passes, "Q8_0": q8_0_passes,
             "Q5_0": q5_0_passes, "Q6_K": q6_k_passes}
PASSES = {"Q4_0": 1, "Q4_1": 1, "Q4_K": 1, "Q8_0": 2, "Q5_0": 2, "Q6_K": 2}
# type -> (weights per block, bytes per block, bytes at its start that are not codes: d, m, ... kept
# for the exact float values); Q6_K has no exact form, so nothing is kept
_BLOCKS = {"Q4_0": (32, 18, 2), "Q4_1": (32, 20, 4), "Q5_0": (32, 22, 2), "Q8_0": (32, 34, 2),
           "Q4_K": (256, 144, 16), "Q6_K": (256, 210, 0)}


def passes_dequantize(passes) -> torch.Tensor:
    """The float32 weight a list of passes stands for (float32 scales: the exact form)."""
    total = None
    for q, scale, zero in passes:
        n, k = q.shape
        w = ((q.reshape(n, scale.shape[1], -1).float() - 8) * scale[..., None] + zero[..., None]).reshape(n, k)
        total = w if total is None else total + w
    return total


def exact_weight(type_name: str, codes: list[np.ndarray], scale_bytes: np.ndarray) -> np.ndarray:
    """gguf's own float32 values of a tensor, from its passes' codes (q (N, K) each, in 0..15) and
    its blocks' scale bytes (N, blocks, bytes): the operations gguf.quants does, in its order, so
    the result is bitwise the same."""
    n, k = codes[0].shape
    if type_name == "Q4_K":
        d, dmin = _f16(scale_bytes, 0)[..., None], _f16(scale_bytes, 2)[..., None]
        sc, mn = _k_scales(scale_bytes[..., 4:16])
        q = codes[0].reshape(n, k // 256, 8, 32).astype(np.float32)
        return ((d * sc)[..., None] * q - (dmin * mn)[..., None]).reshape(n, k)
    d = _f16(scale_bytes, 0)[..., None]  # (N, K/32, 1)
    blocks = [c.reshape(n, k // 32, 32) for c in codes]
    if type_name == "Q4_0":
        values = d * (blocks[0].astype(np.int8) - np.int8(8)).astype(np.float32)
    elif type_name == "Q4_1":
        values = (d * blocks[0].astype(np.float32)) + _f16(scale_bytes, 2)[..., None]
    elif type_name == "Q5_0":
        low, high = blocks
        values = d * ((low | ((high - 8) << 4)).astype(np.int8) - np.int8(16)).astype(np.float32)
    elif type_name == "Q8_0":
        high, low = blocks
        values = ((high.astype(np.int16) << 4 | low) - 128).astype(np.int8).astype(np.float32) * d
    else:
        raise ValueError(f"{type_name} has no exact int4 form (exact types: Q4_0, Q4_1, Q4_K, Q5_0, Q8_0).")
    return values.reshape(n, k)


# ---------------------------------------------------------------------------------------------
# the kernel's packed layout


# ---------------------------------------------------------------------------------------------
# the layer


class GGUFInt4Linear(Int4Linear):
    """An :class:`Int4Linear` (groups of 32) built from one GGUF tensor's blocks, in one pass of the
    int4 kernel (Q4_0, Q4_1, Q4_K) or two stacked along the output rows (Q8_0, Q5_0, Q6_K; see the
    module docstring). Buffers: ``weight`` (passes * N, K/2) and ``scales_and_zeros``
    (K/32, passes * N, 2), the kernel's; ``gguf_scales`` (N, blocks, bytes), the blocks' own scale
    bytes, from which :meth:`dequantized_weight` gives the file's exact float32 values."""

    gguf_type: str
    passes: int
    float_class: type[nn.Linear] = nn.Linear  # what dequantize() gives back

    @classmethod
    def from_blocks(cls, type_name: str, data: np.ndarray, k: int,
                    bias: torch.Tensor | None = None) -> "GGUFInt4Linear":
        """The layer for a GGUF tensor of ``type_name`` whose raw blocks are ``data`` (N, bytes per
        row, rows in the checkpoint's order), K inputs; repacked a few thousand rows at a time."""
        n, passes = data.shape[0], PASSES[type_name]
        _check_shape(n, k, type_name)
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer._init_shape(n, k, bias)
        layer.group_size, layer.gguf_type, layer.passes = GROUP, type_name, passes
        weight = torch.empty(passes * n, k // 2, dtype=torch.uint8)
        scales_and_zeros = torch.empty(k // GROUP, passes * n, 2, dtype=torch.bfloat16)
        # each pass is packed on its own only when its rows fill whole 64-row tiles of the stack
        step = _ROWS_PER_STEP if n % INT4_TILE == 0 else n
        for start in range(0, n, step):
            rows = slice(start, min(start + step, n))
            parts = REPACKERS[type_name](data[rows], rows.stop - start, k)
            if n % INT4_TILE and passes > 1:  # one chunk: pack the stacked passes together
                weight[:] = pack_int4(torch.cat([q for q, _, _ in parts]))
            for p, (q, scale, zero) in enumerate(parts):
                stacked = slice(p * n + start, p * n + rows.stop)
                if not (n % INT4_TILE and passes > 1):
                    weight[stacked] = pack_int4(q)
                scales_and_zeros[:, stacked, 0], scales_and_zeros[:, stacked, 1] = scale.T, zero.T
        layer.register_buffer("weight", weight)
        layer.register_buffer("scales_and_zeros", scales_and_zeros)
        per_block, block_bytes, kept = _BLOCKS[type_name]
        scale_bytes = data.reshape(n, k // per_block, block_bytes)[..., :kept] if kept else None
        layer.register_buffer("gguf_scales", None if scale_bytes is None else torch.from_numpy(scale_bytes.copy()))
        return layer

    def _kernel(self, x: torch.Tensor) -> torch.Tensor:
        y = super()._kernel(x)  # (M, passes * N)
        if self.passes == 1:
            return y
        return y.unflatten(-1, (self.passes, self.out_features)).sum(-2, dtype=torch.float32)

    def codes(self) -> list[torch.Tensor]:
        """Each pass's q (N, K) uint8 in 0..15, read back from the packed layout."""
        return list(unpack_int4(self.weight, self.in_features).split(self.out_features))

    def unpacked(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(q, scales, zeros)`` as :meth:`Int4Linear.from_quantized` takes them (one-pass types only)."""
        if self.passes != 1:
            raise NotImplementedError(f"{self.gguf_type} runs as {self.passes} int4 passes, which no single Int4Linear "
                                      "holds: use dequantized_weight() (or model.dequantize()).")
        scale, zero = self.scales_and_zeros.float().permute(2, 1, 0)  # (N, K/32) each
        return self.codes()[0], scale.contiguous(), zero.contiguous()

    def dequantized_weight(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The file's float32 values (bitwise those of a float load; Q6_K: its 8-bit requantization)."""
        codes = self.codes()
        if self.gguf_scales is not None:
            values = exact_weight(self.gguf_type, [c.numpy() for c in codes], self.gguf_scales.numpy())
            return torch.from_numpy(values).to(dtype)
        n, k = self.out_features, self.in_features
        total = torch.zeros(n, k // GROUP, GROUP)
        for p, q in enumerate(codes):
            scale, zero = self.scales_and_zeros[:, p * n:(p + 1) * n].float().permute(2, 1, 0)
            total += (q.reshape(n, k // GROUP, GROUP).float() - 8) * scale[..., None] + zero[..., None]
        return total.reshape(n, k).to(dtype)

    def dequantize(self, dtype: torch.dtype = torch.float32) -> nn.Linear:
        """The float Linear this layer replaced (its class: workbench's fast one), with the file's values."""
        linear = self.float_class(self.in_features, self.out_features, bias=self.bias is not None, device="meta")
        linear.weight = nn.Parameter(self.dequantized_weight(dtype))
        if self.bias is not None:
            linear.bias = nn.Parameter(self.bias.detach().to(dtype, copy=True))
        return linear

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, gguf_type={self.gguf_type}, passes={self.passes}"


def _check_shape(n: int, k: int, type_name: str) -> None:
    if type_name not in REPACKERS:
        raise ValueError(f"{type_name} has no int4 form here (kept packed: {', '.join(REPACKERS)}).")
    if n % 16 or k % _BLOCKS[type_name][0]:
        raise ValueError(f"A {n}x{k} {type_name} weight does not fit the int4 kernel (rows % 16, inputs % "
                         f"{_BLOCKS[type_name][0]}).")


# ---------------------------------------------------------------------------------------------
# whole models


class GGUFQuantization:
    """What ``keep_quantized=True`` did, as ``model.quantization_config`` (``to_dict()`` is
    ``model.config.quantization_config``): the file, the tensor types kept packed (Linear layers
    per type) and the quantized tensors loaded as float32 instead (names per type)."""

    quant_method = "gguf"

    def __init__(self, gguf_file: str, packed: dict[str, int], dequantized: dict[str, list[str]]) -> None:
        self.gguf_file, self.packed, self.dequantized = gguf_file, packed, dequantized

    def to_dict(self) -> dict[str, Any]:
        return {"quant_method": self.quant_method, "gguf_file": self.gguf_file, "packed": dict(self.packed),
                "dequantized": {t: list(names) for t, names in self.dequantized.items()}}

    def __repr__(self) -> str:
        return f"GGUFQuantization({self.to_dict()})"


def keep_gguf_quantized(model: nn.Module, files: Any, keep_quantized: bool = True) -> nn.Module:
    """``from_pretrained``'s step for ``keep_quantized=True``, on the model built on the meta
    device before its weights load: every nn.Linear whose GGUF weight is Q4_0/Q4_1/Q4_K/Q8_0/Q5_0/Q6_K
    becomes a :class:`GGUFInt4Linear` built from the file's blocks (never a float copy); the
    weights left on meta (norms, biases, the embedding, other types) then load as usual."""
    if not keep_quantized:
        return model
    if getattr(files, "format", None) != "gguf":
        raise ValueError(
            "keep_quantized=True keeps a quantized GGUF file's blocks, but this checkpoint is "
            f"{getattr(files, 'format', '?')} ({', '.join(getattr(files, 'paths', []))}): pass gguf_file='model.Q4_K_M.gguf' "
            "(or the .gguf path), or quantize a float checkpoint with load_in_4bit=True / load_in_8bit=True.")
    path = files.paths[0]
    names = {n for n, _ in model.named_parameters(remove_duplicate=False)} | {n for n, _ in model.named_buffers()}
    tied = {source: target for target, source in model.active_tied_weights().items()}
    lookups = {f"{name}.weight" for name, module in model.named_modules() if isinstance(module, nn.Embedding)}
    packed: Counter = Counter()
    dequantized: dict[str, list[str]] = {}
    for name, tensor, undo in iter_gguf_blocks(path, names):
        type_name = tensor.tensor_type.name
        if type_name in FLOAT_TYPES or not (set([name] if isinstance(name, str) else name) <= names):
            continue  # float already, or no tensor of this model (the loader reports it as unexpected)
        linears = [t for t in (name, tied.get(name)) if isinstance(t, str) and _linear(model, t) is not None]
        reason = _why_not(type_name, tensor, [_linear(model, t) for t in linears])
        rows = None if reason else _row_order(tensor, undo)
        if rows is None and not reason:
            reason = "the converter changed its layout beyond a row order"
        if reason:
            if name not in lookups:  # an embedding is a lookup: float, as expected
                dequantized.setdefault(type_name, []).append(f"{tensor.name} ({reason})")
            continue
        data = np.asarray(tensor.data)
        data = data if rows is ... else data[rows]
        for target in linears:
            parent, _, child = target.removesuffix(".weight").rpartition(".")
            module = model.get_submodule(parent) if parent else model
            old = getattr(module, child)
            layer = GGUFInt4Linear.from_blocks(type_name, data, old.in_features, old.bias)
            layer.float_class = type(old)
            setattr(module, child, layer)
            packed[type_name] += 1
    _mark(model, GGUFQuantization(os.path.basename(path), dict(packed), dequantized))
    return model


def _linear(model: nn.Module, weight_name: str) -> nn.Linear | None:
    if not weight_name.endswith(".weight"):
        return None
    try:
        module = model.get_submodule(weight_name.removesuffix(".weight"))
    except AttributeError:
        return None
    return module if isinstance(module, nn.Linear) else None


def _why_not(type_name: str, tensor: Any, linears: list[nn.Linear]) -> str | None:
    """Why a quantized tensor is loaded as float32 (None: it is kept packed)."""
    if not linears:
        return "not a Linear weight"
    if type_name not in REPACKERS:
        return f"{type_name} has no int4 form"
    k, n = int(tensor.shape[0]), int(np.prod([int(d) for d in tensor.shape[1:]]))
    if any((linear.out_features, linear.in_features) != (n, k) for linear in linears):
        return f"shape {n}x{k} differs from the model's"  # the loader then names the mismatch
    if len(tensor.shape) != 2 or n % 16 or k % _BLOCKS[type_name][0]:
        return f"shape {n}x{k} does not fit the int4 kernel"
    return None


def _row_order(tensor: Any, undo) -> Any:
    """The row permutation the float load applies to this tensor (``...`` for none), found by
    applying it to the row indices; None when it does more than reorder rows."""
    n = int(tensor.shape[1])
    index = torch.arange(n, dtype=torch.float64)[:, None]
    moved = undo(index)
    if tuple(moved.shape) != (n, 1) or not torch.equal(moved[:, 0].sort().values, index[:, 0]):
        return None
    order = moved[:, 0].long()
    return ... if torch.equal(order, torch.arange(n)) else order.numpy()


def _mark(model: nn.Module, record: GGUFQuantization) -> None:
    """Mark the model quantized as quantize_model does; log what was kept packed and what not."""
    model.is_quantized = True
    model.quantization_config = record
    model.quantization_skipped = [name for names in record.dequantized.values() for name in names]
    if hasattr(model, "config"):
        model.config.quantization_config = record.to_dict()
    logger.info("keep_quantized: %s Linear layers kept packed from %s", record.packed, record.gguf_file)
    if record.dequantized:
        logger.warning("keep_quantized: these quantized tensors of %s load as float32: %s", record.gguf_file,
                       "; ".join(f"{t}: {', '.join(names)}" for t, names in record.dequantized.items()))
