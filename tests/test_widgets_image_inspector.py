"""ImageProcessorInspector: the steps it lists follow each processor's config (ConvNeXT's crop_pct,
ViT's height x width, CLIP's shortest_edge + center crop), each step's shape equals what the
reference's own step methods give on the same tensor, the last step is exactly ``pixel_values``,
PIL / numpy / path inputs, the processor's errors, the patch grid and top classes from a model
(a tiny ViT; torchvision's real ImageNet MobileNetV2 ported, on scikit-image's chelsea), the
pictures (normalized steps de-normalized), the static HTML in both themes, and the live upload."""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone

import numpy as np
import pytest
import torch

pytest.importorskip("ipywidgets")
pytest.importorskip("torchvision")
skimage_data = pytest.importorskip("skimage.data")

from PIL import Image  # noqa: E402

from assets import assets_dir  # noqa: E402
from workbench.processing import CLIPImageProcessor, ConvNextImageProcessor, ViTImageProcessor  # noqa: E402
from workbench.theme import VIEW_CSS  # noqa: E402
from workbench.widgets import ImageProcessorInspector  # noqa: E402
from workbench.widgets.image_html import STYLE, display_pixels  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

EGYPTIAN_CAT, TABBY, TIGER_CAT = 285, 281, 282  # ImageNet class indices
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    return skimage_data.chelsea()  # (300, 451, 3) uint8


# processor, its reference class name, the steps the inspector must list, a rule each step states
CASES = {
    "convnext_crop_pct": (lambda: ConvNextImageProcessor(size={"shortest_edge": 224}, crop_pct=0.875),
                          "ConvNextImageProcessor",
                          ["input", "to_tensor", "resize", "center_crop", "rescale", "normalize"],
                          {"resize": "shortest_edge 224 / crop_pct 0.875 = 256: 300x451 -> 256x384, bicubic",
                           "center_crop": "crop_pct 0.875: the central 224x224 of 256x384"}),
    "vit_height_width": (lambda: ViTImageProcessor(size={"height": 224, "width": 224}), "ViTImageProcessor",
                         ["input", "to_tensor", "resize", "rescale", "normalize"],
                         {"resize": "height x width 224x224 (aspect ratio not kept): 300x451 -> 224x224, bilinear"}),
    "clip_shortest_edge": (CLIPImageProcessor, "CLIPImageProcessor",
                           ["input", "convert_rgb", "resize", "center_crop", "rescale", "normalize"],
                           {"resize": "shortest_edge 224: 300x451 -> 224x336, bicubic",
                            "center_crop": "crop_size 224x224: the central window of 224x336",
                            "convert_rgb": "3 channels, already RGB (do_convert_rgb=True), as (C, H, W) uint8"}),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request, chelsea):
    make, reference_name, names, rules = CASES[request.param]
    processor = make()
    return processor, reference_name, names, rules, ImageProcessorInspector(processor, chelsea)


def test_the_steps_follow_the_processors_config_and_end_in_its_pixel_values(case, chelsea):
    processor, _, names, rules, inspector = case
    assert inspector.step_names == names
    by_name = {step.name: step for step in inspector.steps}
    for name, rule in rules.items():
        assert by_name[name].rule == rule
    expected = processor(chelsea, return_tensors="pt")["pixel_values"]
    assert torch.equal(inspector.pixel_values, expected)
    assert torch.equal(inspector.steps[-1].tensor, expected[0])  # exactly, not within a tolerance
    assert inspector.steps[-1].dtype == "float32" and inspector.steps[-1].shape == (3, 224, 224)
    assert (inspector.steps[-1].low, inspector.steps[-1].high) == (expected.min().item(), expected.max().item())
    assert inspector.steps[0].shape == (300, 451, 3) and inspector.steps[0].rule == "numpy array"


