"""Adapters through peft on workbench models, checked against peft on the reference model.

Every check runs one model forward in workbench and one in the reference (transformers + peft) on
the same base weights and compares the logits: files saved by either side load in the other.
"""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from reference import build_reference_model
from model_registry import TINY_DECODER, TINY_ENCODER

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

import workbench  # noqa: E402
from workbench import AutoModelForCausalLM, AutoModelForSequenceClassification  # noqa: E402

ATOL = 1e-5
IDS = torch.tensor([[5, 9, 2, 33, 17, 8, 41], [12, 3, 3, 27, 49, 1, 6]])


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> str:
    folder = str(tmp_path_factory.mktemp("adapters") / "base")
    build_reference_model("llama", "LlamaForCausalLM", TINY_DECODER).save_pretrained(folder)
    return folder


def logits(model, ids=IDS) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


def reference(folder: str):
    return transformers.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()


def lora(**kwargs):
    return peft.LoraConfig(**{"target_modules": ["q_proj", "k_proj", "gate_proj"], "init_lora_weights": False, **kwargs})


def test_a_lora_saved_by_workbench_loads_in_peft_and_the_reference_with_the_same_logits(base, tmp_path, one_thread):
    model = AutoModelForCausalLM.from_pretrained(base)
    plain = logits(model)
    model.add_adapter(lora(), adapter_name="adapter_1")
    adapted = logits(model)  # under no_grad: the fused q/k/v path must step aside for the adapter
    assert (adapted - plain).abs().max() > 1e-2, "the adapter changed nothing"
    model.save_pretrained(tmp_path / "lora")
    assert sorted(os.listdir(tmp_path / "lora")) == ["adapter_config.json", "adapter_model.safetensors", "generation_config.json"]

    wrapped = peft.PeftModel.from_pretrained(reference(base), str(tmp_path / "lora")).eval()
    torch.testing.assert_close(logits(wrapped), adapted, atol=ATOL, rtol=1e-5)
    their_model = reference(base)
    their_model.load_adapter(str(tmp_path / "lora"))
    torch.testing.assert_close(logits(their_model), adapted, atol=ATOL, rtol=1e-5)
    # and the adapter folder alone: its adapter_config.json names the base
    torch.testing.assert_close(logits(reference(str(tmp_path / "lora"))), adapted, atol=ATOL, rtol=1e-5)


def test_adapters_saved_by_peft_and_by_the_reference_load_in_workbench(base, tmp_path, one_thread):
    wrapped = peft.get_peft_model(reference(base), peft.LoraConfig(target_modules="all-linear", r=4, init_lora_weights=False)).eval()
    wrapped.save_pretrained(tmp_path / "peft")
    theirs = reference(base)
    theirs.add_adapter(lora(r=2), adapter_name="mine")
    theirs.save_pretrained(tmp_path / "ref")

    model = AutoModelForCausalLM.from_pretrained(base)
    model.load_adapter(str(tmp_path / "peft"), adapter_name="from_peft")
    torch.testing.assert_close(logits(model), logits(wrapped), atol=ATOL, rtol=1e-5)
    assert not any(p.requires_grad for p in model.parameters()), "a loaded adapter is frozen unless is_trainable=True"
    reloaded = workbench.LlamaForCausalLM.from_pretrained(str(tmp_path / "ref"), adapter_name="mine")
    assert reloaded.active_adapters() == ["mine"]
    torch.testing.assert_close(logits(reloaded), logits(theirs), atol=ATOL, rtol=1e-5)


