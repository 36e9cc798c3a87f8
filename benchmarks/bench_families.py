"""A newly added decoder family, side by side in one run: workbench vs the reference.

Gemma-3 at the size of Gemma-3-270m (18 layers of 640, 4 query heads and 1 key/value head of 256,
a 262,144-token vocabulary, local layers in a 512-token window with every sixth layer global) and
Qwen3 at the size of Qwen3-0.6B, random weights that the reference builds once and caches under
benchmarks/.cache. For each, in float32:

- ``from_pretrained`` time to the first forward pass (warm page cache, best of ``--repeat``), each library
  loading the same folder
- greedy decode tokens/s at batch 1 and 8: batch * (N - 1) / (t(N new tokens) - t(1 new token)),
  best of ``--repeat``, the libraries interleaved so the machine's load hits both alike
- whether the greedy tokens agree (they must: the parity suite checks the tiny configs)

    python benchmarks/bench_families.py [--models gemma3-270m qwen3-0.6b] [--batches 1 8] [--new-tokens 32]
                                        [--repeat 3] [--threads 2]

Prints the CPU (lscpu's model name) with the figures: rates differ between machines.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402

MODELS = {  # name: (model_type, reference class, config kwargs)
    "gemma3-270m": ("gemma3_text", "Gemma3ForCausalLM", dict(
        vocab_size=262144, hidden_size=640, intermediate_size=2048, num_hidden_layers=18, num_attention_heads=4,
        num_key_value_heads=1, head_dim=256, sliding_window=512, query_pre_attn_scalar=256,
        max_position_embeddings=32768, tie_word_embeddings=True)),
    "qwen3-0.6b": ("qwen3", "Qwen3ForCausalLM", dict(
        vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
        num_key_value_heads=8, head_dim=128, max_position_embeddings=40960, tie_word_embeddings=True)),
}


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return "unknown CPU"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    flags = fields.get("Flags", "")
    features = [f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f in flags.split()] or ["avx2" if "avx2" in flags else "no avx2"]
    return f"{fields.get('Model name', '?').strip()} ({', '.join(features)})"


def checkpoint(name: str) -> Path:
    folder = CACHE / name
    if (folder / "config.json").exists():
        return folder
    import transformers

    model_type, class_name, kwargs = MODELS[name]
    print(f"building {name} with the reference (once) ...", flush=True)
    torch.manual_seed(0)
    model = getattr(transformers, class_name)(transformers.AutoConfig.for_model(model_type, **kwargs))
    model.save_pretrained(folder)
    return folder


def load(library: str, folder: Path):
    """The model and the seconds to its first forward pass: a load may map the files and defer reading
    them (the reference's does), so the first forward pays the rest."""
    lib = __import__(library)
    start = time.perf_counter()
    model = lib.AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    with torch.no_grad():
        model(torch.tensor([[1, 2, 3]]))
    return model, time.perf_counter() - start


def generate(model, ids, new_tokens: int) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, do_sample=False)
    return time.perf_counter() - start, out


def bench(name: str, batches: list[int], new_tokens: int, repeat: int) -> None:
    folder = checkpoint(name)
    loads = {"workbench": float("inf"), "transformers": float("inf")}
    models = {}
    for _ in range(repeat):  # interleaved; the last load of each is kept for decoding
        for library in loads:
            models.pop(library, None)
            gc.collect()
            models[library], seconds = load(library, folder)
            loads[library] = min(loads[library], seconds)
    print(f"\n{name}: from_pretrained + first forward (float32, best of {repeat}): workbench {loads['workbench']:.2f} s, "
          f"reference {loads['transformers']:.2f} s, ratio {loads['transformers'] / loads['workbench']:.2f}x")
    generator = torch.Generator().manual_seed(0)
    for batch in batches:
        ids = torch.randint(10, 1000, (batch, 16), generator=generator)
        best = {library: [float("inf"), float("inf")] for library in models}
        outputs = {}
        for library, model in models.items():  # warm-up
            generate(model, ids, 2)
        for _ in range(repeat):
            for library, model in models.items():
                long, outputs[library] = generate(model, ids, new_tokens)
                short, _ = generate(model, ids, 1)
                best[library] = [min(best[library][0], long), min(best[library][1], short)]
        rates = {lib: batch * (new_tokens - 1) / max(long - short, 1e-9) for lib, (long, short) in best.items()}
        same = torch.equal(outputs["workbench"], outputs["transformers"])
        print(f"  batch {batch}: decode workbench {rates['workbench']:.1f} tok/s, reference {rates['transformers']:.1f} "
              f"tok/s, ratio {rates['workbench'] / rates['transformers']:.2f}x; greedy tokens equal: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import transformers

    import workbench

    print(f"CPU: {cpu_name()}; {args.threads} threads; torch {torch.__version__}, workbench {workbench.__version__}, "
          f"transformers {transformers.__version__}; load average {os.getloadavg()[0]:.1f}")
    for name in args.models:
        bench(name, args.batches, args.new_tokens, args.repeat)


if __name__ == "__main__":
    main()
