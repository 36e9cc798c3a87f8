"""What the vision pipelines take as one image, turned into what the image processor reads.

    a file path                 ─► PIL image, EXIF orientation applied, RGB (the reference's ``load_image``)
    an http(s) URL              ─► fetched with huggingface_hub's HTTP session, then as a file
    "data:image/...;base64,..." ─► decoded, then as a file
    a PIL image                 ─► EXIF orientation applied, RGB
    a numpy array / torch tensor─► passed on as it is: (H, W, C) or (C, H, W), the processor tells which
    a dict with an "image" key  ─► that image (a row of a ``datasets`` Dataset)

A batch is a list of these, a ``datasets`` Dataset or column, a :class:`KeyDataset` or a generator
(see :func:`workbench.pipelines.base._is_collection`). Loading happens in ``preprocess``, one image at
a time, so a large dataset streams.
"""

from __future__ import annotations

import base64
import io
import os
from typing import Any

import numpy as np
import torch

from ..processing.image_inputs import is_pil_image, require_pil

IMAGE_KINDS = "a file path, an http(s) URL, a PIL image, a numpy array or torch tensor, or a dict with an 'image' key"


def is_image_input(item: Any) -> bool:
    """Whether ``item`` is one image (not a batch of them) in a form :func:`load_image` reads."""
    if isinstance(item, (str, os.PathLike, np.ndarray, torch.Tensor)) or is_pil_image(item):
        return True
    return isinstance(item, dict) and "image" in item


def check_image_input(item: Any, task: str) -> None:
    """Reject what is not an image before any model work; a missing file is named here."""
    if isinstance(item, dict):
        if "image" not in item:
            raise ValueError(f"The {task} pipeline got a dict without an 'image' key (keys: {sorted(item)}); pass "
                             f"{IMAGE_KINDS}.")
        item = item["image"]
    if isinstance(item, (str, os.PathLike)):
        path = os.fspath(item)
        if not path.startswith(("http://", "https://", "data:image/")) and not os.path.isfile(path):
            raise FileNotFoundError(f"No image file at {path!r}: pass the path of an existing image file, a URL or "
                                    "an image object.")
        return
    if not is_image_input(item):
        raise TypeError(f"The {task} pipeline takes {IMAGE_KINDS}; got {type(item).__name__}: {item!r:.60}")


def load_image(item: Any, timeout: float | None = None):
    """One image as the image processor reads it: a PIL RGB image, or the array/tensor as given."""
    if isinstance(item, dict):
        item = item["image"]
    if isinstance(item, (np.ndarray, torch.Tensor)):
        return item
    if isinstance(item, (str, os.PathLike)):
        item = _open(os.fspath(item), timeout)
    if not is_pil_image(item):
        raise TypeError(f"Cannot read an image from a {type(item).__name__}: pass {IMAGE_KINDS}.")
    from PIL import ImageOps

    return ImageOps.exif_transpose(item).convert("RGB")


def _open(source: str, timeout: float | None):
    """A PIL image from a path, URL or data URI, fully decoded so a damaged file fails here, by name."""
    pil = require_pil()
    if source.startswith(("http://", "https://")):
        data, name = io.BytesIO(fetch(source, timeout)), source
    elif source.startswith("data:image/"):
        data, name = io.BytesIO(base64.b64decode(source.partition(",")[2])), source[:40] + "..."
    else:
        data, name = source, source
    try:
        image = pil.open(data)
        image.load()  # PIL reads lazily: a truncated file only fails when its pixels are read
    except (OSError, ValueError, SyntaxError) as error:
        raise ValueError(f"Cannot read the image {name!r} ({error}): it is truncated, damaged or not an image "
                         "file Pillow reads. Re-save it, or pass the image as an array.") from None
    return image


def fetch(url: str, timeout: float | None = None) -> bytes:
    """The bytes at ``url``, through huggingface_hub's HTTP session (its proxies and headers); offline
    (``HF_HUB_OFFLINE=1``) or unreachable, an error that says so and how to pass the image instead."""
    from ..hub import is_offline

    instead = "download the image yourself and pass its path, or pass a PIL image"
    if is_offline():
        raise ConnectionError(f"Cannot fetch the image {url}: HF_HUB_OFFLINE is set, so workbench makes no network "
                              f"requests. Unset it, or {instead}.")
    import huggingface_hub

    try:
        response = huggingface_hub.get_session().get(url, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
    except Exception as error:  # the session's errors (httpx or requests) share no base class worth naming
        raise ConnectionError(f"Cannot fetch the image {url} ({type(error).__name__}: {error}). This machine may be "
                              f"offline, or the URL wrong: {instead}.") from None
    return response.content
