"""The (height, width) of an image as the pipelines load it: what detection boxes and segmentation
masks are scaled back to after the processor resized the image."""

from __future__ import annotations

from typing import Any

from ..processing.image_inputs import is_pil_image, to_channels_first


def original_size(image: Any) -> tuple[int, int]:
    """(height, width) of a loaded image: a PIL image, or an array / tensor whose channel axis is read
    as the image processor reads it (first or last, whichever holds 1, 3 or 4 channels)."""
    if is_pil_image(image):
        return image.height, image.width
    height, width = to_channels_first(image, False, None).shape[-2:]
    return int(height), int(width)
