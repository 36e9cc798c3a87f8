"""push_to_hub through the real huggingface_hub client, against the local Hub server (tests/hub_server.py):
what a push uploads (the repo created, the files, the commit message, private, a PR opened) matches
the reference's push of the same object, and the pushed repo loads through the normal
``from_pretrained("user/repo")`` path (a fresh cache) into identical tensors, in workbench and in the
reference; sharded pushes; save_pretrained(push_to_hub=True); the errors offline or without a token."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch

from workbench import (AutoConfig, AutoImageProcessor, AutoModelForCausalLM, AutoProcessor, AutoTokenizer,
                       GenerationConfig, ViTImageProcessor)
from workbench.hub_push import STAGING_FOLDER_NAME, HubPushError

from hub_fixtures import HUB_TOKEN
from reference import build_reference_model, save_reference_model
from workbench.models.registry import TINY_DECODER

transformers = pytest.importorskip("transformers")
# huggingface_hub's own LFS upload (httpx2's data= for a file) warns; not ours to fix
pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")]


@pytest.fixture(scope="module")
def reference_llama(tmp_path_factory):
    """A tiny random llama (the registry's decoder config) by the reference, and its folder."""
    model = build_reference_model("llama", "LlamaForCausalLM", TINY_DECODER)
    model.generation_config.max_new_tokens = 7  # a generation_config.json with something in it
    return model, save_reference_model(model, str(tmp_path_factory.mktemp("tiny-llama")))


@pytest.fixture(scope="module")
def llama(reference_llama):
    return AutoModelForCausalLM.from_pretrained(reference_llama[1])


def fresh_cache(monkeypatch, tmp_path, name: str) -> str:
    """A new, empty HF_HUB_CACHE: what loads next really comes through the server."""
    from huggingface_hub import constants

    cache = str(tmp_path / name)
    monkeypatch.setenv("HF_HUB_CACHE", cache)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", cache)
    return cache


def last_commit(hub, repo_id: str) -> dict:
    return hub.calls_of("commit", repo_id)[-1]


def assert_same_tensors(expected: dict, actual: dict) -> None:
    assert sorted(expected) == sorted(actual)
    for name, tensor in expected.items():
        assert torch.equal(tensor, actual[name]), name


def test_model_push_uploads_what_the_reference_uploads_and_loads_back(hub, llama, reference_llama, monkeypatch,
                                                                     tmp_path):
    info = llama.push_to_hub("tiny-llama", private=True)
    reference_llama[0].push_to_hub("user/tiny-llama-by-reference", private=True)

    ours, theirs = last_commit(hub, "user/tiny-llama"), last_commit(hub, "user/tiny-llama-by-reference")
    assert ours["files"] == theirs["files"] == ["README.md", "config.json", "generation_config.json",
                                                "model.safetensors"]
    assert ours["summary"] == theirs["summary"] == "Upload LlamaForCausalLM"  # the reference's rule: no "Model"
    assert ours["lfs_files"] == ["model.safetensors"] and ours["ref"] == "main" and not ours["create_pr"]
    assert [call["private"] for call in hub.calls_of("create_repo", "user/tiny-llama")] == [True]
    assert info.oid == ours["oid"] and info.commit_url.endswith(f"/user/tiny-llama/commit/{ours['oid']}")
    assert info.pr_url is None

    fresh_cache(monkeypatch, tmp_path, "cache")
    loaded = AutoModelForCausalLM.from_pretrained("user/tiny-llama")
    assert_same_tensors(llama.state_dict(), loaded.state_dict())
    assert loaded.generation_config.max_new_tokens == 7
    reference = transformers.AutoModelForCausalLM.from_pretrained("user/tiny-llama")
    assert_same_tensors(reference_llama[0].state_dict(), reference.state_dict())
    assert {call["file"] for call in hub.calls_of("download", "user/tiny-llama")} >= {"config.json",
                                                                                      "model.safetensors"}
    staging = Path(os.environ["HF_HOME"]) / STAGING_FOLDER_NAME
    assert list(staging.iterdir()) == []  # the push's staging folder is gone


def test_sharded_push_uploads_shards_and_index_that_load_back(hub, llama, reference_llama, monkeypatch, tmp_path):
    class OwnSave(type(llama)):  # a save_pretrained(save_directory, **kwargs) override, as DETR's and Swin's
        def save_pretrained(self, save_directory, **kwargs):
            super().save_pretrained(save_directory, **kwargs)

    OwnSave.from_pretrained(reference_llama[1]).push_to_hub(
        "user/tiny-llama-sharded", max_shard_size="20KB", commit_message="Sharded", commit_description="in 20 KB shards")
    commit = last_commit(hub, "user/tiny-llama-sharded")
    shards = [name for name in commit["files"] if name.startswith("model-")]
    assert len(shards) > 2 and "model.safetensors.index.json" in commit["files"]
    assert "model.safetensors" not in commit["files"] and commit["lfs_files"] == shards
    assert (commit["summary"], commit["description"]) == ("Sharded", "in 20 KB shards")

    fresh_cache(monkeypatch, tmp_path, "cache")
    assert_same_tensors(llama.state_dict(), AutoModelForCausalLM.from_pretrained("user/tiny-llama-sharded").state_dict())
    reference = transformers.AutoModelForCausalLM.from_pretrained("user/tiny-llama-sharded")
    assert_same_tensors(reference_llama[0].state_dict(), reference.state_dict())


def test_config_push_with_create_pr_opens_a_pull_request(hub, llama, reference_llama, monkeypatch, tmp_path):
    llama.config.push_to_hub("tiny-config")  # main gets a first version
    changed = AutoConfig.from_pretrained(reference_llama[1], rms_norm_eps=1e-3)
    info = changed.push_to_hub("tiny-config", create_pr=True)
    reference_info = transformers.AutoConfig.from_pretrained(reference_llama[1]).push_to_hub(
        "tiny-config", create_pr=True)

    assert (info.pr_revision, info.pr_num, reference_info.pr_revision) == ("refs/pr/1", 1, "refs/pr/2")
    commit = last_commit(hub, "user/tiny-config")
    assert commit["summary"] == "Upload config" and commit["create_pr"] and commit["ref"] == "refs/pr/2"
    assert hub.calls_of("commit", "user/tiny-config")[1]["files"] == ["config.json"]  # README.md exists by then

    fresh_cache(monkeypatch, tmp_path, "cache")
    assert AutoConfig.from_pretrained("user/tiny-config").rms_norm_eps == llama.config.rms_norm_eps
    assert AutoConfig.from_pretrained("user/tiny-config", revision="refs/pr/1").rms_norm_eps == 1e-3
    assert transformers.AutoConfig.from_pretrained("user/tiny-config", revision="refs/pr/1").rms_norm_eps == 1e-3


def test_generation_config_push_to_a_new_branch(hub, monkeypatch, tmp_path):
    GenerationConfig(max_new_tokens=3, do_sample=True, top_k=5).push_to_hub("gen", revision="dev", tags=["demo"])
    assert [call["branch"] for call in hub.calls_of("create_branch", "user/gen")] == ["dev"]
    commit = last_commit(hub, "user/gen")
    assert (commit["ref"], commit["summary"], commit["files"]) == ("dev", "Upload config",
                                                                   ["README.md", "generation_config.json"])
    assert "demo" in hub.files("user/gen", "dev")["README.md"].decode()
    fresh_cache(monkeypatch, tmp_path, "cache")
    assert GenerationConfig.from_pretrained("user/gen", revision="dev").top_k == 5


def test_tokenizer_push_loads_back_in_workbench_and_the_reference(hub, minilm_path, monkeypatch, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    tokenizer.push_to_hub("minilm-tokenizer", token=HUB_TOKEN)
    reference = transformers.AutoTokenizer.from_pretrained(minilm_path)
    reference.push_to_hub("minilm-tokenizer-by-reference")
    ours, theirs = last_commit(hub, "user/minilm-tokenizer"), last_commit(hub, "user/minilm-tokenizer-by-reference")
    assert ours["summary"] == theirs["summary"] == "Upload tokenizer"
    assert {"README.md", "tokenizer.json", "tokenizer_config.json"} <= set(ours["files"])

    fresh_cache(monkeypatch, tmp_path, "cache")
    text = ["Pushed to the Hub, then back again.", "naïve café"]
    expected = reference(text, padding=True)["input_ids"]
    assert AutoTokenizer.from_pretrained("user/minilm-tokenizer")(text, padding=True)["input_ids"] == expected
    assert transformers.AutoTokenizer.from_pretrained("user/minilm-tokenizer")(text, padding=True)["input_ids"] == expected


def test_processor_pushes_and_save_pretrained_with_push_uploads_only_that_save(hub, monkeypatch, tmp_path):
    from test_processor import TEXTS, reference_processor

    folder = tmp_path / "whisper-processor"
    reference_processor().save_pretrained(folder)
    processor = AutoProcessor.from_pretrained(folder)
    (folder / "notes.txt").write_text("mine, not for the Hub")
    processor.save_pretrained(folder, push_to_hub=True, repo_id="user/processor", commit_message="Processor v1")
    commit = last_commit(hub, "user/processor")
    assert commit["summary"] == "Processor v1" and "notes.txt" not in commit["files"]
    assert {"processor_config.json", "tokenizer.json", "README.md"} <= set(commit["files"])

    processor.feature_extractor.push_to_hub("user/features")
    assert last_commit(hub, "user/features")["summary"] == "Upload feature extractor"
    image_processor = ViTImageProcessor(size={"height": 48, "width": 40}, image_mean=[0.1, 0.2, 0.3])
    image_processor.push_to_hub("user/images")
    assert last_commit(hub, "user/images")["files"] == ["README.md", "preprocessor_config.json"]
    assert last_commit(hub, "user/images")["summary"] == "Upload processor"

    fresh_cache(monkeypatch, tmp_path, "cache")
    assert AutoImageProcessor.from_pretrained("user/images").to_dict() == image_processor.to_dict()
    assert transformers.AutoImageProcessor.from_pretrained("user/images").size == {"height": 48, "width": 40}
    loaded = AutoProcessor.from_pretrained("user/processor")
    assert loaded.to_dict() == processor.to_dict()
    assert loaded.tokenizer(TEXTS)["input_ids"] == processor.tokenizer(TEXTS)["input_ids"]
    assert transformers.AutoProcessor.from_pretrained("user/processor").tokenizer(TEXTS)["input_ids"] == \
        processor.tokenizer(TEXTS)["input_ids"]


def test_push_offline_without_token_refused_or_unreachable_says_what_to_do(hub, llama, monkeypatch):
    from huggingface_hub import constants

    calls = len(hub.calls)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubPushError, match="unset HF_HUB_OFFLINE"):
        llama.config.push_to_hub("offline")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubPushError, match=r"hf auth login.*HF_TOKEN.*token="):
        llama.push_to_hub("no-token")
    with pytest.raises(HubPushError, match=r"hf auth login.*HF_TOKEN.*token="):
        llama.config.save_pretrained(os.environ["HF_HOME"] + "/cfg", push_to_hub=True)
    assert len(hub.calls) == calls  # nothing reached the server

    with pytest.raises(HubPushError, match=r"401.*hf auth login") as error:
        llama.push_to_hub("refused", token="hf_not_a_valid_token")
    assert error.value.__cause__ is None and error.value.__suppress_context__
    assert "user/refused" not in hub.repos

    with socket.socket() as closed:  # a port nothing listens on: the Hub cannot be reached
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{closed.getsockname()[1]}")
        with pytest.raises(HubPushError, match="Cannot reach the Hub at http://127.0.0.1.*check the network"):
            llama.push_to_hub("unreachable", token=HUB_TOKEN)


