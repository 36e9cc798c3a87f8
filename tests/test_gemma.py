"""Gemma-family paths the shared suite (tests/test_models.py, tests/test_decoder_generation.py) does
not take: config.json files in the older forms the Hub holds, and decoding through the windowed caches.
"""

from __future__ import annotations

import json
import os

import pytest
import torch

import workbench
from workbench.models.registry import FAMILIES

from reference import build_reference_model, load_reference_model, save_reference_model
from tolerance import assert_close_scaled

pytestmark = pytest.mark.usefixtures("one_thread")


def hub_style_gemma3_config(tiny: dict) -> dict:
    """A gemma3_text config.json as gemma-3 checkpoints were first published: loose RoPE keys
    (a linear-scaled global base, a local base) and a sliding_window_pattern instead of layer_types."""
    config = {k: v for k, v in tiny.items() if k != "layer_types"}
    return dict(config, num_hidden_layers=3, sliding_window_pattern=3, rope_theta=50_000.0, rope_local_base_freq=500.0,
                rope_scaling={"rope_type": "linear", "factor": 4.0})


def test_hub_style_gemma3_config_loads_as_the_reference_reads_it(tmp_path):
    import transformers

    config = hub_style_gemma3_config(FAMILIES["gemma3_text"].tiny)
    reference = build_reference_model("gemma3_text", "Gemma3ForCausalLM", config)
    folder = save_reference_model(reference, str(tmp_path))
    with open(os.path.join(folder, "config.json"), "w") as handle:  # the weights stay, the config goes back in time
        json.dump(dict(config, model_type="gemma3_text", architectures=["Gemma3ForCausalLM"]), handle)
    theirs = transformers.AutoConfig.from_pretrained(folder)
    ours = workbench.AutoConfig.from_pretrained(folder)
    assert ours.layer_types == theirs.layer_types == ["sliding_attention", "sliding_attention", "full_attention"]
    assert ours.rope_parameters == theirs.rope_parameters
    assert ours.rope_parameters["full_attention"]["rope_type"] == "linear"
    assert ours.rope_parameters["sliding_attention"]["rope_theta"] == 500.0
    model = workbench.AutoModelForCausalLM.from_pretrained(folder)
    reference = load_reference_model("Gemma3ForCausalLM", folder)
    ids = torch.randint(3, 99, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert_close_scaled(model(ids).logits, reference(ids).logits)
    model.save_pretrained(tmp_path / "again")  # the per-layer-type form, which the reference reads back the same
    assert transformers.AutoConfig.from_pretrained(tmp_path / "again").rope_parameters == theirs.rope_parameters


def test_legacy_gelu_means_the_tanh_approximation():
    import transformers

    ours = workbench.AutoConfig.for_model("gemma", hidden_act="gelu")
    assert ours.hidden_act == transformers.AutoConfig.for_model("gemma", hidden_act="gelu").hidden_act
    assert ours.hidden_act == "gelu_pytorch_tanh"
    # Gemma 2 and 3 call it hidden_activation; the old name reads the same key
    assert workbench.AutoConfig.for_model("gemma2", hidden_activation="gelu_new").hidden_act == "gelu_new"


def test_bidirectional_attention_is_a_clear_error():
    config = workbench.AutoConfig.for_model("gemma3_text", **FAMILIES["gemma3_text"].tiny, use_bidirectional_attention=True)
    with pytest.raises(ValueError, match="use_bidirectional_attention=True.*not supported"):
        workbench.AutoModel.from_config(config)


@pytest.mark.parametrize("model_type", ["gemma2", "gemma3_text"])
def test_windowed_caches_give_the_reference_tokens(model_type, tmp_path):
    """Local layers that keep only their window (the sliding-window cache) or a window-sized static
    buffer (the hybrid cache), past the window of 4, with soft-capped attention (Gemma 2)."""
    family = FAMILIES[model_type]
    head = family.heads["AutoModelForCausalLM"]
    folder = save_reference_model(build_reference_model(model_type, head, family.tiny), str(tmp_path))
    ours, reference = workbench.AutoModelForCausalLM.from_pretrained(folder), load_reference_model(head, folder)
    ids = torch.randint(3, 99, (2, 5), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    ids[0, :1], mask[0, :1] = 0, 0
    settings = dict(attention_mask=mask, max_new_tokens=10, eos_token_id=None, pad_token_id=0, do_sample=False)
    with torch.no_grad():
        theirs = reference.generate(ids, **settings)
        for implementation in ("sliding_window", "hybrid"):
            assert torch.equal(ours.generate(ids, cache_implementation=implementation, **settings), theirs), implementation
