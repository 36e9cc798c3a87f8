"""What an image processor did to an image, one step at a time.

A call given a list as ``trace`` (``processor(image, trace=steps)``) gets one :class:`ProcessingStep`
appended per step it runs, in order, each holding the image right after that step and the rule it
applied. The steps are recorded by the processor's own step methods (``prepare_images``, ``resize``,
``process_one``, ``_preprocess``), so a family that changes a step (ConvNeXT's crop_pct resize) records
what it did; the last step's image is the image's row of ``pixel_values``. ``ImageProcessorInspector``
(workbench.widgets) shows them.

    convert_rgb / to_tensor  (C, H, W), as prepare_images made it (RGB conversion when it ran)
    resize                   the size rule: shortest_edge / height x width / crop_pct ... and the resample
    center_crop              crop_size (or ConvNeXT's crop_pct square)
    rescale                  x * rescale_factor (when normalize follows, shown only: the processor folds it in)
    normalize                (x * rescale_factor - mean) / std, in one step as the processor computes it
    pad                      do_pad: zero-padded on the bottom and right
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .image_transforms import RESAMPLE_NAMES, resample_code


@dataclass
class ProcessingStep:
    """One step a processor ran on one image: ``name`` (``"resize"``, ``"center_crop"``...),
    ``image`` (C, H, W) right after it, ``rule`` (what it applied, e.g. ``"shortest_edge 256: 300x451 ->
    256x384, bilinear"``) and ``shown_only`` (True for an intermediate the processor fuses away:
    the rescaled image before normalize)."""

    name: str
    image: torch.Tensor
    rule: str = ""
    shown_only: bool = False


def record_step(options: dict[str, Any] | None, name: str, image: torch.Tensor, rule: str = "",
                shown_only: bool = False) -> None:
    """Append a step to ``options["trace"]`` when the call was given one (else nothing)."""
    trace = (options or {}).get("trace")
    if trace is not None:
        trace.append(ProcessingStep(name, image, rule, shown_only))


def hw(image: torch.Tensor) -> str:
    return f"{image.shape[-2]}x{image.shape[-1]}"


def resample_name(resample: Any) -> str:
    return RESAMPLE_NAMES[resample_code(resample)] if resample is not None else "bilinear"


def size_rule(size: dict, before: torch.Tensor, after: torch.Tensor, resample: Any) -> str:
    """How ``size`` set the new size, e.g. ``"shortest_edge 256: 300x451 -> 256x384, bilinear"``."""
    if "height" in size:
        rule = f"height x width {size['height']}x{size['width']} (aspect ratio not kept)"
    else:
        rule = ", ".join(f"{key} {value}" for key, value in size.items())
    return f"{rule}: {hw(before)} -> {hw(after)}, {resample_name(resample)}"


def conversion_rule(image: Any, convert: bool | None, tensor: torch.Tensor) -> tuple[str, str]:
    """(step name, rule) of turning one given image into the (C, H, W) tensor ``tensor``: ``convert_rgb``
    when do_convert_rgb is True or the conversion ran (None converts only images that are not RGB)."""
    mode = getattr(image, "mode", None)  # PIL images
    if mode is not None:
        given, changed = f"PIL {mode}", mode != "RGB"
    else:  # an array or tensor: its channels from its size over the image's area
        channels = int(getattr(image, "size", 0) if hasattr(image, "ndim") and not callable(image.size)
                       else image.numel()) // max(tensor.shape[-2] * tensor.shape[-1], 1)
        given, changed = f"{channels} channel{'s' * (channels != 1)}", channels != tensor.shape[0]
    if convert or changed:
        how = "do_convert_rgb=True" if convert else "do_convert_rgb=None: only images that are not RGB"
        result = f"{given} -> RGB" if changed else f"{given}, already RGB"
        return "convert_rgb", f"{result} ({how}), as (C, H, W) {str(tensor.dtype).replace('torch.', '')}"
    return "to_tensor", f"{given} as (C, H, W), no RGB conversion (do_convert_rgb={convert})"
