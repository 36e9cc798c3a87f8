"""The Trainer with adapters: only the adapter trains (the trainable-parameter line as peft prints it),
checkpoints and saves hold only the adapter, resume (in process and after a SIGKILL) and
load_best_model_at_end load it back into the adapter layers, the reference's Trainer gives the same
losses, and the chains people run: train -> evaluate -> generate -> train again -> save -> reload in
the reference -> fine-tune further -> merge and save a full model the reference loads.

A tiny llama built by the reference (tests/model_registry.py), a LoRA adapter and a learnable token
pattern (tests/training/lora.py)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.model_registry import TINY_DECODER
from tests.reference import build_reference_model
from tests.training.sigkill import kill_after_checkpoint
from tests.training.lora import kill_resume_run, lora_config, lora_model, pattern_rows

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from workbench import AutoModelForCausalLM, Trainer, TrainingArguments  # noqa: E402
from workbench.training import checkpoints as ckpt  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
IDS = torch.tensor([[5, 6, 7, 8, 9, 10], [40, 42, 44, 46, 48, 50]])
ATOL = 1e-5
ADAPTER_FILES = ["adapter_config.json", "adapter_model.safetensors"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> str:
    folder = str(tmp_path_factory.mktemp("lora-trainer") / "base")
    build_reference_model("llama", "LlamaForCausalLM", TINY_DECODER).save_pretrained(folder)
    return folder


def arguments(output_dir, **overrides) -> dict:
    values = dict(output_dir=str(output_dir), per_device_train_batch_size=4, learning_rate=3e-2, max_steps=8,
                  logging_steps=1, save_strategy="no", use_cpu=True, report_to="none", seed=5, disable_tqdm=True)
    values.update(overrides)
    return values


def trainer_for(model, output_dir, rows=None, **overrides) -> Trainer:
    data = rows if rows is not None else pattern_rows(32)
    return Trainer(model=model, args=TrainingArguments(**arguments(output_dir, **overrides)), train_dataset=data,
                   eval_dataset=data)


def logits(model, ids=IDS) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


def reference(folder: str):
    return transformers.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()


def adapter_weights(model) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in model.get_adapter_state_dict().items()}


def assert_identical(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def losses(trainer) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


@pytest.fixture(scope="module")
def trained(base, tmp_path_factory):
    """8 steps with a checkpoint every 4: the trainer, the printed line, the weights before."""
    folder = tmp_path_factory.mktemp("trained")
    model = lora_model(base)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    trainer = trainer_for(model, folder, save_strategy="steps", save_steps=4)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        trainer.train()
    return trainer, printed.getvalue(), before


def test_only_the_adapter_trains_and_the_count_is_printed_as_peft_prints_it(trained, base, capsys):
    trainer, printed, before = trained
    model = trainer.model
    adapter = {name for name, p in model.named_parameters() if "lora_" in name}
    assert {name for name, p in model.named_parameters() if p.requires_grad} == adapter
    in_optimizer = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert in_optimizer == {id(p) for name, p in model.named_parameters() if name in adapter}
    after = model.state_dict()
    for key, value in before.items():
        if "lora_B" in key:  # starts at zero: the adapter has moved
            assert not torch.equal(after[key], value), key
        elif "lora_" not in key:
            assert torch.equal(after[key], value), f"the frozen base weight {key} changed"

    # the line peft prints for the reference model with the same adapter
    wrapped = peft.get_peft_model(reference(base), lora_config())
    capsys.readouterr()
    wrapped.print_trainable_parameters()
    expected = capsys.readouterr().out.strip()
    assert expected.startswith("trainable params: ")
    assert expected in printed.splitlines()


def test_checkpoints_and_save_model_hold_only_the_adapter_which_the_reference_loads(trained, base, tmp_path):
    trainer, _, _ = trained
    checkpoint = Path(trainer.args.output_dir) / "checkpoint-4"
    files = sorted(os.listdir(checkpoint))
    assert set(ADAPTER_FILES) <= set(files) and "model.safetensors" not in files, files
    saved = load_file(checkpoint / "adapter_model.safetensors")
    assert all(".lora_A." in key or ".lora_B." in key for key in saved), sorted(saved)[:4]
    optimizer = torch.load(checkpoint / ckpt.OPTIMIZER_NAME, weights_only=True)
    assert sum(v["exp_avg"].numel() for v in optimizer["state"].values()) == sum(v.numel() for v in saved.values())

    trainer.save_model(str(tmp_path / "final"))
    assert set(ADAPTER_FILES) <= set(os.listdir(tmp_path / "final"))
    assert "model.safetensors" not in os.listdir(tmp_path / "final")
    wrapped = peft.PeftModel.from_pretrained(reference(base), str(tmp_path / "final")).eval()
    torch.testing.assert_close(logits(wrapped), logits(trainer.model), atol=ATOL, rtol=1e-5)


def test_the_reference_trainer_gives_the_same_losses(base, tmp_path):
    ours = lora_model(base)
    theirs = reference(base)
    torch.manual_seed(0)
    theirs.add_adapter(lora_config())
    assert_identical(adapter_weights(ours), adapter_weights(theirs))  # the same start
    options = arguments(tmp_path, gradient_accumulation_steps=2, weight_decay=0.01, warmup_steps=2)
    workbench_trainer = Trainer(model=ours, args=TrainingArguments(**options), train_dataset=pattern_rows(32))
    workbench_trainer.train()
    reference_trainer = transformers.Trainer(model=theirs, args=transformers.TrainingArguments(**options),
                                             train_dataset=pattern_rows(32))
    reference_trainer.train()
    expected = losses(reference_trainer)
    assert len(expected) == 8 and expected[-1] < expected[0] - 0.1, expected  # it learns
    torch.testing.assert_close(torch.tensor(losses(workbench_trainer)), torch.tensor(expected), atol=1e-5, rtol=1e-5)
    rates = [[entry["learning_rate"] for entry in t.state.log_history if "loss" in entry]
             for t in (workbench_trainer, reference_trainer)]
    assert rates[0] == pytest.approx(rates[1]), "each step logs the rate it used (warmup makes them differ)"
    mine, yours = adapter_weights(ours), adapter_weights(theirs)
    for key in mine:
        torch.testing.assert_close(mine[key], yours[key], atol=1e-5, rtol=1e-4)


def test_resume_in_process_equals_the_uninterrupted_run(base, tmp_path):
    options = dict(save_strategy="steps", save_steps=3, max_steps=8, gradient_accumulation_steps=2)
    full = trainer_for(lora_model(base, lora_dropout=0.1), tmp_path / "full", **options)
    full.train()
    # another start: the checkpoint's adapter replaces it
    resumed = trainer_for(lora_model(base, seed=9, lora_dropout=0.1), tmp_path / "full", **options)
    parameters = [p for p in resumed.model.parameters() if p.requires_grad]
    resumed.train(resume_from_checkpoint=str(tmp_path / "full" / "checkpoint-3"))
    assert resumed.state.global_step == 8
    assert_identical(adapter_weights(resumed.model), adapter_weights(full.model))
    # loaded in place: the optimizer stepped the tensors the model uses
    assert [p for p in resumed.model.parameters() if p.requires_grad] == parameters


def test_load_best_model_at_end_loads_the_best_adapter(base, tmp_path):
    scores = iter([0.1, 0.9, 0.3, 0.2])  # the second evaluation (step 4) is the best

    def metric(prediction):
        return {"score": next(scores)}

    model = lora_model(base)
    trainer = Trainer(model=model, train_dataset=pattern_rows(32), eval_dataset=pattern_rows(8, seed=1),
                      compute_metrics=metric,
                      args=TrainingArguments(**arguments(tmp_path, eval_strategy="steps", eval_steps=2,
                                                         save_strategy="steps", save_steps=2,
                                                         load_best_model_at_end=True, metric_for_best_model="score",
                                                         greater_is_better=True)))
    trainer.train()
    assert trainer.state.best_model_checkpoint.endswith("checkpoint-4")
    best = load_file(tmp_path / "checkpoint-4" / "adapter_model.safetensors")
    last = load_file(tmp_path / "checkpoint-8" / "adapter_model.safetensors")
    ours = adapter_weights(model)
    for key, value in ours.items():
        assert torch.equal(value, best["base_model.model." + key]), key
    assert any(not torch.equal(best[key], last[key]) for key in best)


def test_train_evaluate_generate_train_again_save_reload_fine_tune_merge(base, tmp_path):
    """The chain a notebook runs, cell by cell."""
    model = lora_model(base)
    trainer = trainer_for(model, tmp_path / "run")
    start = trainer.evaluate()["eval_loss"]
    trainer.train()
    first = trainer.evaluate()["eval_loss"]
    assert first < start - 0.2, (start, first)
    assert model.training is False  # evaluate left it in eval mode; train() turned it back on and off again
    model.train()  # a notebook cell may generate with the model still in train mode
    generated = model.generate(IDS[:1], max_new_tokens=4, do_sample=False)
    model.eval()
    assert torch.equal(model.generate(IDS[:1], max_new_tokens=4, do_sample=False), generated)
    trainer.train()  # a second train() cell continues from the trained adapter
    second = trainer.evaluate()["eval_loss"]
    assert second < first, (first, second)

    model.save_pretrained(tmp_path / "adapter")
    assert sorted(os.listdir(tmp_path / "adapter")) == ADAPTER_FILES + ["generation_config.json"]
    wrapped = peft.PeftModel.from_pretrained(reference(base), str(tmp_path / "adapter")).eval()
    torch.testing.assert_close(logits(wrapped), logits(model), atol=ATOL, rtol=1e-5)
    theirs = wrapped.generate(input_ids=IDS[:1], max_new_tokens=4, do_sample=False)
    assert torch.equal(model.generate(IDS[:1], max_new_tokens=4, do_sample=False), theirs)

    # fine-tune the saved adapter further on a fresh base: the loss goes on falling from where it was
    again = AutoModelForCausalLM.from_pretrained(base)
    again.load_adapter(str(tmp_path / "adapter"), is_trainable=True)
    further = trainer_for(again, tmp_path / "further", learning_rate=1e-2)
    assert further.evaluate()["eval_loss"] == pytest.approx(second, abs=1e-5)
    further.train()
    assert further.evaluate()["eval_loss"] < second

    merged_logits = logits(again)
    again.merge_and_unload()
    again.save_pretrained(tmp_path / "merged")
    assert "model.safetensors" in os.listdir(tmp_path / "merged")
    torch.testing.assert_close(logits(reference(str(tmp_path / "merged"))), merged_logits, atol=ATOL, rtol=1e-5)


def test_resuming_without_the_adapter_or_training_a_frozen_one_says_what_to_do(trained, base, tmp_path):
    trainer, _, _ = trained
    plain = Trainer(model=AutoModelForCausalLM.from_pretrained(base), train_dataset=pattern_rows(32),
                    args=TrainingArguments(**arguments(tmp_path)))
    with pytest.raises(ValueError, match="add the same adapter first"):
        plain.train(resume_from_checkpoint=str(Path(trainer.args.output_dir) / "checkpoint-4"))
    other = Trainer(model=lora_model(base, r=2), train_dataset=pattern_rows(32), args=TrainingArguments(**arguments(tmp_path)))
    with pytest.raises(RuntimeError, match="shape mismatch.*another adapter config"):
        other.train(resume_from_checkpoint=str(Path(trainer.args.output_dir) / "checkpoint-4"))
    frozen = AutoModelForCausalLM.from_pretrained(base)
    frozen.load_adapter(str(Path(trainer.args.output_dir) / "checkpoint-4"))  # is_trainable=False: for inference
    inference = Trainer(model=frozen, train_dataset=pattern_rows(32), args=TrainingArguments(**arguments(tmp_path)))
    with pytest.raises(ValueError, match="no trainable parameters.*is_trainable=True"):
        inference.train()


def _run(base, output_dir, *extra, sleep=0.0):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(ROOT / "tests" / "training" / "lora_script.py"), "--base", base, "--output_dir",
               str(output_dir), "--sleep", str(sleep), *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_sigkill_then_resume_gives_the_uninterrupted_runs_adapter(base, tmp_path):
    killed = _run(base, tmp_path / "killed", sleep=0.5)
    kill_resume_run(base, str(tmp_path / "full"))  # the uninterrupted run, in this process meanwhile
    kill_after_checkpoint(killed, tmp_path / "killed")
    resumed = _run(base, tmp_path / "killed", "--resume")
    _, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr[-3000:]
    expected = load_file(tmp_path / "full" / "final" / "adapter_model.safetensors")
    actual = load_file(tmp_path / "killed" / "final" / "adapter_model.safetensors")
    assert_identical(actual, expected)
    assert not os.path.exists(tmp_path / "killed" / "final" / "model.safetensors")


def test_a_model_without_adapters_logs_the_count_but_prints_nothing(base, tmp_path, capsys, caplog):
    model = AutoModelForCausalLM.from_pretrained(base)
    trainer = trainer_for(model, tmp_path, max_steps=1, logging_steps=100)
    with caplog.at_level("INFO", logger="workbench"):
        trainer.train()
    assert "trainable params" not in capsys.readouterr().out
    total = sum(p.numel() for p in model.parameters())
    assert f"trainable params: {total:,d} || all params: {total:,d} || trainable%: 100.0000" in caplog.text
