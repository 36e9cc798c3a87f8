"""Tokenizers of albert, camembert, electra, mpnet and roformer from folders without tokenizer.json,
against the reference loading the same folder.

ALBERT's ``spiece.model`` and CamemBERT's ``sentencepiece.bpe.model`` are SentencePiece models
trained here in each family's id layout (ALBERT: ``<pad> <unk> [CLS] [SEP] [MASK]`` first;
CamemBERT: fairseq's ``<unk> <s> </s>``); ELECTRA's and MPNet's are WordPiece ``vocab.txt`` files.
"""

from __future__ import annotations

import io
import json
import os
import random

import pytest

from workbench import AutoTokenizer
from workbench.errors import ConfigError

from tokenizer_cases import SCRIPTS, WORDS, corpus, load_both, pairs, random_text

pytestmark = pytest.mark.filterwarnings("ignore:A sequence is .* tokens long")
spm = pytest.importorskip("sentencepiece")
pytest.importorskip("google.protobuf")  # the reference reads the model with protobuf

# each family's special pieces, where its released SentencePiece models have them
LAYOUTS = {
    "albert": dict(pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, pad_piece="<pad>", unk_piece="<unk>",
                   control_symbols=["[CLS]", "[SEP]", "[MASK]"]),
    "camembert": dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1),
}
FILES = {"albert": "spiece.model", "camembert": "sentencepiece.bpe.model"}
CLASSES = {"albert": "AlbertTokenizer", "camembert": "CamembertTokenizer"}


def train_sentencepiece(layout: dict, normalization: str = "nmt_nfkc") -> bytes:
    rng = random.Random(3)
    sentences = [random_text(rng) for _ in range(300)]
    sentences += [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 15))) for _ in range(200)]
    sentences += list(SCRIPTS)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=model, vocab_size=500,
                                   model_type="unigram", normalization_rule_name=normalization,
                                   character_coverage=0.98, minloglevel=2, **layout)
    return model.getvalue()


def write_folder(path, files: dict, tokenizer_config: dict | None = None, config: dict | None = None) -> str:
    os.makedirs(path, exist_ok=True)
    for name, content in files.items():
        with open(os.path.join(path, name), "wb" if isinstance(content, bytes) else "w") as handle:
            handle.write(content)
    for name, content in (("tokenizer_config.json", tokenizer_config), ("config.json", config)):
        if content is not None:
            with open(os.path.join(path, name), "w") as handle:
                json.dump(content, handle)
    return str(path)


@pytest.fixture(scope="module")
def sentencepiece_models() -> dict:
    return {family: train_sentencepiece(layout) for family, layout in LAYOUTS.items()}


# (family, how the folder says which tokenizer it is): by tokenizer_config.json, or by config.json alone
SP_CASES = [(family, named) for family in LAYOUTS for named in ("class", "model_type")]


@pytest.fixture(scope="module", params=SP_CASES, ids=[f"{f}-by-{n}" for f, n in SP_CASES])
def sp_folder(request, sentencepiece_models, tmp_path_factory):
    family, named = request.param
    tokenizer_config = {"tokenizer_class": CLASSES[family]} if named == "class" else None
    config = {"model_type": family} if named == "model_type" else None
    path = tmp_path_factory.mktemp(f"{family}-{named}")
    return write_folder(path, {FILES[family]: sentencepiece_models[family]}, tokenizer_config, config)


# a WordPiece vocabulary holding both BERT's and MPNet's special tokens
WORDPIECE_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<s>", "<pad>", "</s>", "<unk>"] + sorted(
    {w.lower() for w in WORDS} | {"##s", "##ing", "##ed", ",", ".", "!", "?", "'", "-", "cafe", "naive", "二", "世"}
) + ["<mask>"]
WP_CASES = [("electra", {"tokenizer_class": "ElectraTokenizer"}, None), ("electra", None, {"model_type": "electra"}),
            ("mpnet", {"tokenizer_class": "MPNetTokenizer"}, None), ("mpnet", None, {"model_type": "mpnet"})]


@pytest.fixture(scope="module", params=WP_CASES, ids=["electra-by-class", "electra-by-model_type", "mpnet-by-class",
                                                       "mpnet-by-model_type"])
def wp_folder(request, tmp_path_factory):
    family, tokenizer_config, config = request.param
    path = tmp_path_factory.mktemp(family)
    return write_folder(path, {"vocab.txt": "\n".join(WORDPIECE_VOCAB) + "\n"}, tokenizer_config, config)


TEXTS = corpus(300) + ["``quoted'' text", "Paris est <mask>.", "[CLS] x [SEP] [MASK]", "  two  spaces ", "Café NAÏVE"]


