"""Data collators give the reference's batches on the same rows (seeded where they draw at random)."""

import numpy as np
import pytest
import torch

import workbench

transformers = pytest.importorskip("transformers")

TEXTS = ["Hello world!", "A much longer sentence that needs no padding at all, really.", "Short",
         "Data collators pad rows to one length."]


@pytest.fixture(scope="module")
def tokenizers(minilm_path):
    return workbench.AutoTokenizer.from_pretrained(minilm_path), transformers.AutoTokenizer.from_pretrained(minilm_path)


def rows(tokenizer, **kwargs):
    encoded = tokenizer(TEXTS, **kwargs)
    return [{key: encoded[key][i] for key in encoded} for i in range(len(TEXTS))]


def assert_same_batch(ours, theirs):
    assert sorted(ours.keys()) == sorted(theirs.keys())
    for key in theirs:
        expected = theirs[key]
        if expected is None:
            assert ours[key] is None
            continue
        actual = ours[key]
        assert type(actual) is type(expected), key
        assert actual.dtype == expected.dtype, key
        assert np.array_equal(np.asarray(actual), np.asarray(expected)), key


@pytest.mark.parametrize("options", [{}, {"pad_to_multiple_of": 8}, {"padding": "max_length", "max_length": 24},
                                     {"return_tensors": "np"}])
def test_with_padding(tokenizers, options):
    ours, theirs = tokenizers
    features = [dict(row, label=i % 2) for i, row in enumerate(rows(ours))]
    assert_same_batch(workbench.DataCollatorWithPadding(ours, **options)(features),
                      transformers.DataCollatorWithPadding(theirs, **options)(features))


@pytest.mark.parametrize("side", ["right", "left"])
def test_token_classification(tokenizers, side):
    ours, theirs = tokenizers
    ours.padding_side = theirs.padding_side = side
    try:
        features = [dict(row, labels=list(range(len(row["input_ids"])))) for row in rows(ours)]
        for options in ({}, {"pad_to_multiple_of": 8}, {"return_tensors": "np"}):
            assert_same_batch(workbench.DataCollatorForTokenClassification(ours, **options)(features),
                              transformers.DataCollatorForTokenClassification(theirs, **options)(features))
    finally:
        ours.padding_side = theirs.padding_side = "right"


class ShiftingModel:
    def prepare_decoder_input_ids_from_labels(self, labels):
        return torch.where(labels == -100, 0, labels).roll(1, dims=-1)


@pytest.mark.parametrize("options", [{}, {"pad_to_multiple_of": 8}, {"padding": "max_length", "max_length": 20},
                                     {"return_tensors": "np"}])
def test_seq2seq(tokenizers, options):
    ours, theirs = tokenizers
    targets = ours(["one", "two three four", "five six", "seven"])["input_ids"]
    features = [dict(row, labels=target) for row, target in zip(rows(ours), targets)]
    assert_same_batch(workbench.DataCollatorForSeq2Seq(ours, **options)(features),
                      transformers.DataCollatorForSeq2Seq(theirs, **options)(features))
    model = ShiftingModel()
    assert_same_batch(workbench.DataCollatorForSeq2Seq(ours, model=model)(features),
                      transformers.DataCollatorForSeq2Seq(theirs, model=model)(features))


@pytest.mark.parametrize("options", [{"mlm": False}, {"mlm": True, "seed": 3}, {"mlm": True, "seed": 5, "mlm_probability": 0.5},
                                     {"mlm": True, "seed": 1, "mask_replace_prob": 0.5, "random_replace_prob": 0.3},
                                     {"mlm": True, "seed": 2, "pad_to_multiple_of": 8}])
def test_language_modeling(tokenizers, options):
    ours, theirs = tokenizers
    ours_collator = workbench.DataCollatorForLanguageModeling(ours, **options)
    theirs_collator = transformers.DataCollatorForLanguageModeling(theirs, **options)
    for features in (rows(ours), rows(ours, return_special_tokens_mask=True), [r["input_ids"] for r in rows(ours)]):
        for _ in range(2):  # the seeded generator carries on from one batch to the next
            assert_same_batch(ours_collator(features), theirs_collator(features))


def test_language_modeling_global_rng(tokenizers):
    ours, theirs = tokenizers
    torch.manual_seed(0)
    mine = workbench.DataCollatorForLanguageModeling(ours, mlm_probability=0.4)(rows(ours))
    torch.manual_seed(0)
    reference = transformers.DataCollatorForLanguageModeling(theirs, mlm_probability=0.4)(rows(ours))
    assert_same_batch(mine, reference)
    masked = mine["labels"] != -100
    assert masked.any() and (mine["input_ids"][masked] == ours.mask_token_id).any()


def test_default_data_collator():
    features = [{"input_ids": [1, 2, 3], "label": 1, "text": "a", "score": 0.5},
                {"input_ids": [4, 5, 6], "label": 0, "text": "b", "score": 1.5}]
    for return_tensors in ("pt", "np"):
        assert_same_batch(workbench.default_data_collator(features, return_tensors),
                          transformers.default_data_collator(features, return_tensors))
    floats = [{"x": torch.ones(2), "label_ids": [0.5, 1.0]}, {"x": torch.zeros(2), "label_ids": [1.5, 2.0]}]
    assert_same_batch(workbench.default_data_collator(floats), transformers.default_data_collator(floats))
    arrays = [{"x": np.ones(3, dtype=np.float32), "label": np.int64(1)}, {"x": np.zeros(3, dtype=np.float32), "label": np.int64(0)}]
    assert_same_batch(workbench.default_data_collator(arrays), transformers.default_data_collator(arrays))


def test_errors(tokenizers):
    ours, _ = tokenizers
    with pytest.raises(ValueError, match="mlm_probability"):
        workbench.DataCollatorForLanguageModeling(ours, mlm_probability=1.5)
    with pytest.raises(ValueError, match="must not exceed 1"):
        workbench.DataCollatorForLanguageModeling(ours, mask_replace_prob=0.8, random_replace_prob=0.3)
    no_mask = workbench.AutoTokenizer.from_pretrained(ours.name_or_path)
    no_mask.mask_token = None
    with pytest.raises(ValueError, match="mlm=False"):
        workbench.DataCollatorForLanguageModeling(no_mask)
