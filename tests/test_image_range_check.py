"""The rescale range check that image processors run on every input image (image_inputs.py,
``warn_about_range``) skips 8-bit images, which cannot pass 255, instead of copying each full-size
photo to int64 (benchmarks/RESULTS_vision.md: it took 60% of preprocessing). What it changes: no
pixel value, and no warning that the wider dtypes still get."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import skimage.data
import torch
import transformers
from PIL import Image

import workbench

pytestmark = pytest.mark.usefixtures("one_thread")

PROCESSORS = ("ViTImageProcessor", "MobileNetV2ImageProcessor")
MOBILENET = dict(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}, resample=2,
                 image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])


@pytest.mark.parametrize("name", PROCESSORS)
def test_photos_give_the_references_pixel_values(name):
    settings = MOBILENET if name.startswith("MobileNet") else {}
    photos = [skimage.data.chelsea(), skimage.data.rocket()]  # 300 x 451 and 427 x 640, uint8
    inputs = [Image.fromarray(photos[0]), photos[1], torch.from_numpy(photos[1]).permute(2, 0, 1)]
    ours = getattr(workbench, name)(**settings)(inputs, return_tensors="pt")["pixel_values"]
    theirs = getattr(transformers, name)(**settings)(inputs, return_tensors="pt")["pixel_values"]
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("image, warns", [
    (np.full((8, 8, 3), 255, np.uint8), None),
    (np.full((8, 8, 3), 300, np.int32), "above 255"),
    (np.full((8, 8, 3), 255, np.int16), None),
    (torch.full((3, 8, 8), 1000, dtype=torch.uint16), "above 255"),
    (np.full((8, 8, 3), 0.5, np.float64), "already in [0, 1]"),
    (torch.full((3, 8, 8), 0.5, dtype=torch.bfloat16), "already in [0, 1]"),
    (np.full((8, 8, 3), 7.0, np.float32), None),
], ids=["uint8", "int32-300", "int16-255", "uint16-1000", "float64-half", "bf16-half", "float32-7"])
def test_range_warnings_by_dtype(caplog, image, warns):
    with caplog.at_level(logging.WARNING, logger="workbench"):
        workbench.ViTImageProcessor(size=4)(image, return_tensors="pt")
    if warns is None:
        assert "above 255" not in caplog.text and "already in [0, 1]" not in caplog.text
    else:
        assert warns in caplog.text
