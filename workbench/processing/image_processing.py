"""``BaseImageProcessor``: images in, ``pixel_values`` out, with the settings of a
``preprocessor_config.json`` (or the ``image_processor`` entry of transformers 5's processor_config.json).

    images ─► (C, H, W) tensors (image_inputs.py: RGB conversion, channel axis)
           ─► resize (size, resample) ─► center crop (crop_size) ─► rescale (1/255) and normalize (mean, std)
           ─► pad to the batch's largest size (do_pad) ─► pixel_values (B, C, H, W)

A family's processor is a subclass that changes defaults (``settings``) or one step. Every setting
can be overridden per call: ``processor(images, size={"height": 384, "width": 384}, return_tensors="pt")``.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from .base import BatchFeature, SavedSettings
from .image_inputs import check_data_format, flatten_images, to_channels_first, warn_about_range
from .image_steps import conversion_rule, hw, record_step, size_rule
from .image_transforms import (
    center_crop,
    pad_bottom_right,
    resample_code,
    rescale_and_normalize,
    resize,
    size_dict,
)

IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
OPENAI_CLIP_MEAN, OPENAI_CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
BILINEAR, BICUBIC = 2, 3  # PIL's resampling numbers, as configs store them

# per-call options that are not settings of the processor
# (trace: a list that gets each step's result, see image_steps.py)
CALL_OPTIONS = ("return_tensors", "input_data_format", "data_format", "device", "disable_grouping", "default_to_square",
                "trace")
_DESCRIBE_FILE = ("image_processor_type", "processor_class", "feature_extractor_type", "auto_map")


class BaseImageProcessor(SavedSettings):
    """Resize, center-crop, rescale, normalize and pad images, as the reference's torchvision backend.

    >>> processor = ViTImageProcessor(size={"height": 32, "width": 32})  # doctest: +SKIP
    >>> processor(image, return_tensors="pt").pixel_values.shape  # doctest: +SKIP
    torch.Size([1, 3, 32, 32])
    """

    part = "image_processor"
    settings: dict[str, Any] = {
        "do_convert_rgb": None, "do_resize": None, "size": None, "resample": None, "do_center_crop": None,
        "crop_size": None, "do_rescale": None, "rescale_factor": 1 / 255, "do_normalize": None, "image_mean": None,
        "image_std": None, "do_pad": None, "pad_size": None,
    }
    default_to_square = True  # what an int ``size`` means: a square (True) or the shortest edge (False)
    model_input_names = ["pixel_values"]
    extra_inputs: tuple[str, ...] = ()  # inputs a call takes beside the images (segmentation_maps, annotations)

    def __init__(self, **kwargs: Any) -> None:
        for name in _DESCRIBE_FILE[:3]:
            kwargs.pop(name, None)
        default_to_square = kwargs.pop("default_to_square", None)
        for name, default in self.settings.items():
            value = kwargs.pop(name, None)
            setattr(self, name, copy.deepcopy(default) if value is None else value)
        self._standardize(self.__dict__, default_to_square, kwargs.pop("max_size", None))
        self._extra = kwargs  # keys this version does not use, kept for saving

    def _standardize(self, values: dict[str, Any], default_to_square: bool | None, max_size: int | None = None) -> None:
        """Sizes as dicts, means as tuples, in place (``values`` is ``self.__dict__`` or a call's options)."""
        square = self.default_to_square if default_to_square is None else default_to_square
        values["size"] = size_dict(values.get("size"), square, max_size)
        values["crop_size"] = size_dict(values.get("crop_size"), True, name="crop_size")
        values["pad_size"] = size_dict(values.get("pad_size"), True, name="pad_size")
        for name in ("image_mean", "image_std"):
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])
        if values.get("resample") is not None:
            resample_code(values["resample"])  # fails early, naming the valid values

    # --- saving -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """preprocessor_config.json: the settings that are set (as the reference writes them) and the class."""
        values = {}
        for name, default in self.settings.items():
            value = getattr(self, name)
            if value is None and default is None:
                continue
            if isinstance(value, tuple):
                value = list(value)
            if name == "resample" and value is not None and not isinstance(value, int):
                value = resample_code(value)
            values[name] = copy.deepcopy(value)
        return {**self._extra, **values, "image_processor_type": type(self).__name__}

    # --- processing ---------------------------------------------------------------------------

    def __call__(self, images: Any, *args: Any, **kwargs: Any) -> BatchFeature:
        return self.preprocess(images, *args, **kwargs)

    def preprocess(self, images: Any, **kwargs: Any) -> BatchFeature:
        """``pixel_values`` for an image or a batch (PIL images, arrays, tensors, file paths, lists).
        Keyword arguments: any setting (``size=``, ``do_center_crop=``...), ``return_tensors`` ("pt",
        "np" or None for a list of tensors), ``input_data_format`` ("channels_first" / "channels_last"
        for arrays whose channel axis is ambiguous), ``device``, ``trace`` (a list: each step appends
        a :class:`~workbench.processing.image_steps.ProcessingStep` with its result, one image at a time)."""
        options = self.call_options(kwargs)
        prepared = self.prepare_images(images, options)
        data = self._preprocess(prepared, **options)
        return self.to_batch(data, options["return_tensors"])

    @property
    def call_keywords(self) -> tuple[str, ...]:
        """The keywords a call takes besides the images (a processor routes these here)."""
        return (*self.settings, *CALL_OPTIONS, *self.extra_inputs)

    def call_options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The settings with a call's overrides, checked."""
        unknown = sorted(set(kwargs) - set(self.settings) - set(CALL_OPTIONS))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown arguments {unknown}; it takes images plus its settings "
                            f"({', '.join(self.settings)}) and {', '.join(CALL_OPTIONS)}.")
        options = {name: kwargs[name] if kwargs.get(name) is not None else getattr(self, name) for name in self.settings}
        options.update({name: kwargs.get(name) for name in CALL_OPTIONS})
        self._standardize(options, options.pop("default_to_square"))
        options["input_data_format"] = check_data_format(options["input_data_format"])
        if check_data_format(options["data_format"]) not in (None, "channels_first"):
            raise ValueError("data_format='channels_last' is not supported: pixel_values are (B, C, H, W); permute "
                             "them afterwards if you need channels last.")
        self._validate(options)
        return options

    def _validate(self, options: dict[str, Any]) -> None:
        needs = [("do_resize", ("size", "resample")), ("do_center_crop", ("crop_size",)),
                 ("do_normalize", ("image_mean", "image_std")), ("do_rescale", ("rescale_factor",))]
        for flag, names in needs:
            missing = [name for name in names if options.get(flag) and options.get(name) is None]
            if missing:
                raise ValueError(f"{flag}=True needs {' and '.join(missing)}: set it in the config or pass "
                                 f"{missing[0]}=... (or {flag}=False).")

    def prepare_images(self, images: Any, options: dict[str, Any], expected_ndims: int = 3,
                       do_convert_rgb: Any = "setting", input_data_format: Any = "setting") -> list[torch.Tensor]:
        """A flat list of (C, H, W) tensors (on ``options["device"]`` when given)."""
        convert = options["do_convert_rgb"] if do_convert_rgb == "setting" else do_convert_rgb
        mean = options.get("image_mean")
        if convert is None and isinstance(mean, (list, tuple)) and len(mean) != 3:
            convert = False  # a model of 1 (or 4) channels: its images stay as they are
        layout = options["input_data_format"] if input_data_format == "setting" else input_data_format
        tensors = []
        for index, image in enumerate(flatten_images(images, expected_ndims)):
            try:
                tensor = to_channels_first(image, convert, layout)
            except (ValueError, TypeError) as error:
                raise type(error)(f"Image {index} of the batch: {error}") from None
            if expected_ndims == 3:
                warn_about_range(tensor, index, options.get("do_rescale"), options.get("rescale_factor"))
                name, rule = conversion_rule(image, convert, tensor)
                record_step(options, name, tensor, rule)
            tensors.append(tensor if options.get("device") is None else tensor.to(options["device"]))
        return tensors

    def _preprocess(self, images: list[torch.Tensor], **options: Any) -> dict[str, Any]:
        """Resize, crop, rescale and normalize each image, then pad (``do_pad``); one image at a time
        (the reference groups images by shape on GPUs only, and the kernels work per image)."""
        processed = [self.process_one(image, options) for image in images]
        data = {}
        if options.get("do_pad"):
            sizes = [hw(image) for image in processed]
            processed, data["pixel_mask"] = self.pad(processed, options.get("pad_size"))
            for size, image in zip(sizes, processed):
                record_step(options, "pad", image, f"{size} -> {hw(image)}, zeros on the bottom and right")
        data["pixel_values"] = processed
        return data

    def process_one(self, image: torch.Tensor, options: dict[str, Any]) -> torch.Tensor:
        """(C, H, W) -> resized, center-cropped, rescaled and normalized as ``options`` say (each step
        recorded in ``options["trace"]`` when there is one)."""
        if options["do_resize"]:
            image = self.resize(image, options["size"], options["resample"], options)
        if options["do_center_crop"]:
            before, image = image, center_crop(image, options["crop_size"])
            record_step(options, "center_crop", image, f"crop_size {hw(image)}: the central window of {hw(before)}")
        rescale, factor, normalize = options["do_rescale"], options["rescale_factor"], options["do_normalize"]
        if rescale and normalize and options.get("trace") is not None:  # fused below; the rescaled image, for display
            record_step(options, "rescale", rescale_and_normalize(image, True, factor, False, None, None),
                        f"x * {factor:.6g}", shown_only=True)
        result = rescale_and_normalize(image, rescale, factor, normalize, options["image_mean"], options["image_std"])
        if normalize:
            record_step(options, "normalize", result, f"(x - mean) / std, mean {_numbers(options['image_mean'])}, "
                        f"std {_numbers(options['image_std'])}" + (" (the rescale folded in)" if rescale else ""))
        elif rescale:
            record_step(options, "rescale", result, f"x * {factor:.6g}")
        return result

    def resize(self, image: torch.Tensor, size: dict, resample: Any, options: dict[str, Any] | None = None) -> torch.Tensor:
        """(C, H, W) -> resized to ``size`` (a family may change the rule, as ConvNeXT's crop_pct)."""
        result = resize(image, size, resample)
        record_step(options, "resize", result, size_rule(size, image, result, resample))
        return result

    @staticmethod
    def pad(images: list[torch.Tensor], pad_size: dict | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Zero-pad each image on the bottom and right to ``pad_size`` or the batch's largest height and
        width; returns the images and their masks (1 = image, 0 = padding)."""
        if pad_size is not None:
            height, width = pad_size["height"], pad_size["width"]
        else:
            height, width = max(image.shape[-2] for image in images), max(image.shape[-1] for image in images)
        padded = [pad_bottom_right(image, height, width) for image in images]
        return [image for image, _ in padded], [mask for _, mask in padded]

    @staticmethod
    def to_batch(data: dict[str, Any], return_tensors: str | None) -> BatchFeature:
        """Lists of per-image tensors stacked into (B, ...) tensors ("pt") or arrays ("np"), or kept as lists (None)."""
        if return_tensors not in (None, "pt", "np"):
            raise ValueError(f"return_tensors={return_tensors!r} is not supported: use 'pt' (torch), 'np' (numpy) or None.")
        batch = BatchFeature()
        for key, value in data.items():
            if return_tensors is not None and isinstance(value, list) and value and isinstance(value[0], torch.Tensor):
                shapes = {tuple(item.shape) for item in value}
                if len(shapes) > 1:
                    raise ValueError(f"The images have different sizes after processing ({sorted(shapes)}), so their "
                                     f"{key} cannot be stacked: set a fixed size (size={{'height': ..., 'width': ...}} "
                                     "or do_center_crop=True), pad them (do_pad=True), or pass return_tensors=None.")
                value = torch.stack(value)
                value = value.numpy() if return_tensors == "np" else value
            elif return_tensors == "np" and isinstance(value, torch.Tensor):
                value = value.numpy()
            batch[key] = value
        return batch


def _numbers(values: Any) -> str:
    return "(" + ", ".join(f"{value:.4g}" for value in values) + ")" if isinstance(values, (list, tuple)) else f"{values:.4g}"


ImageProcessingMixin = BaseImageProcessor  # the reference's name for the loading/saving half
BaseImageProcessorFast = BaseImageProcessor  # transformers 5 keeps this name for its torchvision backend

__all__ = ["BaseImageProcessor", "BaseImageProcessorFast", "ImageProcessingMixin"]
