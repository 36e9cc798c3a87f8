"""Tokenizers converted from a bare SentencePiece model (T5's spiece.model, no tokenizer.json), against
the reference's own conversion of the same file.

The models are trained here with ``sentencepiece.SentencePieceTrainer`` on a few hundred generated
sentences: one with SentencePiece's default NFKC normalization (a precompiled charsmap the
normalizer must apply) and one with none.
"""

from __future__ import annotations

import io
import json
import os
import random

import pytest

from workbench import AutoTokenizer
from workbench.errors import CheckpointError

from tokenizer_cases import SCRIPTS, WORDS, assert_same_ids, corpus, load_both, random_text

pytestmark = pytest.mark.filterwarnings("ignore:A sequence is .* tokens long")
spm = pytest.importorskip("sentencepiece")
pytest.importorskip("google.protobuf")  # the reference reads the model with protobuf


def train_sentencepiece(normalization: str = "nmt_nfkc", vocab_size: int = 500) -> bytes:
    rng = random.Random(3)
    sentences = [random_text(rng) for _ in range(300)]
    sentences += [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 15))) for _ in range(200)]
    sentences += list(SCRIPTS)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size, model_type="unigram",
        normalization_rule_name=normalization, character_coverage=0.98, minloglevel=2,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
    )
    return model.getvalue()


def t5_folder(path, model: bytes, tokenizer_config: dict | None, config: dict | None = None) -> str:
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "spiece.model"), "wb") as handle:
        handle.write(model)
    if tokenizer_config is not None:
        with open(os.path.join(path, "tokenizer_config.json"), "w") as handle:
            json.dump(tokenizer_config, handle)
    if config is not None:
        with open(os.path.join(path, "config.json"), "w") as handle:
            json.dump(config, handle)
    return str(path)


@pytest.fixture(scope="module")
def nfkc_model() -> bytes:
    return train_sentencepiece()


# tokenizer_config.json as T5 checkpoints write it, in its older and newer forms
CONFIGS = {
    "extra-ids-5": {"tokenizer_class": "T5Tokenizer", "extra_ids": 5, "model_max_length": 512},
    "default-extra-ids": {"tokenizer_class": "T5Tokenizer"},
    "t5-small-style": {"tokenizer_class": "T5Tokenizer", "extra_ids": 100, "model_max_length": 512,
                       "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                       "additional_special_tokens": [f"<extra_id_{i}>" for i in range(100)]},
    "config-json-only": None,  # no tokenizer_config.json: config.json's model_type picks T5's tokenizer
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def folder(request, nfkc_model, tmp_path_factory):
    config = {"model_type": "t5"} if CONFIGS[request.param] is None else None
    return t5_folder(tmp_path_factory.mktemp(request.param), nfkc_model, CONFIGS[request.param], config)


def test_ids_match_the_reference_conversion(folder):
    ours, theirs = load_both(folder)
    texts = corpus(400) + ["<extra_id_0> walks in <extra_id_1> park</s>", "<pad><unk> x", "  two  spaces "]
    assert_same_ids(ours, theirs, texts)
    assert type(ours).__name__ == type(theirs).__name__ == "T5Tokenizer"
    assert len(ours) == len(theirs) and ours.vocab_size == theirs.vocab_size
    assert ours.all_special_tokens == theirs.all_special_tokens
    assert ours.extra_special_tokens == [str(token) for token in theirs.extra_special_tokens]
    assert {i: (str(t), t.special) for i, t in ours.added_tokens_decoder.items()} == \
        {i: (str(t), t.special) for i, t in theirs.added_tokens_decoder.items()}


def test_offsets_and_decoding_match_the_reference(folder):
    ours, theirs = load_both(folder)
    texts = corpus(200)
    assert ours(texts, return_offsets_mapping=True)["offset_mapping"] == \
        theirs(texts, return_offsets_mapping=True)["offset_mapping"]
    for ids in theirs(texts)["input_ids"]:
        for skip in (True, False):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip)


def test_sentinels_are_the_last_ids_in_reverse_order(nfkc_model, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(t5_folder(tmp_path, nfkc_model, CONFIGS["extra-ids-5"]))
    assert tokenizer.convert_tokens_to_ids(["<extra_id_0>", "<extra_id_4>"]) == [len(tokenizer) - 1, len(tokenizer) - 5]
    ids = tokenizer("The <extra_id_0> walks").input_ids
    assert ids[-1] == tokenizer.eos_token_id == 1 and len(tokenizer) - 1 in ids
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id) == (0, 2)


def test_decode_round_trip(folder):
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rng = random.Random(11)
    for _ in range(100):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
        assert tokenizer.decode(tokenizer(text).input_ids, skip_special_tokens=True) == text


def test_text_target_gives_the_reference_labels(folder):
    ours, theirs = load_both(folder)
    sources = ["translate English to German: the quick brown fox", "summarize: hello world"]
    targets = ["<extra_id_0> Paris <extra_id_1>", "world"]
    mine = ours(sources, text_target=targets, padding=True, return_tensors="pt")
    reference = theirs(sources, text_target=targets, padding=True, return_tensors="pt")
    assert set(mine.keys()) == set(reference.keys()) == {"input_ids", "attention_mask", "labels"}
    for key in mine:
        assert mine[key].tolist() == reference[key].tolist(), key


def test_without_normalization_rules(tmp_path):
    """A model trained with no normalization has no charsmap: full-width letters stay as they are."""
    model = train_sentencepiece(normalization="identity")
    folder = t5_folder(tmp_path, model, CONFIGS["extra-ids-5"])
    ours, theirs = load_both(folder)
    assert ours.backend_tokenizer.normalizer is None
    texts = corpus(300) + ["ｆｕｌｌｗｉｄｔｈ ﬁ ①"]
    assert ours(texts)["input_ids"] == theirs(texts)["input_ids"]


def test_save_pretrained_writes_a_tokenizer_json_both_read(folder, tmp_path):
    import transformers

    ours = AutoTokenizer.from_pretrained(folder)
    ours.save_pretrained(tmp_path)
    assert os.path.isfile(os.path.join(tmp_path, "tokenizer.json"))
    texts = corpus(200)
    again, reference = AutoTokenizer.from_pretrained(tmp_path), transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert again(texts)["input_ids"] == ours(texts)["input_ids"] == reference(texts)["input_ids"]


def test_other_sentencepiece_classes_are_a_clear_error(nfkc_model, tmp_path):
    folder = t5_folder(tmp_path, nfkc_model, {"tokenizer_class": "XLNetTokenizer"})
    with pytest.raises(CheckpointError, match="T5Tokenizer.* only.*save_pretrained"):
        AutoTokenizer.from_pretrained(folder)


def test_a_corrupt_model_file_is_a_clear_error(tmp_path):
    folder = t5_folder(tmp_path, b"not a sentencepiece model", CONFIGS["extra-ids-5"])
    with pytest.raises(CheckpointError, match="spiece.model"):
        AutoTokenizer.from_pretrained(folder)
