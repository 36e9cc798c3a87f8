"""Training steps per second: workbench Trainer vs a hand-written PyTorch loop vs the reference Trainer.

All three train the same small BERT classifier (workbench's, built from one config and seed) on the
same synthetic batches with fused AdamW, a linear schedule and gradient clipping at 1.0. Timing
covers steady-state steps only (the first ``--warmup`` steps are excluded), and the three runs
alternate for ``--rounds`` rounds so a busy machine slows them alike; the median is reported.
Two clocks: wall time (steps/s) and this process's CPU time (steps per CPU-second), which other
programs on a shared machine disturb much less; the overhead is computed on CPU time.

    python benchmarks/bench_trainer.py [--steps 40] [--rounds 3] [--batch 16] [--seq 64]

The reference run needs ``transformers`` (test-only dependency); it is skipped when missing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from workbench import BertConfig, BertForSequenceClassification, TrainerCallback, default_data_collator  # noqa: E402
from workbench import Trainer, TrainingArguments  # noqa: E402
from workbench.training import get_scheduler  # noqa: E402


def make_model(hidden: int):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=1000, hidden_size=hidden, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=hidden * 4, max_position_embeddings=128, num_labels=2)
    model = BertForSequenceClassification.from_config(config)
    model.accepts_loss_kwargs = False  # the reference Trainer would pass num_items_in_batch otherwise
    return model


def make_rows(count: int, seq: int) -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (count, seq), generator=generator)
    return [{"input_ids": row.tolist(), "attention_mask": [1] * seq, "labels": i % 2} for i, row in enumerate(ids)]


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def rates(steps: int, start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float]:
    """(steps per wall second, steps per CPU second)."""
    return steps / (end[0] - start[0]), steps / (end[1] - start[1])


class StepTimer:
    """Clocks from the start of step ``warmup`` to the end of the last step."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.end = warmup, None, None

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.warmup:
            self.start = clocks()

    def on_step_end(self, args, state, control, **kwargs):
        self.end = clocks()

    def steps_per_second(self, steps: int) -> tuple[float, float]:
        return rates(steps - self.warmup, self.start, self.end)


def trainer_args(module, folder: str, options) -> dict:
    return dict(output_dir=folder, per_device_train_batch_size=options.batch, max_steps=options.steps,
                learning_rate=5e-5, save_strategy="no", logging_steps=10_000, disable_tqdm=True, report_to="none",
                use_cpu=True, optim="adamw_torch_fused", dataloader_pin_memory=False)


def run_workbench(rows, options) -> tuple[float, float]:
    timer = type("Timer", (StepTimer, TrainerCallback), {})(options.warmup)
    with tempfile.TemporaryDirectory() as folder:
        args = TrainingArguments(**trainer_args(None, folder, options))
        Trainer(model=make_model(options.hidden), args=args, train_dataset=rows, callbacks=[timer]).train()
    return timer.steps_per_second(options.steps)


def run_reference(rows, options) -> tuple[float, float] | None:
    try:
        import transformers
    except ImportError:
        return None
    timer = type("Timer", (StepTimer, transformers.TrainerCallback), {})(options.warmup)
    with tempfile.TemporaryDirectory() as folder:
        args = transformers.TrainingArguments(**trainer_args(transformers, folder, options))
        transformers.Trainer(model=make_model(options.hidden), args=args, train_dataset=rows, callbacks=[timer],
                             data_collator=default_data_collator).train()
    return timer.steps_per_second(options.steps)


def run_plain(rows, options) -> tuple[float, float]:
    """The loop from the "Train in native PyTorch" tutorial, plus clipping and a shuffled DataLoader."""
    model = make_model(options.hidden)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=options.steps)
    loader = torch.utils.data.DataLoader(rows, batch_size=options.batch, shuffle=True, collate_fn=default_data_collator)
    step, start = 0, None
    while step < options.steps:
        for batch in loader:
            if step == options.warmup:
                start = clocks()
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            if step == options.steps:
                break
    return rates(options.steps - options.warmup, start, clocks())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    rows = make_rows(options.batch * options.steps, options.seq)
    results: dict[str, list[tuple[float, float]]] = {"plain PyTorch loop": [], "workbench Trainer": [],
                                                     "reference Trainer": []}
    for _ in range(options.rounds):
        results["plain PyTorch loop"].append(run_plain(rows, options))
        results["workbench Trainer"].append(run_workbench(rows, options))
        reference = run_reference(rows, options)
        if reference is not None:
            results["reference Trainer"].append(reference)
    print(f"BERT hidden {options.hidden}, 2 layers, batch {options.batch} x {options.seq} tokens, "
          f"{options.steps - options.warmup} timed steps, median of {options.rounds} rounds, "
          f"{torch.get_num_threads()} threads")
    plain_cpu = statistics.median(cpu for _, cpu in results["plain PyTorch loop"])
    for name, values in results.items():
        if not values:
            print(f"{name:>20}: skipped (transformers not installed)")
            continue
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        overhead = (plain_cpu / cpu - 1) * 100
        print(f"{name:>20}: {cpu:6.2f} steps/CPU-s  overhead vs plain loop {overhead:+5.1f}%   "
              f"(wall: {wall:.2f} steps/s; CPU runs: {', '.join(f'{c:.2f}' for _, c in values)})")

if __name__ == "__main__":
    main()
