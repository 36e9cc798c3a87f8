"""Weight-only quantized matrix products on this CPU, for decoding-shaped work (issue 17, item 1).

For each weight shape of SmolLM2-135M and Qwen2.5-0.5B and activations (B, K) with B = 1 and 8,
every candidate kernel is timed (median over interleaved rounds, torch threads 1 and 2) and checked:

- time per call (us) and effective GB/s of weight bytes read (packed values + scales/zeros)
- ``err``: max abs difference from float64 ``x @ W_dq.T``, W_dq being the kernel's own dequantized
  weight (the kernel's arithmetic, not the quantization); ``q-err``: max abs difference from the
  float32 product with the unquantized weight, relative to max |y| (what the quantization costs)
- whether it runs at all (the error is printed in its place)

Candidates: float32 (workbench ``linear`` = oneDNN, ``F.linear`` = MKL), bfloat16 (``F.linear``
and oneDNN), PyTorch's ``_weight_int8pack_mm`` (int8, per-output-channel scales) and
``_weight_int4pack_mm_for_cpu`` (affine int4 groups of 32/64/128: w = (q - 8) * scale + zero),
``torch.ao`` dynamic int8 linear, ``_dyn_quant_matmul_4bit``, torchao 0.18 int8/int4 weight-only,
bitsandbytes 0.50 ``Linear8bitLt`` and ``Linear4bit`` (nf4/fp4). torchao and bitsandbytes are
optional (put them on PYTHONPATH; a missing one is reported, not fatal).

Then GGUF: every quantized tensor type of the real SmolLM2 Q4_1 and Qwen2.5-Coder Q4_K_M files
is repacked into the int4 kernel's format (exact for Q4_0/Q4_1/Q4_K; Q8_0/Q5_0 exact as a sum of
two int4 products; Q6_K only approximately) and compared with gguf's own dequantization. Last, a
decode estimate: per-token time if every Linear of the model used a kernel (sum of its rows).

    PYTHONPATH=/path/to/torchao+bitsandbytes python benchmarks/bench_quant_kernels.py \
        [--threads 1 2] [--batches 1 8] [--models smollm2 qwen0.5b] [--rounds 15] [--compile] [--isa avx2]

``--isa avx2`` restricts PyTorch, oneDNN, MKL and fbgemm to AVX2 (env vars set before torch is
imported) and turns off bitsandbytes' avx512_bf16 kernel, to see what an AVX2-only machine would get.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

if "--isa" in sys.argv and sys.argv[sys.argv.index("--isa") + 1] == "avx2":  # before torch loads
    os.environ.update(ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2", DNNL_MAX_CPU_ISA="AVX2",
                      MKL_ENABLE_INSTRUCTIONS="AVX2", FBGEMM_ENABLE_INSTRUCTIONS="AVX2")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gguf_repack import gguf_report  # noqa: E402
from quant_kernels import candidates, nf4_vs_affine_report  # noqa: E402

warnings.filterwarnings("ignore")  # deprecations of torch.ao, bitsandbytes' per-call cast notices
logging.getLogger("bitsandbytes").setLevel(logging.ERROR)

SHAPES = {  # (out, in) per Linear, and how many of each one decode step runs
    "smollm2": {"layers": 30, "per_layer": {"q/o": ((576, 576), 2), "k/v": ((192, 576), 2),
                                           "gate/up": ((1536, 576), 2), "down": ((576, 1536), 1)},
                "lm_head": (49152, 576)},
    "qwen0.5b": {"layers": 24, "per_layer": {"q/o": ((896, 896), 2), "k/v": ((128, 896), 2),
                                            "gate/up": ((4864, 896), 2), "down": ((896, 4864), 1)},
                 "lm_head": (151936, 896)},
}


def cpu_summary() -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    flags = set(fields.get("Flags", "").split())
    wanted = ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8", "avx_vnni"]
    load = open("/proc/loadavg").read().split()[:3]
    return (f"CPU: {fields.get('Model name', '?').strip()} ({fields.get('CPU(s)', '?').strip()} CPUs, "
            f"L2 {fields.get('L2 cache', '?').strip()}, L3 {fields.get('L3 cache', '?').strip()})\n"
            f"flags: {' '.join(f + ('=y' if f in flags else '=n') for f in wanted)}\n"
            f"torch {torch.__version__}, ATen CPU capability {torch.backends.cpu.get_cpu_capability()}, "
            f"load average {' '.join(load)}")


def time_calls(fns: dict, rounds: int, target_s: float = 0.01) -> dict[str, float]:
    """Median seconds per call of each fn, the rounds interleaved across fns so that load swings
    hit all of them alike; each round runs a fn enough times to last ~target_s (a fn slower than
    0.1 s a call is timed in 3 rounds only: it is out of the race anyway)."""
    inner, single = {}, {}
    for name, fn in fns.items():
        fn(), fn()  # warm-up (first-call packing, allocator)
        start = time.perf_counter()
        fn()
        single[name] = time.perf_counter() - start
        inner[name] = max(1, min(200, int(target_s / max(single[name], 1e-7))))
    samples = {name: [] for name in fns}
    for i in range(rounds):
        for name, fn in fns.items():
            if single[name] > 0.1 and i >= 3:
                continue
            start = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / inner[name])
    return {name: float(np.median(s)) for name, s in samples.items()}


def bench_shape(shape, batches, threads, rounds, rows, compile_check=False):
    n, k = shape
    gen = torch.Generator().manual_seed(n * 7 + k)
    weight = torch.randn(n, k, generator=gen) * 0.02
    prepared = {}
    for cand in candidates():
        try:
            prepared[cand.name] = cand, cand.prepare(weight)
        except Exception as exc:  # noqa: BLE001 (reported in the table)
            if str(exc).startswith("n/a"):
                continue
            rows.append(dict(shape=shape, name=cand.name, error=_short(exc)))
    for b in batches:
        x = torch.randn(b, k, generator=gen)
        exact = x.double() @ weight.double().T
        fns, meta = {}, {}
        for name, (cand, state) in prepared.items():
            xin = x.to(cand.act_dtype)
            try:
                with torch.no_grad():
                    y = cand.run(xin, state).float()
                    ref = x.to(cand.act_dtype).double() @ state.dequantized.double().T
                meta[name] = dict(err=(y.double() - ref).abs().max().item(),
                                  qerr=((y.double() - exact).abs().max() / exact.abs().max()).item(),
                                  nbytes=state.nbytes)
                fns[name] = _no_grad(cand.run, xin, state)
            except Exception as exc:  # noqa: BLE001
                rows.append(dict(shape=shape, b=b, name=name, error=_short(exc)))
        for t in threads:
            torch.set_num_threads(t)
            times = time_calls(fns, rounds)
            for name, sec in times.items():
                rows.append(dict(shape=shape, b=b, threads=t, name=name, us=sec * 1e6,
                                 gbs=meta[name]["nbytes"] / sec / 1e9, **meta[name]))
    if compile_check:
        compile_rows(prepared, k, rows, shape)
    del prepared


def compile_rows(prepared, k, rows, shape):
    """Whether ``torch.compile`` takes each kernel (fullgraph), and its time at B=1, 1 thread."""
    torch.set_num_threads(1)
    x = torch.randn(1, k)
    for name, (cand, state) in prepared.items():
        if not cand.compile_fn:
            continue
        xin = x.to(cand.act_dtype)
        try:
            fn = torch.compile(cand.compile_fn(state), fullgraph=True, dynamic=False)
            start = time.perf_counter()
            with torch.no_grad():
                y = fn(xin)
            took = time.perf_counter() - start
            ref = cand.run(xin, state)
            err = (y.float() - ref.float()).abs().max().item()
            sec = time_calls({name: _no_grad(fn, xin)}, 9)[name]
            rows.append(dict(shape=shape, b=1, threads=1, name=f"compiled {name}", us=sec * 1e6,
                             gbs=state.nbytes / sec / 1e9, err=err, qerr=float("nan"), nbytes=state.nbytes,
                             note=f"compile {took:.0f}s"))
        except Exception as exc:  # noqa: BLE001
            rows.append(dict(shape=shape, name=f"compiled {name}", error=_short(exc)))


def _no_grad(fn, *args):
    def call():
        with torch.no_grad():
            return fn(*args)
    return call


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text[:150]


def print_table(rows):
    print(f"\n{'shape':>12} {'B':>2} {'thr':>3}  {'kernel':<34} {'us':>9} {'GB/s':>6} {'MB':>7} {'err':>8} {'q-err':>7}")
    for r in rows:
        if "error" in r:
            continue
        shape = f"{r['shape'][0]}x{r['shape'][1]}"
        print(f"{shape:>12} {r['b']:>2} {r['threads']:>3}  {r['name']:<34} {r['us']:9.1f} {r['gbs']:6.1f} "
              f"{r['nbytes'] / 1e6:7.2f} {r['err']:8.1e} {r['qerr']:7.1e} {r.get('note', '')}")
    failed = {}
    for r in rows:
        if "error" in r:
            failed.setdefault((r["name"], r["error"]), []).append(f"{r['shape'][0]}x{r['shape'][1]}")
    if failed:
        print("\nDid not run:")
        for (name, error), shapes in failed.items():
            print(f"  {name}: {error}  [{len(shapes)} cases]")


def decode_estimate(rows, models, batches, threads):
    """Per-token time of every Linear of a decode step (sum of the measured rows), as tokens/s."""
    print("\nDecode estimate (Linear layers only: sum of per-layer times; attention, norms, overhead excluded)")
    index = {(r["shape"], r["b"], r["threads"], r["name"]): r["us"] for r in rows if "us" in r}
    names = sorted({r["name"] for r in rows if "us" in r and not r["name"].startswith("compiled")},
                   key=lambda n: [r["name"] for r in rows].index(n))
    for model in models:
        spec = SHAPES[model]
        parts = [(shape, count * spec["layers"]) for shape, count in spec["per_layer"].values()]
        parts.append((spec["lm_head"], 1))
        for b in batches:
            for t in threads:
                base = None
                print(f"  {model} B={b} threads={t}:")
                for name in names:
                    try:
                        us = sum(index[(shape, b, t, name)] * count for shape, count in parts)
                    except KeyError:
                        continue
                    base = base or (us if name.startswith("fp32 workbench") else None)
                    rel = f"  {base / us:4.2f}x fp32(workbench)" if base else ""
                    print(f"    {name:<34} {us / 1e3:7.2f} ms/step  {b * 1e6 / us:7.1f} tokens/s{rel}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--models", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--compile", action="store_true", help="also try torch.compile on 1536x576")
    parser.add_argument("--isa", choices=["native", "avx2"], default="native")
    parser.add_argument("--skip-gguf", action="store_true")
    args = parser.parse_args()
    print(cpu_summary())
    rows = []
    shapes = []
    for model in args.models:
        spec = SHAPES[model]
        shapes += [s for s, _ in spec["per_layer"].values()] + [spec["lm_head"]]
    for shape in dict.fromkeys(shapes):
        start = time.perf_counter()
        bench_shape(shape, args.batches, args.threads, args.rounds, rows,
                    compile_check=args.compile and shape == (1536, 576))
        print(f"  {shape}: {time.perf_counter() - start:.0f}s, load {open('/proc/loadavg').read().split()[0]}", flush=True)
    print_table(rows)
    decode_estimate(rows, args.models, args.batches, args.threads)
    nf4_vs_affine_report()
    if not args.skip_gguf:
        try:
            gguf_report()
        except Exception:  # noqa: BLE001
            traceback.print_exc()
    print("\n" + cpu_summary().splitlines()[-1])


if __name__ == "__main__":
    main()
