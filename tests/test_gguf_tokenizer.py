"""Tokenizers read out of GGUF files, against what the reference's GGUF loader builds from the same file.

    SmolLM2-135M-Instruct (Q4_1)   byte-level BPE, llama.cpp pre-tokenizer "smollm", 17 control tokens,
                                   a chat template: the 1,100-string corpus, pairs, padding, decoding,
                                   special tokens, save_pretrained -> the reference loads the folder
    tiny files written here        sentencepiece ("llama") vocabularies with and without merges, and
                                   byte-level ones under each family of pre-tokenizer regex
"""

from __future__ import annotations

import json
import os

import gguf
import numpy as np
import pytest

pytest.register_assert_rewrite("tokenizer_cases")

from tokenizer_cases import assert_same, assert_same_rows, chunks, corpus, pairs  # noqa: E402
from workbench import AutoTokenizer, PreTrainedTokenizerFast  # noqa: E402
from workbench.errors import CheckpointError, CheckpointNotFoundError, UnsupportedModelError  # noqa: E402
from workbench.tokenization.gguf import byte_alphabet  # noqa: E402

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

pytestmark = pytest.mark.filterwarnings("ignore:A sequence is:UserWarning")

TEXTS = corpus()
SHORT = [text for text in TEXTS if len(text) < 400]
PAIRS = pairs(SHORT, 200)
ALL_OUTPUTS = dict(return_offsets_mapping=True, return_special_tokens_mask=True, return_length=True)
CHAT = [{"role": "user", "content": "What is the capital of France?"}]


def backend_json(tokenizer) -> dict:
    return json.loads(tokenizer.backend_tokenizer.to_str())


def special_state(tokenizer) -> dict:
    return dict(
        special_tokens_map=tokenizer.special_tokens_map,
        extra_special_tokens=list(tokenizer.extra_special_tokens),
        all_special_ids=tokenizer.all_special_ids,
        ids=[tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id, tokenizer.pad_token_id],
        added={index: (token.content, token.special) for index, token in tokenizer.added_tokens_decoder.items()},
        flags=(tokenizer.add_bos_token, tokenizer.add_eos_token),
        sizes=(len(tokenizer), tokenizer.vocab_size),
        padding_side=tokenizer.padding_side,
        model_max_length=tokenizer.model_max_length,
        chat_template=tokenizer.chat_template,
    )


# ---------------------------------------------------------------------------------------------
# SmolLM2, from its GGUF file


@pytest.fixture(scope="module")
def smollm2(smollm2_gguf_path):
    """(folder, file name) of the GGUF file."""
    return os.path.dirname(smollm2_gguf_path), os.path.basename(smollm2_gguf_path)


@pytest.fixture(scope="module")
def ours(smollm2):
    folder, name = smollm2
    return AutoTokenizer.from_pretrained(folder, gguf_file=name)


@pytest.fixture(scope="module")
def reference(smollm2):
    folder, name = smollm2
    return transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)


def test_pipeline_equals_the_reference(ours, reference):
    assert type(ours) is PreTrainedTokenizerFast
    ours_json, theirs = backend_json(ours), backend_json(reference)
    assert ours_json["pre_tokenizer"]["type"] == "ByteLevel" and len(ours_json["added_tokens"]) == 17
    assert ours_json == theirs  # model, vocabulary, merges, splitting, decoder, added tokens, post-processor


def test_every_string_alone(ours, reference):
    for text in TEXTS:
        assert_same(ours(text, **ALL_OUTPUTS), reference(text, **ALL_OUTPUTS), text)


def test_batches_pairs_and_padding(ours, reference):
    assert_same_rows(ours(TEXTS, **ALL_OUTPUTS), reference(TEXTS, **ALL_OUTPUTS), TEXTS)
    first, second = [pair[0] for pair in PAIRS], [pair[1] for pair in PAIRS]
    options = dict(padding="max_length", truncation="longest_first", max_length=48, **ALL_OUTPUTS)
    assert_same_rows(ours(first, second, **options), reference(first, second, **options), first)
    for batch in chunks(SHORT[:300], 50):
        options = dict(padding=True, padding_side="left", return_tensors="pt")
        assert_same(ours(batch, **options), reference(batch, **options), batch[0])