def test_two_adapters_switch_disable_enable_and_delete(base, one_thread):
    model = AutoModelForCausalLM.from_pretrained(base)
    plain = logits(model)
    torch.manual_seed(1)
    model.add_adapter(lora(), adapter_name="adapter_1")
    first = logits(model)
    model.add_adapter(lora(target_modules=["v_proj", "down_proj"]), adapter_name="adapter_2")
    assert model.active_adapters() == ["adapter_2"]
    second = logits(model)
    assert (first - second).abs().max() > 1e-2
    model.set_adapter("adapter_1")
    assert torch.equal(logits(model), first)
    model.disable_adapters()
    assert not model.adapters_enabled
    # the plain model runs q/k/v as one fused product, the disabled layers one by one: rounding only
    torch.testing.assert_close(logits(model), plain, atol=ATOL, rtol=1e-5)
    model.enable_adapters()
    assert torch.equal(logits(model), first)
    rows = {row["name"]: row for row in model.adapter_summary()}
    assert rows["adapter_1"]["active"] and not rows["adapter_2"]["active"]
    assert rows["adapter_1"]["parameters"] == sum(
        v.numel() for v in model.get_adapter_state_dict("adapter_1").values())

    # the same adapter state as the reference reports for the same weights
    theirs = reference(base)
    theirs.load_adapter(peft_config=model.peft_config["adapter_1"], adapter_state_dict=model.get_adapter_state_dict("adapter_1"))
    ours, their_state = model.get_adapter_state_dict("adapter_1"), theirs.get_adapter_state_dict()
    assert sorted(ours) == sorted(their_state)
    for key in ours:
        assert torch.equal(ours[key], their_state[key]), key

    model.delete_adapter("adapter_2")
    assert list(model.peft_config) == ["adapter_1"]
    model.delete_adapter("adapter_1")
    assert not model._hf_peft_config_loaded
    torch.testing.assert_close(logits(model), plain, atol=ATOL, rtol=1e-5)


def test_merge_and_unload_keeps_the_outputs_and_saves_a_plain_model(base, tmp_path, one_thread):
    model = AutoModelForCausalLM.from_pretrained(base)
    model.add_adapter(lora())
    adapted = logits(model)
    model.merge_and_unload()
    from peft.tuners.tuners_utils import BaseTunerLayer

    assert not any(isinstance(m, BaseTunerLayer) for m in model.modules())
    torch.testing.assert_close(logits(model), adapted, atol=ATOL, rtol=1e-5)
    model.save_pretrained(tmp_path / "merged")
    assert "model.safetensors" in os.listdir(tmp_path / "merged")
    torch.testing.assert_close(logits(reference(str(tmp_path / "merged"))), adapted, atol=ATOL, rtol=1e-5)


def test_an_adapter_from_a_hub_repo_in_the_cache_offline(base, tmp_path, monkeypatch, one_thread):
    model = AutoModelForCausalLM.from_pretrained(base)
    model.add_adapter(lora())
    expected = logits(model)
    commit = "a" * 40
    repo = tmp_path / "cache" / "models--someone--tiny-lora"
    model.save_pretrained(repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = str(tmp_path / "cache")

    fresh = AutoModelForCausalLM.from_pretrained(base)
    fresh.load_adapter("someone/tiny-lora", adapter_name="hub", cache_dir=cache, revision="main")
    assert torch.equal(logits(fresh), expected)
    assert torch.equal(logits(AutoModelForCausalLM.from_pretrained("someone/tiny-lora", cache_dir=cache)), expected)


def test_a_classifier_adapter_with_modules_to_save_both_ways(tmp_path, one_thread):
    folder = str(tmp_path / "bert")
    build_reference_model("bert", "BertForSequenceClassification", {**TINY_ENCODER, "num_labels": 3}).save_pretrained(folder)
    config = peft.LoraConfig(task_type="SEQ_CLS", target_modules=["query", "value"], modules_to_save=["classifier"],
                             init_lora_weights=False)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    model.add_adapter(config)
    with torch.no_grad():
        model.classifier.modules_to_save["default"].bias.add_(0.5)  # the trained copy of the head differs
        ours = model(input_ids=IDS).logits
    model.save_pretrained(tmp_path / "cls")
    theirs = transformers.AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager")
    wrapped = peft.PeftModel.from_pretrained(theirs, str(tmp_path / "cls")).eval()
    with torch.no_grad():
        torch.testing.assert_close(wrapped(input_ids=IDS).logits, ours, atol=ATOL, rtol=1e-5)

    back = AutoModelForSequenceClassification.from_pretrained(folder)
    back.load_adapter(str(tmp_path / "cls"))
    with torch.no_grad():
        torch.testing.assert_close(back(input_ids=IDS).logits, ours, atol=ATOL, rtol=1e-5)


def test_adapter_errors_name_the_fix(base, tmp_path, one_thread):
    model = AutoModelForCausalLM.from_pretrained(base)
    with pytest.raises(ValueError, match="no adapter: add one"):
        model.set_adapter("x")
    model.add_adapter(lora(), adapter_name="x")
    with pytest.raises(ValueError, match="already loaded"):
        model.add_adapter(lora(), adapter_name="x")
    with pytest.raises(ValueError, match="No adapter named 'y'"):
        model.set_adapter("y")
    with pytest.raises(ValueError, match="get_peft_model"):
        model.add_adapter(peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4), adapter_name="p")
    with pytest.raises(TypeError, match="peft config"):
        model.add_adapter({"r": 8})
    with pytest.raises(ValueError, match="no adapter_config.json"):
        model.load_adapter(base)
    model.save_pretrained(tmp_path / "lora")
    shutil.copy(tmp_path / "lora" / "adapter_config.json", tmp_path / "config_only.json")
    os.remove(tmp_path / "lora" / "adapter_model.safetensors")
    with pytest.raises(ValueError, match="weights are missing"):
        model.load_adapter(str(tmp_path / "lora"), adapter_name="z")


