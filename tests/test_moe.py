"""Mixture-of-experts decoders against the reference: router logits, the load-balancing loss and
what they add to the loss and its gradients (tests/test_models.py covers logits, hidden states,
attentions, caches and both-way loading for the same families; it does not look at routing).

Each family's registered tiny config (workbench.models.registry) builds a reference causal LM,
workbench loads its save, and both run a batch whose second row is right-padded by two tokens.
"""

from __future__ import annotations

import pytest
import torch

from workbench.models.moe import MixtralConfig, Qwen2MoeConfig, Qwen3MoeConfig, is_sparse
from workbench.models.registry import FAMILIES
from workbench.nn.moe import SparseMoeBlock, load_balancing_loss, route

from reference import build_reference_model, save_reference_model
from tolerance import assert_close_scaled

pytestmark = pytest.mark.usefixtures("one_thread")

MOE_FAMILIES = ["mixtral", "qwen2_moe", "qwen3_moe"]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """model_type -> (workbench causal LM, reference causal LM), built on first use."""
    import workbench

    built = {}

    def get(model_type):
        if model_type not in built:
            head = FAMILIES[model_type].heads["AutoModelForCausalLM"]
            reference = build_reference_model(model_type, head, dict(FAMILIES[model_type].tiny))
            folder = save_reference_model(reference, str(tmp_path_factory.mktemp(model_type)))
            built[model_type] = (workbench.AutoModelForCausalLM.from_pretrained(folder), reference)
        return built[model_type]

    return get


