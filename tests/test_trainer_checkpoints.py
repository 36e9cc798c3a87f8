"""Checkpoints: resume is exact (in process, and after a SIGKILL in a fresh process), a crash while
saving leaves the previous checkpoint whole, rotation keeps the best one, files load weights_only."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.training.sigkill import kill_after_checkpoint
from tests.training.tiny import tiny_dataset, tiny_model
from workbench import Trainer, TrainingArguments
from workbench.training import checkpoints as ckpt
from workbench.training.checkpoints import get_last_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "training" / "train_script.py"


def make_trainer(output_dir, dropout=0.1, trainer_kwargs=None, **overrides):
    args = dict(output_dir=str(output_dir), per_device_train_batch_size=4, gradient_accumulation_steps=2, max_steps=12,
                save_steps=3, learning_rate=1e-3, weight_decay=0.01, warmup_steps=2, logging_steps=2, disable_tqdm=True,
                use_cpu=True, seed=3)
    args.update(overrides)
    model = tiny_model(hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    return Trainer(model=model, args=TrainingArguments(**args), train_dataset=tiny_dataset(48), **(trainer_kwargs or {}))


def weights(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def assert_identical(first, second):
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """12 steps (2 epochs of 6 steps), checkpoints every 3 steps, dropout on: the uninterrupted run."""
    folder = tmp_path_factory.mktemp("full")
    trainer = make_trainer(folder)
    trainer.train()
    return folder, weights(trainer), trainer.state.log_history


@pytest.mark.parametrize("step", [6, 9])  # an epoch boundary, and mid-epoch (batches to skip)
def test_resume_in_process_is_exact(reference_run, tmp_path, step):
    folder, expected, history = reference_run
    trainer = make_trainer(folder)
    trainer.train(resume_from_checkpoint=str(folder / f"checkpoint-{step}"))
    assert trainer.state.global_step == 12
    assert_identical(weights(trainer), expected)
    # the resumed run logs the same losses once a whole logging window (2 steps) follows the resume
    losses = [(h["step"], round(h["loss"], 6)) for h in history if "loss" in h and h["step"] >= step + 2]
    resumed = [(h["step"], round(h["loss"], 6)) for h in trainer.state.log_history if "loss" in h and h["step"] >= step + 2]
    assert resumed == losses


def test_checkpoint_contents_load_weights_only(reference_run):
    folder, _, _ = reference_run
    checkpoint = folder / "checkpoint-3"
    names = set(os.listdir(checkpoint))
    assert {"config.json", "model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json",
            "training_args.json"} <= names
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        torch.load(checkpoint / name, weights_only=True)  # raises if anything needs unpickling
    assert not [n for n in os.listdir(folder) if n.startswith(ckpt.TEMP_PREFIX)]
    assert get_last_checkpoint(str(folder)) == str(folder / "checkpoint-12")


def test_crash_during_save_keeps_previous_checkpoint(reference_run, tmp_path, monkeypatch):
    _, expected, _ = reference_run
    real_save = ckpt.save_rng_state
    calls = []

    def crash_on_second_save(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(ckpt, "save_rng_state", crash_on_second_save)
    with pytest.raises(OSError, match="simulated"):
        make_trainer(tmp_path).train()
    monkeypatch.setattr(ckpt, "save_rng_state", real_save)
    entries = sorted(os.listdir(tmp_path))
    assert "checkpoint-3" in entries and "checkpoint-6" not in entries
    assert ".tmp-checkpoint-6" in entries  # the half-written save, never under its final name
    assert get_last_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-3")
    load_file(tmp_path / "checkpoint-3" / "model.safetensors")  # the previous checkpoint is intact
    trainer = make_trainer(tmp_path)
    trainer.train(resume_from_checkpoint=True)
    assert_identical(weights(trainer), expected)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(ckpt.TEMP_PREFIX)]


def test_incomplete_checkpoint_is_never_resumed(tmp_path):
    (tmp_path / "checkpoint-50").mkdir()  # e.g. copied by hand, without trainer_state.json
    assert get_last_checkpoint(str(tmp_path)) is None
    trainer = make_trainer(tmp_path, max_steps=1)
    with pytest.raises(ValueError, match="no complete checkpoint"):
        trainer.train(resume_from_checkpoint=True)
    with pytest.raises(ValueError, match="not completely"):
        trainer.train(resume_from_checkpoint=str(tmp_path / "checkpoint-50"))


def test_rotation_keeps_the_best_checkpoint(tmp_path):
    scores = iter([5.0, 1.0, 2.0, 3.0])  # greater is better: the best is at step 2
    extra = dict(eval_dataset=tiny_dataset(8, seed=1), compute_metrics=lambda prediction: {"score": next(scores)})
    trainer = make_trainer(tmp_path, dropout=0.0, trainer_kwargs=extra, max_steps=8, save_steps=2,
                           gradient_accumulation_steps=1,
                           eval_strategy="steps", eval_steps=2, save_total_limit=2, load_best_model_at_end=True,
                           metric_for_best_model="score")
    assert trainer.args.greater_is_better
    trainer.train()
    assert trainer.state.best_model_checkpoint == str(tmp_path / "checkpoint-2")
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-2", "checkpoint-8"]
    # load_best_model_at_end put the step-2 weights back
    best = load_file(tmp_path / "checkpoint-2" / "model.safetensors")
    for key, value in best.items():
        assert torch.equal(trainer.model.state_dict()[key], value), key


def _run(output_dir, *extra, sleep=0.0):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(SCRIPT), "--output_dir", str(output_dir), "--batch", "4", "--accumulation", "2",
               "--max_steps", "12", "--save_steps", "2", "--dropout", "0.1", "--sleep", str(sleep), *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    full = _run(tmp_path / "full")
    killed = _run(tmp_path / "killed", sleep=0.5)
    kill_after_checkpoint(killed, tmp_path / "killed")
    resumed = _run(tmp_path / "killed", "--resume")
    for process in (full, resumed):
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
    expected = load_file(tmp_path / "full" / "final" / "model.safetensors")
    actual = load_file(tmp_path / "killed" / "final" / "model.safetensors")
    assert_identical(actual, expected)
