"""The candidate kernels of bench_quant_kernels.py: how each quantizes a float32 weight (N, K),
runs ``x (B, K) -> (B, N)``, and what weight it effectively multiplies by (for the error check).

Formats:
- int8 per output channel (symmetric): w = q * s[n], q in [-127, 127]
- affine int4 groups (PyTorch's CPU int4 kernel): w = (q - 8) * scale[n, g] + zero[n, g],
  q in [0, 15], groups of ``group`` consecutive inputs; scales/zeros stored as (K/group, N, 2)
  in the activation's dtype
- bitsandbytes nf4/fp4: 16-entry code book times a per-block absmax (blocks of 64)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class State:
    nbytes: int  # bytes of weight data a call reads (values + scales)
    dequantized: torch.Tensor  # (N, K) float32: what the kernel multiplies by
    payload: Any = None
    extra: dict = field(default_factory=dict)


@dataclass
class Candidate:
    name: str
    prepare: Callable[[torch.Tensor], State]
    run: Callable[[torch.Tensor, State], torch.Tensor]
    act_dtype: torch.dtype = torch.float32
    compile_fn: Callable[[State], Callable] | None = None


# ---------------------------------------------------------------------------------------------
# quantizers (plain torch)


def int8_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(q int8 (N, K), scale float32 (N,)) with w ~ q * scale[:, None]."""
    scale = weight.abs().amax(1).clamp(min=1e-12) / 127
    return torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8), scale


