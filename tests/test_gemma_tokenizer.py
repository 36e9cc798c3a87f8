"""GemmaTokenizer from a bare SentencePiece model (tokenizer.model, no tokenizer.json), against the
reference's own conversion of the same file.

The model is trained here as Gemma's is: BPE with byte fallback, no normalization rules, no dummy
prefix, digits split, whitespace kept; <pad> <eos> <bos> <unk> first, then user-defined pieces.
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
def gemma_model() -> bytes:
    rng = random.Random(3)
    sentences = [random_text(rng) for _ in range(300)]
    sentences += [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 15))) for _ in range(400)]
    sentences += list(SCRIPTS)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=800, model_type="bpe",
        normalization_rule_name="identity", character_coverage=0.98, minloglevel=2, byte_fallback=True,
        add_dummy_prefix=False, remove_extra_whitespaces=False, split_digits=True, allow_whitespace_only_pieces=True,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>",
        unk_piece="<unk>", user_defined_symbols=["<mask>", "<start_of_turn>", "<end_of_turn>"],
    )
    return model.getvalue()


def gemma_folder(path, model: bytes, tokenizer_config: dict | None, config: dict | None = None) -> str:
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "tokenizer.model"), "wb") as handle:
        handle.write(model)
    for name, content in (("tokenizer_config.json", tokenizer_config), ("config.json", config)):
        if content is not None:
            with open(os.path.join(path, name), "w") as handle:
                json.dump(content, handle)
    return str(path)


# tokenizer_config.json as Gemma checkpoints write it (bos added), bare, and none at all
CONFIGS = {
    "gemma-style": {"tokenizer_class": "GemmaTokenizer", "add_bos_token": True, "add_eos_token": False,
                    "padding_side": "left"},
    "class-only": {"tokenizer_class": "GemmaTokenizerFast"},
    "config-json-only": None,  # no tokenizer_config.json: config.json's model_type picks Gemma's tokenizer
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def folder(request, gemma_model, tmp_path_factory):
    config = {"model_type": "gemma3_text"} if CONFIGS[request.param] is None else None
    return gemma_folder(tmp_path_factory.mktemp(request.param), gemma_model, CONFIGS[request.param], config)


def test_ids_match_the_reference_conversion(folder):
    ours, theirs = load_both(folder)
    texts = corpus(400) + ["<start_of_turn>user\nhi<end_of_turn>", "<bos><pad><unk><mask> x", "\t\tindented\n  two"]
    assert_same_ids(ours, theirs, texts)
    assert type(ours).__name__ == type(theirs).__name__ == "GemmaTokenizer"
    assert len(ours) == len(theirs) and ours.vocab_size == theirs.vocab_size
    assert ours.padding_side == theirs.padding_side == "left"
    assert ours.all_special_tokens == theirs.all_special_tokens
    assert (ours.bos_token_id, ours.eos_token_id, ours.pad_token_id, ours.unk_token_id) == (2, 1, 0, 3)
    # add_bos_token (Gemma's tokenizer_config.json) puts <bos> first; without it nothing is added
    assert (ours("hi")["input_ids"][0] == 2) == ours.add_bos_token == theirs.add_bos_token
    assert {i: (str(t), t.special) for i, t in ours.added_tokens_decoder.items()} == \
        {i: (str(t), t.special) for i, t in theirs.added_tokens_decoder.items()}


def test_byte_fallback_and_merges_are_the_reference_backend(folder):
    """Characters no piece covers become <0x..> byte pieces; the BPE merges are the reference's."""
    ours, theirs = load_both(folder)
    rare = "ꙮ 𓀀 ☃"
    assert ours.tokenize(rare) == theirs.tokenize(rare) and "<0xE2>" in ours.tokenize(rare)
    mine, reference = (json.loads(t.backend_tokenizer.to_str())["model"] for t in (ours, theirs))
    assert mine["vocab"] == reference["vocab"]
    assert len(mine["merges"]) > 100 and mine["merges"] == reference["merges"]


def test_offsets_and_decoding_match_the_reference(folder):
    ours, theirs = load_both(folder)
    texts = corpus(200)
    assert ours(texts, return_offsets_mapping=True)["offset_mapping"] == \
        theirs(texts, return_offsets_mapping=True)["offset_mapping"]
    for ids in theirs(texts)["input_ids"]:
        for skip in (True, False):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip)


def test_decode_round_trip(folder):
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rng = random.Random(11)
    texts = [random_text(rng) for _ in range(150)]
    for text in [t for t in texts if not any(token in t for token in tokenizer.all_special_tokens)]:
        assert tokenizer.decode(tokenizer(text).input_ids, skip_special_tokens=True) == text


def test_save_pretrained_writes_a_tokenizer_json_both_read(folder, tmp_path):
    import transformers

    ours = AutoTokenizer.from_pretrained(folder)
    ours.save_pretrained(tmp_path)
    assert os.path.isfile(os.path.join(tmp_path, "tokenizer.json"))
    texts = corpus(200)
    again, reference = AutoTokenizer.from_pretrained(tmp_path), transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert again(texts)["input_ids"] == ours(texts)["input_ids"] == reference(texts)["input_ids"]
