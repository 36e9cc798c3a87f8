"""Image processors against the reference (transformers 5, its default torchvision backend): every
class on a real image (scikit-image's samples, a grayscale, an RGBA, a palette and a 16-bit image, a
CHW tensor, a file path), pixel_values within 1e-4; configs both ways (preprocessor_config.json,
processor_config.json's nested entry, 'Fast' names, model_type fallback); DETR's padding, pixel_mask
and box post-processing; SegFormer's / MobileNetV2's label maps and segmentation post-processing;
the image-text processors saved and loaded both ways."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import workbench
from workbench.errors import UnsupportedModelError

transformers = pytest.importorskip("transformers")
Image = pytest.importorskip("PIL.Image")
skdata = pytest.importorskip("skimage.data")

FAMILIES = ["ViTImageProcessor", "DeiTImageProcessor", "ConvNextImageProcessor", "MobileNetV2ImageProcessor",
            "BitImageProcessor", "CLIPImageProcessor", "SiglipImageProcessor", "BlipImageProcessor",
            "DetrImageProcessor", "SegformerImageProcessor"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """One of each kind of input, built once."""
    chelsea = skdata.chelsea()
    alpha = np.tile((np.arange(chelsea.shape[1]) % 256).astype(np.uint8), (chelsea.shape[0], 1))
    path = tmp_path_factory.mktemp("images") / "coffee.png"
    Image.fromarray(skdata.coffee()).save(path)
    return {
        "chelsea": Image.fromarray(chelsea),
        "coffee_array": skdata.coffee(),  # (H, W, 3) uint8
        "astronaut": Image.fromarray(skdata.astronaut()),
        "camera_gray": Image.fromarray(skdata.camera()),  # mode "L"
        "rgba": Image.fromarray(np.dstack([chelsea, alpha]), "RGBA"),
        "palette": Image.fromarray(skdata.coffee()).convert("P"),
        "sixteen_bit": Image.fromarray((skdata.camera() // 2).astype(np.uint16)),  # mode "I;16", values < 256
        "chw_tensor": torch.from_numpy(skdata.astronaut()).permute(2, 0, 1).contiguous(),
        "path": str(path),
    }


def save_reference(tmp_path, name, **settings):
    folder = tmp_path / name
    getattr(transformers, name)(**settings).save_pretrained(folder)
    return folder


def pixel_values(processor, image, **kwargs):
    return processor(image, return_tensors="pt", **kwargs)["pixel_values"]


# one point per class, each proving one input kind or one code path; ref_kwargs where the reference
# needs do_convert_rgb=True for what workbench converts by default (it fails at normalisation otherwise)
GRID = [
    ("ViTImageProcessor", "chelsea", {}, {}),
    ("ViTImageProcessor", "path", {}, {}),
    ("DeiTImageProcessor", "coffee_array", {}, {}),
    ("ConvNextImageProcessor", "astronaut", {"size": {"shortest_edge": 224}}, {}),  # crop_pct path
    ("ConvNextImageProcessor", "chelsea", {}, {}),  # 384: warped to a square
    ("MobileNetV2ImageProcessor", "camera_gray", {}, {"do_convert_rgb": True}),
    ("BitImageProcessor", "rgba", {}, {}),
    ("CLIPImageProcessor", "palette", {}, {}),
    ("SiglipImageProcessor", "sixteen_bit", {}, {}),
    ("BlipImageProcessor", "chw_tensor", {}, {}),
    ("SegformerImageProcessor", "coffee_array", {"size": {"height": 96, "width": 128}}, {}),
]


@pytest.mark.parametrize("name,image,settings,ref_kwargs", GRID, ids=[f"{g[0]}-{g[1]}" for g in GRID])
def test_pixel_values_match_reference(images, tmp_path, name, image, settings, ref_kwargs):
    folder = save_reference(tmp_path, name, **settings)
    ours = workbench.AutoImageProcessor.from_pretrained(folder)
    assert type(ours).__name__ == name
    reference = transformers.AutoImageProcessor.from_pretrained(folder)
    expected = pixel_values(reference, images[image], **ref_kwargs)
    got = pixel_values(ours, images[image])
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert (got - expected).abs().max() <= 1e-4


def test_mixed_batch_matches_reference_image_by_image(images):
    """Sizes and modes mixed in one list; each row equals the image processed alone."""
    batch = [images["camera_gray"], images["rgba"], images["coffee_array"], images["sixteen_bit"]]
    ours = workbench.CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64})
    reference = transformers.CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64})
    got = pixel_values(ours, batch)
    assert (got - pixel_values(reference, batch)).abs().max() <= 1e-4
    assert torch.equal(got[1:2], pixel_values(ours, images["rgba"]))
    listed = ours(batch)["pixel_values"]  # return_tensors=None: a list of tensors, as the reference
    assert isinstance(listed, list) and torch.equal(listed[0], got[0])
    nested = ours([batch[:1], batch[1:]], return_tensors="np")["pixel_values"]  # nested lists are flattened
    assert isinstance(nested, np.ndarray) and np.array_equal(nested, got.numpy())


@pytest.mark.parametrize("name", FAMILIES)
def test_config_files_both_ways(tmp_path, name):
    """What the reference saves loads in workbench with the same settings, and what workbench saves
    is the same file."""
    folder = save_reference(tmp_path, name)
    ours = workbench.AutoImageProcessor.from_pretrained(folder)
    again = tmp_path / "again"
    ours.save_pretrained(again)
    written = json.loads((again / "preprocessor_config.json").read_text())
    assert written == json.loads((folder / "preprocessor_config.json").read_text())
    assert json.loads(transformers.AutoImageProcessor.from_pretrained(again).to_json_string()) == written


def test_settings_overrides_and_extra_keys_round_trip(tmp_path):
    folder = save_reference(tmp_path, "ViTImageProcessor", size=32, resample=3, image_mean=[0.1, 0.2, 0.3])
    config = json.loads((folder / "preprocessor_config.json").read_text())
    config["a_future_setting"] = {"kept": True}
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    ours = workbench.ViTImageProcessor.from_pretrained(folder, do_normalize=False)
    assert ours.size == {"height": 32, "width": 32} and ours.do_normalize is False
    ours.save_pretrained(tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "preprocessor_config.json").read_text())
    assert saved["a_future_setting"] == {"kept": True} and saved["resample"] == 3


def test_fast_names_and_model_type_fallback(tmp_path):
    assert workbench.ViTImageProcessorFast is workbench.ViTImageProcessor
    assert all(hasattr(transformers, f"{name}Fast") and hasattr(workbench, f"{name}Fast") for name in FAMILIES)
    folder = save_reference(tmp_path, "DeiTImageProcessor")
    config = json.loads((folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**config, "image_processor_type": "DeiTImageProcessorFast"}))
    assert type(workbench.AutoImageProcessor.from_pretrained(folder)) is workbench.DeiTImageProcessor
    assert type(transformers.AutoImageProcessor.from_pretrained(folder)).__name__ == "DeiTImageProcessor"
    del config["image_processor_type"]  # older files: the model type decides
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    (folder / "config.json").write_text(json.dumps({"model_type": "dinov2"}))
    assert type(workbench.AutoImageProcessor.from_pretrained(folder)) is workbench.BitImageProcessor
    (folder / "config.json").write_text(json.dumps({"model_type": "no-such-model"}))
    with pytest.raises(UnsupportedModelError, match="no-such-model.*vit"):
        workbench.AutoImageProcessor.from_pretrained(folder)


def test_processor_config_nested_image_processor(tmp_path):
    """transformers 5 nests the image processor in processor_config.json; it wins over a stale
    preprocessor_config.json, in both libraries."""
    reference = transformers.CLIPProcessor(image_processor=transformers.CLIPImageProcessor(crop_size=96),
                                           tokenizer=tiny_tokenizer())
    reference.save_pretrained(tmp_path)
    transformers.CLIPImageProcessor(crop_size=32).save_pretrained(tmp_path)  # stale
    ours = workbench.AutoImageProcessor.from_pretrained(tmp_path)
    assert ours.crop_size == {"height": 96, "width": 96}
    assert json.loads(ours.to_json_string()) == json.loads(transformers.AutoImageProcessor.from_pretrained(tmp_path).to_json_string())


# --- DETR ----------------------------------------------------------------------------------------

def test_detr_padding_mask_and_post_processing(images, tmp_path):
    folder = save_reference(tmp_path, "DetrImageProcessor", size={"shortest_edge": 96, "longest_edge": 160})
    ours = workbench.AutoImageProcessor.from_pretrained(folder)
    reference = transformers.AutoImageProcessor.from_pretrained(folder)
    batch = [images["chelsea"], images["astronaut"], images["coffee_array"]]
    got, expected = ours(batch, return_tensors="pt"), reference(batch, return_tensors="pt")
    assert sorted(got) == ["pixel_mask", "pixel_values"]
    assert torch.equal(got["pixel_mask"], expected["pixel_mask"]) and 0 in got["pixel_mask"]
    assert (got["pixel_values"] - expected["pixel_values"]).abs().max() <= 1e-4
    generator = torch.Generator().manual_seed(0)
    outputs = transformers.models.detr.modeling_detr.DetrObjectDetectionOutput(
        logits=torch.randn(2, 6, 5, generator=generator) * 3, pred_boxes=torch.rand(2, 6, 4, generator=generator))
    for sizes in ([(451, 300), (512, 512)], torch.tensor([[451, 300], [512, 512]]), None):
        mine = ours.post_process_object_detection(outputs, threshold=0.3, target_sizes=sizes)
        theirs = reference.post_process_object_detection(outputs, threshold=0.3, target_sizes=sizes)
        for a, b in zip(mine, theirs):
            assert sorted(a) == ["boxes", "labels", "scores"] and all(torch.equal(a[k], b[k]) for k in b)
    assert sum(len(result["scores"]) for result in mine) > 0


# --- segmentation --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["SegformerImageProcessor", "MobileNetV2ImageProcessor"])
def test_segmentation_maps_and_post_processing(images, tmp_path, name):
    folder = save_reference(tmp_path, name)
    ours = workbench.AutoImageProcessor.from_pretrained(folder)
    reference = transformers.AutoImageProcessor.from_pretrained(folder)
    rng = np.random.default_rng(0)
    maps = [rng.integers(0, 6, skdata.chelsea().shape[:2]).astype(np.uint8),
            Image.fromarray(rng.integers(0, 6, skdata.coffee().shape[:2]).astype(np.uint8))]
    batch = [images["chelsea"], images["coffee_array"]]
    got = ours(batch, segmentation_maps=maps, do_reduce_labels=True, return_tensors="pt")
    expected = reference(batch, segmentation_maps=maps, do_reduce_labels=True, return_tensors="pt")
    assert got["labels"].dtype == torch.int64 and torch.equal(got["labels"], expected["labels"])
    assert 255 in got["labels"] and 5 not in got["labels"]  # 0 -> ignored, k -> k - 1
    assert (got["pixel_values"] - expected["pixel_values"]).abs().max() <= 1e-4
    logits = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    outputs = transformers.modeling_outputs.SemanticSegmenterOutput(logits=logits)
    for sizes in (None, [(451, 300), (40, 50)]):
        mine = ours.post_process_semantic_segmentation(outputs, target_sizes=sizes)
        theirs = reference.post_process_semantic_segmentation(outputs, target_sizes=sizes)
        assert all(torch.equal(a, b) for a, b in zip(mine, theirs))
    scored = ours.post_process_semantic_segmentation(outputs, [(40, 50), (8, 8)], return_segmentation_scores=True)
    assert scored[0]["segmentation_scores"].shape == (4, 40, 50)


# --- image-text processors -----------------------------------------------------------------------

def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "cat", "dog", "photo", "of", "rocket"]
    tokenizer = Tokenizer(models.WordLevel({word: i for i, word in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]",
                                                cls_token="[CLS]", sep_token="[SEP]")


@pytest.mark.parametrize("name", ["CLIPProcessor", "SiglipProcessor", "BlipProcessor"])
def test_image_text_processors_both_ways(images, tmp_path, name):
    image_class = getattr(transformers, name.replace("Processor", "ImageProcessor"))
    image_processor = image_class(size={"height": 32, "width": 32}, crop_size=32)
    getattr(transformers, name)(image_processor=image_processor, tokenizer=tiny_tokenizer()).save_pretrained(tmp_path / "ref")
    ours = workbench.AutoProcessor.from_pretrained(tmp_path / "ref")
    assert type(ours).__name__ == name and type(ours.image_processor).__name__ == image_processor.__class__.__name__
    inputs = dict(images=[images["chelsea"], images["camera_gray"]], text=["a photo of a cat", "dog"], padding=True,
                  return_tensors="pt")
    ours.save_pretrained(tmp_path / "ours")
    back = transformers.AutoProcessor.from_pretrained(tmp_path / "ours")
    assert type(back).__name__ == name
    got = ours(**inputs)
    for expected in (transformers.AutoProcessor.from_pretrained(tmp_path / "ref")(**inputs), back(**inputs)):
        assert sorted(got) == sorted(expected)
        assert all(torch.allclose(got[key].float(), expected[key].float(), atol=1e-4) for key in expected)
    resized = ours(images=images["chelsea"], size={"height": 16, "width": 12}, do_center_crop=False, return_tensors="pt")
    assert resized["pixel_values"].shape[-2:] == (16, 12)  # a setting given to the processor reaches its image part


def test_auto_processor_on_a_lone_image_processor(tmp_path):
    """A folder with only preprocessor_config.json of an image processor: AutoProcessor returns that
    image processor, as the reference's does."""
    folder = save_reference(tmp_path, "ConvNextImageProcessor", size={"shortest_edge": 224})
    ours, reference = workbench.AutoProcessor.from_pretrained(folder), transformers.AutoProcessor.from_pretrained(folder)
    assert type(ours).__name__ == type(reference).__name__ == "ConvNextImageProcessor"
    assert ours.size == {"shortest_edge": 224} and ours.crop_pct == reference.crop_pct


