"""pipeline(task) with no model=: the zoo's model for the task when there is one, else the task
table's default Hub checkpoint; offline with an empty cache, the error names that checkpoint and shows
how to pass a local folder instead, and, where the zoo has a recipe for the task, how to build it."""

from __future__ import annotations

import logging

import pytest

import workbench
from workbench.errors import CheckpointNotFoundError
from workbench.tasks import ALIASES, PIPELINE_TASKS
from workbench.zoo_lookup import RECIPES

from pipeline_models import label_config, save_tiny


@pytest.fixture
def offline_and_empty(tmp_path, monkeypatch):
    """HF_HUB_OFFLINE=1, an empty Hugging Face cache and an empty zoo."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))  # read once, at import
    monkeypatch.setenv("WORKBENCH_ZOO", str(tmp_path / "zoo"))
    return cache


@pytest.mark.parametrize("task", sorted(PIPELINE_TASKS) + sorted(ALIASES) + ["translation_en_to_fr"])
def test_an_uncached_default_names_the_checkpoint_and_the_fix(task, offline_and_empty):
    name = ALIASES.get(task, "translation" if task.startswith("translation") else task)
    default = PIPELINE_TASKS[name].default_model
    with pytest.raises(CheckpointNotFoundError) as raised:
        workbench.pipeline(task)
    message = str(raised.value)
    assert f"the {task} pipeline uses its default checkpoint, {default}" in message
    assert f'pipeline("{task}", model="path/to/folder")' in message
    assert str(offline_and_empty) in message and "HF_HUB_OFFLINE=1" in message
    assert isinstance(raised.value, OSError)  # what the reference's users catch
    recipes = [recipe for recipe, spec in RECIPES.items() if spec.task == name and spec.is_task_default]
    assert ("workbench zoo build" in message) == bool(recipes)
    for recipe in recipes:
        assert f"workbench zoo build {recipe}" in message


def test_the_sentiment_error_says_how_to_build_the_zoo_model(offline_and_empty):
    """The one task the zoo has a recipe for, spelled out (not derived from the recipe table)."""
    for task in ("sentiment-analysis", "text-classification"):
        with pytest.raises(CheckpointNotFoundError, match=f"Or build workbench's own {task} model on "
                                                          f"this machine: workbench zoo build sentiment"):
            workbench.pipeline(task)


def test_cache_dir_is_where_the_default_is_looked_for(offline_and_empty, tmp_path):
    elsewhere = tmp_path / "other-cache"
    elsewhere.mkdir()
    with pytest.raises(CheckpointNotFoundError, match=f"sshleifer/distilbart-cnn-12-6.*{elsewhere}"):
        workbench.pipeline("summarization", cache_dir=str(elsewhere))


def test_a_model_that_is_not_the_default_keeps_its_own_error(offline_and_empty):
    with pytest.raises(CheckpointNotFoundError) as raised:
        workbench.pipeline("summarization", model="someone/not-cached")
    assert "default checkpoint" not in str(raised.value) and "someone/not-cached" in str(raised.value)


def test_the_zoo_model_is_used_and_said_once(offline_and_empty, tmp_path, minilm_path, caplog, monkeypatch):
    zoo = tmp_path / "fake-zoo"
    save_tiny(zoo / "text-classification", minilm_path, "bert", "ForSequenceClassification",
              **label_config(["NEGATIVE", "POSITIVE"]))
    monkeypatch.setenv("WORKBENCH_ZOO", str(zoo))
    with caplog.at_level(logging.WARNING, logger="workbench"):
        classifier = workbench.pipeline("sentiment-analysis")
        answers = classifier(["I love it", "I hate it"])
    said = [r.getMessage() for r in caplog.records if str(zoo) in r.getMessage()]
    assert said == [f"No model was given: using workbench's local text-classification model at "
                    f"{zoo / 'text-classification'}."]
    assert [answer["label"] in ("NEGATIVE", "POSITIVE") for answer in answers] == [True, True]
    with pytest.raises(CheckpointNotFoundError, match="distilbert/distilbert-base-cased"):
        workbench.pipeline("feature-extraction")  # the zoo has nothing for this task


def test_a_task_without_a_default_says_so_and_how_to_build_the_zoo_model(offline_and_empty, monkeypatch):
    import dataclasses

    from workbench import tasks

    spec = tasks.PIPELINE_TASKS["text-classification"]
    monkeypatch.setitem(tasks.PIPELINE_TASKS, "text-classification", dataclasses.replace(spec, default=None))
    with pytest.raises(ValueError, match=r"The text-classification pipeline has no default model: pass model= "
                                         r"\(a folder or Hub id\)\. Or build .*: workbench zoo build sentiment"):
        workbench.pipeline("sentiment-analysis")
