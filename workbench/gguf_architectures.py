"""The llama.cpp architectures workbench reads from GGUF, and what llama.cpp's converter
(convert_hf_to_gguf.py) does to each one's config and tensors, so that :mod:`workbench.gguf` can
undo it. Tensor names are not listed here: they come from llama.cpp's own table (the gguf
package's ``TensorNameMap``); an entry says only what the names do not.

A converter may reorder a tensor's rows (q/k rotary pairs, fused q/k/v), transpose it (GPT-2's
Conv1D), offset it (Gemma's norms), or stack many modules into one tensor (MoE experts, StableLM's
per-head norms); each has its undoing here, as a field or a small per-tensor function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

# (tensor, the file's head counts {"heads": H, "kv_heads": KV}) -> the tensor in the checkpoint's layout
TensorFix = Callable[[torch.Tensor, dict], torch.Tensor]
# (the file's metadata fields, its tensor names, the architecture) -> config keys it implies
DerivedConfig = Callable[[dict, set, str], dict]


@dataclass(frozen=True)
class GGUFArchitecture:
    """How one llama.cpp architecture maps onto a workbench model type."""

    model_type: str
    # llama.cpp's converter reorders each q/k head's rows from HF's rotate-half layout to the
    # interleaved pairs its rope kernel reads (Llama-family converters); Qwen's, Gemma's, Phi-3's
    # leave them alone
    permuted_qk: bool = False
    # llama.cpp's Gemma converters store every norm's weight + 1 (the scale it multiplies by);
    # checkpoints store the weight alone
    norm_shift: float = 0.0
    # "{architecture}.<key>" -> config key, beyond (or, with None, instead of) the keys every
    # architecture has (gguf._CONFIG_KEYS)
    config_keys: tuple[tuple[str, str | None], ...] = ()
    # the llama.cpp architecture whose tensor table names the file's tensors, if not this one
    # (llama.cpp itself writes Mistral models as "llama")
    tensor_table: str | None = None
    # rope.dimension_count is the rotated part of a head (partial_rotary_factor), not the head size
    partial_rotary: bool = False
    # GGUF tensor leaf ("attn_qkv.weight") -> the function undoing the converter's transform
    tensor_fixes: tuple[tuple[str, TensorFix], ...] = ()
    # (regex, replacement) turning one of many stacked modules' names into the name of the stacked
    # tensor the converter writes (``experts.3.gate_proj`` -> ``experts.gate_proj``); the regex's
    # group 1 is the index along the stacked tensor's first axis
    stacked: tuple[tuple[str, str], ...] = ()
    # a module prefix the converter strips before asking its table (BLOOM's "transformer.")
    stripped_prefix: str = ""
    # config keys the file implies but does not state (from which tensors exist, say)
    derived_config: DerivedConfig | None = None
    # config values llama.cpp assumes for this architecture where the family's default differs
    assumed: dict[str, Any] = field(default_factory=dict)
    # the model type a file of this architecture holding experts (expert_count) is (Mixtral is "llama")
    with_experts: str | None = None
    # RoPE per layer type (Gemma 3): rope.freq_base for the global layers, rope.freq_base_swa for the
    # sliding ones (10,000 where the file predates that key, as llama.cpp assumed)
    rope_per_layer_type: bool = False


# ---------------------------------------------------------------------------------------------
# tensor fixes


def unfuse_qkv_blocks(weight: torch.Tensor, shape: dict) -> torch.Tensor:
    """BLOOM's and GPT-NeoX's fused q/k/v: the checkpoint interleaves it per head (q_h, k_h, v_h),
    the converter writes all q rows, then all k, then all v. Weights (3·C, C) and biases (3·C,)."""
    heads = shape["heads"]
    blocks = weight.reshape(3, heads, weight.shape[0] // 3 // heads, *weight.shape[1:])  # (3, H, D, ...)
    return blocks.transpose(0, 1).reshape(weight.shape)  # (H, 3, D, ...)


def regroup_falcon_qkv(weight: torch.Tensor, shape: dict) -> torch.Tensor:
    """Falcon's fused q/k/v: the checkpoint groups it per key/value head (that group's queries, its
    key, its value), the converter writes all q rows, then all k, then all v."""
    heads, kv_heads = shape["heads"], shape["kv_heads"]
    head_dim = weight.shape[0] // (heads + 2 * kv_heads)
    rest = weight.shape[1:]
    q, k, v = weight.split([heads * head_dim, kv_heads * head_dim, kv_heads * head_dim])
    groups = (q.reshape(kv_heads, heads // kv_heads, head_dim, *rest), k.reshape(kv_heads, 1, head_dim, *rest),
              v.reshape(kv_heads, 1, head_dim, *rest))
    return torch.cat(groups, dim=1).reshape(weight.shape)  # (KV, H/KV + 2, D, ...)


def transpose_conv1d(weight: torch.Tensor, shape: dict) -> torch.Tensor:
    """GPT-2's Conv1D stores (in, out); the converter writes the (out, in) of a linear layer."""
    return weight.T.contiguous()


