"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package, as a ``datasets.Dataset``.

    /usr/share/datasets/fashion-mnist/          (apt-get install dataset-fashion-mnist; MIT)
      ├─ train-images-idx3-ubyte.gz   60,000 × 28 × 28 uint8     ├─ train-labels-idx1-ubyte.gz
      └─ t10k-images-idx3-ubyte.gz    10,000 × 28 × 28 uint8     └─ t10k-labels-idx1-ubyte.gz
    ─► {"image": PIL grayscale image, "label": ClassLabel of the 10 names below}

The IDX format: a big-endian header (two zero bytes, a type code, the number of dimensions, then one
uint32 per dimension) followed by the values in row-major order; these files hold uint8 (type 0x08).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

FOLDER = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
# the label order of Zalando's release (label i is LABELS[i])
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
_UBYTE = 0x08


class FashionMnistMissing(FileNotFoundError):
    """The IDX files are not on this machine; the message says which package provides them."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array in an IDX file (gzipped or not): uint8 values in the header's shape."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (it must start with two zero bytes, a type code and a rank)")
    if data[2] != _UBYTE:
        raise ValueError(f"{path}: IDX type code {data[2]:#04x}; only unsigned bytes (0x08) are supported")
    rank = data[3]
    shape = tuple(int(n) for n in np.frombuffer(data, dtype=">u4", count=rank, offset=4))
    start = 4 + 4 * rank
    expected = int(np.prod(shape))
    if len(data) - start != expected:
        raise ValueError(f"{path}: the header promises {expected:,} values of shape {shape}, the file holds "
                         f"{len(data) - start:,}: it is truncated or corrupt (reinstall dataset-fashion-mnist)")
    return np.frombuffer(data, dtype=np.uint8, offset=start).reshape(shape)


def load_arrays(split: str = "train", folder: str | os.PathLike = FOLDER) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) uint8) of ``split`` ("train" or "test")."""
    if split not in FILES:
        raise ValueError(f"split={split!r}: Fashion-MNIST has the splits {sorted(FILES)}")
    folder = Path(folder)
    paths = [folder / name for name in FILES[split]]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FashionMnistMissing(f"Fashion-MNIST is not on this machine ({', '.join(missing)} missing): "
                                  "install Debian's package with `apt-get install dataset-fashion-mnist`, or pass "
                                  "folder= the directory that holds the four IDX files")
    images, labels = (read_idx(p) for p in paths)
    if len(images) != len(labels):
        raise ValueError(f"{folder}: {len(images)} images but {len(labels)} labels in the {split} split")
    return images, labels


def load_fashion_mnist(split: str = "train", limit: int | None = None, folder: str | os.PathLike = FOLDER):
    """The ``split`` as a ``datasets.Dataset`` with an ``image`` column (28×28 grayscale PIL images, as
    ``datasets``' Image feature gives them) and a ``label`` ClassLabel column; ``limit`` keeps the first
    rows (the files interleave the classes, so a prefix stays roughly balanced)."""
    import datasets

    images, labels = load_arrays(split, folder)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return as_dataset(images, labels, split)


def as_dataset(images: np.ndarray, labels: np.ndarray, split: str | None = None):
    """Arrays from :func:`load_arrays` (or a selection of their rows) as the ``datasets.Dataset`` that
    :func:`load_fashion_mnist` returns."""
    import datasets

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=LABELS)})
    # the Image feature stores PNG bytes; encoding 60,000 small images takes a few seconds
    rows = {"image": [{"bytes": _png(image), "path": None} for image in images], "label": labels.tolist()}
    return datasets.Dataset.from_dict(rows, features=features, split=split)


def _png(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")  # uint8 (28, 28): mode "L"
    return buffer.getvalue()
