"""``AutoImageProcessor``: the image processor a folder or Hub repo names (``image_processor_type``
in processor_config.json's ``image_processor`` entry or in preprocessor_config.json; older files'
``feature_extractor_type``), else the one of its config.json's ``model_type``.

Names with transformers 4.x's ``Fast`` suffix and transformers 5's ``Pil`` suffix load the same
workbench class (workbench has one implementation: torchvision's kernels, the reference's default).
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import UnsupportedModelError
from ..hub import HubOptions
from ..tokenization.loading import read_model_type
from .files import load_part_dict
from .image_processors import (
    PROCESSORS,
    BitImageProcessor,
    BlipImageProcessor,
    CLIPImageProcessor,
    ConvNextImageProcessor,
    DeiTImageProcessor,
    SiglipImageProcessor,
    ViTImageProcessor,
)
from .detr import DetrImageProcessor
from .segmentation import MobileNetV2ImageProcessor, SegformerImageProcessor

IMAGE_PROCESSORS = {cls.__name__: cls for cls in (*PROCESSORS, DetrImageProcessor, MobileNetV2ImageProcessor,
                                                   SegformerImageProcessor)}
# model_type -> its image processor, as the reference maps them (the families workbench has, and close kin)
BY_MODEL_TYPE = {
    "vit": ViTImageProcessor, "swin": ViTImageProcessor, "swinv2": ViTImageProcessor, "vit_mae": ViTImageProcessor,
    "vit_msn": ViTImageProcessor, "clipseg": ViTImageProcessor, "trocr": ViTImageProcessor,
    "deit": DeiTImageProcessor,
    "convnext": ConvNextImageProcessor, "convnextv2": ConvNextImageProcessor, "resnet": ConvNextImageProcessor,
    "regnet": ConvNextImageProcessor, "cvt": ConvNextImageProcessor,
    "mobilenet_v2": MobileNetV2ImageProcessor,
    "bit": BitImageProcessor, "dinov2": BitImageProcessor,
    "clip": CLIPImageProcessor, "kosmos-2": CLIPImageProcessor, "git": CLIPImageProcessor,
    "siglip": SiglipImageProcessor, "paligemma": SiglipImageProcessor,
    "blip": BlipImageProcessor, "blip-2": BlipImageProcessor, "instructblip": BlipImageProcessor,
    "detr": DetrImageProcessor, "table-transformer": DetrImageProcessor,
    "segformer": SegformerImageProcessor, "upernet": SegformerImageProcessor,
}


def register_image_processor(cls: type, *model_types: str) -> None:
    """Make ``AutoImageProcessor`` load ``cls`` by its name and by these model types."""
    IMAGE_PROCESSORS[cls.__name__] = cls
    for model_type in model_types:
        BY_MODEL_TYPE[model_type] = cls


def image_processor_class(name: str) -> type | None:
    """The class for an ``image_processor_type`` (``ViTImageProcessor``, ``...Fast``, ``...Pil``), or None."""
    for suffix in ("Fast", "Pil"):
        if name.endswith(suffix) and name[: -len(suffix)] in IMAGE_PROCESSORS:
            name = name[: -len(suffix)]
    return IMAGE_PROCESSORS.get(name)


class AutoImageProcessor:
    """>>> processor = AutoImageProcessor.from_pretrained("google/vit-base-patch16-224")  # doctest: +SKIP
    >>> processor(image, return_tensors="pt").pixel_values.shape  # doctest: +SKIP
    torch.Size([1, 3, 224, 224])
    """

    def __init__(self) -> None:
        raise TypeError("AutoImageProcessor is not instantiated: use AutoImageProcessor.from_pretrained(folder_or_repo).")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        """The image processor a folder, Hub repo or JSON file describes; keyword arguments are hub
        options and settings that override the saved ones (``size=``, ``do_center_crop=``...)."""
        kwargs.pop("use_fast", None)  # one implementation: torchvision's
        kwargs.pop("backend", None)
        options = HubOptions.pop_from(dict(kwargs))
        location = pretrained_model_name_or_path
        values = load_part_dict(location, options, "image_processor")
        name = values.get("image_processor_type")
        if name is None and values.get("feature_extractor_type"):
            name = values["feature_extractor_type"].replace("FeatureExtractor", "ImageProcessor")
        if name is not None:
            found = image_processor_class(name)
            if found is None:
                raise UnsupportedModelError(
                    f"{location}: image processor {name!r} is not implemented in workbench; it has: "
                    f"{', '.join(sorted(IMAGE_PROCESSORS))} (also under their 'Fast' names).")
            return found.from_pretrained(location, **kwargs)
        model_type = read_model_type(location, options)
        if model_type not in BY_MODEL_TYPE:
            raise UnsupportedModelError(
                f"{location}: the image processor settings name no image_processor_type, and the model type "
                f"{model_type!r} has no image processor in workbench (model types with one: "
                f"{', '.join(sorted(BY_MODEL_TYPE))}). Add \"image_processor_type\" to preprocessor_config.json.")
        return BY_MODEL_TYPE[model_type].from_pretrained(location, **kwargs)