def test_special_tokens_and_chat_template(ours, reference, smollm2_gguf_path):
    from workbench.gguf import read_gguf_tokenizer_metadata

    assert special_state(ours) == special_state(reference)
    assert ours.special_tokens_map == {
        "bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "unk_token": "<|endoftext|>", "pad_token": "<|im_end|>"
    }  # fmt: skip
    assert ours.chat_template == read_gguf_tokenizer_metadata(smollm2_gguf_path)["chat_template"]
    assert "<|im_start|>" in ours.chat_template
    prompt = reference.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert ours(prompt).input_ids == reference(prompt).input_ids


def test_decode_round_trips(ours, reference):
    ids = reference(TEXTS).input_ids
    assert ours.batch_decode(ids) == reference.batch_decode(ids) == TEXTS  # byte-level BPE loses nothing
    with_specials = reference(["<|im_start|>user\nhi<|im_end|>", "<|endoftext|>x"]).input_ids
    for skip in (False, True):
        assert ours.batch_decode(with_specials, skip_special_tokens=skip) == reference.batch_decode(
            with_specials, skip_special_tokens=skip
        )


def test_saved_folder_loads_in_the_reference(ours, reference, tmp_path):
    written = {os.path.basename(path) for path in ours.save_pretrained(tmp_path)}
    assert {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"} <= written
    for loaded in (transformers.AutoTokenizer.from_pretrained(str(tmp_path)), AutoTokenizer.from_pretrained(tmp_path)):
        assert backend_json(loaded) == backend_json(reference)
        assert_same_rows(loaded(TEXTS, **ALL_OUTPUTS), reference(TEXTS, **ALL_OUTPUTS), TEXTS)
        assert special_state(loaded) == special_state(reference)


def test_entry_points_and_overrides(smollm2, smollm2_gguf_path, ours, tmp_path):
    folder, name = smollm2
    texts = SHORT[:50]
    expected = ours(texts).input_ids
    direct = PreTrainedTokenizerFast.from_pretrained(folder, gguf_file=name)
    from_path = AutoTokenizer.from_pretrained(smollm2_gguf_path)  # the .gguf path on its own
    absolute = AutoTokenizer.from_pretrained(tmp_path, gguf_file=smollm2_gguf_path)
    for tokenizer in (direct, from_path, absolute):
        assert tokenizer(texts).input_ids == expected
    overridden = AutoTokenizer.from_pretrained(folder, gguf_file=name, padding_side="left", pad_token="<|endoftext|>")
    assert (overridden.padding_side, overridden.pad_token_id) == ("left", 0)


# ---------------------------------------------------------------------------------------------
# tiny GGUF files written here


def write_gguf(path, model: str, tokens: list[str], types: list[int], *, arch: str = "llama",
               scores=None, merges=None, pre=None, flags: dict | None = None, ids=(1, 2, 0)):  # fmt: skip
    """A GGUF file holding a tokenizer (and the least config and weights the reference needs to read it)."""
    writer = gguf.GGUFWriter(str(path), arch)
    for key, value in dict(context_length=64, embedding_length=8, block_count=1, feed_forward_length=8,
                           head_count=2, head_count_kv=2, vocab_size=len(tokens)).items():  # fmt: skip
        getattr(writer, f"add_{key}")(value)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model(model)
    if pre is not None:
        writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    if scores is not None:
        writer.add_token_scores(scores)
    if merges is not None:
        writer.add_token_merges(merges)
    bos, eos, unk = ids
    writer.add_bos_token_id(bos)
    writer.add_eos_token_id(eos)
    if unk is not None:
        writer.add_unk_token_id(unk)
    for flag, value in (flags or {}).items():  # add_bos_token, add_eos_token, add_space_prefix
        getattr(writer, f"add_{flag}")(value)
    writer.add_chat_template("{% for m in messages %}<s>{{ m['content'] }}</s>{% endfor %}")
    writer.add_tensor("token_embd.weight", np.zeros((len(tokens), 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# A sentencepiece vocabulary as llama.cpp writes Llama 2's: <unk> <s> </s>, 256 byte tokens, pieces.
PIECES = ("▁", "e", "l", "o", "h", "w", "r", "d", "t", "a", "▁h", "▁w", "ll", "he", "▁he", "llo", "▁hello",
          "or", "ld", "▁wor", "▁world", "th", "▁t", "▁the", "▁a", "at", "▁at", "lo", "▁lo")  # fmt: skip
SPM_TOKENS = ["<unk>", "<s>", "</s>", *(f"<0x{byte:02X}>" for byte in range(256)), *PIECES,
              "<|im_start|>", "<|im_end|>", "<think>"]  # fmt: skip
SPM_TYPES = [2, 3, 3] + [6] * 256 + [1] * len(PIECES) + [3, 3, 4]
# single characters score by frequency, longer pieces by when training created them
SPM_SCORES = [0.0] * 259 + [-float(i if len(p) == 1 else 100 - 3 * i) for i, p in enumerate(PIECES)] + [0.0] * 3
SPM_TEXTS = ["hello world", " hello  world", "the <think> <|im_start|>héllo\n", "", "at the world", "😀 x"]

SPM_CASES = {
    "merges_from_scores": dict(flags={}),  # no add_bos_token: llama.cpp adds bos to sentencepiece
    "merges_in_file": dict(merges=["▁ h", "l l", "h e", "▁h e", "ll o", "▁he llo", "o r", "▁ w"],
                           flags={"add_bos_token": True}),
    "eos_no_bos": dict(flags={"add_bos_token": False, "add_eos_token": True}),
    "no_space_prefix_flag": dict(flags={"add_space_prefix": False}, ids=(1, 2, None)),  # the reference ignores it
    "tied_scores": dict(scores=[0.0] * len(SPM_TOKENS)),  # merges then order by piece length, then file order
}


@pytest.mark.parametrize("case", sorted(SPM_CASES))
def test_tiny_sentencepiece_matches_the_reference(case, tmp_path):
    write_gguf(tmp_path / "spm.gguf", "llama", SPM_TOKENS, SPM_TYPES, **{"scores": SPM_SCORES, **SPM_CASES[case]})
    ours = AutoTokenizer.from_pretrained(tmp_path, gguf_file="spm.gguf")
    reference = transformers.AutoTokenizer.from_pretrained(str(tmp_path), gguf_file="spm.gguf")
    assert backend_json(ours) == backend_json(reference)
    assert special_state(ours) == special_state(reference)
    texts = SPM_TEXTS + SHORT[:200]
    assert_same_rows(ours(texts, **ALL_OUTPUTS), reference(texts, **ALL_OUTPUTS), texts)
    ids = reference(texts).input_ids
    for skip in (False, True):
        assert ours.batch_decode(ids, skip_special_tokens=skip) == reference.batch_decode(ids, skip_special_tokens=skip)
    assert ours.decode(ours("hello world").input_ids, skip_special_tokens=True) == "hello world"


def byte_level_vocab(extra: tuple = ()) -> tuple[list[str], list[int], list[str]]:
    """(tokens, types, merges): 256 byte tokens, merged words, then control and user-defined tokens.
    ``<|user tag|>`` and ``<x y>`` are not spelled in the byte alphabet, as llama.cpp sometimes writes them."""
    merges = ["Ġ t", "h e", "Ġt he", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "1 2", "12 3", "Ġ 1", "l l",
              "ll o", "h ello", "e llo", "Ġ h", "Ġ Ġ", "ĠĠ ĠĠ", "Ċ Ċ"]  # fmt: skip
    tokens = [*byte_alphabet().values(), *(merge.replace(" ", "") for merge in merges)]
    marked = [("<|endoftext|>", 3), ("<|im_start|>", 3), ("<|user tag|>", 3), ("<tool>", 4), ("<x y>", 4), *extra]
    return tokens + [token for token, _ in marked], [1] * len(tokens) + [kind for _, kind in marked], merges


@pytest.mark.parametrize("pre", ["llama-bpe", "qwen2", "qwen35", "tekken", "gpt-4o", "smollm", None])
def test_tiny_byte_level_splits_match_the_reference(pre, tmp_path):
    tokens, types, merges = byte_level_vocab()
    bos = tokens.index("<|im_start|>")
    write_gguf(tmp_path / "bpe.gguf", "gpt2", tokens, types, merges=merges, pre=pre, ids=(bos, bos - 1, None))
    ours = AutoTokenizer.from_pretrained(tmp_path / "bpe.gguf")
    reference = transformers.AutoTokenizer.from_pretrained(str(tmp_path), gguf_file="bpe.gguf")
    assert backend_json(ours) == backend_json(reference)
    assert special_state(ours) == special_state(reference)
    texts = ["hello world 12345", "the <tool> <x y> <|user tag|>\n\n  x", "Don't STOP, it's 1,234!"] + SHORT[:300]
    assert_same_rows(ours(texts, **ALL_OUTPUTS), reference(texts, **ALL_OUTPUTS), texts)
    assert ours.batch_decode(ours(texts).input_ids) == texts


def test_no_token_is_added_past_the_files_vocabulary(tmp_path):
    """The reference appends its class-default "<|endoftext|>" as a new id when a byte-level file
    lacks it (Llama 3's, say): an id the model has no embedding for. workbench adds none."""
    tokens, types, merges = byte_level_vocab()
    tokens[tokens.index("<|endoftext|>")] = "<|end_of_text|>"
    write_gguf(tmp_path / "bpe.gguf", "gpt2", tokens, types, merges=merges, pre="llama-bpe", ids=(257, 258, None))
    ours = AutoTokenizer.from_pretrained(tmp_path, gguf_file="bpe.gguf")
    assert len(ours) == len(tokens) and ours.convert_tokens_to_ids("<|endoftext|>") is None
    assert max(ours(["<|endoftext|> <|end_of_text|>", "x"]).input_ids[0]) < len(tokens)


# ---------------------------------------------------------------------------------------------
# errors


def test_unsupported_tokenizer_kinds_name_the_supported_ones(tmp_path):
    write_gguf(tmp_path / "t5.gguf", "t5", SPM_TOKENS, SPM_TYPES, scores=SPM_SCORES)
    message = r"t5.gguf holds a tokenizer of kind 't5'.*Supported: 'gpt2'.*'llama'"
    with pytest.raises(UnsupportedModelError, match=message):
        AutoTokenizer.from_pretrained(tmp_path, gguf_file="t5.gguf")
    write_gguf(tmp_path / "gemma.gguf", "llama", SPM_TOKENS, SPM_TYPES, scores=SPM_SCORES, arch="gemma2")
    with pytest.raises(UnsupportedModelError, match=r"spelled the 'gemma2' way.*except for gemma, gemma2"):
        PreTrainedTokenizerFast.from_pretrained(tmp_path, gguf_file="gemma.gguf")


def test_unsupported_pre_tokenizer_names_the_supported_ones(tmp_path):
    tokens, types, merges = byte_level_vocab()
    write_gguf(tmp_path / "bpe.gguf", "gpt2", tokens, types, merges=merges, pre="chameleon", ids=(257, 258, None))
    message = r"llama.cpp's 'chameleon' pre-tokenizer.*Supported: .*llama-bpe.*qwen2.*smollm"
    with pytest.raises(UnsupportedModelError, match=message):
        AutoTokenizer.from_pretrained(tmp_path, gguf_file="bpe.gguf")


def test_damaged_files_and_missing_ones(tmp_path):
    tokens, types, _ = byte_level_vocab()
    write_gguf(tmp_path / "no_merges.gguf", "gpt2", tokens, types, pre="llama-bpe", ids=(257, 258, None))
    with pytest.raises(CheckpointError, match=r"byte-level \(gpt2\) vocabulary but no tokenizer.ggml.merges"):
        AutoTokenizer.from_pretrained(tmp_path, gguf_file="no_merges.gguf")
    write_gguf(tmp_path / "bad_id.gguf", "llama", SPM_TOKENS, SPM_TYPES, scores=SPM_SCORES, ids=(1, 9999, 0))
    with pytest.raises(CheckpointError, match=r"names token 9999 as its eos token.*pass eos_token="):
        AutoTokenizer.from_pretrained(tmp_path, gguf_file="bad_id.gguf")
    assert AutoTokenizer.from_pretrained(tmp_path, gguf_file="bad_id.gguf", eos_token="</s>").eos_token_id == 2
    with pytest.raises(CheckpointNotFoundError, match=r"has no GGUF file 'Q8.gguf' \(the GGUF files there are bad_id"):
        AutoTokenizer.from_pretrained(tmp_path, gguf_file="Q8.gguf")
