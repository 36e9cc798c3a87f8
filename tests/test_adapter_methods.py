"""Every peft method that works by injecting layers, both ways against peft on the reference model.

For each method: workbench adds it, its trainable weights are moved off their initial values, the
saved folder loads with ``peft.PeftModel`` on the reference model into the same logits; and an
adapter peft trains (moved the same way) on the reference loads in workbench into peft's logits.
"""

from __future__ import annotations

import pytest
import torch

from model_registry import TINY_DECODER
from reference import build_reference_model

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from workbench import AutoModelForCausalLM  # noqa: E402

IDS = torch.tensor([[5, 9, 2, 33, 17, 8, 41], [12, 3, 3, 27, 49, 1, 6]])
TARGETS = ["q_proj", "v_proj"]  # 32 inputs: every block size below divides it
# method -> its config's arguments (init_weights=False where the method has it: not an identity at start)
METHODS = {
    "LoraConfig": dict(init_lora_weights=False),
    "LoHaConfig": dict(init_weights=False),
    "LoKrConfig": dict(init_weights=False),
    "IA3Config": dict(target_modules=TARGETS + ["down_proj"], feedforward_modules=["down_proj"]),
    "AdaLoraConfig": dict(init_lora_weights=False, total_step=10),
    "OFTConfig": dict(init_weights=False, r=0, oft_block_size=4),
    "BOFTConfig": dict(init_weights=False, boft_block_size=4),
    "HRAConfig": dict(init_weights=False, r=2),
    "FourierFTConfig": dict(n_frequency=10, init_weights=False),
    "LNTuningConfig": dict(target_modules=["input_layernorm"]),
    "C3AConfig": dict(block_size=4, init_weights=False),
    "MissConfig": dict(init_weights=False, r=4),
    "DeloraConfig": dict(r=4, init_weights=False),
    "RoadConfig": dict(init_weights=False, group_size=4),
    "ShiraConfig": dict(r=4, init_weights=False),
    "WaveFTConfig": dict(n_frequency=16, init_weights=False),
    "GraloraConfig": dict(r=4, gralora_k=2),
}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> str:
    folder = str(tmp_path_factory.mktemp("methods") / "base")
    build_reference_model("llama", "LlamaForCausalLM", TINY_DECODER).save_pretrained(folder)
    return folder


def config(name: str):
    return getattr(peft, name)(**{"target_modules": TARGETS, **METHODS[name]})


def move_trainable(model, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in (p for p in model.parameters() if p.requires_grad):
            param.add_(torch.randn(param.shape, generator=generator) * 0.05)


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS).logits


def reference(folder: str):
    return transformers.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_both_ways(method, base, tmp_path, one_thread):
    ours = AutoModelForCausalLM.from_pretrained(base)
    plain = logits(ours)
    ours.add_adapter(config(method), adapter_name="trained")
    move_trainable(ours, seed=1)
    expected = logits(ours)
    assert (expected - plain).abs().max() > 1e-3, f"{method} changed nothing"
    ours.save_pretrained(tmp_path / "ours")
    wrapped = peft.PeftModel.from_pretrained(reference(base), str(tmp_path / "ours")).eval()
    torch.testing.assert_close(logits(wrapped), expected, atol=1e-5, rtol=1e-5)

    theirs = peft.get_peft_model(reference(base), config(method))
    move_trainable(theirs, seed=2)
    theirs.eval().save_pretrained(tmp_path / "theirs")
    back = AutoModelForCausalLM.from_pretrained(base)
    back.load_adapter(str(tmp_path / "theirs"))
    torch.testing.assert_close(logits(back), logits(theirs), atol=1e-5, rtol=1e-5)


def test_methods_peft_cannot_inject_say_what_to_use(base, one_thread):
    model = AutoModelForCausalLM.from_pretrained(base)
    with pytest.raises(ValueError, match="get_peft_model"):
        model.add_adapter(peft.VeraConfig(target_modules=TARGETS))  # shared state on the tuner
    with pytest.raises(ValueError, match="get_peft_model"):
        model.add_adapter(peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))


def test_randlora_from_peft_fails_loudly_rather_than_with_random_bases(base, tmp_path, one_thread):
    """RandLoRA keeps its random bases on peft's wrapper, not in the layers: the reference loads such a
    file with fresh random bases and only a report; workbench refuses it (peft's own error)."""
    theirs = peft.get_peft_model(reference(base), peft.RandLoraConfig(target_modules=TARGETS, r=4))
    theirs.save_pretrained(tmp_path / "randlora")
    model = AutoModelForCausalLM.from_pretrained(base)
    with pytest.raises(ValueError, match="randlora_A and randlora_B"):
        model.load_adapter(str(tmp_path / "randlora"))
    assert not model._hf_peft_config_loaded, "a failed load leaves the model as it was"
