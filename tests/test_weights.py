"""Weights on disk: shards, dtypes, pickles refused, corrupt files, mismatches, missing heads."""

import json
import logging
import os
import pickle

import pytest
import torch
import transformers
from safetensors.torch import save_file

from workbench import AutoModel, AutoModelForSequenceClassification
from workbench.errors import CheckpointError, CheckpointNotFoundError
from workbench.models.bert import BertConfig, BertForMaskedLM, BertModel
from workbench.weights import parse_size

from reference import build_reference_model, save_reference_model

TINY = dict(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=20,
            max_position_embeddings=32)
IDS = torch.tensor([[2, 7, 9, 11, 3]])


@pytest.fixture(scope="module")
def reference_folder(tmp_path_factory):
    model = build_reference_model("bert", "BertForSequenceClassification", dict(TINY, num_labels=2))
    return model, save_reference_model(model, str(tmp_path_factory.mktemp("ref")))


def test_sharded_save_loads_both_ways(reference_folder, tmp_path):
    reference, folder = reference_folder
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    model.save_pretrained(tmp_path, max_shard_size="10KB")
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 2 and all((tmp_path / s).exists() for s in shards)
    assert not (tmp_path / "model.safetensors").exists()
    theirs = transformers.BertForSequenceClassification.from_pretrained(tmp_path).eval()
    assert torch.allclose(theirs(IDS).logits, reference(IDS).logits, atol=1e-6)
    # the reference's own sharded save loads here
    reference.save_pretrained(tmp_path / "ref-sharded", max_shard_size="10KB")
    ours = AutoModelForSequenceClassification.from_pretrained(tmp_path / "ref-sharded")
    assert torch.allclose(ours(IDS).logits, reference(IDS).logits, atol=1e-6)
    # a re-save as one file removes the stale shards
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("model*")) == ["model.safetensors"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, "bfloat16"])
def test_dtype_argument(reference_folder, dtype):
    _, folder = reference_folder
    model = AutoModel.from_pretrained(folder, dtype=dtype)
    expected = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    assert {p.dtype for p in model.parameters()} == {expected}
    assert model.config.dtype == str(expected).removeprefix("torch.")


def test_dtype_auto_follows_the_config(reference_folder, tmp_path):
    _, folder = reference_folder
    AutoModel.from_pretrained(folder, dtype=torch.bfloat16).save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "bfloat16"
    assert AutoModel.from_pretrained(tmp_path).dtype == torch.bfloat16  # dtype="auto" is the default
    assert AutoModel.from_pretrained(tmp_path, dtype="float32").dtype == torch.float32


def test_bad_dtype_names_supported_values(reference_folder):
    with pytest.raises(ValueError, match="dtype='int3'.*bfloat16"):
        AutoModel.from_pretrained(reference_folder[1], dtype="int3")


def test_pytorch_bin_loads_with_weights_only(reference_folder, tmp_path):
    reference, folder = reference_folder
    reference.save_pretrained(tmp_path)
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    os.remove(tmp_path / "model.safetensors")
    torch.save(state, tmp_path / "pytorch_model.bin")
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert torch.allclose(model(IDS).logits, reference(IDS).logits, atol=1e-6)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/workbench-pwned",))


def test_pickle_with_code_is_refused(reference_folder, tmp_path):
    (tmp_path / "config.json").write_text(BertConfig(**TINY).to_json_string())
    with open(tmp_path / "pytorch_model.bin", "wb") as handle:
        pickle.dump({"x": _Exploit()}, handle)
    if os.path.exists("/tmp/workbench-pwned"):
        os.remove("/tmp/workbench-pwned")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        AutoModel.from_pretrained(tmp_path)
    assert not os.path.exists("/tmp/workbench-pwned")


def test_no_weights_file(tmp_path):
    BertConfig(**TINY).save_pretrained(tmp_path)
    with pytest.raises(CheckpointNotFoundError, match=r"No weights found .*model\.safetensors.*from_config"):
        AutoModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_safetensors(reference_folder, tmp_path, damage):
    reference, _ = reference_folder
    reference.save_pretrained(tmp_path)
    path = tmp_path / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00\x01" * 100)
    with pytest.raises(CheckpointError, match=r"model\.safetensors is not a readable safetensors file.*truncated or corrupt"):
        AutoModelForSequenceClassification.from_pretrained(tmp_path)


def test_shape_mismatch_names_tensor_and_fix(reference_folder, tmp_path):
    _, folder = reference_folder
    config = json.loads(open(os.path.join(folder, "config.json")).read())
    config["intermediate_size"] = 24
    (tmp_path / "config.json").write_text(json.dumps(config))
    os.link(os.path.join(folder, "model.safetensors"), tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"intermediate\.dense\..*has shape \(20.*expects \(24.*ignore_mismatched_sizes"):
        AutoModel.from_pretrained(tmp_path)
    model, info = AutoModel.from_pretrained(tmp_path, ignore_mismatched_sizes=True, output_loading_info=True)
    assert {k for k, _, _ in info["mismatched_keys"]} >= {"encoder.layer.0.intermediate.dense.weight", "encoder.layer.0.intermediate.dense.bias"}
    assert not set(info["missing_keys"]) & {k for k, _, _ in info["mismatched_keys"]}  # one list each, as the reference
    assert not any(p.is_meta for p in model.parameters())


def test_new_head_is_initialised_and_named_in_a_warning(tmp_path, caplog):
    BertModel.from_config(BertConfig(**TINY)).save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING, logger="workbench"):
        model, info = AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=5, output_loading_info=True)
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight"]
    assert "classifier.weight" in caplog.text and "newly initialized" in caplog.text
    assert model.classifier.weight.shape == (5, 16) and not model.classifier.weight.is_meta
    assert 0.005 < model.classifier.weight.std().item() < 0.05 and model.classifier.bias.abs().max() == 0
    assert model.config.num_labels == 5


def test_base_model_from_a_head_checkpoint_reports_the_head_as_unexpected(reference_folder):
    _, folder = reference_folder
    _, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    assert info["missing_keys"] == []
    assert sorted(info["unexpected_keys"]) == ["classifier.bias", "classifier.weight"]


def test_tied_embeddings_share_memory_and_are_saved_once(tmp_path):
    model = BertForMaskedLM.from_config(BertConfig(**TINY))
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    model.save_pretrained(tmp_path)
    loaded = BertForMaskedLM.from_pretrained(tmp_path)
    assert loaded.cls.predictions.decoder.weight is loaded.bert.embeddings.word_embeddings.weight
    assert loaded.cls.predictions.decoder.bias is loaded.cls.predictions.bias


def test_parse_size():
    assert parse_size("5GB") == 5 * 10**9 and parse_size("10KiB") == 10240 and parse_size(123) == 123
    with pytest.raises(ValueError, match="max_shard_size"):
        parse_size("lots")


def test_save_leaves_no_temporary_files(reference_folder, tmp_path):
    AutoModel.from_pretrained(reference_folder[1]).save_pretrained(tmp_path, max_shard_size="10KB")
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_state_dict_written_is_plain_safetensors(tmp_path):
    """The reference's safetensors loader reads what save_file wrote (metadata format=pt)."""
    save_file({"a": torch.ones(2)}, tmp_path / "x.safetensors", metadata={"format": "pt"})
    from safetensors import safe_open
    with safe_open(tmp_path / "x.safetensors", "pt") as f:
        assert f.metadata() == {"format": "pt"}
