"""The nn/ primitives that model files are built from, each against a hand computation or
PyTorch's own ops; and a Gemma-shaped decoder made of config facts alone, against the reference."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from workbench.nn.attention import MultiHeadAttention, multi_head_attention, split_heads
from workbench.nn.cache import DynamicCache, EncoderDecoderCache, as_decoder_cache
from workbench.nn.layers import output_flags, run_layers
from workbench.nn.mlp import GatedMLP
from workbench.nn.norms import RMSNorm


def rms_formula(x: torch.Tensor, eps: float) -> torch.Tensor:
    x = x.double()
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)


# ---------------------------------------------------------------------------------------------
# RMSNorm


@pytest.mark.parametrize("offset", [0.0, 1.0])
def test_rms_norm_is_the_formula_with_offset(offset):
    torch.manual_seed(0)
    norm = RMSNorm(16, eps=1e-5, weight_offset=offset)
    with torch.no_grad():
        norm.weight.normal_()
    x = torch.randn(2, 3, 16) * 4
    expected = rms_formula(x, 1e-5) * (offset + norm.weight.double())
    torch.testing.assert_close(norm(x).double(), expected, atol=1e-5, rtol=1e-5)


def test_offset_norm_starts_as_the_identity_scale():
    """Gemma stores weight - 1: a fresh offset norm (zero weight) only normalises."""
    norm = RMSNorm(8, weight_offset=1.0)
    assert torch.equal(norm.weight, torch.zeros(8))
    x = torch.randn(4, 8)
    torch.testing.assert_close(norm(x).double(), rms_formula(x, 1e-6), atol=1e-6, rtol=1e-6)


def test_rms_norm_output_dtypes_follow_the_family_rule():
    x = torch.randn(2, 8)
    llama, t5 = RMSNorm(8), RMSNorm(8, output_dtype="weight")
    llama.half(), t5.half()
    # LLaMA casts the normed float32 states to the input's dtype; T5 to its half-precision weight's
    assert llama(x).dtype == torch.float32
    assert t5(x).dtype == torch.float16
    assert llama(x.half()).dtype == t5(x.half()).dtype == torch.float16
    expected = rms_formula(x, 1e-6).half()  # weight is one
    torch.testing.assert_close(t5(x), expected, atol=1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="output_dtype"):
        RMSNorm(8, output_dtype="float64")


# ---------------------------------------------------------------------------------------------
# GatedMLP


@pytest.mark.parametrize("names", [("gate_proj", "up_proj", "down_proj"), ("wi_0", "wi_1", "wo")])
def test_gated_mlp_is_down_of_act_gate_times_up(names):
    torch.manual_seed(0)
    mlp = GatedMLP(8, 12, "gelu_new", bias=True, names=names)
    assert list(mlp.state_dict()) == [f"{n}.{p}" for n in names for p in ("weight", "bias")]
    gate, up, down = (getattr(mlp, n) for n in names)
    x = torch.randn(2, 5, 8)
    g = F.linear(x, gate.weight, gate.bias)
    gelu = 0.5 * g * (1 + torch.tanh((2 / torch.pi) ** 0.5 * (g + 0.044715 * g**3)))  # gelu_new written out
    expected = F.linear(gelu * F.linear(x, up.weight, up.bias), down.weight, down.bias)
    torch.testing.assert_close(mlp(x), expected, atol=1e-6, rtol=1e-5)  # recording gradients: separate products
    with torch.no_grad():  # inference: gate and up fused into one product
        torch.testing.assert_close(mlp(x), expected, atol=1e-6, rtol=1e-5)


def test_gated_mlp_dropout_only_in_training():
    mlp = GatedMLP(4, 6, "silu", dropout=0.5).eval()
    x = torch.randn(3, 4)
    torch.testing.assert_close(mlp(x), mlp(x))
    mlp.train()
    torch.manual_seed(0)
    first = mlp(x)
    torch.manual_seed(1)
    assert not torch.allclose(first, mlp(x))


# ---------------------------------------------------------------------------------------------
# attention


def reference_attention(module: MultiHeadAttention, hidden, states=None, mask=None, causal=False):
    """q/k/v projections, heads and torch's SDPA, written out independently of the module."""
    states = hidden if states is None else states
    heads, dim = module.num_heads, module.head_dim

    def split(t):
        return t.view(t.shape[0], t.shape[1], heads, dim).transpose(1, 2)

    q = split(F.linear(hidden, module.q_proj.weight, module.q_proj.bias))
    k = split(F.linear(states, module.k_proj.weight, module.k_proj.bias))
    v = split(F.linear(states, module.v_proj.weight, module.v_proj.bias))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    out = out.transpose(1, 2).reshape(hidden.shape[0], hidden.shape[1], heads * dim)
    return F.linear(out, module.out_proj.weight, module.out_proj.bias)


