"""The image processors of the classification and image-text families: the shared steps of
``BaseImageProcessor`` with each family's defaults (and ConvNeXT's crop_pct resize).

    class                        resize                          crop      mean / std       RGB
    ViTImageProcessor            224 x 224, bilinear             -         0.5 / 0.5        as needed
    DeiTImageProcessor           256 x 256, bicubic              224       0.5 / 0.5        as needed
    ConvNextImageProcessor       shortest 384 (crop_pct below)   -         0.5 / 0.5        as needed
    MobileNetV2ImageProcessor    shortest 256, bilinear          224       0.5 / 0.5        as needed
    BitImageProcessor (DINOv2)   shortest 224, bicubic           224       CLIP             always
    CLIPImageProcessor           shortest 224, bicubic           224       CLIP             always
    SiglipImageProcessor         224 x 224, bicubic              -         0.5 / 0.5        always
    BlipImageProcessor           384 x 384, bicubic              -         CLIP             always

MobileNetV2's (with segmentation maps) is in segmentation.py, DETR's in detr.py. Each is also exported as ``<Name>Fast``, the name transformers 4.x gave its torchvision version (and
transformers 5 still accepts); config files naming either load the same class.
"""

from __future__ import annotations

from typing import Any

import torch

from .image_processing import (
    BICUBIC,
    BILINEAR,
    IMAGENET_STANDARD_MEAN,
    IMAGENET_STANDARD_STD,
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    BaseImageProcessor,
)
from .image_steps import hw, record_step, resample_name
from .image_transforms import center_crop, resize, shortest_edge_size

_BASE = BaseImageProcessor.settings
_RESCALED = {"do_resize": True, "do_rescale": True, "do_normalize": True}


class ViTImageProcessor(BaseImageProcessor):
    """ViT (also Swin, ViT-MAE, CLIPSeg): a 224 x 224 bilinear resize, normalised to [-1, 1]."""

    settings = {**_BASE, **_RESCALED, "size": {"height": 224, "width": 224}, "resample": BILINEAR,
                "image_mean": IMAGENET_STANDARD_MEAN, "image_std": IMAGENET_STANDARD_STD}


class DeiTImageProcessor(BaseImageProcessor):
    """DeiT: 256 x 256 bicubic, then the central 224 x 224."""

    settings = {**_BASE, **_RESCALED, "size": {"height": 256, "width": 256}, "resample": BICUBIC,
                "do_center_crop": True, "crop_size": {"height": 224, "width": 224},
                "image_mean": IMAGENET_STANDARD_MEAN, "image_std": IMAGENET_STANDARD_STD}


class CLIPImageProcessor(BaseImageProcessor):
    """CLIP: the short side to 224 (bicubic), the central 224 x 224, OpenAI's mean and std."""

    settings = {**_BASE, **_RESCALED, "size": {"shortest_edge": 224}, "resample": BICUBIC, "do_center_crop": True,
                "crop_size": {"height": 224, "width": 224}, "do_convert_rgb": True,
                "image_mean": OPENAI_CLIP_MEAN, "image_std": OPENAI_CLIP_STD}
    default_to_square = False

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.pop("use_square_size", False):  # KOSMOS-2's configs: a square of the shortest edge
            edge = (kwargs.get("size") or self.settings["size"])
            edge = edge["shortest_edge"] if isinstance(edge, dict) else edge
            kwargs["size"] = {"height": edge, "width": edge}
        super().__init__(**kwargs)


class BitImageProcessor(BaseImageProcessor):
    """BiT and DINOv2: as CLIP's."""

    settings = CLIPImageProcessor.settings
    default_to_square = False


class SiglipImageProcessor(BaseImageProcessor):
    """SigLIP: a 224 x 224 bicubic resize, normalised to [-1, 1]."""

    settings = {**_BASE, **_RESCALED, "size": {"height": 224, "width": 224}, "resample": BICUBIC,
                "do_convert_rgb": True, "image_mean": IMAGENET_STANDARD_MEAN, "image_std": IMAGENET_STANDARD_STD}
    default_to_square = False


class BlipImageProcessor(BaseImageProcessor):
    """BLIP: a 384 x 384 bicubic resize, OpenAI's mean and std."""

    settings = {**_BASE, **_RESCALED, "size": {"height": 384, "width": 384}, "resample": BICUBIC,
                "do_convert_rgb": True, "image_mean": OPENAI_CLIP_MEAN, "image_std": OPENAI_CLIP_STD}


class ConvNextImageProcessor(BaseImageProcessor):
    """ConvNeXT (also ResNet, RegNet): below 384, the short side goes to ``shortest_edge / crop_pct``
    and the central ``shortest_edge`` square is kept; at 384 and above the image is warped to a square."""

    settings = {**_BASE, **_RESCALED, "size": {"shortest_edge": 384}, "resample": BICUBIC, "crop_pct": 224 / 256,
                "image_mean": IMAGENET_STANDARD_MEAN, "image_std": IMAGENET_STANDARD_STD}
    default_to_square = False

    def resize(self, image: torch.Tensor, size: dict, resample: Any, options: dict[str, Any] | None = None) -> torch.Tensor:
        if "shortest_edge" not in size:
            raise ValueError(f"ConvNextImageProcessor needs size={{'shortest_edge': ...}}, got {size}.")
        edge = size["shortest_edge"]
        if edge >= 384:
            result = resize(image, {"height": edge, "width": edge}, resample)
            record_step(options, "resize", result, f"shortest_edge {edge} >= 384: warped to a square, no crop: "
                        f"{hw(image)} -> {hw(result)}, {resample_name(resample)}")
            return result
        crop_pct = (options or {}).get("crop_pct") or self.crop_pct
        height, width = shortest_edge_size(*image.shape[-2:], int(edge / crop_pct))
        resized = resize(image, {"height": height, "width": width}, resample)
        record_step(options, "resize", resized, f"shortest_edge {edge} / crop_pct {crop_pct:.4g} = {int(edge / crop_pct)}: "
                    f"{hw(image)} -> {hw(resized)}, {resample_name(resample)}")
        result = center_crop(resized, {"height": edge, "width": edge})
        record_step(options, "center_crop", result, f"crop_pct {crop_pct:.4g}: the central {edge}x{edge} of {hw(resized)}")
        return result


PROCESSORS = (ViTImageProcessor, DeiTImageProcessor, CLIPImageProcessor, BitImageProcessor, SiglipImageProcessor,
              BlipImageProcessor, ConvNextImageProcessor)
# transformers 4.x's names for the torchvision versions, still accepted by transformers 5
ViTImageProcessorFast = ViTImageProcessor
DeiTImageProcessorFast = DeiTImageProcessor
CLIPImageProcessorFast = CLIPImageProcessor
BitImageProcessorFast = BitImageProcessor
SiglipImageProcessorFast = SiglipImageProcessor
BlipImageProcessorFast = BlipImageProcessor
ConvNextImageProcessorFast = ConvNextImageProcessor
