"""GenerationConfig: generation_config.json both ways with the reference, and how models carry it."""

from __future__ import annotations

import json
import logging
import os

import pytest
import torch

import workbench
from workbench import GenerationConfig

from model_registry import TINY_DECODER, TINY_GPT2
from reference import build_reference_model, load_reference_model, save_reference_model

PROMPT = torch.tensor([[11, 12, 13, 14]])


def without_version(values: dict) -> dict:
    return {k: v for k, v in values.items() if k != "transformers_version"}


def test_json_holds_only_the_fields_that_are_set(tmp_path):
    GenerationConfig(do_sample=True, top_k=5, eos_token_id=[2, 3], max_new_tokens=7).save_pretrained(tmp_path)
    with open(tmp_path / "generation_config.json") as handle:
        assert json.load(handle) == {"do_sample": True, "top_k": 5, "eos_token_id": [2, 3], "max_new_tokens": 7}


def test_file_round_trip_with_the_reference(tmp_path):
    import transformers

    ours = GenerationConfig(do_sample=True, top_p=0.9, temperature=0.7, eos_token_id=[2, 3], max_new_tokens=7,
                            num_beams=2, length_penalty=0.5, custom_key="kept")
    ours.save_pretrained(tmp_path / "ours")
    theirs = transformers.GenerationConfig.from_pretrained(tmp_path / "ours")
    assert without_version(theirs.to_diff_dict()) == ours.to_diff_dict()
    theirs.save_pretrained(tmp_path / "theirs")
    assert GenerationConfig.from_pretrained(tmp_path / "theirs") == ours


@pytest.mark.parametrize("model_type,config", [("llama", TINY_DECODER), ("gpt2", TINY_GPT2)])
def test_settings_from_a_model_config_match_the_reference(model_type, config):
    import transformers

    theirs = transformers.GenerationConfig.from_model_config(transformers.AutoConfig.for_model(model_type, **config))
    ours = GenerationConfig.from_model_config(workbench.AutoConfig.for_model(model_type, **config))
    assert ours.to_diff_dict() == without_version(theirs.to_diff_dict())


@pytest.fixture
def folder(tmp_path):
    """A reference checkpoint whose generation_config.json asks for 3 new tokens."""
    reference = build_reference_model("llama", "LlamaForCausalLM", TINY_DECODER)
    reference.generation_config.max_new_tokens = 3
    return save_reference_model(reference, str(tmp_path / "ckpt"))


def test_from_pretrained_reads_generation_config_json(folder):
    model = workbench.AutoModelForCausalLM.from_pretrained(folder)
    assert model.generation_config.max_new_tokens == 3
    assert model.generate(PROMPT).shape[1] == 4 + 3
    # keyword arguments change one call only
    assert model.generate(PROMPT, max_new_tokens=5).shape[1] == 4 + 5
    assert model.generation_config.max_new_tokens == 3
    # a GenerationConfig passed in wins over the model's; keyword arguments win over both
    assert model.generate(PROMPT, generation_config=GenerationConfig(max_new_tokens=2)).shape[1] == 4 + 2
    assert model.generate(PROMPT, generation_config=GenerationConfig(max_new_tokens=2), max_new_tokens=1).shape[1] == 4 + 1
    # or at load time
    loaded = workbench.AutoModelForCausalLM.from_pretrained(folder, generation_config=GenerationConfig(max_new_tokens=6))
    assert loaded.generate(PROMPT).shape[1] == 4 + 6


def test_without_generation_config_json_the_model_config_is_used(folder):
    os.remove(os.path.join(folder, "generation_config.json"))
    model = workbench.AutoModelForCausalLM.from_pretrained(folder)
    assert model.generation_config.max_new_tokens is None
    assert model.generation_config.eos_token_id == 2 and model.generation_config.pad_token_id == 0


def test_save_pretrained_writes_what_the_reference_loads(folder, tmp_path):
    model = workbench.AutoModelForCausalLM.from_pretrained(folder)
    model.generation_config.top_k = 7
    model.save_pretrained(tmp_path / "saved")
    reference = load_reference_model("LlamaForCausalLM", str(tmp_path / "saved"))
    assert reference.generation_config.max_new_tokens == 3 and reference.generation_config.top_k == 7


def test_models_built_from_a_config_have_settings_too():
    config = workbench.AutoConfig.for_model("gpt2", **TINY_GPT2)
    model = workbench.AutoModelForCausalLM.from_config(config)
    assert model.generation_config.eos_token_id == TINY_GPT2["eos_token_id"]
    assert not hasattr(workbench.AutoModel.from_config(config), "generation_config")


def test_update_keeps_model_inputs_apart():
    config = GenerationConfig()
    rest = config.update(max_new_tokens=4, token_type_ids="x")
    assert config.max_new_tokens == 4 and rest == {"token_type_ids": "x"}


def test_flags_that_do_nothing_are_warned_about_once_set(caplog):
    with caplog.at_level(logging.WARNING, logger="workbench"):
        GenerationConfig(temperature=0.5)  # without do_sample=True
    assert "temperature" in caplog.text and "do_sample=True" in caplog.text
    caplog.clear()
    config = GenerationConfig.from_dict({"temperature": 0.5, "do_sample": True})
    with caplog.at_level(logging.WARNING, logger="workbench"):
        config.update(do_sample=False)  # the user set do_sample only: the checkpoint's temperature stays quiet
    assert "temperature" not in caplog.text


def test_generate_arguments_do_not_belong_in_the_config():
    with pytest.raises(ValueError, match="logits_processor.*generate()"):
        GenerationConfig(logits_processor=[])
