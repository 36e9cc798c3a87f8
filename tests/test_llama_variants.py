"""The llama-shaped variants (workbench/models/llama_variants.py) on the config paths the shared
suite's cases do not take: LongRoPE past the pre-trained length, Cohere without q/k norms, and
Phi-3's early rope-scaling names."""

from __future__ import annotations

import pytest
import torch

import workbench
from workbench.models.registry import FAMILIES

from model_registry import VARIANTS
from reference import build_reference_model, load_reference_model, save_reference_model
from tolerance import assert_close_scaled

pytestmark = pytest.mark.usefixtures("one_thread")

LONGROPE = next(case for case in VARIANTS if case.name == "phi3-longrope").config


def parity(model_type, head, config, tmp_path, length):
    """Our logits and hidden states against the reference's on ``length`` tokens of a checkpoint it saved."""
    reference = build_reference_model(model_type, head, config)
    folder = save_reference_model(reference, str(tmp_path))
    ours = getattr(workbench, head).from_pretrained(folder)
    ids = torch.randint(3, config["vocab_size"], (2, length), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        mine, theirs = (m(ids, output_hidden_states=True) for m in (ours, reference))
    assert_close_scaled(mine.logits, theirs.logits, what="logits")
    for i, (a, b) in enumerate(zip(mine.hidden_states, theirs.hidden_states)):
        assert_close_scaled(a, b, what=f"hidden_states[{i}]")
    return ours, mine


def test_longrope_switches_to_the_long_factors_past_the_pretrained_length(tmp_path):
    assert LONGROPE["original_max_position_embeddings"] < 20 <= LONGROPE["max_position_embeddings"]
    parity("phi3", "Phi3ForCausalLM", LONGROPE, tmp_path, length=20)


def test_longrope_prefix_within_the_pretrained_length_uses_the_short_factors(tmp_path):
    """The first 16 tokens of a 20-token run differ from the same 16 tokens alone (the factors
    switch for the whole call, as the reference does), and the 16 alone match the reference."""
    reference = build_reference_model("phi3", "Phi3ForCausalLM", LONGROPE)
    folder = save_reference_model(reference, str(tmp_path))
    ours = workbench.Phi3ForCausalLM.from_pretrained(folder)
    ids = torch.randint(3, 99, (1, 20), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        long_logits, short_logits = ours(ids).logits[:, :16], ours(ids[:, :16]).logits
        assert_close_scaled(short_logits, reference(ids[:, :16]).logits)
    assert (long_logits - short_logits).abs().max() > 1e-3


def test_cohere_without_qk_norm(tmp_path):
    config = dict(FAMILIES["cohere"].tiny, use_qk_norm=False)
    ours, _ = parity("cohere", "CohereForCausalLM", config, tmp_path, length=9)
    assert not any("q_norm" in name for name, _ in ours.named_parameters())


@pytest.mark.parametrize("legacy", ["su", "yarn"])
def test_phi3_early_rope_scaling_names_mean_longrope(legacy):
    import transformers

    scaling = {"type": legacy, "short_factor": [1.0] * 4, "long_factor": [2.0] * 4}
    kwargs = dict(FAMILIES["phi3"].tiny, partial_rotary_factor=1.0, rope_scaling=scaling,
                  original_max_position_embeddings=16)
    ours = workbench.AutoConfig.for_model("phi3", **kwargs).rope_parameters
    theirs = transformers.AutoConfig.for_model("phi3", **kwargs).rope_parameters
    assert ours["rope_type"] == theirs["rope_type"] == "longrope"


@pytest.mark.parametrize("beams", [1, 3])
def test_generate_across_the_longrope_switch_matches_the_reference(beams, tmp_path):
    """12-token prompts, 8 new tokens: the step that passes 16 tokens encodes the whole sequence
    again with the long factors, in both libraries (without it the cached keys keep the short ones)."""
    reference = build_reference_model("phi3", "Phi3ForCausalLM", LONGROPE)
    folder = save_reference_model(reference, str(tmp_path))
    ours = workbench.Phi3ForCausalLM.from_pretrained(folder)
    ids = torch.randint(3, 99, (2, 12), generator=torch.Generator().manual_seed(6))
    mask = torch.ones_like(ids)
    ids[0, :2], mask[0, :2] = 0, 0
    settings = dict(attention_mask=mask, max_new_tokens=8, eos_token_id=None, pad_token_id=0, do_sample=False,
                    num_beams=beams, return_dict_in_generate=True, output_logits=beams == 1)
    with torch.no_grad():
        mine, theirs = ours.generate(ids, **settings), reference.generate(ids, **settings)
    assert torch.equal(mine.sequences, theirs.sequences)
    for step, (a, b) in enumerate(zip(mine.logits or (), theirs.logits or ())):
        assert_close_scaled(a, b, what=f"logits of step {step}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_float32_norms_equal_the_references_in_low_precision_too(dtype):
    """Cohere's and OLMo-2's norms scale in float32 before the cast back (LLaMA's casts first):
    the same bits as the reference's modules, per-head weights included."""
    from transformers.models.cohere.modeling_cohere import CohereLayerNorm
    from transformers.models.olmo2.modeling_olmo2 import Olmo2RMSNorm

    from workbench.nn.float32_norms import Float32LayerNorm, Float32RMSNorm

    x = torch.randn(2, 5, 4 * 8, generator=torch.Generator().manual_seed(0)).to(dtype)
    pairs = [(Float32LayerNorm((4, 8), 1e-5), CohereLayerNorm((4, 8), 1e-5), x.unflatten(-1, (4, 8))),
             (Float32RMSNorm(32, 1e-5), Olmo2RMSNorm(32, 1e-5), x)]
    for ours, theirs, their_input in pairs:
        with torch.no_grad():
            theirs.weight.copy_(torch.randn(theirs.weight.shape, generator=torch.Generator().manual_seed(1)))
            ours.weight.copy_(theirs.weight)
        ours, theirs = ours.to(dtype), theirs.to(dtype)
        assert torch.equal(ours(x), theirs(their_input).reshape(x.shape))


def test_phi3_sliding_window_on_every_layer(tmp_path):
    parity("phi3", "Phi3ForCausalLM", dict(FAMILIES["phi3"].tiny, sliding_window=4), tmp_path, length=9)


@pytest.mark.parametrize("model_type", ["phi3", "granite", "cohere", "olmo2", "smollm3"])
def test_bfloat16_outputs_equal_the_references_bit_for_bit(model_type, tmp_path):
    """Where each family leaves bfloat16 for float32 (Cohere's and OLMo-2's norms and rotary,
    OLMo-2's float32 cos and sin) decides the low bits: with PyTorch's own linear kernels and the
    eager attention on both sides, every hidden state and the logits are the reference's exactly."""
    from workbench.nn.linear import torch_kernels

    head = FAMILIES[model_type].heads["AutoModelForCausalLM"]
    folder = save_reference_model(build_reference_model(model_type, head, dict(FAMILIES[model_type].tiny)),
                                  str(tmp_path))
    reference = load_reference_model(head, folder, dtype=torch.bfloat16)
    ours = getattr(workbench, head).from_pretrained(folder, dtype=torch.bfloat16)
    ids = torch.randint(3, 99, (2, 9), generator=torch.Generator().manual_seed(7))
    with torch.no_grad(), torch_kernels():
        mine, theirs = (m(ids, output_hidden_states=True, output_attentions=True) for m in (ours, reference))
    assert all(torch.equal(a, b) for a, b in zip(mine.hidden_states, theirs.hidden_states))
    assert torch.equal(mine.logits, theirs.logits)