def random_attention(**kwargs) -> MultiHeadAttention:
    torch.manual_seed(0)
    module = MultiHeadAttention(16, 4, **kwargs)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.3)
    return module


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("eager", [False, True])
@pytest.mark.parametrize("grad", [False, True])
def test_self_attention_equals_torch_sdpa(causal, eager, grad):
    module = random_attention(causal=causal)
    hidden = torch.randn(2, 5, 16)
    with torch.set_grad_enabled(grad):  # without gradients q/k/v run as one fused product
        out, weights = module(hidden, None, eager)
        expected = reference_attention(module, hidden, causal=causal)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert (weights is not None) == eager
    if eager:
        assert weights.shape == (2, 4, 5, 5)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 5))
        if causal:
            assert bool((weights.triu(1) == 0).all())


def test_padding_mask_and_scaled_queries_and_bias_free_keys():
    module = random_attention(key_bias=False, scale_queries=True)
    assert module.k_proj.bias is None and module.q_proj.bias is not None
    hidden = torch.randn(2, 4, 16)
    mask = torch.zeros(2, 1, 1, 4)
    mask[1, ..., :2] = torch.finfo(torch.float32).min  # row 1: its first two keys are padding
    out, _ = module(hidden, mask, False)
    torch.testing.assert_close(out, reference_attention(module, hidden, mask=mask), atol=1e-5, rtol=1e-5)


def test_cached_decode_step_by_step_equals_full_causal_forward():
    module = random_attention(causal=True, layer_idx=1)
    hidden = torch.randn(2, 6, 16)
    full, _ = module(hidden, None, False)
    cache = DynamicCache()
    steps = [module(hidden[:, :3], None, False, cache)[0]]  # a prompt of 3, then one token at a time
    steps += [module(hidden[:, t:t + 1], None, False, cache)[0] for t in range(3, 6)]
    assert cache.get_seq_length(1) == 6
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


def test_cross_attention_projects_the_encoder_states_once():
    module = random_attention(layer_idx=0)
    hidden, encoder_states = torch.randn(2, 3, 16), torch.randn(2, 7, 16)
    expected = reference_attention(module, hidden, encoder_states)
    cache = EncoderDecoderCache()
    first, _ = module(hidden, None, False, cache, encoder_states)
    torch.testing.assert_close(first, expected, atol=1e-5, rtol=1e-5)
    # the second step reads the cached keys and values: other encoder states change nothing
    again, _ = module(hidden, None, False, cache, torch.zeros_like(encoder_states))
    torch.testing.assert_close(again, expected, atol=1e-5, rtol=1e-5)
    assert cache.get_seq_length() == 0  # the self-attention cache is untouched


def test_multi_head_attention_core_with_grouped_heads():
    """The core families with their own projections call: repeat-free GQA equals repeated heads."""
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 4, 3, 8), torch.randn(1, 2, 3, 8), torch.randn(1, 2, 3, 8)
    out, _ = multi_head_attention(q, k, v, None, causal=True)
    expected = F.scaled_dot_product_attention(q, k.repeat_interleave(2, 1), v.repeat_interleave(2, 1), is_causal=True)
    torch.testing.assert_close(out, expected.transpose(1, 2).reshape(1, 3, 32), atol=1e-6, rtol=1e-5)
    assert split_heads(torch.arange(24.0).view(1, 2, 12), 3).shape == (1, 4, 2, 3)


def test_heads_must_divide_the_width():
    with pytest.raises(ValueError, match="multiple of the attention heads"):
        MultiHeadAttention(10, 3)


# ---------------------------------------------------------------------------------------------
# the layer loop


class Recorder(nn.Module):
    """A layer that adds ``step`` and reports the mask it got as its weights."""

    def __init__(self, step: float, cross: bool = False) -> None:
        super().__init__()
        self.step, self.cross = step, cross

    def forward(self, hidden, mask, extra, scale=1.0):
        out = (hidden + self.step) * scale + extra
        return (out, mask, -mask) if self.cross else (out, mask)


