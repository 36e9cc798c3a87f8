"""What image processors do with awkward input: files that do not decode, 1x1 images, arrays whose
channel axis is ambiguous (the reference's rule, and input_data_format= to settle it), modes the
reference's ViT-like processors cannot normalise, unknown resampling names, and workbench without
the vision extra. Each case ends in the reference's output or in an error that names the fix."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
import torch

import workbench

transformers = pytest.importorskip("transformers")
Image = pytest.importorskip("PIL.Image")
skdata = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad-files")
    Image.fromarray(skdata.chelsea()).save(folder / "whole.png")
    whole = (folder / "whole.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (folder / "notes.png").write_bytes(b"not an image at all")
    return folder


@pytest.mark.parametrize("name", ["truncated.png", "notes.png"])
def test_undecodable_file_names_the_file_and_the_fix(files, name):
    with pytest.raises(ValueError, match=rf"{name}.*truncated, damaged or not an image.*Re-save it as PNG"):
        workbench.ViTImageProcessor()(str(files / name))


def test_formats_torchvision_does_not_read_open_with_pillow(files):
    """A TIFF (the reference's torchvision loader refuses it) reads as the same image given as PIL."""
    image = Image.fromarray(skdata.astronaut()[::8, ::8])
    image.save(files / "astronaut.tiff")
    processor = workbench.ViTImageProcessor(size=32)
    from_file = processor(str(files / "astronaut.tiff"), return_tensors="pt").pixel_values
    assert torch.equal(from_file, processor(image, return_tensors="pt").pixel_values)


def test_missing_file_and_unsupported_objects():
    with pytest.raises(FileNotFoundError, match="No image file at"):
        workbench.ViTImageProcessor()("/no/such/image.png")
    with pytest.raises(TypeError, match="Cannot read an image from a int"):
        workbench.ViTImageProcessor()([np.zeros((4, 4, 3), np.uint8), 7])
    with pytest.raises(ValueError, match="empty side"):
        workbench.ViTImageProcessor()(np.zeros((0, 5, 3), np.uint8))


def test_one_pixel_images_match_reference():
    pixel = Image.new("RGB", (1, 1), (200, 30, 90))
    for name in ("ViTImageProcessor", "CLIPImageProcessor", "DetrImageProcessor"):
        ours, reference = getattr(workbench, name)(), getattr(transformers, name)()
        got, expected = ours(pixel, return_tensors="pt"), reference(pixel, return_tensors="pt")
        assert (got["pixel_values"] - expected["pixel_values"]).abs().max() <= 1e-4


def test_ambiguous_channel_axis_follows_reference_and_input_data_format(caplog):
    """A (3, 8, 3) array could be CHW or HWC: channels first, with a warning, as the reference;
    input_data_format='channels_last' says otherwise, in both libraries."""
    array = np.random.default_rng(0).integers(0, 256, (3, 8, 3)).astype(np.uint8)
    ours, reference = workbench.ViTImageProcessor(size=16), transformers.ViTImageProcessor(size=16)
    with caplog.at_level(logging.WARNING, logger="workbench"):
        first = ours(array, return_tensors="pt").pixel_values
    assert "ambiguous" in caplog.text and "input_data_format='channels_last'" in caplog.text
    assert torch.allclose(first, reference(array, return_tensors="pt").pixel_values, atol=1e-4)
    last = ours(array, input_data_format="channels_last", return_tensors="pt").pixel_values
    expected = reference(array, input_data_format="channels_last", return_tensors="pt").pixel_values
    assert torch.allclose(last, expected, atol=1e-4) and not torch.allclose(first, last)
    with pytest.raises(ValueError, match="neither the first nor the last axis has 1, 3 or 4"):
        ours(np.zeros((10, 10, 5), np.uint8))
    with pytest.raises(ValueError, match="'channels_first'.*'channels_last'"):
        ours(array, input_data_format="hwc")


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK"])
def test_modes_vit_converts_as_the_reference_would_with_do_convert_rgb(mode):
    """ViT-like processors leave do_convert_rgb unset; the reference then fails to normalise a
    non-RGB image, workbench converts it as the reference does with do_convert_rgb=True."""
    image = Image.fromarray(skdata.coffee()[::4, ::4]).convert(mode)
    got = workbench.ViTImageProcessor(size=32)(image, return_tensors="pt").pixel_values
    expected = transformers.ViTImageProcessor(size=32)(image, do_convert_rgb=True, return_tensors="pt").pixel_values
    assert got.shape == (1, 3, 32, 32) and (got - expected).abs().max() <= 1e-4
    with pytest.raises(ValueError, match="do_convert_rgb=True"):
        workbench.ViTImageProcessor(size=32)(image.convert("L"), do_convert_rgb=False)


def test_unknown_resample_and_settings_name_the_valid_values():
    with pytest.raises(ValueError, match=r"resample=9.*2 \(bilinear\), 3 \(bicubic\)"):
        workbench.ViTImageProcessor(resample=9)
    with pytest.raises(ValueError, match="resample='sharpest'"):
        workbench.ViTImageProcessor()(np.zeros((4, 4, 3), np.uint8), resample="sharpest")
    names = workbench.ViTImageProcessor(resample="bicubic", size=8)(Image.new("RGB", (5, 9)), return_tensors="pt")
    numbers = workbench.ViTImageProcessor(resample=3, size=8)(Image.new("RGB", (5, 9)), return_tensors="pt")
    assert torch.equal(names.pixel_values, numbers.pixel_values)
    with pytest.raises(TypeError, match=r"unknown arguments \['sizes'\]"):
        workbench.ViTImageProcessor()(np.zeros((4, 4, 3), np.uint8), sizes=3)
    with pytest.raises(ValueError, match="needs one of the key sets"):
        workbench.ViTImageProcessor(size={"w": 3})


def test_mixed_sizes_without_a_fixed_size_say_how_to_stack(caplog):
    batch = [np.zeros((20, 30, 3), np.uint8), np.zeros((40, 30, 3), np.uint8)]
    processor = workbench.BitImageProcessor(size=16, do_center_crop=False)
    with pytest.raises(ValueError, match="different sizes after processing.*return_tensors=None"):
        processor(batch, return_tensors="pt")
    assert [tuple(x.shape) for x in processor(batch)["pixel_values"]] == [(3, 16, 24), (3, 21, 16)]
    with caplog.at_level(logging.WARNING, logger="workbench"):
        processor(np.full((8, 8, 3), 0.5, np.float32))
        processor(np.full((8, 8, 3), 4000, np.uint16))
    assert "already in [0, 1]" in caplog.text and "image // 257" in caplog.text


def test_without_the_vision_extra_workbench_imports_and_says_what_to_install():
    code = (
        "import sys\n"
        "for name in ('torchvision', 'PIL'): sys.modules[name] = None\n"
        "import numpy as np, workbench\n"
        "processor = workbench.CLIPImageProcessor()\n"
        "try:\n"
        "    processor(np.zeros((8, 8, 3), np.uint8))\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "pip install workbench[vision]" in done.stdout


def test_one_channel_models_keep_gray_images_gray():
    """do_convert_rgb unset and a 1-value image_mean: a gray image stays (1, H, W), as in the reference."""
    settings = dict(size=16, image_mean=[0.5], image_std=[0.5])
    gray = Image.fromarray(skdata.camera()[::8, ::8])
    got = workbench.ViTImageProcessor(**settings)(gray, return_tensors="pt").pixel_values
    expected = transformers.ViTImageProcessor(**settings)(gray, return_tensors="pt").pixel_values
    assert got.shape == (1, 1, 16, 16) and (got - expected).abs().max() <= 1e-4
