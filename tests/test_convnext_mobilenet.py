"""ConvNeXt and MobileNetV2 where the shared suite (test_models.py) does not go: losses from labels,
image sizes that do not divide by the strides (TF "SAME" padding's uneven side), drop path in training,
the backbone's stage selection, and the batch norms' running statistics at init."""

from __future__ import annotations

import pytest
import torch

import workbench
from workbench.auto import class_for_architecture
from workbench.models.registry import FAMILIES
from workbench.nn.drop_path import DropPath

from image_inputs import compare_outputs
from model_registry import CASES
from reference import build_reference_model, reference_init, save_reference_model

ATROUS = next(case for case in CASES if case.name == "mobilenet_v2-torchvision-padding-atrous")
HEADS = [("mobilenet_v2", FAMILIES["mobilenet_v2"].tiny, "MobileNetV2ForSemanticSegmentation"),
         ("mobilenet_v2", ATROUS.config, "MobileNetV2ForSemanticSegmentation"),
         ("mobilenet_v2", FAMILIES["mobilenet_v2"].tiny, "MobileNetV2ForImageClassification"),
         ("convnext", FAMILIES["convnext"].tiny, "ConvNextForImageClassification")]
IDS = ["segmentation-tf-padding", "segmentation-torch-padding", "mobilenet-classifier", "convnext-classifier"]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """(reference, workbench) models from one random reference checkpoint, per entry of HEADS."""
    built = {}
    for name, (model_type, config, head) in zip(IDS, HEADS):
        reference = build_reference_model(model_type, head, config)
        folder = save_reference_model(reference, str(tmp_path_factory.mktemp(name)))
        built[name] = reference, class_for_architecture(head).from_pretrained(folder)
    return built


def labels_for(head: str, generator: torch.Generator) -> torch.Tensor:
    """Class ids per image, or per pixel of a (37 x 29) label map with some pixels ignored (255)."""
    if head.endswith("ForImageClassification"):
        return torch.randint(0, 3, (2,), generator=generator)
    labels = torch.randint(0, 3, (2, 37, 29), generator=generator)
    labels[:, :5] = 255
    return labels


@pytest.mark.parametrize("name", IDS)
def test_labels_give_the_reference_loss_on_images_of_odd_size(name, pairs):
    """37 x 29 images: every strided conv pads unevenly (TF) or floors (PyTorch padding); the loss from
    labels (per-pixel, upsampled logits, ignore index) equals the reference's."""
    reference, ours = pairs[name]
    generator = torch.Generator().manual_seed(3)
    pixels = torch.randn(2, 3, 37, 29, generator=generator)
    head = type(ours).__name__
    with torch.no_grad():
        labels = labels_for(head, generator)
        theirs = reference(pixel_values=pixels, labels=labels, output_hidden_states=True)
        got = ours(pixel_values=pixels, labels=labels, output_hidden_states=True)
    assert compare_outputs(got, theirs, what=name) >= 3  # loss, logits and the hidden states
    assert got.loss.item() > 0


@pytest.mark.parametrize("name", IDS)
def test_tuple_outputs_are_the_references(name, pairs):
    """return_dict=False gives the reference's tuple, in its order."""
    reference, ours = pairs[name]
    pixels = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        got = ours(pixel_values=pixels, output_hidden_states=True, return_dict=False)
        theirs = reference(pixel_values=pixels, output_hidden_states=True, return_dict=False)
    assert isinstance(got, tuple) and len(got) == len(theirs)
    compare_outputs(list(got), list(theirs), what=name)


def test_drop_path_drops_whole_samples_in_training_as_the_reference_does():
    from transformers.models.convnext.modeling_convnext import ConvNextDropPath

    features = torch.randn(64, 4, 3, 3)
    ours, theirs = DropPath(0.25).train(), ConvNextDropPath(0.25).train()
    torch.manual_seed(5)
    dropped = ours(features)
    torch.manual_seed(5)
    assert torch.equal(dropped, theirs(features))  # the same random mask times the same values: bit for bit
    kept = dropped.flatten(1).any(dim=1)
    assert 0 < kept.sum() < 64  # whole samples dropped, the rest scaled by 1 / 0.75
    torch.testing.assert_close(dropped[kept], features[kept] / 0.75)
    assert torch.equal(ours.eval()(features), features)


@pytest.mark.parametrize("kwargs", [{}, {"out_indices": [0, 2]}, {"out_features": ["stage1"]},
                                    {"out_indices": [-1]}, {"out_features": ["stem", "stage2"], "out_indices": [0, 2]}])
def test_backbone_stages_are_chosen_as_the_reference_chooses_them(kwargs):
    import transformers

    sizes = dict(num_stages=2, hidden_sizes=[8, 16], depths=[1, 1])
    ours = workbench.AutoConfig.for_model("convnext", **sizes, **kwargs)
    theirs = transformers.ConvNextConfig(**sizes, **kwargs)
    assert (ours.stage_names, ours.out_features, list(ours.out_indices)) == (
        theirs.stage_names, theirs.out_features, list(theirs.out_indices))
    # config.json round trip, both ways
    assert workbench.ConvNextConfig.from_dict(theirs.to_dict()).out_features == theirs.out_features
    assert transformers.ConvNextConfig(**{k: v for k, v in ours.to_dict().items() if k != "model_type"}).out_features \
        == ours.out_features


def test_auto_backbone_from_a_classifier_checkpoint_with_other_stages(pairs, tmp_path):
    """AutoBackbone.from_pretrained(classifier folder, out_indices=[1]): the trunk's weights (its
    ``convnext.`` prefix dropped), the stage asked for, a fresh norm on it; the reference's maps."""
    import transformers

    reference, ours = pairs["convnext-classifier"]
    ours.save_pretrained(tmp_path)
    backbone = workbench.AutoBackbone.from_pretrained(tmp_path, out_indices=[1])
    # (the reference's AutoBackbone asks the Hub whether the path is a repo, so its class loads the folder)
    theirs = transformers.ConvNextBackbone.from_pretrained(tmp_path, out_indices=[1]).eval()
    assert backbone.config.out_features == ["stage1"] and list(backbone.hidden_states_norms) == ["stage1"]
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        assert compare_outputs(backbone(pixel_values=pixels), theirs(pixel_values=pixels), what="backbone") == 1


@pytest.mark.parametrize("head", ["MobileNetV2ForSemanticSegmentation", "ConvNextBackbone"])
def test_fresh_init_buffers_and_layer_scale_match_the_reference(head):
    """from_config: batch norms' running statistics (0 and 1, no batches counted) and ConvNeXt's layer
    scale at layer_scale_init_value, as the reference initialises them."""
    model_type = "mobilenet_v2" if head.startswith("MobileNet") else "convnext"
    config = FAMILIES[model_type].tiny
    reference = reference_init(model_type, head, config, seed=0)
    ours = class_for_architecture(head).from_config(workbench.AutoConfig.for_model(model_type, **config))
    theirs = dict(reference.named_buffers())
    assert set(dict(ours.named_buffers())) == set(theirs)
    for name, buffer in ours.named_buffers():
        assert torch.equal(buffer, theirs[name]), name
    scales = {n: p for n, p in ours.named_parameters() if n.endswith("layer_scale_parameter")}
    assert bool(scales) == (model_type == "convnext")
    for name, scale in scales.items():
        assert torch.equal(scale, reference.get_parameter(name)), name