def test_run_layers_collects_inputs_final_output_and_weights():
    layers = nn.ModuleList(Recorder(float(i + 1), cross=True) for i in range(3))
    masks = [torch.tensor(10.0), torch.tensor(20.0), torch.tensor(30.0)]
    out = run_layers(layers, torch.zeros(1), masks, torch.zeros(1), scale=2.0, output_hidden_states=True,
                     output_attentions=True, cross_attentions=True, final=lambda h: h * 100)
    # (0 + 1) * 2 = 2, (2 + 2) * 2 = 8, (8 + 3) * 2 = 22, final 2200
    assert [float(h) for h in out.hidden_states] == [0, 2, 8, 2200]  # N inputs + the final output
    assert float(out.last_hidden_state) == 2200
    assert [float(w) for w in out.attentions] == [10, 20, 30]  # each layer got its own mask
    assert [float(w) for w in out.cross_attentions] == [-10, -20, -30]


def test_run_layers_shared_mask_and_nothing_collected_unless_asked():
    layers = nn.ModuleList(Recorder(1.0) for _ in range(2))
    out = run_layers(layers, torch.zeros(1), None, torch.zeros(1))
    assert float(out.last_hidden_state) == 2
    assert out.hidden_states is None and out.attentions is None and out.cross_attentions is None


def test_layerdrop_skips_layers_in_training_only():
    layers = nn.ModuleList(Recorder(1.0) for _ in range(4))
    kept = run_layers(layers.eval(), torch.zeros(1), None, torch.zeros(1), layerdrop=1.0, output_hidden_states=True,
                      output_attentions=True)
    assert float(kept.last_hidden_state) == 4 and len(kept.attentions) == 4
    dropped = run_layers(layers.train(), torch.zeros(1), None, torch.zeros(1), layerdrop=1.0,
                         output_hidden_states=True, output_attentions=True)
    assert float(dropped.last_hidden_state) == 0
    assert len(dropped.hidden_states) == 5 and dropped.attentions == ()  # skipped layers report their input


def test_output_flags_take_the_config_defaults_and_pick_eager_attention():
    from types import SimpleNamespace

    config = SimpleNamespace(output_attentions=False, output_hidden_states=True)
    assert output_flags(config, None, None) == (False, True, False)
    assert output_flags(config, True, False) == (True, False, True)  # weights asked for: eager
    config._attn_implementation = "eager"
    assert output_flags(config, None, None) == (False, True, True)


def test_decoder_cache_from_none_or_legacy_tuples():
    assert as_decoder_cache(None, use_cache=False) is None
    assert isinstance(as_decoder_cache(None, use_cache=True), DynamicCache)
    legacy = [(torch.zeros(1, 2, 3, 4), torch.ones(1, 2, 3, 4)) for _ in range(2)]
    cache = as_decoder_cache(legacy, use_cache=True)
    assert len(cache) == 2 and cache.get_seq_length(1) == 3
    assert torch.equal(cache[1][1], legacy[1][1])
    assert as_decoder_cache(cache, use_cache=False) is cache


# ---------------------------------------------------------------------------------------------
# a Gemma-shaped decoder is llama.py's config facts, not new code


def test_gemma_is_llama_with_config_facts():
    from transformers import GemmaConfig as RefConfig, GemmaForCausalLM as RefModel

    from workbench.models.llama import LlamaConfig, LlamaForCausalLM

    class GemmaLike(LlamaConfig):
        norm_weight_offset = 1.0
        scale_embeddings = True

    sizes = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=16, max_position_embeddings=64, tie_word_embeddings=True)
    torch.manual_seed(0)
    reference = RefModel(RefConfig(**sizes, hidden_activation="gelu_pytorch_tanh")).eval()
    with torch.no_grad():  # fresh Gemma norms are zero (the identity); make them matter
        for name, p in reference.named_parameters():
            if "norm" in name:
                p.normal_(0, 0.5)
    ours = LlamaForCausalLM.from_config(GemmaLike(**sizes, hidden_act="gelu_pytorch_tanh")).eval()
    assert all(bool((m.weight == 0).all()) for m in ours.modules() if isinstance(m, RMSNorm))  # fresh: identity
    ours.load_state_dict(reference.state_dict(), strict=True)
    ids = torch.randint(0, 64, (2, 7))
    with torch.no_grad():
        expected = reference(ids).logits
        torch.testing.assert_close(ours(ids).logits, expected, atol=1e-5, rtol=1e-5)
