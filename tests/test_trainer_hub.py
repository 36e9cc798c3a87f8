"""The Trainer's pushes against the local Hub server (tests/hub_server.py, the ``hub`` fixture): each
hub_strategy's commits (messages, files), the private repo, the pushed model and card downloading back
through ``from_pretrained("user/repo")``, resuming from a downloaded ``last-checkpoint``, create_pr and
hub_revision, a slow push (skipped or queued, its files fixed when it starts), and the errors that say
what to set."""

import os

import pytest
import torch

from tests.tolerance import assert_close_scaled
from tests.training.tiny import tiny_model, tiny_rows
from workbench import BertForSequenceClassification, Trainer, TrainerCallback, TrainingArguments

huggingface_hub = pytest.importorskip("huggingface_hub")
pytestmark = pytest.mark.usefixtures("one_thread")

MODEL_FILES = {"config.json", "model.safetensors", "training_args.json"}
CHECKPOINT_FILES = MODEL_FILES | {"optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"}


def run_args(folder, **overrides):
    # hub_always_push: every save is pushed (queued behind a running push) so the commits are deterministic
    values = dict(output_dir=str(folder), per_device_train_batch_size=4, learning_rate=1e-3, max_steps=4,
                  save_strategy="steps", save_steps=2, logging_steps=2, seed=3, disable_tqdm=True, use_cpu=True,
                  report_to="none", push_to_hub=True, hub_always_push=True)
    values.update(overrides)
    return TrainingArguments(**values)


def summaries(hub, repo_id):
    return [call["summary"] for call in hub.calls_of("commit", repo_id)]


@pytest.mark.parametrize("strategy", ["end", "every_save", "checkpoint", "all_checkpoints"])
def test_hub_strategy_commits(hub, tmp_path, strategy):
    """Commits as the reference makes them: the model at each save (not for "end"), the checkpoint as
    last-checkpoint/ ("checkpoint") or checkpoint-N/ ("all_checkpoints"), then "End of training" with the card."""
    repo_id = f"user/run-{strategy}"
    trainer = Trainer(model=tiny_model(), args=run_args(tmp_path / f"run-{strategy}", hub_strategy=strategy,
                                                        hub_private_repo=strategy == "checkpoint"),
                      train_dataset=tiny_rows(16))
    assert trainer.hub_model_id == repo_id and repo_id in hub.repos  # created at init
    trainer.train()
    trainer.push_to_hub(license="mit", dataset_tags="tiny-rows")

    steps = [] if strategy == "end" else [2, 4]
    expected = []
    for step in steps:
        expected.append(f"Training in progress, step {step}")
        if strategy in ("checkpoint", "all_checkpoints"):
            expected.append(f"Training in progress, step {step}, checkpoint")
    assert summaries(hub, repo_id) == expected + ["End of training"]
    # (a commit lists the files that changed: huggingface_hub skips those the repo already has)
    for call in hub.calls_of("commit", repo_id):
        if call["summary"].endswith("checkpoint"):
            step = call["summary"].split("step ")[1].split(",")[0]
            folder = "last-checkpoint" if strategy == "checkpoint" else f"checkpoint-{step}"
            assert {f"{folder}/model.safetensors", f"{folder}/trainer_state.json"} <= set(call["files"])
            assert {path.split("/")[0] for path in call["files"]} == {folder}
        elif call["summary"].startswith("Training in progress"):
            assert "model.safetensors" in call["files"] and set(call["files"]) <= MODEL_FILES  # no optimizer
        else:
            assert "README.md" in call["files"]
            assert not any(path.startswith(("checkpoint-", "last-checkpoint", ".")) for path in call["files"])
    files = hub.files(repo_id)
    folders = {path.split("/")[0] for path in files if "/" in path}
    assert folders == {"end": set(), "every_save": set(), "checkpoint": {"last-checkpoint"},
                       "all_checkpoints": {"checkpoint-2", "checkpoint-4"}}[strategy]
    for folder in folders:
        assert {path.split("/", 1)[1] for path in files if path.startswith(folder + "/")} == CHECKPOINT_FILES
    assert {path for path in files if "/" not in path} == MODEL_FILES | {"README.md", ".gitattributes"}
    if strategy == "checkpoint":  # last-checkpoint/ is the latest checkpoint
        assert files["last-checkpoint/trainer_state.json"] == (
            tmp_path / f"run-{strategy}" / "checkpoint-4" / "trainer_state.json").read_bytes()
    assert [call["private"] for call in hub.calls_of("create_repo", repo_id)] == [strategy == "checkpoint"]
    assert hub.repos[repo_id].private == (strategy == "checkpoint")
    assert not [name for name in os.listdir(trainer.args.output_dir) if name.startswith(".")]  # staging removed