def test_each_steps_shape_and_values_equal_the_reference_processors_steps(case, chelsea):
    """The reference's torchvision backend's own resize / center_crop / rescale_and_normalize, run on
    the inspector's (C, H, W) tensor with the same settings, give each step's shape (and pixels)."""
    import transformers
    from transformers.image_processing_backends import TorchvisionBackend
    from transformers.image_utils import SizeDict

    processor, reference_name, _, _, inspector = case
    reference = getattr(transformers, reference_name)(**processor.to_dict())
    steps = {step.name: step.tensor for step in inspector.steps[1:]}
    image = steps.get("to_tensor", steps.get("convert_rgb"))
    if reference_name == "ConvNextImageProcessor":  # its resize holds the crop: the resize before it, then both
        resized = TorchvisionBackend.resize(reference, image, SizeDict(shortest_edge=256), resample=processor.resample)
        assert resized.shape == steps["resize"].shape and torch.equal(resized, steps["resize"])
        resized = reference.resize(image, SizeDict(**processor.size), processor.resample, crop_pct=processor.crop_pct)
    else:
        resized = reference.resize(image, SizeDict(**processor.size), processor.resample)
        assert resized.shape == steps["resize"].shape and torch.equal(resized, steps["resize"])
        if "center_crop" in steps:
            resized = reference.center_crop(resized, SizeDict(**processor.crop_size))
    if "center_crop" in steps:
        assert resized.shape == steps["center_crop"].shape and torch.equal(resized, steps["center_crop"])
    assert torch.equal(reference.rescale(resized, processor.rescale_factor), steps["rescale"])
    normalized = reference.rescale_and_normalize(resized, True, processor.rescale_factor, True, processor.image_mean,
                                                 processor.image_std)
    assert normalized.shape == steps["normalize"].shape
    torch.testing.assert_close(normalized, steps["normalize"], atol=1e-6, rtol=1e-6)
    theirs = reference(chelsea, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(inspector.pixel_values, theirs, atol=1e-5, rtol=1e-5)


def test_pil_numpy_and_path_inputs_reach_the_same_pixel_values(chelsea, tmp_path):
    processor = ViTImageProcessor(size={"height": 32, "width": 32})
    path = tmp_path / "chelsea.png"
    Image.fromarray(chelsea).save(path)
    from_array = ImageProcessorInspector(processor, chelsea)
    from_pil = ImageProcessorInspector(processor, Image.fromarray(chelsea))
    from_path = ImageProcessorInspector(processor, str(path))
    for inspector in (from_pil, from_path):
        assert torch.equal(inspector.pixel_values, from_array.pixel_values)
    assert from_pil.steps[0].rule == "PIL image, mode RGB, 451x300 (width x height)"
    assert from_path.steps[0].rule == "file chelsea.png, decoded as RGB by the processor"
    assert from_path.steps[0].shape == (3, 300, 451)
    gray = ImageProcessorInspector(processor, Image.fromarray(chelsea).convert("L"))  # ViT converts only if needed
    assert gray.step_names[:2] == ["input", "convert_rgb"] and gray.steps[0].shape == (300, 451)
    assert gray.steps[1].rule.startswith("PIL L -> RGB (do_convert_rgb=None") and gray.steps[1].shape == (3, 300, 451)
    assert torch.equal(gray.pixel_values, processor(Image.fromarray(chelsea).convert("L"), return_tensors="pt")
                       ["pixel_values"])
    channels_first = ImageProcessorInspector(processor, torch.from_numpy(chelsea).permute(2, 0, 1))
    assert channels_first.steps[0].rule == "torch tensor" and channels_first.steps[0].shape == (3, 300, 451)
    assert torch.equal(channels_first.pixel_values, from_array.pixel_values)
    # a setting overridden for this call, as the processor takes it
    small = ImageProcessorInspector(processor, chelsea, size={"height": 16, "width": 24})
    assert small.pixel_values.shape == (1, 3, 16, 24) and "16x24" in small.steps[2].rule


def test_bad_input_gets_the_processors_errors(chelsea, tmp_path):
    processor = ViTImageProcessor(size={"height": 32, "width": 32})
    with pytest.raises(FileNotFoundError, match="No image file at"):
        ImageProcessorInspector(processor, str(tmp_path / "missing.png"))
    with pytest.raises(ValueError, match="Cannot tell the channel axis"):
        ImageProcessorInspector(processor, np.zeros((5, 6, 7), dtype=np.uint8))
    with pytest.raises(TypeError, match="Cannot read an image from a dict"):
        ImageProcessorInspector(processor, {"image": chelsea})
    with pytest.raises(ValueError, match="size=.* has the keys"):
        ImageProcessorInspector(processor, chelsea, size={"side": 3})
    with pytest.raises(ValueError, match="shows one image at a time, got a list of 2"):
        ImageProcessorInspector(processor, [chelsea, chelsea])
    assert ImageProcessorInspector(processor, [chelsea]).pixel_values.shape == (1, 3, 32, 32)


# --- a model: the patch grid and the top classes --------------------------------------------------


@pytest.fixture(scope="module")
def tiny_vit():
    from workbench import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=37, num_labels=3, id2label={0: "cat", 1: "dog", 2: "teapot"})
    return ViTForImageClassification(config).eval()


