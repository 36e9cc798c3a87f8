"""T5-family specifics beyond the shared suite (test_models.py): config parsing, the relative position
buckets, tied and untied output layers, labels, and the inputs an encoder-decoder takes."""

from __future__ import annotations

import json
import os

import pytest
import torch

import workbench
from workbench.models.t5 import MT5Config, T5Config, T5ForConditionalGeneration, T5Model, UMT5Config
from workbench.nn.relative_position import relative_position_bucket

from model_registry import TINY_T5
from reference import build_reference_model, save_reference_model
from tolerance import assert_close_scaled


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_buckets,max_distance", [(32, 128), (8, 20), (6, 9)])
def test_relative_position_buckets_match_the_reference(bidirectional, num_buckets, max_distance):
    from transformers.models.t5.modeling_t5 import T5Attention

    relative = torch.arange(-400, 400)[None, :] + torch.arange(3)[:, None]
    expected = T5Attention._relative_position_bucket(relative, bidirectional, num_buckets, max_distance)
    assert torch.equal(relative_position_bucket(relative, bidirectional, num_buckets, max_distance), expected)


@pytest.mark.parametrize("proj,act,gated", [("relu", "relu", False), ("gated-gelu", "gelu_new", True),
                                            ("gated-silu", "silu", True), ("gelu", "gelu", False)])
def test_feed_forward_proj_parses_like_the_reference(proj, act, gated):
    import transformers

    ours, theirs = T5Config(feed_forward_proj=proj), transformers.T5Config(feed_forward_proj=proj)
    assert (ours.dense_act_fn, ours.is_gated_act) == (act, gated) == (theirs.dense_act_fn, theirs.is_gated_act)


def test_bad_feed_forward_proj_is_a_clear_error():
    with pytest.raises(ValueError, match="gated-gelu"):
        T5Config(feed_forward_proj="gelu-gated")


def test_config_defaults_and_aliases():
    config = T5Config(num_layers=3, d_model=64, num_heads=2)
    assert config.num_decoder_layers == 3 and config.hidden_size == 64 and config.num_attention_heads == 2
    assert config.is_encoder_decoder and config.decoder_start_token_id == config.pad_token_id == 0
    assert MT5Config().feed_forward_proj == "gated-gelu" and MT5Config().vocab_size == 250112


@pytest.mark.parametrize("family,tie,scaled", [
    (T5Config, None, True), (T5Config, True, True), (T5Config, False, False),  # T5 vs v1.1 / FLAN-T5
    (MT5Config, True, False), (MT5Config, False, False),  # mT5 never rescales
    (UMT5Config, False, False), (UMT5Config, True, True),
])
def test_decoder_output_scaling_follows_tie_word_embeddings(family, tie, scaled):
    config = family(**({} if tie is None else {"tie_word_embeddings": tie}))
    assert config.scale_decoder_outputs is scaled
    # written out, so a reload (ours or the reference's) keeps it whatever tie_word_embeddings becomes
    assert family.from_dict(dict(config.to_dict(), tie_word_embeddings=True)).scale_decoder_outputs is scaled


def test_written_config_reads_the_same_in_the_reference(tmp_path):
    import transformers

    T5Config(**TINY_T5, feed_forward_proj="gated-gelu", tie_word_embeddings=False).save_pretrained(tmp_path)
    theirs = transformers.AutoConfig.from_pretrained(tmp_path)
    assert type(theirs).__name__ == "T5Config"
    assert (theirs.scale_decoder_outputs, theirs.is_gated_act, theirs.dense_act_fn) == (False, True, "gelu_new")


# --- checkpoints ---------------------------------------------------------------------------