def batch(model_type, length=7):
    config = FAMILIES[model_type].tiny
    ids = torch.randint(3, config["vocab_size"], (2, length), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    ids[1, -2:], mask[1, -2:] = config["pad_token_id"], 0
    labels = ids.masked_fill(mask == 0, -100)
    return ids, mask, labels


def assert_routing_equal(ours, theirs):
    assert ours.router_logits is not None and len(ours.router_logits) == len(theirs.router_logits) > 0
    for i, (a, b) in enumerate(zip(ours.router_logits, theirs.router_logits)):
        assert_close_scaled(a, b, what=f"router_logits[{i}]")


@pytest.mark.parametrize("model_type", MOE_FAMILIES)
@pytest.mark.parametrize("masked", [True, False], ids=["padding-masked", "no-mask"])
def test_router_logits_aux_loss_and_loss_equal_the_reference(model_type, masked, pairs):
    """Per sparse layer, the (B·T, E) router logits; the aux loss (padding left out when the mask
    is given, as the reference does); the loss with labels, which adds router_aux_loss_coef × aux."""
    ours, reference = pairs(model_type)
    ids, mask, labels = batch(model_type)
    inputs = dict(input_ids=ids, labels=labels, output_router_logits=True, **({"attention_mask": mask} if masked else {}))
    with torch.no_grad():
        mine, theirs = ours(**inputs), reference(**inputs)
    assert_routing_equal(mine, theirs)
    assert mine.router_logits[0].shape == (ids.numel(), ours.config.num_experts)
    assert_close_scaled(mine.aux_loss, theirs.aux_loss, what="aux_loss")
    assert_close_scaled(mine.loss, theirs.loss, what="loss")
    with torch.no_grad():
        plain = ours(**{k: v for k, v in inputs.items() if k != "output_router_logits"})
    assert plain.router_logits is None and plain.aux_loss is None  # the config's default: off
    assert torch.allclose(mine.loss - plain.loss, ours.config.router_aux_loss_coef * mine.aux_loss, atol=1e-6)


@pytest.mark.parametrize("model_type", MOE_FAMILIES)
def test_base_model_and_config_default_return_the_router_logits(model_type, pairs):
    ours, reference = pairs(model_type)
    ids, mask, _ = batch(model_type)
    ours.config.output_router_logits = reference.config.output_router_logits = True
    try:
        with torch.no_grad():
            assert_routing_equal(ours.model(input_ids=ids, attention_mask=mask),
                                 reference.model(input_ids=ids, attention_mask=mask))
    finally:
        ours.config.output_router_logits = reference.config.output_router_logits = False


@pytest.mark.parametrize("model_type", MOE_FAMILIES)
def test_cached_decoding_steps_route_as_the_reference(model_type, pairs):
    """The router logits of one-token steps through the cache are the reference's."""
    ours, reference = pairs(model_type)
    ids, _, _ = batch(model_type)
    with torch.no_grad():
        mine = ours(input_ids=ids[:, :5], use_cache=True)
        theirs = reference(input_ids=ids[:, :5], use_cache=True)
        for t in range(5, ids.shape[1]):
            step = dict(input_ids=ids[:, t : t + 1], use_cache=True, output_router_logits=True)
            mine = ours(**step, past_key_values=mine.past_key_values)
            theirs = reference(**step, past_key_values=theirs.past_key_values)
            assert_routing_equal(mine, theirs)
            assert_close_scaled(mine.logits, theirs.logits)


@pytest.mark.parametrize("model_type", MOE_FAMILIES)
def test_training_gradient_with_aux_loss_equals_the_reference(model_type, pairs):
    """The embeddings' gradient (every layer, router and expert feeds it) of loss + coef × aux."""
    ours, reference = pairs(model_type)
    ids, mask, labels = batch(model_type)
    grads = []
    for model in (ours, reference):
        model.zero_grad()
        model(input_ids=ids, attention_mask=mask, labels=labels, output_router_logits=True).loss.backward()
        grads.append(model.get_input_embeddings().weight.grad.clone())
        model.zero_grad()
    assert grads[0].abs().sum() > 0
    assert_close_scaled(grads[0], grads[1], what="embedding gradient")


@pytest.mark.parametrize("model_type", MOE_FAMILIES)
def test_stacked_expert_checkpoints_load(model_type, pairs, tmp_path):
    """The reference's in-memory layout, saved as is (one (E, 2I, C) gate_up_proj and one (E, C, I)
    down_proj per layer; Mixtral's block under "mlp"), loads into the per-expert modules."""
    import safetensors.torch

    ours, reference = pairs(model_type)
    reference.save_pretrained(tmp_path, save_original_format=False)
    keys = safetensors.torch.load_file(str(tmp_path / "model.safetensors")).keys()
    assert any(key.endswith("mlp.experts.gate_up_proj") for key in keys)  # the layout this test is about
    model, info = type(ours).from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    for name, tensor in ours.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


@pytest.mark.parametrize("model_type", MOE_FAMILIES)
def test_bfloat16_outputs_equal_the_reference_bit_for_bit(model_type, pairs, tmp_path):
    """Below float32 the routing weights' dtype (float32 for Mixtral, the activations' for Qwen) and
    the order the k weighted outputs are summed in decide the rounding: both are the reference's."""
    import transformers

    ours, reference = pairs(model_type)
    reference.save_pretrained(tmp_path)
    mine = type(ours).from_pretrained(tmp_path, dtype=torch.bfloat16)
    theirs = getattr(transformers, type(reference).__name__).from_pretrained(tmp_path, dtype=torch.bfloat16)
    ids, mask, _ = batch(model_type)
    with torch.no_grad():
        a = mine(input_ids=ids, attention_mask=mask, output_router_logits=True)
        b = theirs(input_ids=ids, attention_mask=mask, output_router_logits=True)
    assert a.logits.dtype == torch.bfloat16
    assert torch.equal(a.logits[mask.bool()], b.logits[mask.bool()])
    assert all(torch.equal(x, y) for x, y in zip(a.router_logits, b.router_logits))


def test_which_layers_are_sparse():
    """decoder_sparse_step picks every step-th layer (counting from 1); mlp_only_layers stay dense."""
    config = Qwen2MoeConfig(num_hidden_layers=6, decoder_sparse_step=2, mlp_only_layers=[3])
    assert [is_sparse(config, i) for i in range(6)] == [False, True, False, False, False, True]
    assert all(is_sparse(MixtralConfig(num_hidden_layers=3), i) for i in range(3))
    assert not is_sparse(Qwen3MoeConfig(num_experts=0), 0)
    assert Qwen3MoeConfig(num_experts=16).to_dict()["num_local_experts"] == 16  # the reference's key


def test_route_renormalises_only_when_asked():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    weights, chosen = route(logits, 2, normalize=False)
    assert chosen.tolist() == [[0, 1]]
    assert torch.allclose(weights, torch.softmax(logits, -1)[:, :2])
    weights, _ = route(logits, 2, normalize=True)
    assert torch.allclose(weights.sum(-1), torch.ones(1))


def test_block_output_is_the_weighted_sum_of_the_chosen_experts():
    torch.manual_seed(0)
    block = SparseMoeBlock(8, 12, num_experts=4, top_k=2, activation="silu", normalize=False, shared_size=6).eval()
    x = torch.randn(1, 5, 8)
    with torch.no_grad():
        out, logits = block(x)
        weights, chosen = route(logits, 2, normalize=False)
        flat = x[0]
        expected = torch.stack([
            sum(w * block.experts[int(e)](flat[n]) for w, e in zip(weights[n], chosen[n]))
            + torch.sigmoid(block.shared_expert_gate(flat[n])) * block.shared_expert(flat[n])
            for n in range(5)
        ])
    assert_close_scaled(out[0], expected)


def test_every_expert_gets_a_gradient_even_when_no_token_chose_it():
    """As rows of the reference's stacked expert tensor would (zero), so optimizers see them all."""
    block = SparseMoeBlock(8, 12, num_experts=4, top_k=1, activation="silu")
    with torch.no_grad():
        block.gate.weight.zero_()
        block.gate.weight[2] = 1.0  # a positive input sends every token to expert 2
    out, _ = block(torch.ones(1, 3, 8))
    out.sum().backward()
    grads = [expert.up_proj.weight.grad for expert in block.experts]
    assert all(g is not None for g in grads)
    assert [bool(g.abs().sum() > 0) for g in grads] == [False, False, True, False]


def test_load_balancing_loss_is_top_k_when_routing_is_uniform():
    """E · Σ f_e · P_e: uniform probabilities (P_e = 1/E) make it Σ f_e = top_k whatever the picks."""
    logits = (torch.zeros(6, 4),)
    assert torch.allclose(load_balancing_loss(logits, 4, 2), torch.tensor(2.0))
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert torch.allclose(load_balancing_loss(logits, 4, 2, mask), torch.tensor(2.0))
