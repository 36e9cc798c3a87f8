"""GGUF files holding llama.cpp's IQ ("importance") quantization types: blocks built here by hand
(random codes under sane scales) load with the same tensors as the reference's GGUF loader gives,
and a type the installed gguf package cannot dequantize stops the load with an error naming it."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch
import transformers

from workbench import AutoConfig, AutoModelForCausalLM
from workbench.errors import CheckpointError

pytestmark = pytest.mark.usefixtures("one_thread")

Q = gguf.GGMLQuantizationType
# Qwen2 (read by the reference without reordering rows): every 2-D weight is stored quantized; the
# 256-wide MLP lets down_proj's rows hold IQ4_XS's 256-value super-blocks
TINY = dict(vocab_size=64, hidden_size=32, intermediate_size=256, num_hidden_layers=1, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-6)


def iq4_nl_blocks(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """(rows, cols / 32 * 18) bytes: per 32 values an fp16 scale and 16 bytes of 4-bit codes."""
    blocks = rows * cols // 32
    scale = np.full((blocks, 1), 0.02, dtype=np.float16).view(np.uint8)
    codes = rng.integers(0, 256, size=(blocks, 16), dtype=np.uint8)
    return np.concatenate([scale, codes], axis=1).reshape(rows, -1)


def iq4_xs_blocks(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """(rows, cols / 256 * 136) bytes: per 256 values an fp16 scale, 8 six-bit sub-block scales
    (2 bytes of high bits, 4 of low nibbles) and 128 bytes of 4-bit codes."""
    blocks = rows * cols // 256
    scale = np.full((blocks, 1), 0.0002, dtype=np.float16).view(np.uint8)
    sub_scales = rng.integers(0, 256, size=(blocks, 6), dtype=np.uint8)
    codes = rng.integers(0, 256, size=(blocks, 128), dtype=np.uint8)
    return np.concatenate([scale, sub_scales, codes], axis=1).reshape(rows, -1)


def write_quantized(path, quantize_as) -> None:
    """A tiny Qwen2 file whose 2-D weights are ``quantize_as(rows, cols)`` -> (type, bytes) blocks."""
    rng = np.random.default_rng(0)
    config = AutoConfig.for_model("qwen2", **TINY)
    shapes = {name: tuple(t.shape) for name, t in AutoModelForCausalLM.from_config(config).state_dict().items()}
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_context_length(TINY["max_position_embeddings"])
    writer.add_embedding_length(TINY["hidden_size"])
    writer.add_block_count(TINY["num_hidden_layers"])
    writer.add_feed_forward_length(TINY["intermediate_size"])
    writer.add_head_count(TINY["num_attention_heads"])
    writer.add_head_count_kv(TINY["num_key_value_heads"])
    writer.add_layer_norm_rms_eps(TINY["rms_norm_eps"])
    writer.add_vocab_size(TINY["vocab_size"])
    table = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, TINY["num_hidden_layers"])
    for name, shape in shapes.items():
        if name == "lm_head.weight":
            continue  # tied
        module, _, leaf = name.rpartition(".")
        target = f"{table.get_name(module)}.{leaf}"
        if len(shape) == 2:
            kind, blocks = quantize_as(rng, *shape)
            writer.add_tensor(target, blocks, raw_dtype=kind)
        else:
            writer.add_tensor(target, rng.normal(1.0, 0.1, size=shape).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def iq_types(rng, rows: int, cols: int):
    return (Q.IQ4_XS, iq4_xs_blocks(rng, rows, cols)) if cols % 256 == 0 else (Q.IQ4_NL, iq4_nl_blocks(rng, rows, cols))


def test_iq4_blocks_load_as_the_reference_loads_them(tmp_path):
    path = tmp_path / "iq4.gguf"
    write_quantized(path, iq_types)
    header = gguf.GGUFReader(str(path))
    assert {t.tensor_type.name for t in header.tensors} == {"IQ4_NL", "IQ4_XS", "F32"}
    ours = AutoModelForCausalLM.from_pretrained(path)
    theirs = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=path.name).eval()
    mine, expected = ours.state_dict(), theirs.state_dict()
    assert sorted(mine) == sorted(expected)
    assert [k for k in expected if not torch.equal(mine[k], expected[k])] == []
    down = ours.model.layers[0].mlp.down_proj.weight
    assert down.shape == (32, 256) and 0 < down.abs().max() < 1 and torch.isfinite(ours(torch.tensor([[3, 5, 7]])).logits).all()


def test_a_type_the_gguf_package_cannot_dequantize_is_named(tmp_path):
    def q8_k(rng, rows, cols):  # llama.cpp's intermediate type for K-quant dot products, not a storage type
        if cols % 256:
            return Q.IQ4_NL, iq4_nl_blocks(rng, rows, cols)
        return Q.Q8_K, rng.integers(0, 256, size=(rows, cols // 256 * gguf.GGML_QUANT_SIZES[Q.Q8_K][1]), dtype=np.uint8)

    path = tmp_path / "q8k.gguf"
    write_quantized(path, q8_k)
    with pytest.raises(CheckpointError, match=r"Tensor 'blk\.0\.ffn_down\.weight' of .*q8k\.gguf is stored as Q8_K, "
                                              r"which the installed gguf package cannot dequantize \(it reads .*IQ4_NL"):
        AutoModelForCausalLM.from_pretrained(path)
