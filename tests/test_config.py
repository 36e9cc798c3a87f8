"""Configs: loading with overrides, dict/JSON round trips, and files the reference reads."""

import json

import pytest
import torch
import transformers

import workbench
from workbench import AutoConfig, AutoModel
from workbench.errors import ConfigError, UnsupportedModelError
from workbench.models.bert import BertConfig

from tolerance import assert_close_scaled


def test_overrides_and_reference_agree(minilm_path):
    ours = AutoConfig.from_pretrained(minilm_path, num_attention_heads=4, output_hidden_states=True)
    theirs = transformers.AutoConfig.from_pretrained(minilm_path, num_attention_heads=4, output_hidden_states=True)
    assert type(ours).__name__ == type(theirs).__name__ == "BertConfig"
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size", "layer_norm_eps", "output_hidden_states"):
        assert getattr(ours, key) == getattr(theirs, key), key


def test_from_dict_to_dict_keeps_unknown_keys():
    source = {"model_type": "bert", "hidden_size": 48, "my_project_key": {"nested": [1, 2]}, "id2label": {"0": "neg", "1": "pos"}}
    config = AutoConfig.from_dict(source)
    again = AutoConfig.from_dict(json.loads(config.to_json_string()))
    assert again.my_project_key == {"nested": [1, 2]}
    assert again.to_dict() == config.to_dict()
    assert config.id2label == {0: "neg", 1: "pos"} and config.label2id == {"neg": 0, "pos": 1}
    assert config.num_labels == 2


def test_saved_config_reads_in_reference_and_back(tmp_path):
    config = BertConfig(hidden_size=64, num_attention_heads=4, num_labels=3, unknown_flag=True)
    config.save_pretrained(tmp_path)
    theirs = transformers.AutoConfig.from_pretrained(tmp_path)
    assert theirs.hidden_size == 64 and theirs.num_labels == 3 and theirs.unknown_flag is True
    theirs.save_pretrained(tmp_path / "back")
    ours = AutoConfig.from_pretrained(tmp_path / "back")
    assert ours.hidden_size == 64 and ours.num_labels == 3 and ours.unknown_flag is True


def test_num_labels_builds_label_maps():
    config = BertConfig(num_labels=4)
    assert config.id2label == {i: f"LABEL_{i}" for i in range(4)}
    config.num_labels = 2
    assert config.num_labels == 2


def test_unknown_attribute_error_names_the_key():
    with pytest.raises(AttributeError, match="no_such_key"):
        BertConfig().no_such_key


def test_from_config_builds_a_random_model(tmp_path):
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=20)
    model = AutoModel.from_config(config)
    assert type(model).__name__ == "BertModel"
    assert not any(p.is_meta for p in model.parameters())
    std = model.embeddings.word_embeddings.weight[1:].std().item()
    assert 0.01 < std < 0.03  # initializer_range 0.02
    model.save_pretrained(tmp_path)
    reference = transformers.BertModel.from_pretrained(tmp_path)
    ids = torch.tensor([[1, 5, 7]])
    assert model.training  # like the reference: from_config gives a model ready to train
    assert_close_scaled(model.eval()(ids).last_hidden_state, reference(ids).last_hidden_state)


def test_unknown_model_type_lists_supported(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "not-a-model"}))
    with pytest.raises(UnsupportedModelError, match=r"'not-a-model'.*Supported model types \(\d+\): .*bert"):
        AutoConfig.from_pretrained(tmp_path)
    with pytest.raises(UnsupportedModelError, match="bert"):
        workbench.AutoModel.from_pretrained(tmp_path)


def test_config_that_is_not_json(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert", "hidden_size": 32,')
    with pytest.raises(ConfigError, match=r"config\.json is not valid JSON"):
        AutoConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        AutoConfig.from_pretrained(tmp_path)


def test_auto_class_without_that_head(tmp_path):
    workbench.DistilBertConfig().save_pretrained(tmp_path)  # DistilBERT has no causal LM (BERT has, as a decoder)
    with pytest.raises(UnsupportedModelError, match="AutoModelForCausalLM has no 'distilbert' model.*AutoModelForMaskedLM"):
        workbench.AutoModelForCausalLM.from_pretrained(tmp_path)


def test_overrides_through_aliases(tmp_path):
    """DistilBERT stores n_heads/dim/n_layers; both spellings override and read the same key."""
    transformers.DistilBertConfig(dim=64, n_heads=4, n_layers=2, hidden_dim=96).save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path, n_heads=8)
    assert config.n_heads == config.num_attention_heads == 8
    config = AutoConfig.from_pretrained(tmp_path, num_attention_heads=16, hidden_size=128)
    assert config.n_heads == 16 and config.dim == 128
    saved = json.loads(config.to_json_string())
    assert saved["n_heads"] == 16 and "num_attention_heads" not in saved
    assert transformers.AutoConfig.from_pretrained(tmp_path).n_heads == 4
