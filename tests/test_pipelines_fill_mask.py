"""fill-mask against the reference pipeline on tiny random masked-LM checkpoints."""

import logging

import pytest

from pipeline_models import close, reference_pipeline, save_tiny
from workbench import AutoTokenizer, KeyDataset, pipeline

TEXTS = ["Paris is the [MASK] of France.", "[MASK] and [MASK] went up the hill.", "hello [MASK]",
         "A much longer sentence, with a [MASK] somewhere in the middle of it all."]


@pytest.fixture(scope="module", params=["bert", "distilbert", "roberta"])
def checkpoint(request, tmp_path_factory, minilm_path):
    return save_tiny(tmp_path_factory.mktemp(request.param), minilm_path, request.param, "ForMaskedLM")


@pytest.fixture(scope="module")
def bert(tmp_path_factory, minilm_path):
    return save_tiny(tmp_path_factory.mktemp("bert"), minilm_path, "bert", "ForMaskedLM")


def test_matches_the_reference(checkpoint, caplog):
    ours, theirs = pipeline("fill-mask", model=checkpoint), reference_pipeline("fill-mask", checkpoint)
    for args, kwargs in [(TEXTS[0], {}), (TEXTS, {}), (TEXTS[:1], {}), (TEXTS[1], {"top_k": 3}),
                         (TEXTS[0], {"targets": ["capital", "city", "zzyzx", "Paris"]}),
                         (TEXTS[0], {"targets": "the", "top_k": 10}),
                         (TEXTS[3], {"tokenizer_kwargs": {"truncation": True, "max_length": 12}})]:
        assert close(ours(args, **kwargs), theirs(args, **kwargs)), (args, kwargs)


def test_batched_equals_one_at_a_time(bert):
    fill = pipeline("fill-mask", model=bert, top_k=3)
    assert close(fill(TEXTS, batch_size=4), [fill(text) for text in TEXTS])


def test_generator_and_dataset_column(bert):
    datasets = pytest.importorskip("datasets")
    fill = pipeline("fill-mask", model=bert, top_k=2)
    expected = fill(TEXTS)
    assert close(list(fill(text for text in TEXTS)), expected)
    assert close(list(fill(KeyDataset(datasets.Dataset.from_dict({"text": TEXTS}), "text"), batch_size=3)), expected)


def test_outputs(bert, caplog):
    fill = pipeline("fill-mask", model=bert)
    answers = fill(TEXTS[0])
    assert len(answers) == 5 and [a["score"] for a in answers] == sorted((a["score"] for a in answers), reverse=True)
    for answer in fill(TEXTS[0], targets=["capital", "city", "heart"]):  # whole words, so the text reads back
        assert answer["sequence"] == f"paris is the {answer['token_str']} of france."
    assert [len(row) for row in fill(TEXTS[1], top_k=2)] == [2, 2]  # one list per mask
    assert "[MASK]" in fill(TEXTS[1])[0][0]["sequence"]  # with several masks, the others stay
    with caplog.at_level(logging.WARNING, logger="workbench"):
        two = fill(TEXTS[0], targets=["city", "town", "Town"], top_k=10)  # "Town" is "town": one target
    assert sorted(a["token_str"] for a in two) == ["city", "town"] and "'Town' is not in the vocabulary" in caplog.text


def test_errors(bert):
    fill = pipeline("fill-mask", model=bert)
    with pytest.raises(ValueError, match=r"Input 1: No mask token \(\[MASK\]\) in the input .no mask here."):
        fill([TEXTS[0], "no mask here"])
    with pytest.raises(ValueError, match="No mask token"):
        fill("")
    with pytest.raises(ValueError, match="No mask token"):  # truncation cut the mask off
        fill(TEXTS[3], tokenizer_kwargs={"truncation": True, "max_length": 5})
    with pytest.raises(ValueError, match="Input 1: fill-mask takes strings, got int"):
        fill([TEXTS[0], 7])
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        fill(TEXTS[0], top_k=0)
    with pytest.raises(ValueError, match="gives no token to score"):
        fill(TEXTS[0], targets=[""])
    with pytest.raises(TypeError, match="takes no \\['shout'\\]"):
        fill(TEXTS[0], tokenizer_kwargs={"shout": True})
    assert fill(TEXTS[0])  # still usable
    no_mask = AutoTokenizer.from_pretrained(bert, mask_token=None)
    with pytest.raises(ValueError, match="needs a tokenizer with a mask token"):
        pipeline("fill-mask", model=bert, tokenizer=no_mask)