def unsqueeze_row(weight: torch.Tensor, shape: dict) -> torch.Tensor:
    """The converter squeezes every tensor: a (1, C) matrix (Qwen2-MoE's shared-expert gate) is
    written as a (C,) vector."""
    return weight.reshape(1, -1)


_GPT2_CONV1D = tuple((leaf, transpose_conv1d) for leaf in
                     ("attn_qkv.weight", "attn_output.weight", "ffn_up.weight", "ffn_down.weight"))
_FUSED_QKV = (("attn_qkv.weight", unfuse_qkv_blocks), ("attn_qkv.bias", unfuse_qkv_blocks))


# ---------------------------------------------------------------------------------------------
# config the file implies


def _falcon_config(fields: dict, names: set, arch: str) -> dict:
    # llama.cpp tells Falcon-40B's layout (two norms per layer, grouped key/value heads) from
    # Falcon-7B's (one norm, one key/value head) by the second norm's tensor
    new_layout = "blk.0.attn_norm_2.weight" in names
    return {"new_decoder_architecture": new_layout,
            "multi_query": not new_layout and fields.get(f"{arch}.attention.head_count_kv", 1) == 1}


def _stablelm_config(fields: dict, names: set, arch: str) -> dict:
    # the converter writes neither flag: q/k/v biases and a second norm (not parallel) show in the tensors
    return {"use_qkv_bias": "blk.0.attn_q.bias" in names, "use_parallel_residual": "blk.0.ffn_norm.weight" not in names,
            "qk_layernorm": "blk.0.attn_q_norm.weight" in names}


def _cohere_config(fields: dict, names: set, arch: str) -> dict:
    return {"use_qk_norm": "blk.0.attn_q_norm.weight" in names}


def _mpt_config(fields: dict, names: set, arch: str) -> dict:
    # MPT keeps its attention settings in one attn_config dict
    attention = {"clip_qkv": fields.get(f"{arch}.attention.clamp_kqv"),
                 "alibi_bias_max": fields.get(f"{arch}.attention.max_alibi_bias")}
    return {"attn_config": {key: value for key, value in attention.items() if value is not None}}


def _starcoder2_config(fields: dict, names: set, arch: str) -> dict:
    return {"use_bias": "blk.0.attn_q.bias" in names}


def _starcoder_config(fields: dict, names: set, arch: str) -> dict:
    return {"multi_query": fields.get(f"{arch}.attention.head_count_kv", 1) == 1}


_SLIDING = ("attention.sliding_window", "sliding_window")
_SOFTCAPS = (("attn_logit_softcapping", "attn_logit_softcapping"), ("final_logit_softcapping", "final_logit_softcapping"))
# "attention.layer_norm_epsilon" under each family's own config key
_LN_EPS = "attention.layer_norm_epsilon"
_MOE = (("expert_count", "num_experts"), ("expert_used_count", "num_experts_per_tok"),
        ("expert_feed_forward_length", "moe_intermediate_size"),
        ("expert_shared_feed_forward_length", "shared_expert_intermediate_size"))
# a layer's experts are stacked into one (E, out, in) tensor per projection
_STACKED_EXPERTS = ((r"\.experts\.(\d+)\.", ".experts."),)
# the converters write 4 x hidden as the feed-forward width of these families, which have no such key
_NO_FFN = ("feed_forward_length", None)
# families whose config says multi-query (or nothing) where the file gives a key/value head count
_NO_KV_HEADS = ("attention.head_count_kv", None)

