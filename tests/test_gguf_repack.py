"""GGUF blocks repacked into PyTorch's CPU int4 kernel format (workbench/gguf_packed.py's repackers;
benchmarks/gguf_repack.py runs the kernel on them with float32 scales): the repacked weight equals
gguf's own dequantization, and the kernel's float32 product matches the product with it."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
gguf = pytest.importorskip("gguf")
from gguf.quants import dequantize  # noqa: E402

import gguf_repack  # noqa: E402
from workbench.gguf_packed import REPACKERS, passes_dequantize  # noqa: E402


def _check(tensor, type_name):
    n, k = tensor.data.shape[0], int(tensor.shape[0])
    reference = torch.from_numpy(np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32).reshape(n, k))
    passes = REPACKERS[type_name](np.asarray(tensor.data), n, k)
    # exact up to one float32 rounding of (q - 8) * scale + zero
    torch.testing.assert_close(passes_dequantize(passes), reference, rtol=2 ** -22, atol=1e-9)
    x = torch.randn(3, k, generator=torch.Generator().manual_seed(0))
    y = gguf_repack.passes_matmul(x, passes)
    torch.testing.assert_close(y, x.double() @ reference.double().T, rtol=1e-6, atol=1e-5 * y.abs().max().item())


@pytest.mark.parametrize("type_name", ["Q4_0", "Q4_1", "Q5_0", "Q8_0"])
def test_repack_is_exact_on_gguf_quantized_blocks(type_name):
    _check(gguf_repack.synthetic_tensor(type_name, n=64, k=256), type_name)


def test_repack_is_exact_on_smollm2(smollm2_gguf_path):
    reader = gguf.GGUFReader(smollm2_gguf_path)
    tensors = {t.tensor_type.name: t for t in reader.tensors if t.n_elements < 2_000_000}
    _check(tensors["Q4_1"], "Q4_1")
