"""Fashion-MNIST read from Debian's IDX files: the format against hand-written files, the real files
against the dataset's published facts (60,000 + 10,000 images, 6,000 and 1,000 per class)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from workbench.recipes import fashion_mnist_data as fm

needs_files = pytest.mark.skipif(not (fm.FOLDER / fm.FILES["test"][0]).is_file(),
                                 reason="Debian's dataset-fashion-mnist is not installed (scripts/setup-system.sh)")


def write_idx(path, array: np.ndarray, declared=None) -> None:
    shape = declared or array.shape
    header = bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_gives_the_written_array(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", array)
    assert np.array_equal(fm.read_idx(tmp_path / "x.gz"), array)


def test_truncated_and_foreign_files_are_refused_by_name(tmp_path):
    write_idx(tmp_path / "short.gz", np.zeros(10, dtype=np.uint8), declared=(3, 4))
    with pytest.raises(ValueError, match="truncated or corrupt"):
        fm.read_idx(tmp_path / "short.gz")
    (tmp_path / "text").write_text("hello")
    with pytest.raises(ValueError, match="not an IDX file"):
        fm.read_idx(tmp_path / "text")
    with pytest.raises(fm.FashionMnistMissing, match="apt-get install dataset-fashion-mnist"):
        fm.load_arrays("test", folder=tmp_path)
    with pytest.raises(ValueError, match="splits"):
        fm.load_arrays("validation")


@needs_files
def test_real_files_hold_the_published_counts():
    for split, size, per_class in (("train", 60_000, 6_000), ("test", 10_000, 1_000)):
        images, labels = fm.load_arrays(split)
        assert images.shape == (size, 28, 28) and images.dtype == np.uint8
        assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
        assert 0 < images.mean() < 255  # neither blank nor saturated


@needs_files
def test_dataset_rows_are_the_files_images_with_named_labels():
    images, labels = fm.load_arrays("test")
    dataset = fm.load_fashion_mnist("test", limit=50)
    assert len(dataset) == 50 and dataset.features["label"].names == fm.LABELS
    row = dataset[7]
    assert row["image"].mode == "L" and row["image"].size == (28, 28)
    assert np.array_equal(np.asarray(row["image"]), images[7]) and row["label"] == labels[7]