# general.architecture -> workbench model; every key is read under "{architecture}.".
ARCHITECTURES = {
    "llama": GGUFArchitecture("llama", permuted_qk=True, config_keys=_MOE, stacked=_STACKED_EXPERTS,
                              with_experts="mixtral"),
    "mistral": GGUFArchitecture("mistral", permuted_qk=True, tensor_table="llama"),
    "qwen2": GGUFArchitecture("qwen2"),
    "qwen3": GGUFArchitecture("qwen3"),
    "qwen2moe": GGUFArchitecture("qwen2_moe", config_keys=_MOE, stacked=_STACKED_EXPERTS,
                                 tensor_fixes=(("ffn_gate_inp_shexp.weight", unsqueeze_row),)),
    # llama.cpp renormalises Qwen3-MoE's top-k routing weights (the checkpoints' config says so too)
    "qwen3moe": GGUFArchitecture("qwen3_moe", config_keys=_MOE, stacked=_STACKED_EXPERTS,
                                 assumed={"norm_topk_prob": True}),
    "gemma": GGUFArchitecture("gemma", norm_shift=1.0),
    "gemma2": GGUFArchitecture("gemma2", norm_shift=1.0, config_keys=(_SLIDING, *_SOFTCAPS)),
    "gemma3": GGUFArchitecture("gemma3_text", norm_shift=1.0, config_keys=(_SLIDING, _SOFTCAPS[1]),
                               rope_per_layer_type=True),
    "phi3": GGUFArchitecture("phi3", config_keys=(_SLIDING,), partial_rotary=True),
    "phi2": GGUFArchitecture("phi", config_keys=((_LN_EPS, "layer_norm_eps"),), partial_rotary=True),
    "stablelm": GGUFArchitecture("stablelm", config_keys=((_LN_EPS, "layer_norm_eps"),), partial_rotary=True,
                                 stacked=((r"_layernorm\.norms\.(\d+)$", "_layernorm"),),
                                 derived_config=_stablelm_config),
    "gptneox": GGUFArchitecture("gpt_neox", config_keys=((_LN_EPS, "layer_norm_eps"),
                                                         ("use_parallel_residual", "use_parallel_residual")),
                                partial_rotary=True, tensor_fixes=_FUSED_QKV),
    "bloom": GGUFArchitecture("bloom", config_keys=((_LN_EPS, "layer_norm_epsilon"), _NO_FFN, _NO_KV_HEADS,
                                                    ("context_length", None)),
                              tensor_fixes=_FUSED_QKV, stripped_prefix="transformer."),
    "falcon": GGUFArchitecture("falcon", config_keys=((_LN_EPS, "layer_norm_epsilon"), _NO_FFN,
                                                      ("attention.head_count_kv", "num_kv_heads")),
                               tensor_fixes=(("attn_qkv.weight", regroup_falcon_qkv),),
                               derived_config=_falcon_config),
    "gpt2": GGUFArchitecture("gpt2", config_keys=((_LN_EPS, "layer_norm_epsilon"), ("feed_forward_length", "n_inner")),
                             tensor_fixes=_GPT2_CONV1D),
    "starcoder": GGUFArchitecture("gpt_bigcode", config_keys=((_LN_EPS, "layer_norm_epsilon"), _NO_KV_HEADS,
                                                              ("feed_forward_length", "n_inner")),
                                  derived_config=_starcoder_config),
    "starcoder2": GGUFArchitecture("starcoder2", config_keys=((_LN_EPS, "norm_epsilon"), _SLIDING),
                                   derived_config=_starcoder2_config),
    "olmo2": GGUFArchitecture("olmo2"),
    # OLMo's norms have no weights; the converter writes its fixed epsilon, which the config has no key for
    "olmo": GGUFArchitecture("olmo", permuted_qk=True, config_keys=(("attention.clamp_kqv", "clip_qkv"),
                                                                    (_LN_EPS, None))),
    "granite": GGUFArchitecture("granite", permuted_qk=True, config_keys=(
        ("attention.scale", "attention_multiplier"), ("embedding_scale", "embedding_multiplier"),
        ("residual_scale", "residual_multiplier"), ("logit_scale", "logits_scaling"))),
    # llama.cpp drops RoPE in every fourth SmolLM3 layer; the converter writes no key for it
    "smollm3": GGUFArchitecture("smollm3", permuted_qk=True, assumed={"no_rope_layer_interval": 4}),
    "mpt": GGUFArchitecture("mpt", config_keys=((_LN_EPS, "layer_norm_epsilon"), _NO_FFN, _NO_KV_HEADS,
                                                ("context_length", "max_seq_len")), derived_config=_mpt_config),
    "command-r": GGUFArchitecture("cohere", config_keys=((_LN_EPS, "layer_norm_eps"), ("logit_scale", "logit_scale")),
                                  derived_config=_cohere_config),
}