def test_a_failed_save_leaves_no_staging_and_the_next_push_clears_a_killed_ones(hub, llama, tmp_path):
    staging = Path(os.environ["HF_HOME"]) / STAGING_FOLDER_NAME
    with pytest.raises(ValueError, match="safetensors"):
        llama.push_to_hub("unsafe", safe_serialization=False)
    assert list(staging.iterdir()) == []
    abandoned = staging / "push-999999999-x"  # no such process: a push killed half-way
    abandoned.mkdir()
    (abandoned / "model.safetensors").write_bytes(b"half")
    llama.config.push_to_hub("after-a-kill")
    assert list(staging.iterdir()) == []


def test_a_model_with_an_adapter_pushes_only_its_adapter(hub, reference_llama, monkeypatch, tmp_path):
    peft = pytest.importorskip("peft")
    model = AutoModelForCausalLM.from_pretrained(reference_llama[1])
    model.add_adapter(peft.LoraConfig(target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(tmp_path / "lora", push_to_hub=True, repo_id="tiny-lora")
    assert last_commit(hub, "user/tiny-lora")["files"] == ["README.md", "adapter_config.json",
                                                           "adapter_model.safetensors", "generation_config.json"]

    fresh_cache(monkeypatch, tmp_path, "cache")
    ids = torch.tensor([[5, 9, 2, 33, 17, 8, 41]])
    with torch.no_grad():
        expected = model(input_ids=ids).logits
        # adapter_config.json names the base (the local folder here): workbench loads it, then the adapter
        assert torch.equal(AutoModelForCausalLM.from_pretrained("user/tiny-lora")(input_ids=ids).logits, expected)
        base = transformers.AutoModelForCausalLM.from_pretrained(reference_llama[1], attn_implementation="eager")
        theirs = peft.PeftModel.from_pretrained(base, "user/tiny-lora").eval()(input_ids=ids).logits
    torch.testing.assert_close(theirs, expected, atol=1e-5, rtol=1e-5)
