"""text-classification / sentiment-analysis against the reference pipeline on tiny random checkpoints."""

import pytest

from pipeline_models import close, label_config, reference_pipeline, save_tiny
from workbench import KeyDataset, pipeline

TEXTS = ["We are very happy to show you the 🤗 Transformers library.", "We hope you don't hate it.", "",
         "a", "Nous sommes très heureux de vous présenter la bibliothèque 🤗 Transformers."]
PAIR = {"text": "I like you.", "text_pair": "I love you."}
LABELS = label_config(["NEGATIVE", "POSITIVE", "NEUTRAL"])


@pytest.fixture(scope="module", params=["bert", "distilbert", "roberta"])
def checkpoint(request, tmp_path_factory, minilm_path):
    return save_tiny(tmp_path_factory.mktemp(request.param), minilm_path, request.param, "ForSequenceClassification",
                     **LABELS)


@pytest.fixture(scope="module")
def bert(tmp_path_factory, minilm_path):
    return save_tiny(tmp_path_factory.mktemp("bert"), minilm_path, "bert", "ForSequenceClassification", **LABELS)


def test_matches_the_reference(checkpoint):
    ours, theirs = pipeline("sentiment-analysis", model=checkpoint), reference_pipeline("sentiment-analysis", checkpoint)
    for args, kwargs in [(TEXTS[0], {}), (TEXTS, {}), (PAIR, {}), ([PAIR, PAIR], {}), (TEXTS[0], {"top_k": None}),
                         (TEXTS, {"top_k": 2}), (TEXTS[1], {"function_to_apply": "sigmoid"}),
                         (TEXTS[1], {"function_to_apply": "none", "top_k": 3}),
                         (TEXTS[4], {"truncation": True, "max_length": 6})]:
        assert close(ours(args, **kwargs), theirs(args, **kwargs)), (args, kwargs)


@pytest.mark.parametrize("config", [dict(num_labels=1), dict(num_labels=1, problem_type="regression"),
                                    dict(LABELS, problem_type="multi_label_classification")],
                         ids=["one-label", "regression", "multi-label"])
def test_default_function_follows_the_config(tmp_path, minilm_path, config):
    folder = save_tiny(tmp_path, minilm_path, "bert", "ForSequenceClassification", **config)
    ours, theirs = pipeline("text-classification", model=folder), reference_pipeline("text-classification", folder)
    assert close(ours(TEXTS[:2]), theirs(TEXTS[:2])) and close(ours(TEXTS[0], top_k=None), theirs(TEXTS[0], top_k=None))


def test_batched_equals_one_at_a_time(bert):
    classifier = pipeline("text-classification", model=bert, top_k=None)
    alone = [classifier(text) for text in TEXTS]
    # 4 per batch: "" is 2 tokens and "a" is 3, as many as there are labels (logits must not be cut)
    assert close(classifier(TEXTS, batch_size=4), alone)
    assert close(classifier(["", "a"], batch_size=2), alone[2:4])


def test_generator_and_dataset_column(bert):
    datasets = pytest.importorskip("datasets")
    classifier = pipeline("text-classification", model=bert)
    expected = classifier(TEXTS)
    streamed = classifier(text for text in TEXTS)
    assert not isinstance(streamed, list) and close(list(streamed), expected)
    column = KeyDataset(datasets.Dataset.from_dict({"text": TEXTS}), "text")
    assert close(list(classifier(column, batch_size=2)), expected)


def test_top_k_from_pipeline_works_like_a_call_top_k(bert):
    ours = pipeline("text-classification", model=bert, top_k=2)
    best_two = ours(TEXTS[0])
    assert len(best_two) == 2 and isinstance(best_two[0], dict)  # the reference nests this one level deeper
    assert close(best_two, pipeline("text-classification", model=bert)(TEXTS[0], top_k=2))
    assert isinstance(ours(TEXTS[0], top_k=1)[0], dict)


def test_documented_results_for_odd_inputs(bert):
    classifier = pipeline("text-classification", model=bert)
    assert set(classifier("")[0]) == {"label", "score"}  # an empty text is classified ([CLS] [SEP])
    every = classifier(TEXTS[0], top_k=10)  # more than the labels: all of them
    assert [x["label"] for x in every] == [x["label"] for x in classifier(TEXTS[0], top_k=None)] and len(every) == 3
    assert classifier(TEXTS[0], function_to_apply="SOFTMAX") == classifier(TEXTS[0])


def test_errors(bert):
    classifier = pipeline("sentiment-analysis", model=bert)
    with pytest.raises(ValueError, match="Input 1: text-classification takes strings.*got int"):
        classifier(["fine", 3])
    assert classifier("fine")  # a failed call leaves the pipeline usable
    with pytest.raises(ValueError, match="pair as a dict"):
        classifier([["a", "b"]])
    with pytest.raises(ValueError, match="keys 'text' and 'text_pair'"):
        classifier({"text": "a", "pair": "b"})
    with pytest.raises(ValueError, match="empty list"):
        classifier([])
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        classifier("a", top_k=0)
    with pytest.raises(ValueError, match="function_to_apply='relu'"):
        classifier("a", function_to_apply="relu")
    with pytest.raises(TypeError, match="tokenizer, which takes no \\['colour'\\]"):
        classifier("a", colour="red")
    with pytest.raises(KeyError, match="Did you mean 'sentiment-analysis'"):
        pipeline("sentiment-analisys", model=bert)


def test_quick_tour_with_model_and_tokenizer_instances(bert):
    """The quick tour's code, with workbench for transformers (a local tiny model for the Hub one)."""
    from workbench import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(bert)
    tokenizer = AutoTokenizer.from_pretrained(bert)
    classifier = pipeline("sentiment-analysis", model=model, tokenizer=tokenizer)
    texts = ["We are very happy to show you the 😊 Transformers library.", "We hope you don't hate it."]
    results = classifier(texts)
    for result in results:
        assert f"label: {result['label']}, with score: {round(result['score'], 4)}".startswith("label: ")
    assert close(results, reference_pipeline("sentiment-analysis", bert)(texts))
    assert pipeline(model=bert).task == "text-classification"  # the task read from config.json
