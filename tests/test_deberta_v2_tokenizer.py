"""DebertaV2Tokenizer converted from a bare SentencePiece ``spm.model`` (DeBERTa-v2/-v3 checkpoints ship no
tokenizer.json), against the reference's own conversion of the same file.

The model is trained here with ``sentencepiece.SentencePieceTrainer`` in DeBERTa-v3's layout: [PAD] [CLS]
[SEP] [UNK] as its first pieces, no [MASK] (the tokenizer appends it).
"""

from __future__ import annotations

import io
import json
import os
import random

import pytest

from workbench import AutoTokenizer

from tokenizer_cases import SCRIPTS, WORDS, assert_same_ids, corpus, load_both, random_text

pytestmark = pytest.mark.filterwarnings("ignore:A sequence is .* tokens long")
spm = pytest.importorskip("sentencepiece")
pytest.importorskip("google.protobuf")  # the reference reads the model with protobuf


@pytest.fixture(scope="module")
def deberta_model() -> bytes:
    rng = random.Random(5)
    sentences = [random_text(rng) for _ in range(300)]
    sentences += [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 15))) for _ in range(200)]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences + list(SCRIPTS)), model_writer=model, vocab_size=500, model_type="unigram",
        character_coverage=0.98, minloglevel=2, pad_id=0, bos_id=1, eos_id=2, unk_id=3,
        pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]", unk_piece="[UNK]",
    )
    return model.getvalue()


# tokenizer_config.json as DeBERTa checkpoints write it (None: none, config.json's model_type decides)
CONFIGS = {
    "deberta-v3-style": {"do_lower_case": False, "vocab_type": "spm"},
    "config-json-only": None,
    "lowercase-punctuation": {"tokenizer_class": "DebertaV2Tokenizer", "do_lower_case": True, "split_by_punct": True},
    "no-prefix-space": {"tokenizer_class": "DebertaV2Tokenizer", "add_prefix_space": False, "model_max_length": 512},
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def folder(request, deberta_model, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param)
    with open(path / "spm.model", "wb") as handle:
        handle.write(deberta_model)
    if CONFIGS[request.param] is not None:
        (path / "tokenizer_config.json").write_text(json.dumps(CONFIGS[request.param]))
    (path / "config.json").write_text(json.dumps({"model_type": "deberta-v2"}))
    return str(path)


def test_ids_and_token_types_match_the_reference_conversion(folder):
    ours, theirs = load_both(folder)
    texts = corpus(400) + ["a [MASK] b [SEP] c", "[PAD][UNK] x", "  two  spaces\tand\na newline  "]
    assert_same_ids(ours, theirs, texts)
    assert type(ours).__name__ == type(theirs).__name__ == "DebertaV2Tokenizer"
    assert ours.model_input_names == theirs.model_input_names
    assert len(ours) == len(theirs) and ours.vocab_size == theirs.vocab_size
    assert ours.all_special_tokens == theirs.all_special_tokens
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


def test_mask_token_is_appended_after_the_pieces(deberta_model, tmp_path):
    (tmp_path / "spm.model").write_bytes(deberta_model)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "deberta-v2"}))
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path))
    assert (tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.unk_token_id) == (0, 1, 2, 3)
    assert tokenizer.mask_token_id == 500 == len(tokenizer) - 1
    ids = tokenizer("the [MASK] fox").input_ids
    assert ids[0] == 1 and ids[-1] == 2 and 500 in ids


def test_save_pretrained_writes_a_tokenizer_json_both_read(folder, tmp_path):
    import transformers

    ours = AutoTokenizer.from_pretrained(folder)
    ours.save_pretrained(tmp_path)
    assert os.path.isfile(os.path.join(tmp_path, "tokenizer.json"))
    texts = corpus(200)
    expected = transformers.AutoTokenizer.from_pretrained(folder)(texts)["input_ids"]
    assert AutoTokenizer.from_pretrained(str(tmp_path))(texts)["input_ids"] == expected
    assert transformers.AutoTokenizer.from_pretrained(str(tmp_path))(texts)["input_ids"] == expected
