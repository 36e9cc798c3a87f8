"""DebertaTokenizer from ``vocab.json`` + ``merges.txt`` with no tokenizer.json (DeBERTa v1 checkpoints
ship only these), against the reference's own loading of the same files. The BPE vocabulary is
trained here with the tokenizers library, [PAD] [CLS] [SEP] [UNK] first and no [MASK] (appended)."""

from __future__ import annotations

import json
import os
import random

import pytest
from tokenizers import ByteLevelBPETokenizer

from workbench import AutoTokenizer
from workbench.errors import CheckpointError

from tokenizer_cases import SCRIPTS, assert_same_ids, corpus, load_both, pairs, random_text

pytestmark = pytest.mark.filterwarnings("ignore:A sequence is .* tokens long")

CONFIGS = {
    "deberta-base-style": {"do_lower_case": False, "vocab_type": "gpt2"},
    "config-json-only": None,
    "prefix-space": {"tokenizer_class": "DebertaTokenizer", "add_prefix_space": True},
}


@pytest.fixture(scope="module")
def bpe_files(tmp_path_factory) -> str:
    rng = random.Random(3)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([random_text(rng) for _ in range(300)] + list(SCRIPTS), vocab_size=600, min_frequency=2,
                            special_tokens=["[PAD]", "[CLS]", "[SEP]", "[UNK]"], show_progress=False)
    path = tmp_path_factory.mktemp("bpe")
    bpe.save_model(str(path))
    return str(path)


def make_folder(path, bpe_files: str, tokenizer_config: dict | None) -> str:
    os.makedirs(path, exist_ok=True)
    for name in ("vocab.json", "merges.txt"):
        with open(os.path.join(bpe_files, name), encoding="utf-8") as source:
            (path / name).write_text(source.read(), encoding="utf-8")
    if tokenizer_config is not None:
        (path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    (path / "config.json").write_text(json.dumps({"model_type": "deberta"}))
    return str(path)


@pytest.fixture(scope="module", params=list(CONFIGS))
def folder(request, bpe_files, tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp(request.param), bpe_files, CONFIGS[request.param])


def test_ids_offsets_and_decoding_match_the_reference(folder):
    ours, theirs = load_both(folder)
    texts = corpus(300) + ["a [MASK] b", "x  [SEP]y", "[PAD][UNK]"]
    assert_same_ids(ours, theirs, texts)
    assert ours(texts, return_offsets_mapping=True)["offset_mapping"] == \
        theirs(texts, return_offsets_mapping=True)["offset_mapping"]
    firsts, seconds = (list(side) for side in zip(*pairs(texts, 50)))
    for ids in theirs(firsts, seconds)["input_ids"]:  # pairs: the separator and token types decode too
        for skip in (True, False):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip)
    assert type(ours).__name__ == type(theirs).__name__ == "DebertaTokenizer"
    assert len(ours) == len(theirs) and ours.all_special_tokens == theirs.all_special_tokens
    assert {i: str(t) for i, t in ours.added_tokens_decoder.items()} == \
        {i: str(t) for i, t in theirs.added_tokens_decoder.items()}


def test_save_pretrained_writes_a_tokenizer_json_both_read(folder, tmp_path):
    import transformers

    AutoTokenizer.from_pretrained(folder).save_pretrained(tmp_path)
    texts = corpus(100)
    expected = transformers.AutoTokenizer.from_pretrained(folder)(texts)["input_ids"]
    assert AutoTokenizer.from_pretrained(str(tmp_path))(texts)["input_ids"] == expected
    assert transformers.AutoTokenizer.from_pretrained(str(tmp_path))(texts)["input_ids"] == expected


def test_other_classes_are_a_clear_error(bpe_files, tmp_path):
    folder = make_folder(tmp_path, bpe_files, {"tokenizer_class": "GPT2Tokenizer"})
    with pytest.raises(CheckpointError, match="DebertaTokenizer only.*save_pretrained"):
        AutoTokenizer.from_pretrained(folder)
