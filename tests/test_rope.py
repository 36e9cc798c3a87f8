"""RoPE frequencies, scaling and config handling against the reference's rope functions."""

from __future__ import annotations

import pytest
import torch

from workbench.models.llama import LlamaConfig
from workbench.nn.rope import RotaryEmbedding, apply_rotary, rope_frequencies

transformers = pytest.importorskip("transformers")
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS  # noqa: E402
from transformers.models.gpt_neox.modeling_gpt_neox import GPTNeoXRotaryEmbedding  # noqa: E402
from transformers.models.gpt_neox.modeling_gpt_neox import apply_rotary_pos_emb as reference_apply  # noqa: E402
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding  # noqa: E402

from tolerance import assert_close_scaled  # noqa: E402

SIZES = dict(hidden_size=256, num_attention_heads=4, max_position_embeddings=4096)  # head_dim 64
ROPES = {
    "default": dict(rope_type="default", rope_theta=10000.0),
    "default-partial": dict(rope_type="default", rope_theta=10000.0, partial_rotary_factor=0.5),
    "linear": dict(rope_type="linear", rope_theta=10000.0, factor=4.0),
    "linear-partial": dict(rope_type="linear", rope_theta=500000.0, factor=2.0, partial_rotary_factor=0.25),
    "dynamic": dict(rope_type="dynamic", rope_theta=10000.0, factor=2.0),
    "llama3": dict(rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                   original_max_position_embeddings=1024),
    "yarn": dict(rope_type="yarn", rope_theta=1000000.0, factor=4.0, original_max_position_embeddings=1024),
    "yarn-mscale": dict(rope_type="yarn", rope_theta=10000.0, factor=40.0, original_max_position_embeddings=1024,
                        mscale=1.0, mscale_all_dim=0.707, beta_fast=16, beta_slow=2),
    "yarn-attention-factor": dict(rope_type="yarn", rope_theta=10000.0, factor=4.0, attention_factor=0.8,
                                  original_max_position_embeddings=1024, truncate=False),
    "yarn-no-factor": dict(rope_type="yarn", rope_theta=10000.0, factor=None, original_max_position_embeddings=1024),
}


def configs(rope: dict):
    ours = LlamaConfig(**SIZES, rope_parameters=dict(rope))
    theirs = transformers.LlamaConfig(**SIZES, rope_parameters=dict(rope))
    return ours, theirs


def reference_frequencies(config, seq_len=None):
    rope_type = config.rope_parameters["rope_type"]
    if rope_type == "default":  # the partial-rotary aware default lives in GPT-NeoX
        return GPTNeoXRotaryEmbedding.compute_default_rope_parameters(config)
    return ROPE_INIT_FUNCTIONS[rope_type](config, "cpu", seq_len=seq_len)


@pytest.mark.parametrize("name", sorted(ROPES))
def test_inverse_frequencies_and_attention_factor_match_reference(name):
    ours, theirs = configs(ROPES[name])
    assert ours.rope_parameters == theirs.rope_parameters
    inv_freq, factor = rope_frequencies(ours)
    expected, expected_factor = reference_frequencies(theirs)
    assert inv_freq.dtype == torch.float32 and inv_freq.shape == expected.shape
    assert_close_scaled(inv_freq, expected, tol=0)
    assert factor == pytest.approx(expected_factor, rel=1e-12)


@pytest.mark.parametrize("seq_len", [100, 4096, 5000, 20000])
def test_dynamic_frequencies_stretch_past_the_trained_length(seq_len):
    ours, theirs = configs(ROPES["dynamic"])
    inv_freq, _ = rope_frequencies(ours, seq_len=seq_len)
    expected, _ = ROPE_INIT_FUNCTIONS["dynamic"](theirs, "cpu", seq_len=seq_len)
    assert_close_scaled(inv_freq, expected, tol=0)


@pytest.mark.parametrize("name", ["default", "linear", "llama3", "yarn", "yarn-mscale", "dynamic"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cos_sin_match_reference_rotary_embedding(name, dtype):
    ours, theirs = configs(ROPES[name])
    positions = torch.tensor([[0, 1, 2, 700, 4095], [5, 6, 7, 8, 9]])
    if name == "dynamic":
        positions = positions + 6000  # past max_position_embeddings: the base stretches
    cos, sin = RotaryEmbedding(ours)(positions, dtype)
    x = torch.zeros(1, dtype=dtype)
    expected_cos, expected_sin = LlamaRotaryEmbedding(theirs)(x, positions)
    assert cos.dtype == dtype and cos.shape == expected_cos.shape
    assert_close_scaled(cos, expected_cos, tol=1e-6)
    assert_close_scaled(sin, expected_sin, tol=1e-6)


@pytest.mark.parametrize("rotary_dim", [64, 16])
def test_apply_rotary_matches_reference_with_and_without_partial_rotation(rotary_dim):
    generator = torch.Generator().manual_seed(0)
    query, key = torch.randn(2, 4, 5, 64, generator=generator), torch.randn(2, 2, 5, 64, generator=generator)
    angles = torch.randn(2, 5, rotary_dim // 2, generator=generator)
    cos, sin = torch.cat((angles, angles), -1).cos(), torch.cat((angles, angles), -1).sin()
    for ours, theirs in zip(apply_rotary(query, key, cos, sin), reference_apply(query, key, cos, sin)):
        assert_close_scaled(ours, theirs, tol=0)


def test_rotary_embedding_holds_no_tensors_and_builds_on_meta():
    with torch.device("meta"):
        rotary = RotaryEmbedding(LlamaConfig(**SIZES))
    assert not list(rotary.parameters()) and not list(rotary.buffers())
    cos, _ = rotary(torch.arange(3)[None], torch.float32)
    assert cos.device.type == "cpu"


LEGACY = {
    "llama3": dict(rope_theta=500000.0, rope_scaling=dict(type="llama3", factor=8.0, low_freq_factor=1.0,
                                                          high_freq_factor=4.0, original_max_position_embeddings=8192)),
    "linear-type-key": dict(rope_theta=1000.0, rope_scaling=dict(type="linear", factor=2.0)),
    "yarn-without-original-length": dict(rope_scaling=dict(rope_type="yarn", factor=2.0)),
    "theta-only": dict(rope_theta=123.0, rope_scaling=None),
    "partial-factor": dict(rope_theta=100.0, partial_rotary_factor=0.5),
    "nothing": {},
}


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_legacy_rope_keys_fold_into_rope_parameters_like_reference(name):
    ours = LlamaConfig(**SIZES, **LEGACY[name])
    theirs = transformers.LlamaConfig(**SIZES, **LEGACY[name])
    assert ours.rope_parameters == theirs.rope_parameters
    saved = ours.to_dict()
    assert "rope_theta" not in saved and "rope_scaling" not in saved and "partial_rotary_factor" not in saved
    assert LlamaConfig.from_dict(saved).rope_parameters == ours.rope_parameters


def test_unknown_rope_type_is_a_clear_error():
    with pytest.raises(ValueError, match="rope_type 'spiral'"):
        LlamaConfig(**SIZES, rope_parameters=dict(rope_type="spiral", rope_theta=1.0))
