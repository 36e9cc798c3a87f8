"""object-detection (DETR) and image-segmentation (SegFormer, MobileNetV2 + DeepLabV3: semantic masks)
against transformers 5.23's pipelines, on scikit-image's astronaut and coffee cup as PIL images, an
array, a PNG path and a list. Each model is a tiny random reference checkpoint saved beside a reference
image processor (DETR's resizes to 64 on the short side, at most 96, so the two images differ in size)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import workbench
from workbench.errors import UnsupportedModelError
from workbench.models.registry import FAMILIES

from reference import build_reference_model

TOL = 1e-4
DETR_LABELS = {0: "cat", 1: "cup", 2: "person", 3: "rocket"}
SEGMENT_LABELS = {0: "sky", 1: "person", 2: "cup", 3: "table"}
SEGMENTERS = {"segformer": ("SegformerForSemanticSegmentation", "SegformerImageProcessor",
                            dict(size={"height": 32, "width": 32})),
              "mobilenet_v2": ("MobileNetV2ForSemanticSegmentation", "MobileNetV2ImageProcessor",
                               dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}))}


def _labelled(model_type: str, labels: dict, **extra) -> dict:
    return dict(FAMILIES[model_type].tiny, num_labels=len(labels), id2label=labels,
                label2id={name: i for i, name in labels.items()}, **extra)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    astronaut, coffee = Image.fromarray(skimage_data.astronaut()), Image.fromarray(skimage_data.coffee())
    path = tmp_path_factory.mktemp("images") / "astronaut.png"
    astronaut.resize((150, 100)).save(path)
    # ours takes the array; the reference's load_image does not, so it gets the same pixels as PIL
    return {"astronaut": (astronaut, astronaut), "array": (skimage_data.coffee(), coffee),
            "png": (str(path), str(path)), "list": ([astronaut, str(path)], [astronaut, str(path)])}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    import transformers

    detr = build_reference_model("detr", "DetrForObjectDetection", _labelled("detr", DETR_LABELS, num_queries=10))
    with torch.no_grad():  # spread the random queries' scores (0.57 to 0.94), so thresholds cut between them
        detr.model.query_position_embeddings.weight.mul_(20)
        for param in detr.class_labels_classifier.parameters():
            param.mul_(20)
    built = {"detr": (detr, transformers.DetrImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}))}
    for model_type, (cls, processor, sizes) in SEGMENTERS.items():
        built[model_type] = (build_reference_model(model_type, cls, _labelled(model_type, SEGMENT_LABELS)),
                             getattr(transformers, processor)(**sizes))
    paths = {}
    for name, (model, processor) in built.items():
        paths[name] = str(tmp_path_factory.mktemp(name))
        model.save_pretrained(paths[name])
        processor.save_pretrained(paths[name])
    return paths


@pytest.fixture(scope="module")
def pipes(folders):
    """(ours, the reference's) per model: object-detection for DETR, image-segmentation for the others."""
    import transformers

    tasks = {"detr": "object-detection", **{name: "image-segmentation" for name in SEGMENTERS}}
    return {name: (workbench.pipeline(task, model=folders[name]), transformers.pipeline(task, model=folders[name]))
            for name, task in tasks.items()}


def assert_same_detections(ours, theirs):
    assert [d["label"] for d in ours] == [d["label"] for d in theirs]
    assert [d["box"] for d in ours] == [d["box"] for d in theirs]
    np.testing.assert_allclose([d["score"] for d in ours], [d["score"] for d in theirs], atol=TOL)
    assert all(isinstance(value, int) for d in ours for value in d["box"].values())


def assert_same_segments(ours, theirs):
    assert [(s["label"], s["score"]) for s in ours] == [(s["label"], s["score"]) for s in theirs]
    for mine, reference in zip(ours, theirs):
        assert mine["mask"].mode == "L" and mine["mask"].size == reference["mask"].size
        assert np.array_equal(np.array(mine["mask"]), np.array(reference["mask"])), mine["label"]


@pytest.mark.parametrize("kind", ["astronaut", "array", "png", "list"])
def test_object_detection_matches_the_reference(pipes, images, kind):
    ours, reference = pipes["detr"]
    mine, theirs = images[kind]
    for threshold in (0.0, 0.85):  # every query, then some of them
        got, expected = ours(mine, threshold=threshold), reference(theirs, threshold=threshold)
        for a, b in zip(*((got, expected) if kind == "list" else ([got], [expected]))):
            assert_same_detections(a, b)
            assert 0 < len(a) < 10 or threshold == 0.0
    assert ours(mine) == ours(mine, threshold=0.5)  # the reference's default threshold


def test_detection_batch_of_two_sizes_equals_each_alone(pipes, images):
    """The processor gives the two images different sizes (64x64 and 64x96): padded into one batch,
    each still gets exactly its answer alone (the model runs per size; see object_detection.py)."""
    ours, reference = pipes["detr"]
    astronaut, coffee = images["astronaut"][0], images["array"][1]
    batched = ours([astronaut, coffee], batch_size=2, threshold=0.0)
    assert batched == [ours(astronaut, threshold=0.0), ours(coffee, threshold=0.0)]
    assert_same_detections(batched[1], reference(coffee, threshold=0.0))


@pytest.mark.parametrize("name", sorted(SEGMENTERS))
def test_semantic_segmentation_matches_the_reference(pipes, images, name):
    ours, reference = pipes[name]
    for kind in ("astronaut", "array", "png"):
        mine, theirs = images[kind]
        expected = reference(theirs)
        assert_same_segments(ours(mine), expected)
        assert_same_segments(ours(mine, subtask="semantic"), expected)
    mine, theirs = images["list"]
    for batch_size in (1, 2):
        for got, expected in zip(ours(mine, batch_size=batch_size), reference(theirs)):
            assert_same_segments(got, expected)
    assert len({s["label"] for s in ours(images["astronaut"][0])}) >= 1


def test_unserved_models_and_subtasks_raise_naming_what_is_served(pipes, images, folders, tmp_path):
    segmenter, _ = pipes["segformer"]
    for subtask in ("panoptic", "instance"):
        with pytest.raises(ValueError, match=r"serves semantic segmentation only\): use subtask='semantic'"):
            segmenter(images["astronaut"][0], subtask=subtask)
    detr_config = workbench.AutoConfig.for_model("detr", **FAMILIES["detr"].tiny)
    panoptic = workbench.AutoModelForImageSegmentation.from_config(detr_config)
    processor = workbench.AutoImageProcessor.from_pretrained(folders["detr"])
    with pytest.raises(ValueError, match="serves semantic segmentation models .*DetrForSegmentation is not one"):
        workbench.pipeline("image-segmentation", model=panoptic, image_processor=processor)
    folder = str(tmp_path / "panoptic")
    panoptic.save_pretrained(folder)
    with pytest.raises(UnsupportedModelError, match="image-segmentation pipeline loads its model with "
                                                    "AutoModelForSemanticSegmentation"):
        workbench.pipeline("image-segmentation", model=folder, image_processor=processor)
    with pytest.raises(ValueError, match="runs set-prediction detectors"):
        workbench.pipeline("object-detection", model=segmenter.model, image_processor=segmenter.image_processor)
    # the task is read off the checkpoint's architecture
    assert workbench.pipeline(model=folders["detr"]).task == "object-detection"
    assert workbench.pipeline(model=folders["segformer"]).task == "image-segmentation"
