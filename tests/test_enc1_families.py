"""Paths of albert, electra, mpnet and roformer that the shared suite's tiny configs do not take
(tests/test_models.py runs their base cases): ALBERT's pre-training head and layer groups, MPNet's
log-spaced position buckets, RoFormer's rotated values and last-token multiple choice, ELECTRA's
discriminator loss. Each compares workbench with the reference, both ways where a checkpoint is
saved."""

from __future__ import annotations

import pytest
import torch

import workbench
from workbench.models.registry import FAMILIES

from reference import build_reference_model, load_reference_model, reference_init, save_reference_model
from tolerance import assert_close_scaled


def random_ids(shape, vocab=99, seed=0):
    return torch.randint(3, vocab, shape, generator=torch.Generator().manual_seed(seed))


def run(model, **inputs):
    with torch.no_grad():
        return model(**inputs, output_hidden_states=True, output_attentions=True)


def assert_same_outputs(ours, theirs, names):
    for name in names:
        assert_close_scaled(getattr(ours, name), getattr(theirs, name), what=name)
    assert len(ours.hidden_states) == len(theirs.hidden_states)
    for i, (a, b) in enumerate(zip(ours.hidden_states, theirs.hidden_states)):
        assert_close_scaled(a, b, what=f"hidden_states[{i}]")
    assert len(ours.attentions) == len(theirs.attentions)
    for i, (a, b) in enumerate(zip(ours.attentions, theirs.attentions)):
        assert_close_scaled(a, b, what=f"attentions[{i}]")


def both_ways(model_type, head, config, inputs, names, tmp_path):
    """The reference's checkpoint loads in workbench and matches; workbench's save loads in the reference."""
    reference = build_reference_model(model_type, head, config)
    save_reference_model(reference, str(tmp_path / "reference"))
    ours = getattr(workbench, head).from_pretrained(tmp_path / "reference")
    assert_same_outputs(run(ours, **inputs), run(reference, **inputs), names)
    ours.save_pretrained(tmp_path / "ours")
    reloaded = load_reference_model(head, str(tmp_path / "ours"))
    assert_same_outputs(run(reloaded, **inputs), run(reference, **inputs), names)
    return ours, reference


PADDED = {"input_ids": random_ids((2, 7)), "attention_mask": torch.tensor([[1] * 7, [1] * 5 + [0] * 2])}


def test_albert_pretraining_head_matches_the_reference_with_its_loss(tmp_path):
    """Masked-LM and sentence-order logits, and the summed loss of both."""
    config = dict(FAMILIES["albert"].tiny)
    ours, reference = both_ways("albert", "AlbertForPreTraining", config, PADDED,
                                ("prediction_logits", "sop_logits"), tmp_path)
    labels = random_ids((2, 7), seed=1)
    labels[1, -2:] = -100
    order = torch.tensor([0, 1])
    with torch.no_grad():
        mine = ours(**PADDED, labels=labels, sentence_order_label=order).loss
        theirs = reference(**PADDED, labels=labels, sentence_order_label=order).loss
    assert_close_scaled(mine, theirs, what="loss")
    assert params_without_grad(ours) == params_without_grad(reference)


def params_without_grad(model) -> set[str]:
    """The parameters the pre-training outputs' gradients do not reach (the same in both: none)."""
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(**PADDED)
    (out.prediction_logits.pow(2).mean() + out.sop_logits.pow(2).mean()).backward()
    model.eval()
    return {name for name, param in model.named_parameters() if param.grad is None}


def test_albert_layer_groups_run_in_the_reference_order(tmp_path):
    """4 layers over 2 groups of 2 layers: layers 0-1 run group 0, layers 2-3 group 1, and every
    layer run reports a hidden state and an attention map (1 + 4 * 2 hidden states)."""
    config = dict(FAMILIES["albert"].tiny, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2)
    ours, _ = both_ways("albert", "AlbertModel", config, PADDED, ("last_hidden_state", "pooler_output"), tmp_path)
    assert len(run(ours, **PADDED).hidden_states) == 1 + 4 * 2
    assert [n for n, _ in ours.named_parameters() if n.endswith("ffn.weight")] == [
        f"encoder.albert_layer_groups.{g}.albert_layers.{i}.ffn.weight" for g in (0, 1) for i in (0, 1)]


