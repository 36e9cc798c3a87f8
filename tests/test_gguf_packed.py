"""A quantized GGUF file kept quantized: ``from_pretrained(..., gguf_file=..., keep_quantized=True)``
(workbench/gguf_packed.py) against the default load, which dequantizes every tensor to float32 as
the reference does. Real files: SmolLM2-135M-Instruct Q4_1 (its tied output layer from the Q8_0
embedding) and the first 3 layers of Qwen2.5-Coder-0.5B Q4_K_M (Q4_K, Q5_0, Q8_0, Q6_K)."""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch

import workbench
from workbench.gguf import iter_gguf_blocks
from workbench.gguf_packed import GGUFInt4Linear, REPACKERS, exact_weight, passes_dequantize, unpack_int4
from workbench.quantization import Int4Linear, check_trainable

gguf = pytest.importorskip("gguf")
# one thread: batch-1 decoding gains little from a second one, and on a shared machine loses a lot
pytestmark = pytest.mark.usefixtures("one_thread")

PROMPT = [[1, 504, 3458, 282, 4649, 314, 1789, 28, 260, 2365]]  # SmolLM2 ids: "The capital of France is ..."
NEW_TOKENS = 32
QWEN_LAYERS = 3  # blocks 0-2 hold every type of the file: Q5_0, Q8_0, Q6_K (0, 1) and Q4_K (2)


def _load(path, **kwargs):
    return workbench.AutoModelForCausalLM.from_pretrained(path, **kwargs)


def _weight_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


@pytest.fixture(scope="module")
def smollm2(smollm2_gguf_path):
    """(float model, packed model, their logits on PROMPT, float logits with bf16 weights and activations)."""
    dense, packed = _load(smollm2_gguf_path), _load(smollm2_gguf_path, keep_quantized=True)
    ids = torch.tensor(PROMPT)
    with torch.no_grad():
        logits = dense(ids).logits, packed(ids).logits
        bf16 = copy.deepcopy(dense).to(torch.bfloat16)(ids).logits.float()
    return dense, packed, logits, bf16


@pytest.fixture(scope="module")
def qwen():
    from assets import qwen_coder_gguf

    path = str(qwen_coder_gguf())
    return path, _load(path, num_hidden_layers=QWEN_LAYERS, keep_quantized=True)


def test_smollm2_linears_are_packed_from_the_file(smollm2):
    dense, packed, _, _ = smollm2
    layer = packed.model.layers[0]
    assert isinstance(layer.self_attn.q_proj, Int4Linear) and layer.self_attn.q_proj.gguf_type == "Q4_1"
    # the tied output layer: its own 2-pass copy of the Q8_0 embedding; the embedding stays float
    assert packed.lm_head.gguf_type == "Q8_0" and packed.lm_head.passes == 2
    assert isinstance(packed.model.embed_tokens, torch.nn.Embedding)
    assert torch.equal(packed.model.embed_tokens.weight, dense.model.embed_tokens.weight)
    assert packed.is_quantized and packed.config.quantization_config["quant_method"] == "gguf"
    assert packed.quantization_config.packed == {"Q4_1": 210, "Q8_0": 1} and packed.quantization_skipped == []


def test_smollm2_logits_within_the_bf16_activation_error(smollm2):
    """The packed kernels run on bfloat16 activations with bf16 scales: the logits may differ from
    float32 by what bfloat16 inference of the float model does, and not more."""
    _, _, (dense, packed), bf16 = smollm2
    bf16_error = (bf16 - dense).abs().max().item()
    packed_error = (packed - dense).abs().max().item()
    assert packed_error <= bf16_error, (packed_error, bf16_error)
    assert torch.equal(packed[0, -1].argmax(), dense[0, -1].argmax())


def test_smollm2_greedy_tokens_mostly_agree(smollm2):
    """Greedy decoding drifts apart after the first token where two near-tied logits swap, so the
    agreement that says something is next-token agreement on the float model's continuation
    (measured: 30 of 32 here, 61 of 64; the free-running continuations share their first 11 tokens)."""
    dense, packed, _, _ = smollm2
    ids = torch.tensor(PROMPT)
    kwargs = {"max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS, "do_sample": False}
    theirs = dense.generate(ids, **kwargs)
    ours = packed.generate(ids, **kwargs)[0, ids.shape[1]:]
    with torch.no_grad():  # each model's next token after every prefix of the float continuation
        predicted = [model(theirs).logits[0, ids.shape[1] - 1:-1].argmax(-1) for model in (dense, packed)]
    assert torch.equal(predicted[0], theirs[0, ids.shape[1]:])
    assert (predicted[1] == predicted[0]).float().mean() >= 0.85, (predicted[1] == predicted[0]).tolist()
    assert torch.equal(ours[:4], theirs[0, ids.shape[1]:][:4])


def test_smollm2_weights_take_about_the_files_bytes(smollm2, smollm2_gguf_path):
    dense, packed, _, _ = smollm2
    tensors = [tensor for _, tensor, _ in iter_gguf_blocks(smollm2_gguf_path)]  # the reader the load parsed
    linear_bytes = sum(t.n_bytes for t in tensors if t.tensor_type.name == "Q4_1")
    embedding = next(t for t in tensors if t.name == "token_embd.weight")
    float_rest = _weight_bytes(dense) - 4 * sum(t.n_elements for t in tensors if t.tensor_type.name == "Q4_1")
    # Q4_1 layers: 0.5 (codes) + 0.125 (bf16 scale and zero) + 0.125 (the blocks' fp16 d, m) bytes a
    # weight = 1.2x the file's 0.625; the tied output layer: 2 passes of the Q8_0 embedding (1.3125 bytes/w)
    expected = 1.2 * linear_bytes + embedding.n_elements * (1.25 + 2 / 32) + float_rest
    assert _weight_bytes(packed) == pytest.approx(expected, rel=0.01)
    assert _weight_bytes(packed) < 0.45 * _weight_bytes(dense)


def test_dequantize_equals_the_default_load_bitwise(smollm2):
    dense = smollm2[0]
    model = copy.deepcopy(smollm2[1]).dequantize()
    assert not model.is_quantized and "quantization_config" not in model.config.to_dict()
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied again
    assert type(model.model.layers[0].mlp.up_proj) is type(dense.model.layers[0].mlp.up_proj)
    mine, reference = model.state_dict(), dense.state_dict()
    assert set(mine) == set(reference)
    assert [k for k in reference if not torch.equal(mine[k], reference[k])] == []


def test_saving_a_packed_model_says_to_dequantize_first(smollm2, tmp_path):
    target = tmp_path / "saved"
    with pytest.raises(ValueError, match=r"keep_quantized=True.*model\.dequantize\(\) first"):
        smollm2[1].save_pretrained(target)
    assert not target.exists() and os.listdir(tmp_path) == []  # nothing half-written


def test_training_a_packed_model_needs_an_adapter(smollm2):
    with pytest.raises(ValueError, match="add an adapter"):
        check_trainable(smollm2[1])


def test_keep_quantized_needs_a_gguf_file(tmp_path):
    from workbench.models.registry import FAMILIES

    config = workbench.AutoConfig.for_model("llama", **FAMILIES["llama"].tiny)
    workbench.AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="keep_quantized=True keeps a quantized GGUF file's blocks.*gguf_file="):
        _load(tmp_path, keep_quantized=True)


