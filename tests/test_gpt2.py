"""GPT-2 behaviour the shared suite does not reach: old checkpoints, losses, optional inputs."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import save_file

from workbench.models.gpt2 import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel, GPT2Model
from workbench.nn.cache import DynamicCache

from model_registry import TINY_GPT2
from reference import build_reference_model, save_reference_model
from tolerance import assert_close_scaled


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    reference = build_reference_model("gpt2", "GPT2LMHeadModel", TINY_GPT2)
    folder = save_reference_model(reference, str(tmp_path_factory.mktemp("gpt2-lm")))
    return reference, GPT2LMHeadModel.from_pretrained(folder)


def ids(batch=2, length=6, seed=0):
    return torch.randint(3, TINY_GPT2["vocab_size"], (batch, length), generator=torch.Generator().manual_seed(seed))


def test_old_checkpoint_with_mask_buffers_and_no_prefix_loads_silently(lm, tmp_path):
    """Checkpoints like openai-community/gpt2: base-model keys only, plus attn.bias / attn.masked_bias."""
    reference, _ = lm
    tensors = {k.removeprefix("transformer."): v.contiguous() for k, v in reference.state_dict().items() if k != "lm_head.weight"}
    n = TINY_GPT2["n_positions"]
    for i in range(TINY_GPT2["n_layer"]):
        tensors[f"h.{i}.attn.bias"] = torch.tril(torch.ones(n, n)).view(1, 1, n, n)
        tensors[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    save_file(tensors, os.path.join(tmp_path, "model.safetensors"))
    with open(os.path.join(tmp_path, "config.json"), "w") as handle:
        json.dump(dict(TINY_GPT2, model_type="gpt2", architectures=["GPT2LMHeadModel"]), handle)
    model, info = GPT2LMHeadModel.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    x = ids()
    with torch.no_grad():
        assert_close_scaled(model(x).logits, reference(x).logits)


def test_loss_tuple_output_and_default_cache_match_reference(lm):
    reference, model = lm
    x = ids()
    labels = x.clone()
    labels[0, :2] = -100
    with torch.no_grad():
        ours, theirs = model(x, labels=labels, return_dict=False), reference(x, labels=labels, return_dict=False)
    assert len(ours) == len(theirs) == 3  # loss, logits, past_key_values (use_cache defaults to config.use_cache)
    assert_close_scaled(ours[0], theirs[0], what="loss")
    assert_close_scaled(ours[1], theirs[1])
    assert isinstance(ours[2], DynamicCache) and len(ours[2]) == TINY_GPT2["n_layer"]
    assert ours[2].get_seq_length() == x.shape[1]
    assert model(x, use_cache=False).past_key_values is None


def test_token_types_embeddings_and_positions_match_reference(lm):
    reference, model = lm
    x = ids()
    kwargs = dict(token_type_ids=ids(seed=1) % 3, position_ids=torch.arange(3, 9)[None].expand(2, -1))
    with torch.no_grad():
        embeds = model.get_input_embeddings()(x)
        ours = model(inputs_embeds=embeds, **kwargs, output_hidden_states=True)
        theirs = reference(input_ids=x, **kwargs, output_hidden_states=True)
    assert_close_scaled(ours.logits, theirs.logits)
    # the last hidden state is reported after ln_f, as the reference does
    assert_close_scaled(ours.hidden_states[-1], theirs.hidden_states[-1])
    assert torch.equal(ours.hidden_states[-1], model.transformer(inputs_embeds=embeds, **kwargs).last_hidden_state)


@pytest.mark.parametrize("keep", [1, 3, torch.tensor([0, 4])])
def test_logits_to_keep(lm, keep):
    reference, model = lm
    x = ids()
    with torch.no_grad():
        ours, theirs = model(x, logits_to_keep=keep).logits, reference(x, logits_to_keep=keep).logits
    assert_close_scaled(ours, theirs)


def test_eager_and_sdpa_agree_with_padding_and_cache(lm):
    _, model = lm
    x = ids(length=8)
    mask = torch.ones_like(x)
    mask[1, :2] = 0
    with torch.no_grad():
        sdpa = model(x, attention_mask=mask).logits
        eager = model(x, attention_mask=mask, output_attentions=True)
    assert_close_scaled(sdpa[mask.bool()], eager.logits[mask.bool()])
    assert len(eager.attentions) == TINY_GPT2["n_layer"] and eager.attentions[0].shape == (2, 4, 8, 8)


def test_sequence_classification_pools_last_non_pad_token_with_left_padding(tmp_path):
    config = dict(TINY_GPT2, num_labels=2)
    reference = build_reference_model("gpt2", "GPT2ForSequenceClassification", config)
    model = GPT2ForSequenceClassification.from_pretrained(save_reference_model(reference, str(tmp_path)))
    x = ids()
    mask = torch.ones_like(x)
    x[1, :2], mask[1, :2] = TINY_GPT2["pad_token_id"], 0
    labels = torch.tensor([0, 1])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding shifts positions unless they are given
    with torch.no_grad():
        ours = model(x, attention_mask=mask, position_ids=positions, labels=labels)
        theirs = reference(x, attention_mask=mask, position_ids=positions, labels=labels)
        alone = model(x[1:, 2:]).logits
    assert_close_scaled(ours.logits, theirs.logits)
    assert_close_scaled(ours.loss, theirs.loss, what="loss")
    assert_close_scaled(ours.logits[1:], alone)


def test_sequence_classification_without_pad_token_needs_batch_of_one():
    model = GPT2ForSequenceClassification.from_config(GPT2Config(**dict(TINY_GPT2, pad_token_id=None)))
    assert model(ids(batch=1)).logits.shape == (1, 2)
    with pytest.raises(ValueError, match="pad_token_id"):
        model(ids())


def test_last_token_rows_by_hand():
    from workbench.nn.logits import last_token_rows

    logits = torch.arange(2 * 4 * 3, dtype=torch.float32).view(2, 4, 3)
    input_ids = torch.tensor([[0, 0, 5, 6], [7, 8, 0, 0]])  # left-padded, right-padded (pad 0)
    torch.testing.assert_close(last_token_rows(logits, input_ids, 0, "M"), torch.stack([logits[0, 3], logits[1, 1]]))
    torch.testing.assert_close(last_token_rows(logits[:1], None, None, "M"), logits[:1, 3])  # no ids: the last position
    with pytest.raises(ValueError, match="M cannot score a batch of 2 without config.pad_token_id"):
        last_token_rows(logits, input_ids, None, "M")


def test_config_aliases_and_random_init():
    config = GPT2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, vocab_size=99, n_positions=64)
    assert (config.n_embd, config.n_layer, config.n_head) == (32, 2, 4)
    assert "hidden_size" not in config.to_dict() and config.to_dict()["n_embd"] == 32
    model = GPT2Model.from_config(config)
    c_proj = model.h[0].attn.c_proj
    assert c_proj.weight.shape == (32, 32) and model.h[0].attn.c_attn.weight.shape == (32, 96)  # (in, out)
    assert torch.equal(c_proj.bias, torch.zeros(32))
    assert 0.0 < c_proj.weight.std() < 0.02  # residual projections start smaller (0.02 / sqrt(2 * n_layer))