def test_pushed_model_and_card_download_back(hub, tmp_path):
    """from_pretrained("user/repo") loads the trained weights; the pushed README.md is the model card."""
    trainer = Trainer(model=tiny_model(), args=run_args(tmp_path / "tiny-pushed", hub_strategy="every_save"),
                      train_dataset=tiny_rows(16))
    trainer.train()
    commit = trainer.push_to_hub(license="mit", language="en", finetuned_from="bert-base-uncased",
                                 dataset_tags="tiny-rows", tags="tiny")
    assert commit.oid == hub.repos["user/tiny-pushed"].refs["main"]
    loaded = BertForSequenceClassification.from_pretrained("user/tiny-pushed")
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    card_path = huggingface_hub.hf_hub_download("user/tiny-pushed", "README.md")
    local = (tmp_path / "tiny-pushed" / "README.md").read_text(encoding="utf-8")
    assert open(card_path, encoding="utf-8").read() == local
    card = huggingface_hub.ModelCard.load(card_path)
    assert (card.data.license, card.data.language, card.data.base_model, card.data.pipeline_tag) == (
        "mit", ["en"], "bert-base-uncased", "text-classification")
    assert card.data.tags == ["tiny", "generated_from_trainer"] and card.data.datasets == ["tiny-rows"]
    assert "### Training hyperparameters" in card.text and "- training_steps: 4" in card.text


def test_epoch_saves_are_named_by_epoch(hub, tmp_path):
    trainer = Trainer(model=tiny_model(), args=run_args(tmp_path / "by-epoch", save_strategy="epoch", max_steps=-1,
                                                        num_train_epochs=2), train_dataset=tiny_rows(8))
    trainer.train()
    assert summaries(hub, "user/by-epoch") == ["Training in progress, epoch 1", "Training in progress, epoch 2"]


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True
        return control


def test_resume_from_the_pushed_last_checkpoint(hub, tmp_path):
    """A run stopped after its step-2 save resumes on another machine from the Hub's last-checkpoint/ and
    ends with the weights of a run that was never stopped."""
    rows = tiny_rows(16)
    whole = Trainer(model=tiny_model(), args=run_args(tmp_path / "whole", push_to_hub=False), train_dataset=rows)
    whole.train()
    stopped = Trainer(model=tiny_model(), args=run_args(tmp_path / "stopped", hub_strategy="checkpoint"),
                      train_dataset=rows, callbacks=[StopAt(2)])
    stopped.train()
    assert summaries(hub, "user/stopped") == ["Training in progress, step 2",
                                              "Training in progress, step 2, checkpoint"]
    folder = huggingface_hub.snapshot_download("user/stopped")
    resumed = Trainer(model=tiny_model(seed=5), args=run_args(tmp_path / "resumed", push_to_hub=False),
                      train_dataset=rows)
    resumed.train(resume_from_checkpoint=os.path.join(folder, "last-checkpoint"))
    assert resumed.state.global_step == 4
    for name, value in whole.model.state_dict().items():
        assert_close_scaled(resumed.model.state_dict()[name], value, tol=1e-6)