def int4_affine(weight: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Min/max affine int4 per group: (q uint8 (N, K) in 0..15, scale (N, K/group), zero (N, K/group))
    with w ~ (q - 8) * scale + zero (the CPU int4 kernel's formula)."""
    n, k = weight.shape
    groups = weight.reshape(n, k // group, group)
    low, high = groups.amin(-1), groups.amax(-1)
    scale = ((high - low) / 15).clamp(min=1e-12)
    q = torch.round((groups - low[..., None]) / scale[..., None]).clamp(0, 15)
    return q.reshape(n, k).to(torch.uint8), scale, low + 8 * scale


def int4_dequantize(q: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    """The CPU int4 kernel's weight, float32: (q - 8) * scale + zero, per group of K/scale.shape[1]."""
    n, k = q.shape
    groups = q.reshape(n, scale.shape[1], -1).float()
    return ((groups - 8) * scale[..., None] + zero[..., None]).reshape(n, k)


def int4_pack(q: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, dtype: torch.dtype):
    """Operands of ``_weight_int4pack_mm_for_cpu``: packed (N, K/2) uint8 and (K/g, N, 2) scales/zeros."""
    packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.to(torch.int32), 1)
    scales_zeros = torch.stack([scale.T, zero.T], -1).contiguous().to(dtype)
    return packed, scales_zeros


# ---------------------------------------------------------------------------------------------
# float baselines


def _float(dtype):
    def prepare(w):
        return State(w.numel() * dtype.itemsize, w.to(dtype).float(), w.to(dtype).contiguous())
    return prepare


def _workbench_linear(x, s):
    from workbench.nn.linear import linear
    return linear(x, s.payload)


def _onednn(x, s):
    return torch.ops.mkldnn._linear_pointwise(x, s.payload, None, "none", [], "")


# ---------------------------------------------------------------------------------------------
# PyTorch's own kernels


def _int8pack(dtype):
    def prepare(w):
        q, scale = int8_per_channel(w)
        return State(q.numel() + scale.numel() * dtype.itemsize, q.float() * scale.to(dtype).float()[:, None],
                     (q, scale.to(dtype)))
    return prepare


def _int8pack_run(x, s):
    return torch.ops.aten._weight_int8pack_mm(x, *s.payload)


def _int4pack(group, dtype):
    def prepare(w):
        if w.shape[1] % group:
            raise ValueError(f"n/a: K={w.shape[1]} is not a multiple of the group {group}")
        q, scale, zero = int4_affine(w, group)
        packed, scales_zeros = int4_pack(q, scale, zero, dtype)
        sz = scales_zeros.float()
        deq = int4_dequantize(q, sz[..., 0].T, sz[..., 1].T)
        return State(packed.numel() + scales_zeros.numel() * dtype.itemsize, deq, (packed, scales_zeros),
                     dict(group=group))
    return prepare


def _int4pack_run(x, s):
    packed, scales_zeros = s.payload
    return torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, s.extra["group"], scales_zeros)


def _int8_dequant_mm(x, s):
    """Plain torch: what inductor can fuse into one pass over the int8 weight."""
    q, scale = s.payload
    return (x @ q.to(x.dtype).T) * scale


def _nibbles(group):
    """Affine int4 as two nibbles a byte (N, K/2) (element 2i low, 2i+1 high) and float32 scales/zeros."""
    def prepare(w):
        q, scale, zero = int4_affine(w, group)
        packed = q[:, 0::2] | (q[:, 1::2] << 4)
        return State(packed.numel() + scale.numel() * 8, int4_dequantize(q, scale, zero), (packed, scale, zero))
    return prepare


def _int4_dequant_mm(x, s):
    """Plain torch: unpack, dequantize, multiply (materialized in eager; fusable by inductor)."""
    packed, scale, zero = s.payload
    n, groups = scale.shape
    q = torch.stack([packed & 15, packed >> 4], -1).reshape(n, groups, -1).to(x.dtype)
    return x @ ((q - 8) * scale[..., None] + zero[..., None]).reshape(n, -1).T


def _ao_dynamic(w):
    torch.backends.quantized.engine = "x86"
    linear = nn.Linear(w.shape[1], w.shape[0], bias=False)
    linear.weight.data.copy_(w)
    module = torch.ao.quantization.quantize_dynamic(nn.Sequential(linear), {nn.Linear}, dtype=torch.qint8)[0]
    qweight = module.weight()
    return State(w.numel() + w.shape[0] * 12, qweight.dequantize(), module)


def _dyn_quant_4bit(w):
    n, k = w.shape
    scale_sym = (w.reshape(n, k // 32, 32).abs().amax(-1) / 7).clamp(min=1e-12)
    q = torch.round(w.reshape(n, k // 32, 32) / scale_sym[..., None]).clamp(-8, 7)
    deq = (q * scale_sym[..., None]).reshape(n, k)
    packed = torch.ops.aten._dyn_quant_pack_4bit_weight((q + 8).reshape(n, k).to(torch.uint8), scale_sym,
                                                        None, 32, k, n)
    return State(packed.numel() * packed.element_size(), deq, packed, dict(n=n, k=k))


def _dyn_quant_run(x, s):
    return torch.ops.aten._dyn_quant_matmul_4bit(x, s.payload, 32, s.extra["k"], s.extra["n"])


# ---------------------------------------------------------------------------------------------
# torchao and bitsandbytes (optional packages)


def _torchao(config_name, dtype, **kwargs):
    def prepare(w):
        import torchao.quantization as tq

        module = nn.Sequential(nn.Linear(w.shape[1], w.shape[0], bias=False)).to(dtype)
        module[0].weight.data.copy_(w)
        tq.quantize_(module, getattr(tq, config_name)(**kwargs))
        weight = module[0].weight
        nbytes = sum(t.numel() * t.element_size() for t in (weight.qdata, weight.scale))
        return State(nbytes, weight.dequantize().float(), module)
    return prepare


def _module_run(x, s):
    return s.payload(x)


def _bnb_int8(w):
    import bitsandbytes as bnb

    module = bnb.nn.Linear8bitLt(w.shape[1], w.shape[0], bias=False, has_fp16_weights=False, threshold=0.0)
    module.weight = bnb.nn.Int8Params(w.clone(), requires_grad=False, has_fp16_weights=False)
    module = module.to("cpu").eval()
    cb, scb = module.weight.data, module.weight.SCB
    return State(cb.numel() + scb.numel() * 4, cb.float() * scb.float()[:, None] / 127, module)


def _bnb_4bit(quant_type, dtype, fused=True):
    def prepare(w):
        import bitsandbytes as bnb

        module = bnb.nn.Linear4bit(w.shape[1], w.shape[0], bias=False, compute_dtype=dtype, quant_type=quant_type)
        module.weight = bnb.nn.Params4bit(w.clone(), requires_grad=False, quant_type=quant_type, blocksize=64)
        module = module.to("cpu").eval()
        if os.environ.get("ATEN_CPU_CAPABILITY") == "avx2":  # bench --isa avx2: as without avx512_bf16
            module.support_avx512bf16_for_cpu = False
        state = module.weight.quant_state
        deq = bnb.functional.dequantize_4bit(module.weight.data, state).float()
        if not fused:  # what a CPU without avx512_bf16 runs: dequantize, then a float product
            payload = (module.weight.data, state, dtype)
        else:
            with torch.no_grad():
                module(torch.zeros(1, w.shape[1], dtype=dtype))  # first call repacks for the fused CPU kernel
            payload = module
        nbytes = module.weight.data.numel() + state.absmax.numel() * state.absmax.element_size()
        return State(nbytes, deq, payload)
    return prepare


def _bnb_dequant_run(x, s):
    import bitsandbytes as bnb

    data, state, dtype = s.payload
    return F.linear(x, bnb.functional.dequantize_4bit(data, state).to(dtype))


def _closure(run):
    return lambda s: (lambda x: run(x, s))


def candidates() -> list[Candidate]:
    bf16 = torch.bfloat16
    return [
        Candidate("fp32 workbench linear (oneDNN)", _float(torch.float32), _workbench_linear,
                  compile_fn=_closure(_workbench_linear)),
        Candidate("fp32 F.linear (MKL)", _float(torch.float32), lambda x, s: F.linear(x, s.payload)),
        Candidate("bf16 F.linear", _float(bf16), lambda x, s: F.linear(x, s.payload), bf16),
        Candidate("bf16 oneDNN linear", _float(bf16), _onednn, bf16),
        Candidate("aten int8pack fp32", _int8pack(torch.float32), _int8pack_run, compile_fn=_closure(_int8pack_run)),
        Candidate("aten int8pack bf16", _int8pack(bf16), _int8pack_run, bf16),
        Candidate("aten int4pack g32 fp32", _int4pack(32, torch.float32), _int4pack_run,
                  compile_fn=_closure(_int4pack_run)),
        Candidate("aten int4pack g128 fp32", _int4pack(128, torch.float32), _int4pack_run),
        Candidate("aten int4pack g32 bf16", _int4pack(32, bf16), _int4pack_run, bf16),
        Candidate("aten int4pack g64 bf16", _int4pack(64, bf16), _int4pack_run, bf16),
        Candidate("aten int4pack g128 bf16", _int4pack(128, bf16), _int4pack_run, bf16),
        Candidate("aten int8pack fp16", _int8pack(torch.float16), _int8pack_run, torch.float16),
        Candidate("aten int4pack g32 fp16", _int4pack(32, torch.float16), _int4pack_run, torch.float16),
        Candidate("torch int8 dequant+mm fp32", _int8pack(torch.float32), _int8_dequant_mm,
                  compile_fn=_closure(_int8_dequant_mm)),
        Candidate("torch int4 g32 dequant+mm fp32", _nibbles(32), _int4_dequant_mm,
                  compile_fn=_closure(_int4_dequant_mm)),
        Candidate("torch.ao dynamic int8 (x86)", _ao_dynamic, _module_run, compile_fn=_closure(_module_run)),
        Candidate("aten dyn_quant_matmul_4bit g32", _dyn_quant_4bit, _dyn_quant_run),
        Candidate("torchao int8 weight-only", _torchao("Int8WeightOnlyConfig", torch.float32), _module_run,
                  compile_fn=_closure(_module_run)),
        Candidate("torchao int8 weight-only bf16", _torchao("Int8WeightOnlyConfig", bf16), _module_run, bf16),
        Candidate("torchao int4 weight-only g32 bf16",
                  _torchao("Int4WeightOnlyConfig", bf16, group_size=32, int4_packing_format="tile_packed_to_4d"),
                  _module_run, bf16),
        Candidate("bnb int8 Linear8bitLt", _bnb_int8, _module_run, compile_fn=_closure(_module_run)),
        Candidate("bnb nf4 bf16 (fused CPU gemv)", _bnb_4bit("nf4", bf16), _module_run, bf16,
                  compile_fn=_closure(_module_run)),
        Candidate("bnb fp4 bf16 (fused CPU gemv)", _bnb_4bit("fp4", bf16), _module_run, bf16),
        Candidate("bnb nf4 fp32 act (fused)", _bnb_4bit("nf4", torch.float32), _module_run),
        Candidate("bnb nf4 dequant+F.linear fp32", _bnb_4bit("nf4", torch.float32, fused=False), _bnb_dequant_run),
    ]


def nf4_vs_affine_report() -> None:
    """Quantization error of bitsandbytes' nf4/fp4 (blocks of 64) vs affine int4 groups, on a
    random normal weight, and what re-quantizing nf4 values to affine int4 adds (nf4 levels are not
    uniform, so no exact repack into the int4 kernel exists)."""
    try:
        import bitsandbytes as bnb
    except ImportError:
        print("\nnf4 vs affine int4: bitsandbytes not importable, skipped")
        return
    weight = torch.randn(1536, 576, generator=torch.Generator().manual_seed(0)) * 0.02
    rms = weight.pow(2).mean().sqrt().item()
    print("\nQuantization error on a normal (N, K) = (1536, 576) weight, relative to its rms")
    print(f"  {'format':<34} {'rms err':>8} {'max err':>8} {'bits/w':>7}")

    def line(name, approx, reference, bits):
        err = approx - reference
        print(f"  {name:<34} {err.pow(2).mean().sqrt().item() / rms:8.4f} {err.abs().max().item() / rms:8.4f} {bits:7.2f}")

    for quant_type in ("nf4", "fp4"):
        packed, state = bnb.functional.quantize_4bit(weight, blocksize=64, quant_type=quant_type)
        deq = bnb.functional.dequantize_4bit(packed, state).float()
        line(f"bnb {quant_type} block 64 (absmax fp32)", deq, weight, 4 + 32 / 64)
        if quant_type == "nf4":
            nf4 = deq
    for group in (32, 64):  # (bits: float32 scale and zero per group)
        line(f"affine int4 g{group} (min/max)", int4_dequantize(*int4_affine(weight, group)), weight, 4 + 64 / group)
    line("int8 per channel", int8_per_channel(weight)[0].float() * int8_per_channel(weight)[1][:, None], weight, 8)
    requant = int4_dequantize(*int4_affine(nf4, 64))
    line("nf4 -> affine int4 g64 (vs nf4)", requant, nf4, 4.5)
    line("nf4 -> affine int4 g64 (vs weight)", requant, weight, 4.5)