# families whose layout once tripped adapters: OPT (the seed's own example), GPT-NeoX (its output
# layer is embed_out: "all-linear" must leave it out as the reference does), ALBERT (its pooler ran
# tanh inside the linear layer an adapter wraps), T5 (encoder-decoder)
FAMILY_CASES = [("opt", "OPTForCausalLM", "AutoModelForCausalLM"), ("gpt_neox", "GPTNeoXForCausalLM", "AutoModelForCausalLM"),
                ("albert", "AlbertForSequenceClassification", "AutoModelForSequenceClassification"),
                ("t5", "T5ForConditionalGeneration", "AutoModelForSeq2SeqLM")]


@pytest.mark.parametrize("model_type,class_name,auto", FAMILY_CASES, ids=[case[0] for case in FAMILY_CASES])
def test_all_linear_lora_across_families_equals_peft_on_the_reference(model_type, class_name, auto, tmp_path, one_thread):
    from workbench.models.registry import FAMILIES

    folder = str(tmp_path / "base")
    build_reference_model(model_type, class_name, FAMILIES[model_type].tiny).save_pretrained(folder)
    inputs = {"input_ids": IDS[:, :6]}
    if auto == "AutoModelForSeq2SeqLM":
        inputs["decoder_input_ids"] = IDS[:, :4]
    model = getattr(workbench, auto).from_pretrained(folder)
    model.add_adapter(peft.LoraConfig(target_modules="all-linear", r=2, init_lora_weights=False))
    with torch.no_grad():
        ours = model(**inputs).logits
    model.save_pretrained(tmp_path / "lora")
    theirs = peft.PeftModel.from_pretrained(
        getattr(transformers, auto).from_pretrained(folder, attn_implementation="eager"), str(tmp_path / "lora")).eval()
    assert sorted(model.peft_config["default"].target_modules) == sorted(theirs.peft_config["default"].target_modules)
    with torch.no_grad():
        torch.testing.assert_close(theirs(**inputs).logits, ours, atol=ATOL, rtol=1e-5)


def test_a_model_folder_with_an_adapter_beside_it_loads_both_as_the_reference_does(base, tmp_path, one_thread):
    folder = tmp_path / "both"
    shutil.copytree(base, folder)
    model = AutoModelForCausalLM.from_pretrained(base)
    model.add_adapter(lora())
    expected = logits(model)
    model.save_pretrained(folder)  # the adapter's files join the model's: the model's stay
    assert {"config.json", "model.safetensors", "adapter_config.json"} <= set(os.listdir(folder))
    ours = AutoModelForCausalLM.from_pretrained(str(folder))
    assert ours.active_adapters() == ["default"]
    torch.testing.assert_close(logits(ours), expected, atol=ATOL, rtol=1e-5)
    torch.testing.assert_close(logits(reference(str(folder))), expected, atol=ATOL, rtol=1e-5)
    assert workbench.LlamaForCausalLM.from_pretrained(str(folder)).active_adapters() == ["default"]