def assert_like_the_reference(ours, theirs):
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.model_input_names == theirs.model_input_names
    mine, reference = ours(TEXTS), theirs(TEXTS)
    assert set(mine.keys()) == set(reference.keys())
    assert all(mine[key] == reference[key] for key in reference)
    firsts, seconds = (list(side) for side in zip(*pairs(TEXTS, 50)))
    mine, reference = ours(firsts, seconds), theirs(firsts, seconds)
    assert all(mine[key] == reference[key] for key in reference)
    assert ours(TEXTS, return_offsets_mapping=True)["offset_mapping"] == \
        theirs(TEXTS, return_offsets_mapping=True)["offset_mapping"]
    assert len(ours) == len(theirs) and ours.all_special_tokens == theirs.all_special_tokens
    assert ours.extra_special_tokens == [str(token) for token in theirs.extra_special_tokens]
    assert {i: (str(t), t.special, t.lstrip) for i, t in ours.added_tokens_decoder.items()} == \
        {i: (str(t), t.special, t.lstrip) for i, t in theirs.added_tokens_decoder.items()}
    for ids in theirs(TEXTS[:150])["input_ids"]:
        for skip in (True, False):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip)


def test_sentencepiece_folders_give_the_reference_tokenizer(sp_folder):
    assert_like_the_reference(*load_both(sp_folder))


def test_wordpiece_folders_give_the_reference_tokenizer(wp_folder):
    assert_like_the_reference(*load_both(wp_folder))


@pytest.mark.parametrize("settings", [{"do_lower_case": False}, {"keep_accents": True}])
def test_albert_casing_and_accent_settings(sentencepiece_models, tmp_path, settings):
    folder = write_folder(tmp_path, {"spiece.model": sentencepiece_models["albert"]},
                          {"tokenizer_class": "AlbertTokenizer", **settings})
    ours, theirs = load_both(folder)
    assert ours(TEXTS)["input_ids"] == theirs(TEXTS)["input_ids"]


def test_albert_without_normalization_rules(tmp_path):
    model = train_sentencepiece(LAYOUTS["albert"], normalization="identity")
    folder = write_folder(tmp_path, {"spiece.model": model}, {"tokenizer_class": "AlbertTokenizer"})
    ours, theirs = load_both(folder)
    texts = TEXTS + ["ｆｕｌｌｗｉｄｔｈ ﬁ ①"]
    assert ours(texts)["input_ids"] == theirs(texts)["input_ids"]


def test_camembert_mask_takes_the_space_before_it(sentencepiece_models, tmp_path):
    folder = write_folder(tmp_path, {"sentencepiece.bpe.model": sentencepiece_models["camembert"]},
                          {"tokenizer_class": "CamembertTokenizer"})
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("Paris est <mask>").input_ids
    assert ids[0] == tokenizer.bos_token_id == 5 and ids[-1] == tokenizer.eos_token_id == 6
    assert ids[-2] == tokenizer.mask_token_id == len(tokenizer) - 1
    assert "▁" not in tokenizer.convert_ids_to_tokens(ids)[-3:]


def test_save_pretrained_writes_a_tokenizer_json_both_read(sp_folder, tmp_path):
    import transformers

    ours = AutoTokenizer.from_pretrained(sp_folder)
    ours.save_pretrained(tmp_path)
    again, reference = AutoTokenizer.from_pretrained(tmp_path), transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert again(TEXTS)["input_ids"] == ours(TEXTS)["input_ids"] == reference(TEXTS)["input_ids"]
    assert type(again).__name__ == type(reference).__name__ == type(ours).__name__


@pytest.mark.parametrize("named", ["class", "model_type"])
def test_roformer_tokenizer_is_a_clear_error_with_a_way_out(tmp_path, named):
    """The reference's RoFormerTokenizer segments Chinese words with rjieba; workbench says so instead
    of silently giving other ids, and loads it the BERT way when asked to."""
    folder = write_folder(tmp_path, {"vocab.txt": "\n".join(WORDPIECE_VOCAB) + "\n"},
                          {"tokenizer_class": "RoFormerTokenizer"} if named == "class" else None,
                          {"model_type": "roformer"} if named == "model_type" else None)
    with pytest.raises(ConfigError, match="RoFormerTokenizer.*rjieba.*tokenizer_class=\"BertTokenizer\""):
        AutoTokenizer.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder, tokenizer_class="BertTokenizer")
    assert tokenizer.convert_ids_to_tokens(tokenizer("the fox").input_ids) == ["[CLS]", "the", "fox", "[SEP]"]
