"""GGUF files of the families whose llama.cpp converter transforms more than names: mixture-of-experts
layers stacked into one tensor per projection (Qwen2-MoE, Qwen3-MoE), fused q/k/v rows reordered
(BLOOM, GPT-NeoX, Falcon), GPT-2's Conv1D weights transposed, flags left for the tensors to tell
(StableLM, Falcon's layout, StarCoder2's biases), partial rotary dimensions (Phi-2, GPT-NeoX,
StableLM). Each file is written here as llama.cpp's convert_hf_to_gguf.py writes it (its metadata
keys, its tensor transforms, names from its own table, gguf.TensorNameMap) from a tiny reference
model; workbench's model loaded from it must give the reference model's logits and greedy tokens
and, where the reference reads that architecture from GGUF itself, the reference's own reading.
"""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch
import transformers

from reference import build_reference_model
from tolerance import assert_close_scaled
from workbench import AutoConfig, AutoModelForCausalLM

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, bos_token_id=1, eos_token_id=2, pad_token_id=0)
TOKENS = dict(bos_token_id=1, eos_token_id=2, pad_token_id=0)
# the experts' widths are the families' defaults (Qwen1.5-MoE-A2.7B's, Qwen3-30B-A3B's): the reference's GGUF
# reader does not read expert_feed_forward_length, it keeps those defaults
MOE = dict(num_experts=4, num_experts_per_tok=2)
# llama.cpp architecture: (reference model type, class, config, the reference reads this architecture from GGUF)
CASES = {
    "qwen2moe": ("qwen2_moe", "Qwen2MoeForCausalLM", dict(TINY, **MOE, moe_intermediate_size=1408,
                                                                  shared_expert_intermediate_size=5632), True),
    "qwen3moe": ("qwen3_moe", "Qwen3MoeForCausalLM", dict(TINY, **MOE, moe_intermediate_size=768,
                                                                  head_dim=16, norm_topk_prob=True), True),
    # Falcon-7B's layout (one key/value head, parallel attention), which the reference reads
    "falcon": ("falcon", "FalconForCausalLM", dict(vocab_size=64, hidden_size=32, num_hidden_layers=2,
                                                   num_attention_heads=4, **TOKENS), True),
    # Falcon-40B's layout (two norms, key/value heads each shared by a group of queries), which the reference
    # reads as Falcon-7B's
    "falcon grouped": ("falcon", "FalconForCausalLM", dict(vocab_size=64, hidden_size=32, num_hidden_layers=2,
                                                           num_attention_heads=4, num_kv_heads=2,
                                                           new_decoder_architecture=True, **TOKENS), False),
    "bloom": ("bloom", "BloomForCausalLM", dict(vocab_size=64, hidden_size=32, n_layer=2, n_head=4, **TOKENS), True),
    # StableLM-2's layout: q/k/v biases, a quarter of each head rotated
    "stablelm": ("stablelm", "StableLmForCausalLM", dict(TINY, use_qkv_bias=True), True),
    # StableLM-2-12B's per-head q/k norms, which the converter stacks into one (heads, head_dim) tensor
    "stablelm qk-norms": ("stablelm", "StableLmForCausalLM", dict(TINY, qk_layernorm=True, use_parallel_residual=True),
                          False),
    "starcoder2": ("starcoder2", "Starcoder2ForCausalLM", dict(TINY, sliding_window=None), True),
    # GPT-2's 1024 positions: the reference reads context_length as n_ctx, keeping n_positions' default
    "gpt2": ("gpt2", "GPT2LMHeadModel", dict(vocab_size=64, n_embd=32, n_layer=2, n_head=4, n_positions=1024,
                                             **TOKENS), True),
    "gptneox": ("gpt_neox", "GPTNeoXForCausalLM", dict(TINY, rotary_pct=0.5, use_parallel_residual=False), False),
    # GPT-BigCode's multi-query attention, its MLP 4 x hidden wide as in every StarCoder
    "starcoder": ("gpt_bigcode", "GPTBigCodeForCausalLM", dict(vocab_size=64, n_embd=32, n_layer=2, n_head=4,
                                                               n_inner=128, n_positions=128, **TOKENS), False),
    # Phi-2's layout: as many key/value heads as query heads, MLP 4 x hidden, half of each head rotated
    "phi2": ("phi", "PhiForCausalLM", dict(TINY, intermediate_size=128, num_key_value_heads=4,
                                           partial_rotary_factor=0.5), False),
    "olmo2": ("olmo2", "Olmo2ForCausalLM", dict(TINY), False),
    # Mixtral is written as "llama" with its experts stacked
    "llama": ("mixtral", "MixtralForCausalLM", dict(TINY, intermediate_size=24, num_local_experts=4,
                                                    num_experts_per_tok=2), False),
    "olmo": ("olmo", "OlmoForCausalLM", dict(TINY, clip_qkv=0.8), False),
    "granite": ("granite", "GraniteForCausalLM", dict(TINY, embedding_multiplier=4.0, residual_multiplier=0.5,
                                                      attention_multiplier=0.25, logits_scaling=2.0), False),
    # RoPE dropped in every fourth layer, as in SmolLM3-3B
    "smollm3": ("smollm3", "SmolLM3ForCausalLM", dict(TINY, num_hidden_layers=4), False),
    # MPT's q/k/v clamp (about a third of the tiny projections are larger)
    "mpt": ("mpt", "MptForCausalLM", dict(vocab_size=64, d_model=32, n_layers=2, n_heads=4, max_seq_len=128,
                                          attn_config={"clip_qkv": 0.8}, **TOKENS), False),
    # Command R+'s per-head q/k norms
    "command-r": ("cohere", "CohereForCausalLM", dict(TINY, use_qk_norm=True, logit_scale=0.5), False),
}
# the converters that reorder q/k rows for llama.cpp's interleaved rotary pairs (LlamaModel.permute)
PERMUTED_QK = ("llama", "olmo", "granite", "smollm3")


