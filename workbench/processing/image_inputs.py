"""Turning what people pass as images into (C, H, W) tensors, the way the reference's torchvision
backend does, so that the steps after it see the same pixels.

    PIL image            ─► RGB (alpha composited onto white) ─► (3, H, W) uint8
    numpy / torch array  ─► (C, H, W), the channel axis inferred from a size of 1, 3 or 4 (or input_data_format=)
    file path            ─► decoded by torchvision.io as RGB (the reference's loader), else by Pillow
    list, nested list    ─► a flat list of the above

RGB conversion (``do_convert_rgb``): True converts every image, False none (as the reference); None,
the default of ViT-like processors, converts only images that are not already 3-channel, where the
reference would fail later at normalisation (a grayscale, RGBA or palette image given to ViT), unless
the processor's ``image_mean`` has other than 3 values (a 1-channel model keeps gray images gray).
16-bit grayscale images ("I;16") go through Pillow's conversion, which clips values above 255 as the
reference does; a warning says so when it loses information (scale the image to 8 bits first).
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import numpy as np
import torch

logger = logging.getLogger("workbench")
CHANNELS_FIRST, CHANNELS_LAST = "channels_first", "channels_last"
VISION_EXTRA = "pip install workbench[vision]"


def require_torchvision():
    """``torchvision.transforms.v2.functional``, or an error that names the install command."""
    try:
        from torchvision.transforms.v2 import functional
    except ImportError as error:
        raise ImportError(f"Image processing needs torchvision ({error}): {VISION_EXTRA}") from None
    return functional


def require_pil():
    try:
        import PIL.Image
    except ImportError:
        raise ImportError(f"Reading image files and PIL images needs Pillow: {VISION_EXTRA}") from None
    return PIL.Image


def is_pil_image(value: Any) -> bool:
    module = type(value).__module__
    if not module.startswith("PIL"):
        return False
    return isinstance(value, require_pil().Image)


def is_image(value: Any) -> bool:
    return is_pil_image(value) or isinstance(value, (np.ndarray, torch.Tensor))


# --- structure: one image, a batch, nested batches ---------------------------------------------

def flatten_images(images: Any, expected_ndims: int = 3) -> list[Any]:
    """A flat list of single images from an image, a list, a list of lists or a stacked array
    (``expected_ndims + 1`` dimensions). Paths are read here."""
    if isinstance(images, (str, os.PathLike)):
        return [load_image_file(images)]
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("Got an empty list of images: pass at least one image.")
        flat = []
        for item in images:
            if isinstance(item, (list, tuple)):
                flat += [image for inner in item for image in flatten_images(inner, expected_ndims)] if item else []
            else:
                flat += flatten_images(item, expected_ndims)
        return flat
    if is_pil_image(images):
        return [images]
    if isinstance(images, (np.ndarray, torch.Tensor)):
        if images.ndim == expected_ndims + 1:
            return list(images)
        if images.ndim == expected_ndims or (expected_ndims == 3 and images.ndim == 2):
            return [images]
        raise ValueError(f"An image array has {images.ndim} dimensions (shape {tuple(images.shape)}); expected "
                         f"{expected_ndims} for one image or {expected_ndims + 1} for a batch.")
    raise TypeError(f"Cannot read an image from a {type(images).__name__}: pass PIL images, numpy arrays, torch "
                    "tensors, file paths, or lists of them.")


def load_image_file(path: str | os.PathLike) -> torch.Tensor:
    """(3, H, W) uint8 from an image file, decoded by torchvision as RGB with the EXIF orientation
    applied (the reference's loader without torchcodec). Formats torchvision does not read (BMP,
    TIFF...) are opened with Pillow instead, where the reference fails."""
    path = os.fspath(path)
    if path.startswith(("http://", "https://")):
        raise ValueError(f"{path}: workbench does not download images; fetch the file first and pass its path, "
                         "or pass a PIL image.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No image file at {path!r}: pass the path of an existing image file, a PIL "
                                "image or an array.")
    require_torchvision()
    from torchvision.io import ImageReadMode, decode_image

    try:
        with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders for torchcodec's
            warnings.simplefilter("ignore", DeprecationWarning)
            return decode_image(path, mode=ImageReadMode.RGB, apply_exif_orientation=True)
    except (RuntimeError, ValueError) as error:
        decode_error = error
    try:
        return _open_with_pillow(path)
    except (OSError, ValueError):
        raise ValueError(f"Cannot decode the image file {path!r} ({decode_error}): it is truncated, damaged or not an "
                         "image (neither torchvision nor Pillow reads it). Re-save it as PNG or JPEG.") from None


def _open_with_pillow(path: str) -> torch.Tensor:
    pil = require_pil()
    from PIL import ImageOps

    with pil.open(path) as image:
        image.load()  # reads the whole file: a truncated one fails here
        array = np.array(ImageOps.exif_transpose(image).convert("RGB"))
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


# --- one image -> (C, H, W) ---------------------------------------------------------------------

def pil_to_rgb_array(image) -> np.ndarray:
    """(H, W, 3) uint8: transparency composited onto white, every other mode through Pillow's RGB
    conversion (what the reference does)."""
    pil = require_pil()
    if image.mode in ("I;16", "I;16B", "I;16L", "I") and np.asarray(image).max() > 255:
        logger.warning("A %s image with values above 255 is converted to RGB by clipping them to 255 (as Pillow and "
                       "the reference do); scale it to 8 bits first to keep its contrast.", image.mode)
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        white = pil.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.array(pil.alpha_composite(white, rgba).convert("RGB"))
    return np.array(image.convert("RGB"))


def infer_channel_format(image: torch.Tensor, num_channels=(1, 3, 4)) -> str:
    """Which axis of a (3-D) image holds the channels: the one whose size is 1, 3 or 4; the first
    when both are (a 3x4x3 image, say), as in the reference, with a warning."""
    first, last = image.shape[0], image.shape[-1]
    if first in num_channels and last in num_channels:
        logger.warning("The channel axis of an image of shape %s is ambiguous; taking the first axis as channels. Pass "
                       "input_data_format='channels_last' if the image is (height, width, channels).", tuple(image.shape))
        return CHANNELS_FIRST
    if first in num_channels:
        return CHANNELS_FIRST
    if last in num_channels:
        return CHANNELS_LAST
    raise ValueError(f"Cannot tell the channel axis of an image of shape {tuple(image.shape)}: neither the first nor "
                     "the last axis has 1, 3 or 4 channels. Pass (height, width, channels) or (channels, height, width) "
                     "with 1, 3 or 4 channels, and input_data_format= to say which.")


def check_data_format(value: Any) -> str | None:
    if value is None:
        return None
    value = getattr(value, "value", value)
    if value not in (CHANNELS_FIRST, CHANNELS_LAST):
        raise ValueError(f"input_data_format={value!r} is not a channel layout: use 'channels_first' (C, H, W) or "
                         "'channels_last' (H, W, C).")
    return value


def to_channels_first(image: Any, do_convert_rgb: bool | None, input_data_format: str | None) -> torch.Tensor:
    """One image as a contiguous (C, H, W) tensor, converted to RGB as the module docstring says."""
    input_data_format = check_data_format(input_data_format)
    from_pil = is_pil_image(image)
    if from_pil:
        convert = do_convert_rgb or (do_convert_rgb is None and image.mode != "RGB")
        tensor = torch.from_numpy(pil_to_rgb_array(image) if convert else np.array(image))
        input_data_format = CHANNELS_LAST
    elif isinstance(image, np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(image))
    elif isinstance(image, torch.Tensor):
        tensor = image
    else:
        raise TypeError(f"Cannot read an image from a {type(image).__name__}: pass a PIL image, a numpy array, a torch "
                        "tensor or a file path.")
    if tensor.dtype == torch.bool:
        tensor = tensor.to(torch.uint8)
    if tensor.ndim == 2:
        tensor, input_data_format = tensor[None], CHANNELS_FIRST
    if tensor.ndim != 3:
        raise ValueError(f"An image must have 2 or 3 dimensions, got shape {tuple(tensor.shape)}.")
    if input_data_format is None:
        input_data_format = infer_channel_format(tensor)
    if input_data_format == CHANNELS_LAST:
        tensor = tensor.permute(2, 0, 1)
    if not from_pil and (do_convert_rgb or (do_convert_rgb is None and tensor.shape[0] in (1, 4))):
        tensor = tensor_to_rgb(tensor)
    if min(tensor.shape[-2:]) < 1:
        raise ValueError(f"An image has an empty side (shape {tuple(tensor.shape)}): pass an image of at least 1x1.")
    return tensor.contiguous()


def tensor_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """(C, H, W) -> (3, H, W): a gray channel repeated; RGBA composited onto white. Float images must
    lie in [0, 1] to be composited."""
    if image.shape[0] == 1:
        return image.expand(3, *image.shape[1:]).clone()
    if image.shape[0] != 4:
        return image
    if image.is_floating_point() and (image.min() < 0.0 or image.max() > 1.0):
        raise ValueError(f"An RGBA float image must lie in [0, 1] to be composited onto white, got "
                         f"[{image.min().item()}, {image.max().item()}]: divide it by 255 first, or pass uint8.")
    functional = require_torchvision()
    dtype = image.dtype
    rgba = functional.to_dtype(image, torch.float32, scale=True)
    rgb = rgba[:3] * rgba[3:] + (1 - rgba[3:])
    return functional.to_dtype(rgb, dtype, scale=True)


def warn_about_range(image: torch.Tensor, index: int, do_rescale: bool, rescale_factor: float) -> None:
    """Rescaling assumes 8-bit values: say so when an image is already in [0, 1] or goes above 255
    (the reference rescales both silently)."""
    if not do_rescale or not image.numel() or image.dtype in (torch.uint8, torch.int8, torch.bool):
        return  # 8-bit values cannot pass 255: no need to read the whole (full-size) image
    if image.is_floating_point():
        low, high = (value.item() for value in torch.aminmax(image))  # one pass, no copy
    else:  # wider ints (rare): torch has no max for uint16 and the like, so those compare in int64
        high = (image if image.dtype in (torch.int16, torch.int32, torch.int64) else image.to(torch.int64)).max().item()
    if image.is_floating_point() and 0 <= low and high <= 1:
        logger.warning("Image %d is a float image already in [0, 1], and do_rescale=True scales it by %s again (as "
                       "the reference does): pass do_rescale=False if it is already scaled.", index, rescale_factor)
    elif not image.is_floating_point() and high > 255:
        logger.warning("Image %d (%s) has values above 255, and do_rescale=True scales it by %s as if it were 8-bit: "
                       "convert it to uint8 first (a 16-bit image: image // 257).", index, image.dtype, rescale_factor)