@pytest.mark.slow  # a 491 MB file, and parsing its 151k-token vocabulary takes most of the time
def test_qwen_every_type_packed_and_exact(qwen):
    """Each packed layer's values against gguf's own dequantization of its tensor (Qwen2's converter
    keeps the checkpoint's row order), and its product against the float32 one."""
    from gguf.quants import dequantize

    path, packed = qwen
    assert packed.quantization_config.packed == {"Q5_0": 16, "Q8_0": 3, "Q6_K": 2, "Q4_K": 1}
    assert packed.quantization_skipped == []
    errors, x = {}, torch.randn(4, 4864, generator=torch.Generator().manual_seed(0))
    names = {name for name, _ in packed.named_buffers()}
    for name, tensor, _ in iter_gguf_blocks(path, names):  # the file's reader, parsed once by the load
        if name not in names or not name.endswith(".weight") or tensor.tensor_type.name == "F32":
            continue
        layer = packed.get_submodule(name.removesuffix(".weight"))
        assert layer.gguf_type == tensor.tensor_type.name
        if name == "lm_head.weight":
            continue  # 151936 rows of Q8_0: the attn_v layers check that type
        reference = torch.from_numpy(dequantize(tensor.data, tensor.tensor_type).reshape(layer.out_features, -1))
        if layer.gguf_type == "Q6_K":  # no exact int4 form: 8 bits per group of 32
            errors[tensor.name] = ((layer.dequantized_weight() - reference).abs().max() / reference.abs().max()).item()
        else:
            assert torch.equal(layer.dequantized_weight(), reference), name
        # the kernel (bf16 activations, bf16 scales) vs the float32 product with the file's weight
        inputs = x[:, :layer.in_features]
        with torch.no_grad():
            exact = inputs @ reference.T + (0 if layer.bias is None else layer.bias)
            assert (layer(inputs) - exact).abs().max() < 2e-2 * exact.abs().max(), name
    assert len(errors) == 2 and all(0 < e < 5e-3 for e in errors.values()), errors


def test_repacked_blocks_equal_gguf_on_every_type():
    """The repacking (and the exact values read back from the kernel's packed layout) on blocks the
    gguf package quantized itself, for the types no real file here has."""
    from gguf.quants import dequantize, quantize

    rng = np.random.default_rng(0)
    for type_name in ("Q4_0", "Q4_1", "Q5_0", "Q8_0"):
        qtype = gguf.GGMLQuantizationType[type_name]
        weight = rng.standard_normal((80, 256)).astype(np.float32) * 0.02  # 80 rows: a tile of 64 and a rest
        data = quantize(weight, qtype)
        reference = torch.from_numpy(dequantize(data, qtype).reshape(80, 256))
        passes = REPACKERS[type_name](data, 80, 256)
        torch.testing.assert_close(passes_dequantize(passes), reference, rtol=2 ** -22, atol=1e-9)
        layer = GGUFInt4Linear.from_blocks(type_name, data, 256)
        assert [torch.equal(c, q) for c, (q, _, _) in zip(layer.codes(), passes)] == [True] * len(passes)
        assert torch.equal(layer.dequantized_weight(), reference), type_name
        assert torch.equal(torch.from_numpy(exact_weight(type_name, [q.numpy() for q, _, _ in passes],
                                                         data.reshape(80, 8, -1)[..., :2 if type_name != "Q4_1" else 4])),
                           reference)
        x = torch.randn(3, 256)
        y = layer(x)
        assert (y - x @ reference.T).abs().max() < 1e-2 * (x @ reference.T).abs().max()


def test_unpack_reads_the_kernels_layout():
    for n, k in ((16, 32), (48, 96), (64, 128), (208, 64)):
        q = torch.randint(0, 16, (n, k), dtype=torch.uint8)
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.to(torch.int32), 1)
        assert torch.equal(unpack_int4(packed, k), q), (n, k)