# ---------------------------------------------------------------------------------------------
# writing a file as llama.cpp's converter does


def find(hparams: dict, *keys: str):
    """The converter's find_hparam: the first of ``keys`` the config has (its value may be None)."""
    return next((hparams[k] for k in keys if k in hparams), None)


def base_parameters(writer: gguf.GGUFWriter, hparams: dict) -> None:
    """TextModel.set_gguf_parameters: the keys every architecture gets from its config."""
    writer.add_block_count(find(hparams, "n_layers", "num_hidden_layers", "n_layer", "num_layers"))
    for add, keys in ((writer.add_context_length, ("max_position_embeddings", "n_ctx", "n_positions")),
                      (writer.add_embedding_length, ("hidden_size", "n_embd")),
                      (writer.add_feed_forward_length, ("intermediate_size", "n_inner")),
                      (writer.add_head_count, ("num_attention_heads", "n_head")),
                      (writer.add_head_count_kv, ("num_key_value_heads",)),
                      (writer.add_layer_norm_rms_eps, ("rms_norm_eps",)),
                      (writer.add_layer_norm_eps, ("layer_norm_eps", "layer_norm_epsilon", "norm_epsilon")),
                      (writer.add_expert_count, ("num_local_experts", "num_experts")),
                      (writer.add_expert_used_count, ("num_experts_per_tok",))):
        if (value := find(hparams, *keys)) is not None:
            add(value)
    if (theta := (hparams.get("rope_parameters") or {}).get("rope_theta")) is not None:
        writer.add_rope_freq_base(theta)
    if hparams.get("head_dim") is not None:
        writer.add_key_length(hparams["head_dim"])
        writer.add_value_length(hparams["head_dim"])