def test_a_patch_model_adds_its_grid_and_its_classes(chelsea, tiny_vit):
    processor = ViTImageProcessor(size={"height": 32, "width": 32})
    inspector = ImageProcessorInspector(processor, chelsea, model=tiny_vit, top_k=2)
    assert inspector.patch_size == (8, 8) and inspector.step_names[-1] == "patches"
    grid = inspector.steps[-1]
    assert grid.rule == "8x8 patches (ViTForImageClassification's config.patch_size): 4x4 = 16 patches"
    assert torch.equal(grid.tensor, inspector.pixel_values[0])
    with torch.no_grad():
        probabilities = tiny_vit(pixel_values=processor(chelsea, return_tensors="pt")["pixel_values"]).logits[0].softmax(-1)
    order = probabilities.argsort(descending=True)[:2].tolist()
    assert [c.index for c in inspector.top_classes] == order
    assert [c.label for c in inspector.top_classes] == [tiny_vit.config.id2label[i] for i in order]
    assert [c.probability for c in inspector.top_classes] == pytest.approx(probabilities[order].tolist(), abs=1e-6)
    assert ImageProcessorInspector(processor, chelsea, model=tiny_vit, patch_size=False).step_names[-1] == "normalize"
    # without a model, patch_size= draws the grid; a grid of cells too small on screen is said, not drawn
    fine = ImageProcessorInspector(CLIPImageProcessor(), chelsea, patch_size=4)
    assert fine.steps[-1].rule == "4x4 patches (given as patch_size=): 56x56 = 3136 patches"
    assert fine.steps[-1].note.startswith("Too fine to draw (4.0 px a cell on screen).")


def pixels_of(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int64)


def test_pictures_show_normalized_steps_de_normalized_and_draw_the_grid(chelsea):
    processor = CLIPImageProcessor()
    inspector = ImageProcessorInspector(processor, chelsea, patch_size=32)
    steps = {step.name: step for step in inspector.steps}
    crop, rescaled, normalized = (pixels_of(steps[name].png) for name in ("center_crop", "rescale", "normalize"))
    assert crop.shape == normalized.shape == (144, 144, 3)
    assert np.abs(rescaled - crop).max() <= 1 and np.abs(normalized - crop).max() <= 1  # the same picture
    assert "de-normalized" in steps["normalize"].note and "folds the rescale into normalize" in steps["rescale"].note
    assert np.array_equal(display_pixels(steps["center_crop"].tensor), np.asarray(
        steps["center_crop"].tensor.permute(1, 2, 0)))
    grid = pixels_of(steps["patches"].png)
    assert grid.shape == (224, 224, 3)
    lines = [index for index in range(224) if (np.abs(grid[index] - [255, 214, 0]) < 90).all(-1).mean() > 0.9]
    assert lines[:3] == [0, 32, 64]  # a line every 32 px, the amber of the grid over the photo


# --- the real MobileNetV2 --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mobilenet_folder(tmp_path_factory):
    from workbench.recipes import mobilenet_v2_torchvision as recipe

    cache = assets_dir()
    try:
        recipe.weights_file(cache), recipe.class_names(cache)
    except OSError as error:
        pytest.skip(f"the MobileNetV2 weights or class names could not be fetched: {error}")
    return recipe.convert(tmp_path_factory.mktemp("port") / "mobilenet_v2", cache_dir=cache, check=False).folder


