"""pipeline(): task lookup, input shapes (item, list, generator, dataset column), parameters,
batching that changes nothing, and feature extraction checked against the reference."""

import re

import pytest
import torch
import transformers

from workbench import KeyDataset, pipeline

from tolerance import assert_close_scaled

TEXTS = ["Hello there.", "A much longer sentence, with quite a few more tokens in it.", "Short one", "¿Qué tal? 👋"]


@pytest.fixture(scope="module")
def extractor(minilm_path):
    return pipeline("feature-extraction", model=minilm_path)


def test_matches_the_reference_pipeline(extractor, minilm_path):
    reference = transformers.pipeline("feature-extraction", model=minilm_path)
    for text in TEXTS:
        ours, theirs = torch.tensor(extractor(text)), torch.tensor(reference(text))
        assert_close_scaled(ours, theirs, what=text)


@pytest.mark.parametrize("batch_size", [2, 3, 8])
def test_batched_equals_one_at_a_time(extractor, batch_size):
    alone = [extractor(t, return_tensors=True) for t in TEXTS]
    batched = extractor(TEXTS, batch_size=batch_size, return_tensors=True)
    for a, b in zip(alone, batched):
        assert_close_scaled(a, b)


def test_a_list_is_batched_by_length_and_answered_in_order(extractor, monkeypatch):
    texts = ["a b c d e f g h i j", "a", "a b c d e f g h i j k l", "a b"]  # 12, 3, 14 and 4 tokens
    shapes = []
    forward = extractor._forward
    monkeypatch.setattr(extractor, "_forward", lambda inputs, **kw: shapes.append(tuple(inputs["input_ids"].shape))
                        or forward(inputs, **kw))
    out = extractor(texts, batch_size=2, return_tensors=True)
    assert shapes == [(2, 4), (2, 14)]  # the two short texts together, then the two long ones
    assert [features.shape[1] for features in out] == [12, 3, 14, 4]


def test_input_shapes(extractor):
    assert isinstance(extractor(TEXTS[0]), list) and len(extractor(TEXTS[0])) == 1  # one item: (1, T, H)
    assert len(extractor(TEXTS)) == len(TEXTS)
    streamed = extractor(t for t in TEXTS)
    assert not isinstance(streamed, list)
    assert [torch.tensor(x).shape for x in streamed] == [torch.tensor(x).shape for x in extractor(TEXTS)]


def test_dataset_column(extractor):
    datasets = pytest.importorskip("datasets")
    dataset = datasets.Dataset.from_dict({"text": TEXTS, "label": [0, 1, 0, 1]})
    out = list(extractor(KeyDataset(dataset, "text"), batch_size=2, pool="mean"))
    assert len(out) == len(TEXTS) and all(len(vector[0]) == 384 for vector in out)


def test_call_parameters_override_construction_for_that_call_only(minilm_path):
    pipe = pipeline("feature-extraction", model=minilm_path, pool="mean")
    assert torch.tensor(pipe(TEXTS[1])).shape == (1, 384)
    assert torch.tensor(pipe(TEXTS[1], pool="cls")).shape == (1, 384)
    truncated = torch.tensor(pipe(TEXTS[1], tokenize_kwargs={"truncation": True, "max_length": 5}))
    assert truncated.shape == (1, 384) and not torch.allclose(truncated, torch.tensor(pipe(TEXTS[1])))
    assert torch.tensor(pipe(TEXTS[1])).shape == (1, 384)  # the construction parameters are back


def test_sentence_similarity_with_mean_pooling(extractor):
    a, b, c = extractor(["A man is playing a guitar.", "Someone plays an acoustic guitar.", "Stocks fell sharply."],
                        pool="mean", normalize=True, return_tensors=True)
    assert (a @ b.T).item() > 0.6 > 0.2 > (a @ c.T).item()


def test_task_inferred_from_the_model(minilm_path):
    assert pipeline(model=minilm_path).task == "feature-extraction"


def test_errors(extractor, minilm_path):
    with pytest.raises(KeyError, match="Did you mean 'feature-extraction'"):
        pipeline("feature-extractoin", model=minilm_path)
    with pytest.raises(ValueError, match="empty list"):
        extractor([])
    with pytest.raises(ValueError, match="takes strings, got int"):
        extractor([TEXTS[0], 3])
    with pytest.raises(TypeError, match="unexpected keyword|takes no parameter|got an unexpected"):
        extractor(TEXTS[0], no_such_option=1)
    with pytest.raises(ValueError, match="pool='max' is not supported"):
        extractor(TEXTS[0], pool="max")
    with pytest.raises(ValueError, match="needs a task, a model"):
        pipeline()


def test_key_dataset_where_the_reference_keeps_it():
    from workbench.pipelines.pt_utils import KeyDataset as Documented

    assert Documented is KeyDataset


@pytest.mark.parametrize("device", [-1, "cpu", torch.device("cpu")])
def test_device_places_the_model(minilm_path, extractor, device):
    placed = pipeline("feature-extraction", model=minilm_path, device=device)
    assert placed.model.device == torch.device("cpu")
    assert torch.equal(torch.tensor(placed("a sentence")), torch.tensor(extractor("a sentence")))


def test_dtype_casts_the_model(minilm_path, extractor):
    half = pipeline("feature-extraction", model=minilm_path, dtype="bfloat16")
    assert half.model.dtype == torch.bfloat16
    ours, full = torch.tensor(half("a sentence")), torch.tensor(extractor("a sentence"))
    assert_close_scaled(ours.float(), full, tol=0.1)  # bfloat16 keeps 3 significant digits


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("device, message", [(0, "device='cuda:0': this torch has no such device"),
                                             ("cuda", "device='cuda': this torch has no such device"),
                                             ("gpu", "device='gpu' is not a device name"),
                                             (1.5, "device=1.5: pass -1 or 'cpu'")])
def test_a_device_this_machine_lacks_is_a_clear_error(minilm_path, device, message):
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        pipeline("feature-extraction", model=minilm_path, device=device)
