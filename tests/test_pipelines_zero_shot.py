"""zero-shot-classification against the reference pipeline on tiny random "NLI" checkpoints.

No real NLI model can be had offline, so only the mechanics are checked (against the reference).
"""

import logging

import pytest

from pipeline_models import close, label_config, reference_pipeline, save_tiny
from workbench import KeyDataset, pipeline

TEXTS = ["I have a problem with my iphone that needs to be resolved asap!!", "Who are you voting for in 2020?",
         "Short.", "Angela Merkel ist eine Politikerin in Deutschland und Vorsitzende der CDU"]
LABELS = ["urgent", "not urgent", "phone", "tablet", "computer"]
NLI = label_config(["contradiction", "neutral", "entailment"])


@pytest.fixture(scope="module", params=[("bert", ["contradiction", "neutral", "entailment"]),
                                        ("distilbert", ["ENTAILMENT", "neutral", "contradiction"]),
                                        ("roberta", ["a", "b", "c"])], ids=["bert", "distilbert", "roberta-no-entail"])
def checkpoint(request, tmp_path_factory, minilm_path):
    model_type, labels = request.param
    return save_tiny(tmp_path_factory.mktemp(model_type), minilm_path, model_type, "ForSequenceClassification",
                     **label_config(labels))


@pytest.fixture(scope="module")
def bert(tmp_path_factory, minilm_path):
    return save_tiny(tmp_path_factory.mktemp("bert"), minilm_path, "bert", "ForSequenceClassification", **NLI)


def test_matches_the_reference(checkpoint, caplog):
    task = "zero-shot-classification"
    with caplog.at_level(logging.WARNING, logger="workbench"):
        ours = pipeline(task, model=checkpoint)
    assert ("No 'entailment' label" in caplog.text) == ("a" in ours.model.config.label2id)
    theirs = reference_pipeline(task, checkpoint)
    for args, kwargs in [(TEXTS[0], dict(candidate_labels=LABELS)),
                         (TEXTS[1:3], dict(candidate_labels="politics, sports ,public health")),
                         (TEXTS[0], dict(candidate_labels=LABELS, multi_label=True)),
                         (TEXTS[1], dict(candidate_labels=["one"])),
                         (TEXTS[3], dict(candidate_labels=LABELS, hypothesis_template="Das ist {}."))]:
        assert close(ours(args, **kwargs), theirs(args, **kwargs)), (args, kwargs)
    assert close(ours(TEXTS[0], LABELS), theirs(TEXTS[0], LABELS))  # labels as the second argument


def test_outputs(bert):
    classifier = pipeline("zero-shot-classification", model=bert)
    out = classifier(TEXTS[0], candidate_labels=LABELS)
    assert out["sequence"] == TEXTS[0] and sorted(out["labels"]) == sorted(LABELS)
    assert out["scores"] == sorted(out["scores"], reverse=True) and abs(sum(out["scores"]) - 1) < 1e-5
    independent = classifier(TEXTS[0], candidate_labels=LABELS, multi_label=True)["scores"]
    assert all(0 < score < 1 for score in independent) and abs(sum(independent) - 1) > 1e-3


def test_labels_batch_like_texts(bert):
    """One chunk per label: batching the chunks of several texts changes nothing."""
    classifier = pipeline("zero-shot-classification", model=bert, candidate_labels=LABELS)
    alone = [classifier(text) for text in TEXTS]
    assert close(classifier(TEXTS, batch_size=4), alone) and close(classifier(TEXTS, batch_size=3), alone)
    assert close(classifier(TEXTS, batch_size=4, multi_label=True), classifier(TEXTS, multi_label=True))


def test_generator_and_dataset_column(bert):
    datasets = pytest.importorskip("datasets")
    classifier = pipeline("zero-shot-classification", model=bert, candidate_labels=["a", "b"])
    expected = classifier(TEXTS)
    assert close(list(classifier(text for text in TEXTS)), expected)
    column = KeyDataset(datasets.Dataset.from_dict({"text": TEXTS}), "text")
    assert close(list(classifier(column, batch_size=4)), expected)


def test_errors(bert):
    classifier = pipeline("zero-shot-classification", model=bert)
    with pytest.raises(ValueError, match="needs candidate labels"):
        classifier(TEXTS[0])
    for labels in ([], " , ", [1, 2]):
        with pytest.raises(ValueError, match="candidate_labels must be a non-empty list of str"):
            classifier(TEXTS[0], candidate_labels=labels)
    for template in ("No slot.", "{label} it is"):
        with pytest.raises(ValueError, match="needs one {} where the label goes"):
            classifier(TEXTS[0], candidate_labels=LABELS, hypothesis_template=template)
    with pytest.raises(ValueError, match="Input 1: zero-shot-classification got an empty text"):
        classifier([TEXTS[0], "  "], candidate_labels=LABELS)
    with pytest.raises(ValueError, match="takes strings, got dict"):
        classifier({"text": TEXTS[0]}, candidate_labels=LABELS)
    assert classifier(TEXTS[2], candidate_labels=LABELS)["labels"]  # still usable