def test_the_html_fallback_holds_every_step_and_the_real_models_top_classes(mobilenet_folder, chelsea):
    from workbench import AutoImageProcessor, AutoModelForImageClassification

    processor = AutoImageProcessor.from_pretrained(mobilenet_folder)
    model = AutoModelForImageClassification.from_pretrained(mobilenet_folder).eval()
    inspector = ImageProcessorInspector(processor, Image.fromarray(chelsea), model=model, top_k=5)
    assert inspector.step_names == ["input", "to_tensor", "resize", "center_crop", "rescale", "normalize"]
    assert torch.equal(inspector.pixel_values, processor(chelsea, return_tensors="pt")["pixel_values"])
    top3 = {c.index for c in inspector.top_classes[:3]}
    assert top3 == {EGYPTIAN_CAT, TABBY, TIGER_CAT}, inspector.top_classes
    bundle = inspector._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["text/plain"] == inspector.to_text()
    page = bundle["text/html"]
    cards = re.findall(r'<li class="step[^"]*" data-step="([^"]+)">', page)
    assert cards == inspector.step_names
    for position, step in enumerate(inspector.steps, 1):
        assert f"{position}. {step.title}</div>" in page
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', page)) == len(inspector.steps)
    labels = re.findall(r'<span class="label" title="class (\d+)">([^<]+)</span>', page)
    assert [int(index) for index, _ in labels] == [c.index for c in inspector.top_classes]
    assert {"Egyptian Mau", "tabby cat", "tiger cat"} == {label for _, label in labels[:3]}
    assert "shortest_edge 256: 300x451 -&gt; 256x384, bilinear" in page and "http" not in page  # no external assets
    assert "Egyptian Mau" in inspector.to_text()


# --- theme, live view -----------------------------------------------------------------------------


def test_the_view_follows_the_theme_with_no_literal_colour(chelsea, tiny_vit):
    page = ImageProcessorInspector(ViTImageProcessor(size={"height": 32, "width": 32}), chelsea,
                                   model=tiny_vit).to_html()
    assert page.startswith('<div class="wb-view wb-imgp"><style>') and VIEW_CSS in page
    assert 'body[data-jp-theme-light="false"] .wb-view' in page  # the dark palette when JupyterLab is dark
    assert not re.search(r"#[0-9a-fA-F]{3,6}\b|rgb\(", STYLE)
    rules = page.replace(VIEW_CSS, "")
    assert not re.search(r"(color|background)\s*:\s*(#|rgb|white|black)", rules)
    values = re.findall(r"(?:color|background)\s*:\s*([^;}]+)", STYLE)
    assert len(values) >= 8 and all(value.startswith("var(--wb-") for value in values), values


def test_an_uploaded_image_is_inspected_and_a_bad_one_shown_as_an_error(chelsea):
    inspector = ImageProcessorInspector(ViTImageProcessor(size={"height": 32, "width": 32}), chelsea)
    buffer = io.BytesIO()
    Image.fromarray(chelsea[:100, :150]).save(buffer, format="PNG")
    inspector.upload.value = ({"name": "crop.png", "type": "image/png", "size": len(buffer.getvalue()),
                               "content": memoryview(buffer.getvalue()), "last_modified": NOW},)
    assert inspector.error is None and inspector.steps[0].rule == "PIL image, mode RGB, 150x100 (width x height)"
    assert "150x100" in inspector.output.value
    inspector.upload.value = ({"name": "notes.txt", "type": "text/plain", "size": 5, "content": memoryview(b"hello"),
                               "last_modified": NOW},)
    assert inspector.error.startswith("notes.txt: UnidentifiedImageError") and 'role="alert"' in inspector.output.value
    assert inspector.steps[0].rule == "PIL image, mode RGB, 150x100 (width x height)"  # the last good image stays
    assert inspector.image.size == (150, 100)
    with pytest.raises(ValueError, match="Cannot tell the channel axis"):  # set from code: the processor's error
        inspector.image = np.zeros((5, 6, 7), dtype=np.uint8)
    assert inspector.image.size == (150, 100)


def test_the_trace_is_the_processors_own_and_follows_the_images_not_their_maps(chelsea):
    import workbench
    from workbench.processing import MobileNetV2ImageProcessor

    assert workbench.ImageProcessorInspector is ImageProcessorInspector
    steps: list = []
    output = MobileNetV2ImageProcessor()(chelsea, segmentation_maps=np.ones((300, 451), np.uint8), trace=steps,
                                         return_tensors="pt")
    assert [step.name for step in steps] == ["to_tensor", "resize", "center_crop", "rescale", "normalize"]
    assert output["labels"].shape == (1, 224, 224) and torch.equal(steps[-1].image, output["pixel_values"][0])
    assert [step.shown_only for step in steps] == [False, False, False, True, False]
