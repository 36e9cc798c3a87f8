"""GGUF files of the architectures beyond Llama, written here as llama.cpp's converter writes them
(tensor names from its own table, gguf.TensorNameMap; Gemma's norms stored as weight + 1; F32 and
quantized tensors), against the reference model they were written from and, where the reference
reads that architecture from GGUF itself, against the reference's own GGUF loading of the file.
"""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch
import transformers
from gguf.quants import quantize

from reference import build_reference_model
from tolerance import assert_close_scaled
from workbench import AutoConfig, AutoModelForCausalLM

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=0)
# Gemma 3's global layers at a RoPE base off the default (1e6), so reading rope.freq_base shows; the local
# layers' at llama.cpp's (and the reference's) 10,000
GEMMA3_ROPE = {"full_attention": {"rope_type": "default", "rope_theta": 50_000.0},
               "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0}}
# llama.cpp architecture: (workbench / reference model type, reference class, config, norm shift, the reference
# reads this architecture from GGUF)
CASES = {
    # Qwen3's head size, 128: the reference's GGUF reader does not read attention.key_length for qwen3
    # and keeps that default, so only a file of that head size tests its reading
    "qwen3": ("qwen3", "Qwen3ForCausalLM", dict(head_dim=128), 0.0, True),
    "gemma": ("gemma", "GemmaForCausalLM", dict(head_dim=16), 1.0, False),
    # Gemma 2 and 3 at the defaults llama.cpp assumes: query_pre_attn_scalar = 256, Gemma 3's local
    # layers' RoPE base 10,000 and every sixth layer global. Gemma 2's caps are not the defaults, so
    # reading them from the file shows; the reference does not read them (it keeps its defaults, 50
    # and 30), so its own reading of this file differs and is not compared
    "gemma2": ("gemma2", "Gemma2ForCausalLM", dict(head_dim=16, sliding_window=4, attn_logit_softcapping=3.0,
                                                   final_logit_softcapping=2.0), 1.0, False),
    "gemma3": ("gemma3_text", "Gemma3ForCausalLM", dict(head_dim=16, sliding_window=4, num_hidden_layers=6,
                                                         rope_parameters=GEMMA3_ROPE), 1.0, True),
    "phi3": ("phi3", "Phi3ForCausalLM", dict(), 0.0, True),
}


def write_gguf(path, arch: str, model, norm_shift: float, quantized: bool = False):
    """The file llama.cpp's converter writes for ``model`` (no tokenizer); ``quantized`` stores the 2-D
    weights as Q8_0, as its q8_0 output type does."""
    config = model.config
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_freq_base(config.rope_parameters.get("rope_theta", 10000.0) if "full_attention" not in
                              config.rope_parameters else config.rope_parameters["full_attention"]["rope_theta"])
    writer.add_vocab_size(config.vocab_size)
    if "sliding_attention" in config.rope_parameters:  # the base writes the local layers' RoPE base too
        writer.add_rope_freq_base_swa(config.rope_parameters["sliding_attention"]["rope_theta"])
    if getattr(config, "sliding_window", None):
        writer.add_sliding_window(config.sliding_window)
    if getattr(config, "attn_logit_softcapping", None) and arch == "gemma2":
        writer.add_attn_logit_softcapping(config.attn_logit_softcapping)
    if getattr(config, "final_logit_softcapping", None):
        writer.add_final_logit_softcapping(config.final_logit_softcapping)
    writer.add_bos_token_id(config.bos_token_id)
    writer.add_pad_token_id(config.pad_token_id)
    writer.add_eos_token_id(config.eos_token_id)
    arch_enum = {name: enum for enum, name in gguf.MODEL_ARCH_NAMES.items()}[arch]
    table = gguf.get_tensor_name_map(arch_enum, config.num_hidden_layers)
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight" and config.tie_word_embeddings:
            continue
        module, _, leaf = name.rpartition(".")
        target = table.get_name(module)
        assert target is not None, f"llama.cpp's table has no name for {name}"
        values = tensor.numpy().astype(np.float32)
        if norm_shift and name.endswith("norm.weight"):
            values = values + norm_shift
        if quantized and values.ndim == 2 and values.shape[-1] % 32 == 0:
            writer.add_tensor(f"{target}.{leaf}", quantize(values, gguf.GGMLQuantizationType.Q8_0),
                              raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(f"{target}.{leaf}", np.ascontiguousarray(values))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


IDS = torch.tensor([[3, 14, 15, 9, 26, 5, 35, 8, 9, 7], [2, 7, 18, 28, 18, 28, 45, 9, 4, 5]])


@pytest.mark.parametrize("arch", sorted(CASES))
def test_a_gguf_file_loads_as_the_model_it_was_written_from(arch, tmp_path):
    model_type, class_name, extra, shift, reference_reads_it = CASES[arch]
    reference = build_reference_model(model_type, class_name, {**TINY, **extra})
    path = write_gguf(tmp_path / f"tiny-{arch}.gguf", arch, reference, shift)
    config = AutoConfig.from_pretrained(path)
    assert config.model_type == model_type
    model = AutoModelForCausalLM.from_pretrained(path)
    assert type(model).__name__ == class_name
    with torch.no_grad():
        expected = reference(IDS).logits
        assert_close_scaled(model(IDS).logits, expected)
        # the greedy continuation too (the caches: sliding windows, Gemma's hybrid layers)
        mine = model.generate(IDS, attention_mask=torch.ones_like(IDS), max_new_tokens=8, do_sample=False,
                              eos_token_id=None, pad_token_id=0)
        assert torch.equal(mine, reference.generate(IDS, attention_mask=torch.ones_like(IDS), max_new_tokens=8,
                                                    do_sample=False, eos_token_id=None, pad_token_id=0))
    if reference_reads_it:  # the reference's own reading of the same file
        theirs = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=path.name).eval()
        with torch.no_grad():
            assert_close_scaled(model(IDS).logits, theirs(IDS).logits)


def test_quantized_tensors_dequantize_as_the_gguf_package_does(tmp_path):
    """Q8_0 blocks of a Qwen3 file: the weights are the gguf package's dequantization of them (which
    the reference loads too), and the logits stay close to the float model's."""
    model_type, class_name, extra, shift, _ = CASES["qwen3"]
    reference = build_reference_model(model_type, class_name, {**TINY, **extra})
    path = write_gguf(tmp_path / "q8.gguf", "qwen3", reference, shift, quantized=True)
    model = AutoModelForCausalLM.from_pretrained(path)
    theirs = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=path.name).eval()
    ours, expected = model.state_dict(), theirs.state_dict()
    assert [k for k in expected if not torch.equal(ours[k], expected[k])] == []
    q_proj = model.model.layers[0].self_attn.q_proj.weight
    original = reference.model.layers[0].self_attn.q_proj.weight
    assert 0 < (q_proj - original).abs().max() <= original.abs().max() / 100  # quantized, 8 bits' worth


def test_gemma3_local_layers_rope_base_is_read(tmp_path):
    """rope.freq_base_swa (which the reference's reader skips) sets the sliding layers' RoPE base."""
    model_type, class_name, extra, shift, _ = CASES["gemma3"]
    rope = {**GEMMA3_ROPE, "sliding_attention": {"rope_type": "default", "rope_theta": 20_000.0}}
    reference = build_reference_model(model_type, class_name, {**TINY, **extra, "rope_parameters": rope})
    path = write_gguf(tmp_path / "local-rope.gguf", "gemma3", reference, shift)
    assert AutoConfig.from_pretrained(path).rope_parameters["sliding_attention"]["rope_theta"] == 20_000.0
    with torch.no_grad():
        assert_close_scaled(AutoModelForCausalLM.from_pretrained(path)(IDS).logits, reference(IDS).logits)
