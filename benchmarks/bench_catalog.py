"""What the ModelPicker and the lab panel wait for: one catalog scan of a cache of 20 models,
first in a fresh process and then repeated (the scan cache answers), plus a rescan after one
model's folder changed.

The cache is written to a temporary folder the way huggingface_hub lays out downloads (blobs,
snapshot links, refs/main): 18 checkpoint repos, one per workbench family and two sizes of
llama, each a config.json at the family's default (real-model) size, a small valid
model.safetensors, tokenizer_config.json and a README.md with a model card; and 2 GGUF repos
holding a tiny llama each (needs the ``gguf`` package), one with a 49,152-token vocabulary and
as many merges in its metadata, as SmolLM2's GGUF has. The parameter counts are real (built on
the meta device from the real-size configs); only the stored weights are small.

    python benchmarks/bench_catalog.py [--repeat 5] [--profile]

The scans run in a fresh interpreter; its import of torch is timed apart (a kernel that shows
the picker has usually imported torch already), the rest of the first scan's imports count.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMMIT = "0123456789abcdef0123456789abcdef01234567"
# (model_type, architecture) of the checkpoint repos: every family once, llama and bert twice
CHECKPOINTS = [("bert", "BertForMaskedLM"), ("bert", "BertForSequenceClassification"),
               ("roberta", "RobertaForMaskedLM"), ("xlm-roberta", "XLMRobertaModel"),
               ("distilbert", "DistilBertForSequenceClassification"), ("gpt2", "GPT2LMHeadModel"),
               ("opt", "OPTForCausalLM"), ("llama", "LlamaForCausalLM"), ("llama", "LlamaModel"),
               ("mistral", "MistralForCausalLM"), ("qwen2", "Qwen2ForCausalLM"),
               ("t5", "T5ForConditionalGeneration"), ("mt5", "MT5ForConditionalGeneration"),
               ("umt5", "UMT5EncoderModel"), ("bart", "BartForConditionalGeneration"),
               ("mbart", "MBartForConditionalGeneration"), ("marian", "MarianMTModel"),
               ("whisper", "WhisperForConditionalGeneration")]
README = """---
license: apache-2.0
tags:
- benchmark
- {model_type}
---

# {repo}

A {architecture} written by benchmarks/bench_catalog.py to time the catalog scan.

More text that the model card does not show.
"""


def write_repo(cache: Path, repo_id: str, files: dict[str, bytes]) -> None:
    """``files`` cached as huggingface_hub lays out a download of ``repo_id`` at COMMIT."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    for folder in (repo / "blobs", snapshot, repo / "refs"):
        folder.mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))


def small_safetensors(dtype: str) -> bytes:
    import torch
    from safetensors.torch import save

    return save({"embeddings.weight": torch.zeros(16, 8, dtype=getattr(torch, dtype))})


def tiny_gguf(path: Path, vocab_size: int) -> bytes:
    """A 2-layer llama GGUF whose metadata holds a byte-level BPE vocabulary of ``vocab_size``
    tokens and as many merges (SmolLM2's is 49,152): reading that metadata is what costs."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), "llama")
    for add, value in [("add_context_length", 64), ("add_embedding_length", 32), ("add_block_count", 2),
                       ("add_feed_forward_length", 37), ("add_head_count", 4), ("add_head_count_kv", 2),
                       ("add_layer_norm_rms_eps", 1e-5), ("add_vocab_size", vocab_size)]:
        getattr(writer, add)(value)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"tok{i}" for i in range(vocab_size)])
    writer.add_token_types([1] * vocab_size)
    writer.add_token_merges([f"t{i} k{i}" for i in range(vocab_size)])
    writer.add_tensor("token_embd.weight", np.zeros((vocab_size, 32), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def write_cache(cache: Path) -> list[str]:
    """The 20-repo cache; returns the repo ids."""
    from workbench.auto import AutoConfig

    repos = []
    for index, (model_type, architecture) in enumerate(CHECKPOINTS):
        repo = f"bench/{model_type}-{index:02d}"
        config = AutoConfig.for_model(model_type).to_dict() | {"architectures": [architecture]}
        readme = README.format(model_type=model_type, repo=repo, architecture=architecture)
        write_repo(cache, repo, {"config.json": json.dumps(config).encode(),
                                 "model.safetensors": small_safetensors("bfloat16" if index % 2 else "float32"),
                                 "tokenizer_config.json": b"{}", "README.md": readme.encode()})
        repos.append(repo)
    with tempfile.TemporaryDirectory() as staging:
        for index in range(2):
            repo = f"bench/tiny-llama-{index}-GGUF"
            data = tiny_gguf(Path(staging) / f"{index}.gguf", (99, 49152)[index])
            write_repo(cache, repo, {f"tiny-llama-{index}.F16.gguf": data})
            repos.append(repo)
    return repos


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown CPU (no lscpu)"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return f"{fields.get('Model name', '?').strip()}, {fields.get('CPU(s)', '?').strip()} CPUs"


def timed_scan(cache: Path, profile: bool = False) -> tuple[float, int]:
    from workbench import catalog

    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    found = catalog.scan(cache_dir=cache, include_zoo=False)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    return time.perf_counter() - started, len(found.entries)


def worker(cache: Path, repeat: int, profile: bool, changed_repo: str) -> dict:
    """In a fresh interpreter: import torch, scan once, scan again, change a config, scan."""
    started = time.perf_counter()
    import torch  # noqa: F401  (a kernel showing the picker has usually imported it already)
    import_s = time.perf_counter() - started
    first, count = timed_scan(cache, profile)
    repeats = [timed_scan(cache)[0] for _ in range(repeat)]
    changed = cache / f"models--{changed_repo.replace('/', '--')}" / "snapshots" / COMMIT / "config.json"
    config = json.loads(changed.read_text()) | {"num_hidden_layers": 2}
    changed.unlink()  # a link to a blob: replaced by a file, as an edited snapshot would be
    changed.write_text(json.dumps(config))
    return {"import": import_s, "first": first, "entries": count, "repeats": repeats,
            "after_change": timed_scan(cache)[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print where the first scan spends its time")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        cache, changed_repo = args.worker.split("::")
        print(json.dumps(worker(Path(cache), args.repeat, args.profile, changed_repo)))
        return
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "hub"
        repos = write_cache(cache)
        command = [sys.executable, __file__, "--repeat", str(args.repeat), "--worker", f"{cache}::{repos[0]}"]
        out = subprocess.run(command + (["--profile"] if args.profile else []), capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if args.profile:
        print(out.stderr)
    result = json.loads(out.stdout.splitlines()[-1])
    print(f"CPU: {cpu_name()}")
    print(f"cache: {len(repos)} repos ({len(CHECKPOINTS)} checkpoints with real-model configs, 2 GGUF, one with a 49k vocabulary), "
          f"{result['entries']} entries; each measured in a fresh interpreter")
    print(f"import torch (before the first scan): {result['import']:.2f} s")
    print(f"first scan:   {result['first']:.3f} s")
    print(f"repeat scans: best {min(result['repeats']):.3f} s, worst {max(result['repeats']):.3f} s "
          f"over {len(result['repeats'])}")
    print(f"rescan after one config.json changed: {result['after_change']:.3f} s")


if __name__ == "__main__":
    main()
