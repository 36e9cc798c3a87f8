"""The image steps, on (..., C, H, W) tensors, with torchvision's kernels called as the reference's
torchvision backend calls them (uint8 in, antialiased resize, the same output-size rounding), so that
``pixel_values`` agree with it.

Sizes are dicts, as in the reference's configs:

    {"height": h, "width": w}                     exactly h x w (aspect ratio not kept)
    {"shortest_edge": s}                          the short side becomes s, the long one int(s * long / short)
    {"shortest_edge": s, "longest_edge": l}       the short side s unless the long one would pass l (DETR)
    {"max_height": h, "max_width": w}             the largest size that fits, aspect ratio kept
"""

from __future__ import annotations

from typing import Any

import torch

from .image_inputs import require_torchvision

# PIL's resampling numbers (what configs store) -> torchvision's interpolation names, as the reference maps them
RESAMPLE_NAMES = {0: "nearest-exact", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
RESAMPLE_ALIASES = {"nearest": 0, "nearest_exact": 0, "nearest-exact": 0, "lanczos": 1, "antialias": 1, "bilinear": 2, "linear": 2,
                    "bicubic": 3, "cubic": 3, "box": 4, "hamming": 5}
VALID_SIZE_KEYS = ({"height", "width"}, {"shortest_edge"}, {"shortest_edge", "longest_edge"}, {"longest_edge"},
                   {"max_height", "max_width"})


def resample_code(resample: Any) -> int:
    """A config's ``resample`` (PIL's number, a PIL ``Resampling``, a torchvision ``InterpolationMode``
    or a name such as ``"bicubic"``) as PIL's number."""
    if isinstance(resample, bool):
        pass
    elif isinstance(resample, int) and int(resample) in RESAMPLE_NAMES:
        return int(resample)
    elif isinstance(resample, str) or hasattr(resample, "value"):
        name = str(getattr(resample, "value", resample)).lower()  # PIL enums are ints; InterpolationMode has names
        if name in RESAMPLE_ALIASES:
            return RESAMPLE_ALIASES[name]
    choices = ", ".join(f"{code} ({name})" for code, name in RESAMPLE_NAMES.items())
    raise ValueError(f"Unknown resample={resample!r}: use one of PIL's resampling numbers {choices}, their names, "
                     "or a torchvision InterpolationMode.")


def interpolation_mode(resample: Any):
    """torchvision's ``InterpolationMode`` for a ``resample`` value (see ``resample_code``)."""
    require_torchvision()
    from torchvision.transforms import InterpolationMode

    if isinstance(resample, InterpolationMode):
        return resample
    return InterpolationMode(RESAMPLE_NAMES[resample_code(resample)])


def size_dict(size: Any, default_to_square: bool = True, max_size: int | None = None, name: str = "size") -> dict | None:
    """A ``size`` setting as a dict (see the module docstring): an int is a square when
    ``default_to_square`` else the shortest edge (with ``max_size`` as the longest); a pair is (height, width)."""
    if size is None:
        return None
    if isinstance(size, dict):
        values = dict(size)
    elif isinstance(size, int) and not isinstance(size, bool):
        if default_to_square:
            values = {"height": size, "width": size}
        else:
            values = {"shortest_edge": size, **({"longest_edge": max_size} if max_size is not None else {})}
    elif isinstance(size, (list, tuple)) and len(size) == 2:
        values = {"height": size[0], "width": size[1]}
    elif isinstance(size, (list, tuple)) and len(size) == 1:
        return size_dict(size[0], default_to_square, max_size, name)
    else:
        raise ValueError(f"{name}={size!r} is not a size: pass an int, (height, width), or a dict with one of the key "
                         f"sets {_key_sets()}.")
    values = {key: value for key, value in values.items() if value is not None}
    if set(values) not in VALID_SIZE_KEYS:
        raise ValueError(f"{name}={size!r} has the keys {sorted(values)}; it needs one of the key sets {_key_sets()}.")
    return values


def _key_sets() -> str:
    return ", ".join("{" + ", ".join(sorted(keys)) + "}" for keys in VALID_SIZE_KEYS)


def shortest_edge_size(height: int, width: int, shortest: int) -> tuple[int, int]:
    """(new_height, new_width) with the short side ``shortest`` and the long side scaled, truncated."""
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(shortest * long / short)
    return (new_long, shortest) if width <= height else (shortest, new_long)


def aspect_size_with_max(height: int, width: int, shortest: int, longest: int | None) -> tuple[int, int]:
    """DETR's rule: the short side ``shortest``, unless the long side would pass ``longest``; then
    the long side is about ``longest`` and the short side smaller."""
    raw = None
    if longest is not None:
        low, high = float(min(height, width)), float(max(height, width))
        if high / low * shortest > longest:
            raw = longest * low / high
            shortest = int(round(raw))
    if (height <= width and height == shortest) or (width <= height and width == shortest):
        return height, width
    scale = raw if raw is not None else shortest
    if width < height:
        return int(scale * height / width), shortest
    return shortest, int(scale * width / height)


def output_size(height: int, width: int, size: dict) -> tuple[int, int]:
    """The (height, width) an image of ``height`` x ``width`` is resized to under ``size``."""
    if "shortest_edge" in size and "longest_edge" in size:
        return aspect_size_with_max(height, width, size["shortest_edge"], size["longest_edge"])
    if "shortest_edge" in size:
        return shortest_edge_size(height, width, size["shortest_edge"])
    if "max_height" in size:
        scale = min(size["max_height"] / height, size["max_width"] / width)
        return int(height * scale), int(width * scale)
    if "height" in size:
        return size["height"], size["width"]
    raise ValueError(f"Cannot resize to size={size}: it needs 'height' and 'width', 'shortest_edge' (and "
                     "'longest_edge'), or 'max_height' and 'max_width'.")


def resize(image: torch.Tensor, size: dict, resample: Any) -> torch.Tensor:
    """(..., C, H, W) -> (..., C, H', W') with torchvision's antialiased kernels."""
    functional = require_torchvision()
    new_size = output_size(*image.shape[-2:], size)
    if min(new_size) < 1:
        raise ValueError(f"Resizing an image of {tuple(image.shape[-2:])} to size={size} gives {new_size}, an empty "
                         "image: the image is too thin for this size; pad or crop it to a less extreme aspect ratio.")
    return functional.resize(image, list(new_size), interpolation=interpolation_mode(resample), antialias=True)


def center_crop(image: torch.Tensor, size: dict) -> torch.Tensor:
    """The central ``size["height"]`` x ``size["width"]`` window; a smaller image is zero-padded
    around first (the extra pixel of an odd padding on the bottom / right), as in the reference."""
    functional = require_torchvision()
    if "height" not in size or "width" not in size:
        raise ValueError(f"crop_size={size} needs 'height' and 'width'.")
    height, width = image.shape[-2:]
    crop_height, crop_width = size["height"], size["width"]
    if crop_width > width or crop_height > height:
        pad_width, pad_height = max(crop_width - width, 0), max(crop_height - height, 0)
        padding = [pad_width // 2, pad_height // 2, (pad_width + 1) // 2, (pad_height + 1) // 2]
        image = functional.pad(image, padding, fill=0)
        height, width = image.shape[-2:]
        if (crop_height, crop_width) == (height, width):
            return image
    top, left = int((height - crop_height) / 2.0), int((width - crop_width) / 2.0)
    return functional.crop(image, top, left, crop_height, crop_width)


def rescale_and_normalize(image: torch.Tensor, do_rescale: bool, rescale_factor: float, do_normalize: bool,
                          image_mean, image_std) -> torch.Tensor:
    """``(image * rescale_factor - mean) / std`` in float32, with the rescale folded into mean and std
    (mean / rescale_factor) as the reference folds it; uint8 stays uint8 when neither step runs."""
    if do_normalize:
        functional = require_torchvision()
        mean, std = torch.tensor(image_mean), torch.tensor(image_std)
        if do_rescale:
            mean, std = mean * (1.0 / rescale_factor), std * (1.0 / rescale_factor)
        channels = image.shape[-3]
        if mean.numel() not in (1, channels):
            raise ValueError(f"image_mean has {mean.numel()} values but the image has {channels} channels: pass "
                             f"do_convert_rgb=True for gray or RGBA images, or an image_mean of {channels} values.")
        return functional.normalize(image.to(torch.float32), mean.tolist() if mean.numel() > 1 else [mean.item()] * channels,
                                    std.tolist() if std.numel() > 1 else [std.item()] * channels)
    if do_rescale:
        return image * rescale_factor
    return image


def pad_bottom_right(image: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, h, w) -> zero-padded (C, height, width) and its (height, width) int64 mask (1 = image pixel)."""
    functional = require_torchvision()
    h, w = image.shape[-2:]
    if h > height or w > width:
        raise ValueError(f"Cannot pad an image of {h}x{w} to the smaller {height}x{width}: pass a pad_size at least "
                         "as large as every image after resizing.")
    if (h, w) != (height, width):
        image = functional.pad(image, [0, 0, width - w, height - h], fill=0)
    mask = torch.zeros((height, width), dtype=torch.int64)
    mask[:h, :w] = 1
    return image, mask
