"""Hub resolution through huggingface_hub's cache: repo ids, revisions, subfolders, offline errors."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from workbench import AutoConfig, AutoModel
from workbench.errors import CheckpointNotFoundError
from workbench.models.bert import BertConfig, BertModel

MAIN = "a" * 40
OTHER = "b" * 40


def tiny_bert(hidden_size: int) -> BertModel:
    config = BertConfig(vocab_size=30, hidden_size=hidden_size, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    return BertModel.from_config(config)


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory) -> Path:
    """A Hugging Face cache (the layout huggingface_hub writes) holding org/tiny at two revisions,
    the 'v2' one with the model in a subfolder."""
    cache = tmp_path_factory.mktemp("hub")
    repo = cache / "models--org--tiny"
    tiny_bert(8).save_pretrained(repo / "snapshots" / MAIN)
    tiny_bert(12).save_pretrained(repo / "snapshots" / OTHER / "sub")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(MAIN)
    (repo / "refs" / "v2").write_text(OTHER)
    return cache


def test_repo_id_from_cache_dir(hub_cache):
    model = AutoModel.from_pretrained("org/tiny", cache_dir=hub_cache)
    assert model.config.hidden_size == 8 and model.config.name_or_path == "org/tiny"


def test_revision_and_subfolder(hub_cache):
    by_branch = AutoModel.from_pretrained("org/tiny", cache_dir=hub_cache, revision="v2", subfolder="sub")
    by_commit = AutoModel.from_pretrained("org/tiny", cache_dir=hub_cache, revision=OTHER, subfolder="sub")
    assert by_branch.config.hidden_size == by_commit.config.hidden_size == 12
    for a, b in zip(by_branch.parameters(), by_commit.parameters()):
        assert torch.equal(a, b)


def test_local_files_only_with_a_cached_repo(hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    config = AutoConfig.from_pretrained("org/tiny", cache_dir=hub_cache, local_files_only=True)
    assert config.hidden_size == 8


def test_offline_and_not_cached_fails_at_once_naming_repo_and_file(hub_cache):
    start = time.monotonic()
    with pytest.raises(CheckpointNotFoundError) as error:
        AutoModel.from_pretrained("org/never-downloaded", cache_dir=hub_cache)
    assert time.monotonic() - start < 5
    message = str(error.value)
    assert "org/never-downloaded" in message and "config.json" in message
    assert "HF_HUB_OFFLINE" in message and "local model folder" in message


def test_missing_revision_offline_names_it(hub_cache):
    with pytest.raises(CheckpointNotFoundError, match="revision 'nope'"):
        AutoConfig.from_pretrained("org/tiny", cache_dir=hub_cache, revision="nope")


def test_hf_home_environment_variable(hub_cache, tmp_path):
    """HF_HOME/hub is where huggingface_hub looks (read at import, hence a fresh interpreter)."""
    home = tmp_path / "home"
    shutil.copytree(hub_cache, home / "hub")
    code = "from workbench import AutoModel; print(AutoModel.from_pretrained('org/tiny').config.hidden_size)"
    env = {**os.environ, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "8"


def test_hf_hub_cache_environment_variable(hub_cache):
    code = "from workbench import AutoConfig; print(AutoConfig.from_pretrained('org/tiny', revision='v2', subfolder='sub').hidden_size)"
    env = {**os.environ, "HF_HUB_CACHE": str(hub_cache), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "12"


def test_a_path_that_does_not_exist():
    with pytest.raises(CheckpointNotFoundError, match="neither a local folder nor a Hub repo id"):
        AutoConfig.from_pretrained("./no/such/folder")