def fixed_width_parameters(arch: str, writer: gguf.GGUFWriter, hp: dict) -> None:
    """The older converters' own keys: the MLP written 4 x hidden wide whatever the config says."""
    width, heads = find(hp, "hidden_size", "n_embd"), find(hp, "num_attention_heads", "n_head")
    writer.add_block_count(find(hp, "num_hidden_layers", "n_layer"))
    writer.add_context_length({"bloom": width, "falcon": 2048}.get(arch) or find(hp, "n_positions", "max_position_embeddings"))
    writer.add_embedding_length(width)
    writer.add_feed_forward_length(4 * width)
    writer.add_head_count(heads)
    kv_heads = {"bloom": heads, "phi2": heads, "starcoder": 1}.get(arch)
    if arch == "falcon":  # the converter reads num_kv_heads / n_head_kv, 1 when absent (Falcon-7B)
        kv_heads = hp["num_kv_heads"] if hp.get("new_decoder_architecture") else 1
    if kv_heads is not None:
        writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_eps(find(hp, "layer_norm_epsilon", "layer_norm_eps"))
    if arch == "phi2":
        writer.add_rope_dimension_count(int(hp["rope_parameters"]["partial_rotary_factor"] * width) // heads)


def own_parameters(arch: str, writer: gguf.GGUFWriter, hp: dict) -> None:
    """The converters that write their own keys instead of (or beyond) the base ones."""
    if arch in ("qwen2moe", "qwen3moe"):
        base_parameters(writer, hp)
        if hp.get("moe_intermediate_size") is not None:
            writer.add_expert_feed_forward_length(hp["moe_intermediate_size"])
        if hp.get("shared_expert_intermediate_size") is not None:
            writer.add_expert_shared_feed_forward_length(hp["shared_expert_intermediate_size"])
    elif arch in ("bloom", "falcon", "gpt2", "starcoder", "phi2"):
        fixed_width_parameters(arch, writer, hp)
    elif arch == "gptneox":
        writer.add_context_length(hp["max_position_embeddings"])
        writer.add_embedding_length(hp["hidden_size"])
        writer.add_block_count(hp["num_hidden_layers"])
        writer.add_feed_forward_length(hp["intermediate_size"])
        head_dim = hp["hidden_size"] // hp["num_attention_heads"]
        writer.add_rope_dimension_count(int(hp["rope_parameters"]["partial_rotary_factor"] * head_dim))
        writer.add_head_count(hp["num_attention_heads"])
        writer.add_parallel_residual(hp.get("use_parallel_residual", True))
        writer.add_layer_norm_eps(hp["layer_norm_eps"])
    elif arch == "olmo":
        base_parameters(writer, hp)
        writer.add_layer_norm_eps(1e-5)
        if hp.get("clip_qkv") is not None:
            writer.add_clamp_kqv(hp["clip_qkv"])
    elif arch in ("llama", "granite", "smollm3"):  # LlamaModel and its subclasses
        base_parameters(writer, {k: v for k, v in hp.items() if not (arch == "granite" and k == "head_dim")})
        writer.add_rope_dimension_count(hp.get("head_dim") or hp["hidden_size"] // hp["num_attention_heads"])
        for add, key in ((writer.add_attention_scale, "attention_multiplier"), (writer.add_embedding_scale,
                         "embedding_multiplier"), (writer.add_residual_scale, "residual_multiplier"),
                         (writer.add_logit_scale, "logits_scaling")):
            if arch == "granite" and hp.get(key):
                add(hp[key])
    elif arch == "mpt":
        attention = hp["attn_config"]
        writer.add_context_length(hp["max_seq_len"])
        writer.add_embedding_length(hp["d_model"])
        writer.add_block_count(hp["n_layers"])
        writer.add_feed_forward_length(4 * hp["d_model"])
        writer.add_head_count(hp["n_heads"])
        writer.add_layer_norm_eps(1e-5)
        if attention["clip_qkv"] is not None:
            writer.add_clamp_kqv(attention["clip_qkv"])
        writer.add_max_alibi_bias(attention["alibi_bias_max"] if attention["alibi"] else 0.0)
    elif arch == "command-r":
        base_parameters(writer, hp)
        writer.add_logit_scale(hp["logit_scale"])
    elif arch == "stablelm":
        base_parameters(writer, hp)
        head_dim = hp["hidden_size"] // hp["num_attention_heads"]
        writer.add_rope_dimension_count(int(hp["rope_parameters"]["partial_rotary_factor"] * head_dim))
        writer.add_parallel_residual(hp.get("use_parallel_residual", True))
    else:
        base_parameters(writer, hp)


def converted_tensors(arch: str, model) -> list[tuple[str, np.ndarray]]:
    """(checkpoint module path, tensor) pairs after the converter's modify_tensors."""
    config = model.config
    heads = config.num_attention_heads
    out = []
    state = dict(model.state_dict())
    if arch == "stablelm":  # per-head norms stacked in head order: q_layernorm.norms.3.weight -> q_layernorm.weight
        for prefix in sorted({n.split(".norms.")[0] for n in state if ".norms." in n}):
            parts = sorted((n for n in state if n.startswith(prefix + ".norms.")), key=lambda n: int(n.split(".")[-2]))
            state[f"{prefix}.weight"] = torch.stack([state.pop(n) for n in parts])
    for name, tensor in state.items():
        if name == "lm_head.weight" and config.tie_word_embeddings or name.endswith((".attn.bias", ".masked_bias")):
            continue
        t = tensor.float()
        gate, up, down = ("w1", "w3", "w2") if arch == "llama" else ("gate_proj", "up_proj", "down_proj")
        if arch == "llama":  # the reference names Mixtral's block mlp, its checkpoints block_sparse_moe
            name = name.replace(".mlp.", ".block_sparse_moe.")
        if name.endswith("experts.gate_up_proj"):  # (E, 2·I, C): gate rows, then up rows
            halves = t.chunk(2, dim=1)
            out += [(name.replace("gate_up_proj", f"{gate}.weight"), halves[0]),
                    (name.replace("gate_up_proj", f"{up}.weight"), halves[1])]
            continue
        if name.endswith("experts.down_proj"):
            name = name.replace("down_proj", f"{down}.weight")
        if arch in PERMUTED_QK and name.endswith(("q_proj.weight", "k_proj.weight")):
            rows_per_head = config.head_dim if getattr(config, "head_dim", None) else config.hidden_size // heads
            n = t.shape[0] // rows_per_head  # query or key/value heads
            t = t.reshape(n, 2, rows_per_head // 2, *t.shape[1:]).swapaxes(1, 2).reshape(t.shape)
        if arch in ("bloom", "gptneox") and "query_key_value" in name:  # per head (q, k, v) -> all q, all k, all v
            t = t.reshape(heads, 3, -1, *t.shape[1:]).transpose(0, 1).reshape(t.shape)
        if arch == "falcon" and "query_key_value" in name:
            kv = config.num_kv_heads if config.new_decoder_architecture else 1
            grouped = t.reshape(kv, heads // kv + 2, -1, t.shape[-1])
            t = torch.cat([grouped[:, :-2].reshape(-1, t.shape[-1]), grouped[:, -2].reshape(-1, t.shape[-1]),
                           grouped[:, -1].reshape(-1, t.shape[-1])])
        if arch == "gpt2" and name.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight")):
            t = t.T
        out.append((name.removeprefix("transformer.") if arch == "bloom" else name, t))
    return out


def write_converted(path, arch: str, model):
    config = model.config
    writer = gguf.GGUFWriter(str(path), arch)
    own_parameters(arch, writer, config.to_dict())
    if arch in ("llama", "granite", "smollm3"):  # LlamaModel writes it; the others leave it to the vocabulary
        writer.add_vocab_size(config.vocab_size)
    # a vocabulary, as the converter writes one (the reference reads the vocab size from it)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"<t{i}>" for i in range(config.vocab_size)])
    writer.add_bos_token_id(config.bos_token_id)
    writer.add_eos_token_id(config.eos_token_id)
    writer.add_pad_token_id(config.pad_token_id)
    arch_enum = {name: enum for enum, name in gguf.MODEL_ARCH_NAMES.items()}[arch]
    table = gguf.get_tensor_name_map(arch_enum, config.num_hidden_layers)
    for name, tensor in converted_tensors(arch, model):
        module, _, leaf = name.rpartition(".")
        target = table.get_name(module)
        assert target is not None, f"llama.cpp's table has no name for {name}"
        # the converter squeezes every tensor: (1, C) is written as (C,)
        writer.add_tensor(f"{target}.{leaf}", np.ascontiguousarray(tensor.squeeze().numpy().astype(np.float32)))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


IDS = torch.tensor([[3, 14, 15, 9, 26, 5, 35, 8, 9, 7], [2, 7, 18, 28, 18, 28, 45, 9, 4, 5]])


@pytest.mark.parametrize("arch", list(CASES))
def test_a_converted_file_loads_as_the_model_it_was_written_from(arch, tmp_path):
    model_type, class_name, config_kwargs, reference_reads_it = CASES[arch]
    reference = build_reference_model(model_type, class_name, config_kwargs)
    path = write_converted(tmp_path / "tiny.gguf", arch.split()[0], reference)
    assert AutoConfig.from_pretrained(path).model_type == model_type
    model = AutoModelForCausalLM.from_pretrained(path)
    assert type(model).__name__ == class_name
    with torch.no_grad():
        assert_close_scaled(model(IDS).logits, reference(IDS).logits)
        greedy = dict(attention_mask=torch.ones_like(IDS), max_new_tokens=6, do_sample=False, eos_token_id=None,
                      pad_token_id=0)
        assert torch.equal(model.generate(IDS, **greedy), reference.generate(IDS, **greedy))
    if reference_reads_it:  # the reference's own reading of the same file
        theirs = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=path.name).eval()
        with torch.no_grad():
            assert_close_scaled(model(IDS).logits, theirs(IDS).logits)
