"""Loading cost, side by side in one run: workbench vs the reference vs a raw safetensors load.

For a BERT-base sized encoder and a ~0.5B-parameter LLaMA-style decoder (random weights that the
reference builds once and caches under benchmarks/.cache), in float32 and bfloat16 checkpoints:

- cold import time of ``from X import AutoModelForCausalLM, AutoTokenizer`` vs ``import torch``
- ``from_pretrained`` time, and the time to the first forward pass (safetensors maps files
  lazily, so a load that does not touch the bytes only defers the work: the forward pays it)
- peak RSS growth over the process's RSS before loading, as a multiple of the weights' bytes

Every measurement runs in a fresh interpreter (warm page cache: each is repeated, the best kept).
The floor is ``safetensors.torch.load_file`` plus reading every byte once.

``--folder PATH`` times a checkpoint folder of a causal LM instead (e.g. SmolLM2 float32, which
``workbench.recipes.smollm2_lora`` caches), in fresh interpreters and then side by side in one
process (imports already paid, alternating workbench and the reference, CPU time of one thread),
with the minor page faults of the first forward.

    python benchmarks/bench_loading.py [--repeat 3] [--only bert] [--folder PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"

MODELS = {
    "bert-base": ("bert", "BertModel", "AutoModel", dict()),  # reference defaults are BERT-base
    "llama-0.5b": ("llama", "LlamaForCausalLM", "AutoModelForCausalLM", dict(
        vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, tie_word_embeddings=True, max_position_embeddings=4096)),
}


def build_checkpoints(name: str) -> dict[str, Path]:
    """Random reference checkpoints in float32 and bfloat16 (built once, then cached)."""
    folders = {dtype: CACHE / f"{name}-{dtype}" for dtype in ("float32", "bfloat16")}
    if all((f / "config.json").exists() for f in folders.values()):
        return folders
    import torch
    import transformers

    model_type, class_name, _, kwargs = MODELS[name]
    print(f"building {name} with the reference (once) ...", flush=True)
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(model_type, **kwargs)
    model = getattr(transformers, class_name)(config)
    for dtype, folder in folders.items():
        model.to(getattr(torch, dtype)).save_pretrained(folder)
    return folders


# --- workers: each runs in a fresh interpreter and prints one JSON line -------------------------

def worker_import(library: str) -> dict:
    start = time.perf_counter()
    if library == "torch":
        import torch  # noqa: F401
    elif library == "workbench":
        from workbench import AutoModelForCausalLM, AutoTokenizer  # noqa: F401
    elif library == "workbench+torch":  # what a first from_pretrained pays: torch comes in then
        from workbench import AutoModelForCausalLM, AutoTokenizer  # noqa: F401
        import torch  # noqa: F401
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401
    return {"seconds": time.perf_counter() - start}


def _peak_rss() -> int:
    """VmHWM: this process's peak resident set (ru_maxrss would include the parent's, across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status: this benchmark needs Linux")


def worker_load(library: str, folder: str, auto_name: str) -> dict:
    import psutil
    import torch

    torch.set_num_threads(2)
    if library == "workbench":
        import workbench as lib
    elif library == "reference":
        import transformers as lib
    from safetensors.torch import load_file

    before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    if library == "raw":
        tensors = [t for path in sorted(Path(folder).glob("*.safetensors")) for t in load_file(path).values()]
        loaded = time.perf_counter()
        checksum = sum(float(t.float().sum()) for t in tensors)  # read every byte once
        first = time.perf_counter()
    else:
        model = getattr(lib, auto_name).from_pretrained(folder, dtype="auto")
        loaded = time.perf_counter()
        with torch.no_grad():
            model(input_ids=torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]]))
        first = time.perf_counter()
        checksum = 0.0
    peak = _peak_rss()
    return {"load": loaded - start, "first_forward": first - start, "rss_growth": peak - before, "checksum": checksum}


def run_worker(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1",
           "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1"}
    out = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(results: list[dict], key: str) -> float:
    return min(r[key] for r in results)