def test_create_pr_revision_and_user_save_model(hub, tmp_path):
    """create_pr=True opens a PR (main untouched); hub_revision pushes to a branch; a user's save_model()
    pushes "Model save" as the reference does."""
    huggingface_hub.HfApi().create_repo("user/branch-run")
    huggingface_hub.HfApi().create_branch("user/branch-run", branch="dev")
    trainer = Trainer(model=tiny_model(), args=run_args(tmp_path / "branch-run", hub_strategy="end", hub_revision="dev",
                                                        max_steps=1, save_strategy="no"), train_dataset=tiny_rows(4))
    trainer.train()
    trainer.save_model()
    main_before = hub.repos["user/branch-run"].refs["main"]
    trainer.push_to_hub(create_pr=True, revision="main")
    commits = hub.calls_of("commit", "user/branch-run")
    assert [(c["summary"], c["ref"]) for c in commits] == [("Model save", "dev"), ("End of training", "refs/pr/1")]
    assert hub.repos["user/branch-run"].refs["main"] == main_before
    assert "model.safetensors" in hub.files("user/branch-run", "dev")


def test_push_errors_say_what_to_set(hub, tmp_path, monkeypatch):
    """push_to_hub=True fails at init, naming the fix (the messages are hub_push.py's, shared with models)."""
    from workbench.hub_push import HubPushError

    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubPushError, match="HF_TOKEN"):
        Trainer(model=tiny_model(), args=run_args(tmp_path / "no-token"))
    with pytest.raises(HubPushError, match="refused the token"):
        Trainer(model=tiny_model(), args=run_args(tmp_path / "bad-token", hub_token="hf_wrong"))
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(HubPushError, match="Cannot reach the Hub"):
        Trainer(model=tiny_model(), args=run_args(tmp_path / "unreachable", hub_token="hf_any"))
    assert "user/no-token" not in hub.repos


def test_a_failed_background_push_fails_train(hub, tmp_path):
    """Pushes during training run in the background; one that failed raises when train() ends."""
    from huggingface_hub.errors import HfHubHTTPError

    trainer = Trainer(model=tiny_model(), args=run_args(tmp_path / "no-branch", hub_revision="missing", max_steps=2),
                      train_dataset=tiny_rows(8))
    with pytest.raises(HfHubHTTPError, match="missing"):
        trainer.train()
    assert hub.calls_of("commit", "user/no-branch") == []


class ReleaseAtEnd(TrainerCallback):
    def __init__(self, event):
        self.event = event

    def on_train_end(self, args, state, control, **kwargs):
        self.event.set()  # train() waits for the pushes right after this


@pytest.mark.parametrize("always_push", [False, True])
def test_a_slow_push_skips_or_queues_and_its_files_stay_fixed(hub, tmp_path, monkeypatch, always_push):
    """The step-2 push is held until training ends. Default: the step-4 save is not pushed (one still running);
    hub_always_push: it queues behind. The step-2 push uploads checkpoint-2 as it was, although
    save_total_limit=1 deleted that folder meanwhile (its staging holds hard links)."""
    import json
    import threading

    released, upload = threading.Event(), huggingface_hub.HfApi.upload_folder

    def held_upload(self, **kwargs):
        assert released.wait(timeout=60), "the test never released the push"
        return upload(self, **kwargs)

    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", held_upload)
    name = f"slow-{always_push}"
    trainer = Trainer(model=tiny_model(), args=run_args(tmp_path / name, hub_strategy="checkpoint", save_total_limit=1,
                                                        hub_always_push=always_push),
                      train_dataset=tiny_rows(16), callbacks=[ReleaseAtEnd(released)])
    trainer.train()
    assert not (tmp_path / name / "checkpoint-2").exists()
    steps = [2, 4] if always_push else [2]
    assert summaries(hub, f"user/{name}") == [f"Training in progress, step {s}{suffix}" for s in steps
                                              for suffix in ("", ", checkpoint")]
    repo = hub.repos[f"user/{name}"]
    first = next(c for c in repo.commits.values() if c.title == "Training in progress, step 2, checkpoint")
    assert json.loads(first.files["last-checkpoint/trainer_state.json"].data)["global_step"] == 2