def test_mpnet_position_bias_beyond_the_exact_buckets(tmp_path):
    """40 tokens reach past the 8 exactly-bucketed distances into the log-spaced buckets."""
    inputs = {"input_ids": random_ids((2, 40)), "attention_mask": torch.ones(2, 40, dtype=torch.long)}
    inputs["attention_mask"][1, -5:] = 0
    inputs["input_ids"][1, -5:] = 1
    both_ways("mpnet", "MPNetModel", dict(FAMILIES["mpnet"].tiny), inputs, ("last_hidden_state",), tmp_path)


def test_roformer_rotary_value(tmp_path):
    config = dict(FAMILIES["roformer"].tiny, rotary_value=True)
    both_ways("roformer", "RoFormerModel", config, PADDED, ("last_hidden_state",), tmp_path)


def test_roformer_multiple_choice_by_the_reference_default_summary(tmp_path):
    """Without summary_* keys the reference summarises each choice by its last token, unprojected."""
    config = {k: v for k, v in FAMILIES["roformer"].tiny.items() if k != "summary_type"}
    inputs = {"input_ids": random_ids((2, 3, 7))}
    ours, _ = both_ways("roformer", "RoFormerForMultipleChoice", config, inputs, ("logits",), tmp_path)
    assert not any("sequence_summary" in name for name, _ in ours.named_parameters())


def test_electra_discriminator_loss_leaves_padding_out(tmp_path):
    reference = build_reference_model("electra", "ElectraForPreTraining", dict(FAMILIES["electra"].tiny))
    save_reference_model(reference, str(tmp_path))
    ours = workbench.AutoModelForPreTraining.from_pretrained(tmp_path)
    assert type(ours).__name__ == "ElectraForPreTraining"
    labels = torch.tensor([[0, 1, 0, 0, 1, 0, 0], [1, 0, 0, 1, 0, 1, 1]])
    with torch.no_grad():
        for inputs in (PADDED, {"input_ids": PADDED["input_ids"]}):
            assert_close_scaled(ours(**inputs, labels=labels).loss, reference(**inputs, labels=labels).loss, what="loss")


@pytest.mark.parametrize("model_type", ["albert", "electra", "roformer"])
def test_embedding_size_shapes_the_checkpoint(model_type):
    """The factorized embeddings are embedding_size wide, the layers hidden_size."""
    config = workbench.AutoConfig.for_model(model_type, **FAMILIES[model_type].tiny)
    model = workbench.AutoModel.from_config(config)
    assert model.get_input_embeddings().weight.shape == (99, 16)
    assert model.config.hidden_size == 32


@pytest.mark.parametrize("head", ["AlbertForMaskedLM", "AlbertForPreTraining", "ElectraForMaskedLM", "MPNetForMaskedLM",
                                  "RoFormerForMaskedLM", "CamembertForMaskedLM"])
@pytest.mark.parametrize("tied", [True, False])
def test_masked_lm_heads_resize_with_the_vocabulary(head, tied):
    """After resize_token_embeddings(105) the output layer and its bias have 105 rows, and the old
    tokens' logits are unchanged."""
    family = next(t for t, f in FAMILIES.items() if head in (*f.heads.values(), *f.also_exports))
    config = workbench.AutoConfig.for_model(family, **FAMILIES[family].tiny, tie_word_embeddings=tied)
    model = getattr(workbench, head).from_config(config).eval()
    ids = random_ids((2, 6))

    def logits():
        with torch.no_grad():
            out = model(input_ids=ids)
        return out.prediction_logits if head == "AlbertForPreTraining" else out.logits

    before = logits()
    model.resize_token_embeddings(105)
    after = logits()
    assert after.shape == (2, 6, 105) and model.get_output_embeddings().weight.shape[0] == 105
    assert_close_scaled(after[..., :99], before, what="logits of the old tokens")


def test_albert_pretraining_fresh_init_matches_the_reference_where_deterministic():
    """Biases, norms and the zero output bias start as the reference's (the shared suite checks the
    registered heads; AlbertForPreTraining is exported beside them)."""
    config = dict(FAMILIES["albert"].tiny)
    first, second = (reference_init("albert", "AlbertForPreTraining", config, seed) for seed in (0, 1))
    ours = dict(workbench.AlbertForPreTraining.from_config(workbench.AlbertConfig(**config)).named_parameters())
    assert set(ours) == {name for name, _ in first.named_parameters()}
    for name, param in first.named_parameters():
        if torch.equal(param, second.get_parameter(name)):
            assert torch.allclose(ours[name], param, atol=1e-6), name
