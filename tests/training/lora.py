"""A tiny llama with a LoRA adapter and a learnable token pattern: adapter training in a blink."""

from __future__ import annotations

import torch

LORA = dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "down_proj"],
            lora_dropout=0.0)


def lora_config(**overrides):
    import peft

    return peft.LoraConfig(**{**LORA, **overrides})


def lora_model(base: str, seed: int = 0, **overrides):
    """Workbench's model from the reference-built ``base`` folder, with a fresh LoRA adapter drawn
    after ``torch.manual_seed(seed)`` (the reference's ``add_adapter`` draws the same numbers)."""
    from workbench import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base)
    torch.manual_seed(seed)
    model.add_adapter(lora_config(**overrides))
    return model


def pattern_rows(count: int = 32, length: int = 12, vocab: int = 99, seed: int = 0) -> list[dict]:
    """Causal-LM rows counting up by 1 or 2 from a random start (the step is the first token's
    parity): a rule a small adapter can learn."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(count):
        start = int(torch.randint(3, vocab, (1,), generator=generator))
        step = 1 + start % 2
        ids = [3 + (start - 3 + step * t) % (vocab - 3) for t in range(length)]
        rows.append({"input_ids": ids, "attention_mask": [1] * length, "labels": ids})
    return rows


def kill_resume_run(base: str, output_dir: str, sleep: float = 0.0, resume: bool = False) -> None:
    """12 steps with LoRA dropout, a checkpoint every 2, the final adapter saved to ``output_dir/final``:
    the run tests/training/lora_script.py makes in a process that gets killed, and the test in its own."""
    import time

    from workbench import Trainer, TrainerCallback, TrainingArguments

    class Slow(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            time.sleep(sleep)

    args = TrainingArguments(output_dir=output_dir, per_device_train_batch_size=4, gradient_accumulation_steps=2,
                             max_steps=12, save_steps=2, learning_rate=1e-2, weight_decay=0.01, warmup_steps=2,
                             logging_steps=3, disable_tqdm=True, use_cpu=True, seed=7, report_to="none")
    trainer = Trainer(model=lora_model(base, lora_dropout=0.1), args=args, train_dataset=pattern_rows(40),
                      callbacks=[Slow()])
    trainer.train(resume_from_checkpoint=True if resume else None)
    trainer.save_model(f"{output_dir}/final")