def bench_imports(repeat: int) -> None:
    libraries = ("torch", "workbench", "workbench+torch", "reference")
    times = {lib: best([run_worker("import", lib) for _ in range(repeat)], "seconds") for lib in libraries}
    print("\n== cold import of AutoModelForCausalLM, AutoTokenizer ==")
    print(f"{'import torch':<22}{times['torch']:8.3f} s")
    for lib in libraries[1:]:
        print(f"{lib:<22}{times[lib]:8.3f} s   {times[lib] / times['torch']:5.2f}x torch   (goal for workbench: <= 1.20x)")


def bench_loading(name: str, repeat: int) -> None:
    folders = build_checkpoints(name)
    auto_name = MODELS[name][2]
    for dtype, folder in folders.items():
        weights = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
        print(f"\n== {name} {dtype}: {weights / 1e6:.0f} MB of weights ==")
        print(f"{'':<12}{'load s':>9}{'+forward s':>12}{'vs raw':>8}{'RSS growth':>13}{'x weights':>11}")
        rows = {lib: [run_worker("load", lib, str(folder), auto_name) for _ in range(repeat)] for lib in ("raw", "workbench", "reference")}
        floor = best(rows["raw"], "first_forward")
        for lib, results in rows.items():
            growth = best(results, "rss_growth")
            print(f"{lib:<12}{best(results, 'load'):9.3f}{best(results, 'first_forward'):12.3f}"
                  f"{best(results, 'first_forward') / floor:7.2f}x{growth / 1e6:11.0f} MB{growth / weights:10.2f}x")
    print("goals for workbench: load + first forward within 1.2x the raw floor; RSS growth within 1.1x the weights")


def bench_in_process(folder: str, repeat: int) -> None:
    """from_pretrained + a first forward, both libraries in this process, imports already paid."""
    import gc
    import resource

    import torch
    import transformers

    import workbench

    torch.set_num_threads(1)
    ids = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    libraries = {"workbench": workbench, "reference": transformers}
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in libraries}
    for round_ in range(repeat + 1):  # the first round warms imports and caches, and is not counted
        for name, lib in libraries.items():
            start = time.process_time()
            model = lib.AutoModelForCausalLM.from_pretrained(folder, dtype="auto")
            loaded = time.process_time()
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            with torch.no_grad():
                model(input_ids=ids)
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
            if round_:
                runs[name].append((loaded - start, time.process_time() - start, faults))
            del model
            gc.collect()
    print(f"\n== {folder}: one process, CPU time of one thread, best of {repeat} ==")
    print(f"{'':<12}{'load s':>9}{'+forward s':>12}{'faults':>9}")
    for name, rows in runs.items():
        print(f"{name:<12}{min(r[0] for r in rows):9.3f}{min(r[1] for r in rows):12.3f}{min(r[2] for r in rows):9d}")
    ratio = min(r[1] for r in runs["workbench"]) / min(r[1] for r in runs["reference"])
    print(f"workbench / reference, load + first forward: {ratio:.2f}x (goal: <= 0.5x)")


def bench_folder(folder: str, repeat: int) -> None:
    weights = sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))
    print(f"\n== {folder}: {weights / 1e6:.0f} MB of weights, fresh interpreters (import not counted) ==")
    print(f"{'':<12}{'load s':>9}{'+forward s':>12}{'RSS growth':>13}")
    for lib in ("workbench", "reference"):
        results = [run_worker("load", lib, folder, "AutoModelForCausalLM") for _ in range(repeat)]
        print(f"{lib:<12}{best(results, 'load'):9.3f}{best(results, 'first_forward'):12.3f}"
              f"{best(results, 'rss_growth') / 1e6:11.0f} MB")
    bench_in_process(folder, repeat)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, *args = sys.argv[2:]
        print(json.dumps(worker_import(*args) if kind == "import" else worker_load(*args)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=sorted(MODELS), action="append")
    parser.add_argument("--folder", help="a causal LM checkpoint folder to time instead of the built ones")
    args = parser.parse_args()
    if args.folder:
        bench_folder(args.folder, args.repeat)
        return
    bench_imports(args.repeat)
    for name in args.only or MODELS:
        bench_loading(name, args.repeat)


if __name__ == "__main__":
    main()
