"""MobileBERT beyond the shared suite's registry case: trigram embeddings (the default, off in the
registry's tiny config because the reference's right-padded rows then differ from the rows alone)
and MobileBertForPreTraining (whose output has no ``logits`` for the shared suite to compare)."""

from __future__ import annotations

import pytest
import torch

import workbench
from workbench.models.registry import FAMILIES

from reference import build_reference_model, load_reference_model, save_reference_model
from test_models import compare, make_inputs, run
from tolerance import assert_close_scaled

TRIGRAM = dict(FAMILIES["mobilebert"].tiny, trigram_input=True)
CASE = type("Case", (), {"config": TRIGRAM, "speech": False, "encoder_decoder": False, "inputs": "text"})()


@pytest.mark.parametrize("head", ["MobileBertModel", "MobileBertForMaskedLM"])
def test_trigram_embeddings_match_the_reference_both_ways(head, tmp_path):
    reference = build_reference_model("mobilebert", head, TRIGRAM)
    folder = save_reference_model(reference, str(tmp_path / "reference"))
    ours = getattr(workbench, head).from_pretrained(folder)
    inputs = make_inputs(CASE, head)
    compare(run(ours, inputs), run(reference, inputs), head, inputs)
    ours.save_pretrained(tmp_path / "ours")
    compare(run(load_reference_model(head, str(tmp_path / "ours")), inputs), run(reference, inputs), head, inputs)


def test_pretraining_head_matches_the_reference_both_ways(tmp_path):
    head = "MobileBertForPreTraining"
    reference = build_reference_model("mobilebert", head, TRIGRAM)
    folder = save_reference_model(reference, str(tmp_path / "reference"))
    ours = workbench.MobileBertForPreTraining.from_pretrained(folder)
    inputs = make_inputs(CASE, head)
    labels = torch.where(inputs["attention_mask"].bool(), inputs["input_ids"], -100)
    next_sentence = torch.tensor([0, 1])
    ours.save_pretrained(tmp_path / "ours")
    reloaded = load_reference_model(head, str(tmp_path / "ours"))
    for model in (ours, reloaded):
        with torch.no_grad():
            mine = model(**inputs, labels=labels, next_sentence_label=next_sentence, output_hidden_states=True,
                         output_attentions=True)
            theirs = reference(**inputs, labels=labels, next_sentence_label=next_sentence, output_hidden_states=True,
                               output_attentions=True)
        keep = inputs["attention_mask"].bool()
        assert_close_scaled(mine.prediction_logits[keep], theirs.prediction_logits[keep], what="prediction_logits")
        assert_close_scaled(mine.seq_relationship_logits, theirs.seq_relationship_logits, what="seq_relationship")
        assert_close_scaled(mine.loss, theirs.loss, what="loss")
        assert len(mine.hidden_states) == len(theirs.hidden_states) and len(mine.attentions) == len(theirs.attentions)
        for i, (a, b) in enumerate(zip(mine.hidden_states, theirs.hidden_states)):
            assert_close_scaled(a[keep], b[keep], what=f"hidden_states[{i}]")


def test_resizing_the_vocabulary_keeps_the_decoder_whole(tmp_path):
    """The LM head's output matrix is the word embeddings stacked with ``cls.predictions.dense``: both
    grow with the vocabulary, and the old tokens' logits stay the same."""
    model = workbench.MobileBertForMaskedLM.from_config(workbench.MobileBertConfig(**TRIGRAM)).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
        model.resize_token_embeddings(105)
        after = model(input_ids=ids).logits
    assert after.shape[-1] == 105 and model.cls.predictions.dense.weight.shape[1] == 105
    assert_close_scaled(after[..., :99], before)


@pytest.mark.parametrize("settings", [{"tokenizer_class": "MobileBertTokenizer"}, None])
def test_mobilebert_tokenizer_is_berts(settings, tmp_path):
    """The reference's MobileBertTokenizer is BertTokenizer (token type ids included), named in
    tokenizer_config.json or picked by config.json's model_type."""
    import json

    import transformers

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "##es", "jump", "##s"]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mobilebert"}))
    if settings is not None:
        (tmp_path / "tokenizer_config.json").write_text(json.dumps(settings))
    ours = workbench.AutoTokenizer.from_pretrained(str(tmp_path))
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    assert type(ours).__name__ == type(theirs).__name__ == "BertTokenizer"
    assert ours("the quick foxes", "jumps").data == dict(theirs("the quick foxes", "jumps"))