def inputs(vocab=99, seed=0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (2, 7), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, -3:] = 0
    return {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": torch.randint(3, vocab, (2, 5), generator=generator)}


@pytest.fixture(scope="module")
def untied_checkpoint(tmp_path_factory):
    """A v1.1-style checkpoint whose lm_head differs from the embeddings (FLAN-T5's layout)."""
    reference = build_reference_model("t5", "T5ForConditionalGeneration",
                                      dict(TINY_T5, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                                           initializer_factor=0.1))
    generator = torch.Generator().manual_seed(7)
    reference.lm_head.weight = torch.nn.Parameter(torch.randn(reference.lm_head.weight.shape, generator=generator) * 0.2)
    folder = save_reference_model(reference, str(tmp_path_factory.mktemp("untied")))
    return reference, folder


def test_untied_lm_head_loads_untied_and_matches(untied_checkpoint, tmp_path):
    import transformers

    reference, folder = untied_checkpoint
    model = T5ForConditionalGeneration.from_pretrained(folder)
    assert model.lm_head.weight is not model.shared.weight and not model.config.tie_word_embeddings
    with torch.no_grad():
        expected = reference(**inputs()).logits
        assert_close_scaled(model(**inputs()).logits, expected)
    model.save_pretrained(tmp_path)
    from safetensors import safe_open

    with safe_open(os.path.join(tmp_path, "model.safetensors"), "pt") as handle:
        assert "lm_head.weight" in handle.keys() and "encoder.embed_tokens.weight" not in handle.keys()
    reloaded = transformers.T5ForConditionalGeneration.from_pretrained(tmp_path, attn_implementation="eager").eval()
    with torch.no_grad():
        assert_close_scaled(reloaded(**inputs()).logits, expected)


def test_tied_checkpoint_shares_one_embedding_everywhere(tmp_path):
    reference = build_reference_model("t5", "T5ForConditionalGeneration", TINY_T5)
    folder = save_reference_model(reference, str(tmp_path / "tied"))
    model = T5ForConditionalGeneration.from_pretrained(folder)
    shared = model.shared.weight
    assert model.lm_head.weight is shared and model.encoder.embed_tokens.weight is shared
    assert model.decoder.embed_tokens is model.shared
    model.resize_token_embeddings(104)
    assert model.lm_head.weight is model.shared.weight and model.decoder.embed_tokens.weight.shape[0] == 104
    assert model(**inputs()).logits.shape == (2, 5, 104)


def test_labels_give_the_reference_loss(untied_checkpoint):
    reference, folder = untied_checkpoint
    model = T5ForConditionalGeneration.from_pretrained(folder)
    labels = inputs()["decoder_input_ids"].clone()
    labels[1, -2:] = -100
    batch = {k: v for k, v in inputs().items() if k != "decoder_input_ids"}
    with torch.no_grad():
        ours, theirs = model(**batch, labels=labels), reference(**batch, labels=labels)
    assert_close_scaled(ours.loss, theirs.loss, what="loss")
    assert_close_scaled(ours.logits, theirs.logits)
    shifted = model._shift_right(labels)
    assert shifted[:, 0].eq(0).all() and torch.equal(shifted[0, 1:], labels[0, :-1]) and (shifted >= 0).all()


def test_decoder_attention_mask_and_tuple_outputs_match_the_reference(untied_checkpoint):
    reference, folder = untied_checkpoint
    model = T5ForConditionalGeneration.from_pretrained(folder)
    batch = inputs()
    batch["decoder_attention_mask"] = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    with torch.no_grad():
        ours, theirs = model(**batch, use_cache=False), reference(**batch, use_cache=False)
        assert_close_scaled(ours.logits[0], theirs.logits[0])
        assert_close_scaled(ours.logits[1, :3], theirs.logits[1, :3])
        as_tuple = model(**batch, use_cache=False, return_dict=False)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], ours.logits)


def test_encoder_outputs_may_be_a_tuple(untied_checkpoint):
    _, folder = untied_checkpoint
    model = T5Model.from_pretrained(folder)
    batch = inputs()
    with torch.no_grad():
        full = model(**batch)
        encoded = model.get_encoder()(batch["input_ids"], batch["attention_mask"]).last_hidden_state
        again = model(encoder_outputs=(encoded,), attention_mask=batch["attention_mask"],
                      decoder_input_ids=batch["decoder_input_ids"])
    assert torch.equal(full.last_hidden_state, again.last_hidden_state)
    assert torch.equal(full.encoder_last_hidden_state, again.encoder_last_hidden_state)


def test_reference_keys_of_old_exporters_are_ignored(untied_checkpoint, tmp_path):
    """Old T5 exports carry an unused relative bias in the first cross-attention and separate copies of
    the embeddings in each stack: they load without complaint."""
    from safetensors.torch import load_file, save_file

    _, folder = untied_checkpoint
    tensors = load_file(os.path.join(folder, "model.safetensors"))
    tensors["decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"] = torch.zeros(8, 4)
    tensors["encoder.embed_tokens.weight"] = tensors["shared.weight"].clone()
    save_file(tensors, os.path.join(tmp_path, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(folder, "config.json")) as handle:
        json.dump(json.load(handle), open(os.path.join(tmp_path, "config.json"), "w"))
    _, info = T5ForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []


def test_generation_config_and_public_names():
    model = workbench.T5ForConditionalGeneration.from_config(workbench.T5Config(**TINY_T5))
    assert model.can_generate() and model.generation_config.decoder_start_token_id == 0
    assert workbench.AutoConfig.for_model("umt5").relative_bias_in_every_layer
    assert not workbench.T5EncoderModel.can_generate()


def test_float16_keeps_wo_in_float32_like_the_reference(untied_checkpoint):
    """T5's feed-forward outputs overflow float16: loading in float16 keeps every ``wo`` in float32
    (the reference does so for float16, not bfloat16), and the residual stream follows it."""
    import transformers

    _, folder = untied_checkpoint
    model = T5ForConditionalGeneration.from_pretrained(folder, dtype=torch.float16)
    kept = {name for name, p in model.named_parameters() if p.dtype == torch.float32}
    assert kept and all(name.endswith("wo.weight") for name in kept)
    assert model.shared.weight.dtype == torch.float16
    reference = transformers.T5ForConditionalGeneration.from_pretrained(folder, dtype=torch.float16,
                                                                        attn_implementation="eager").eval()
    assert kept == {name for name, p in reference.named_parameters() if p.dtype == torch.float32}
    with torch.no_grad():
        ours, theirs = model(**inputs()).logits, reference(**inputs()).logits
    assert_close_scaled(ours, theirs, tol=1e-2, what="float16 logits")  # float16 keeps ~3 significant digits
    bfloat16 = T5ForConditionalGeneration.from_pretrained(folder, dtype=torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in bfloat16.parameters())