def test_detr_coco_annotations_become_the_reference_labels(images):
    """Crowd and empty boxes dropped, boxes scaled with the resize, relative (cx, cy, w, h), then
    re-expressed for the padded image: the same label tensors as the reference."""
    annotations = [{"image_id": 1, "annotations": [
        {"bbox": [10, 20, 100, 80], "category_id": 3, "area": 8000.0, "iscrowd": 0},
        {"bbox": [400, 250, 100, 80], "category_id": 5, "area": 10.0},  # clipped at the image's edge
        {"bbox": [5, 5, 10, 10], "category_id": 1, "area": 100.0, "iscrowd": 1},
        {"bbox": [50, 50, 0, 10], "category_id": 2, "area": 0.0}]}, {"image_id": 2, "annotations": []}]
    settings = dict(size={"shortest_edge": 96, "longest_edge": 160})
    batch = [images["chelsea"], images["coffee_array"]]
    got = workbench.DetrImageProcessor(**settings)(batch, annotations=annotations, return_tensors="pt")
    expected = transformers.DetrImageProcessor(**settings)(batch, annotations=annotations, return_tensors="pt")
    assert torch.equal(got["pixel_mask"], expected["pixel_mask"])
    for mine, theirs in zip(got["labels"], expected["labels"]):
        assert sorted(mine) == sorted(theirs)
        assert all(torch.allclose(mine[key].float(), torch.as_tensor(theirs[key]).float(), atol=1e-6) for key in theirs)
    assert got["labels"][0]["class_labels"].tolist() == [3, 5]
    with pytest.raises(ValueError, match="one annotation dict per image"):
        workbench.DetrImageProcessor(**settings)(batch, annotations=annotations[:1])
