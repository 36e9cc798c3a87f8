"""OLMo (https://arxiv.org/abs/2402.00838): scaffolded by ``workbench add-model --like llama --name olmo``,
then its differences from Llama filled in.

    input_ids ─► embed_tokens ─► N × [ h = h + self_attn(layer_norm(h))
                                       h = h + mlp(layer_norm(h)) ] ─► layer_norm ─► lm_head

What OLMo does differently from the Llama decoder it reuses (workbench/models/llama.py):

- its norms are layer norms with **no learnable parameters** (eps 1e-5, not in config.json), so the
  checkpoint has no ``*_layernorm.weight`` or ``norm.weight``;
- ``clip_qkv``: when set, the query, key and value projections are clamped to ``[-clip_qkv, clip_qkv]``
  before RoPE;
- RoPE's cos/sin stay float32 and the rotated queries and keys go back to the activations' dtype
  (equal to Llama's in float32; below it, rounding as the reference does);
- the MLP has no biases (Llama's ``mlp_bias`` is never set).
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn.parameter_free_norm import ParameterFreeLayerNorm
from ..nn.rope import RotaryEmbedding, apply_rotary
from .llama import (
    LlamaAttention, LlamaConfig, LlamaDecoderLayer, LlamaForCausalLM, LlamaForSequenceClassification, LlamaMLP,
    LlamaModel, LlamaPreTrainedModel, layer_windows,
)

LAYER_NORM_EPS = 1e-5  # fixed by OLMo's code, not a config key


class OlmoConfig(LlamaConfig):
    """OLMo's config.json (the defaults are OLMo-7B's)."""

    model_type = "olmo"
    defaults = {  # in the order the scaffold wrote Llama's; OLMo has no rms_norm_eps, mlp_bias or head_dim
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "use_cache": True,
        "tie_word_embeddings": False,
        "rope_parameters": None,
        "attention_dropout": 0.0,
        "vocab_size": 50304,
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": None,
        "max_position_embeddings": 2048,
        "pad_token_id": 1,
        "bos_token_id": None,
        "eos_token_id": 50279,
        "attention_bias": False,
        "clip_qkv": None,  # clamp q, k and v to [-clip_qkv, clip_qkv] (OLMo-7B-0424: 8.0)
    }


def layer_norm(config: OlmoConfig) -> ParameterFreeLayerNorm:
    return ParameterFreeLayerNorm(config.hidden_size, eps=LAYER_NORM_EPS)


class Float32RotaryEmbedding(RotaryEmbedding):
    """cos/sin in float32 whatever the activations' dtype (OLMo rotates in float32)."""

    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        return super().forward(position_ids, torch.float32)


class OlmoAttention(LlamaAttention):
    def __init__(self, config: OlmoConfig, layer_idx: int) -> None:
        super().__init__(config, layer_idx)
        self.clip_qkv = config.clip_qkv

    def project(self, hidden_states, rotary):
        """Llama's projections, with q, k, v clamped first when ``clip_qkv`` is set; queries and keys
        (rotated in float32) come back in the values' dtype."""
        if self.clip_qkv is None:
            query, key, value = super().project(hidden_states, rotary)
        else:
            clip, shape = self.clip_qkv, (*hidden_states.shape[:2], -1, self.head_dim)
            query, key, value = (projection(hidden_states).clamp(-clip, clip).view(shape).transpose(1, 2)
                                 for projection in (self.q_proj, self.k_proj, self.v_proj))  # (B, H, T, D)
            query, key = apply_rotary(query, key, *rotary[:2])
        return query.to(value.dtype), key.to(value.dtype), value


class OlmoDecoderLayer(LlamaDecoderLayer):
    def __init__(self, config: OlmoConfig, layer_idx: int) -> None:
        nn.Module.__init__(self)  # Llama's modules under the same names, OLMo's attention and norms
        self.self_attn = OlmoAttention(config, layer_idx)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = layer_norm(config)
        self.post_attention_layernorm = layer_norm(config)


class OlmoPreTrainedModel(LlamaPreTrainedModel):
    config_class = OlmoConfig


class OlmoModel(OlmoPreTrainedModel, LlamaModel):
    def __init__(self, config: OlmoConfig) -> None:
        OlmoPreTrainedModel.__init__(self, config)  # LlamaModel's attributes, OLMo's layers and norm
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.layers = nn.ModuleList(OlmoDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = layer_norm(config)
        self.rotary_emb = Float32RotaryEmbedding(config)
        self.layer_windows = layer_windows(config)


class OlmoForCausalLM(OlmoPreTrainedModel, LlamaForCausalLM):
    base_model_class = OlmoModel


class OlmoForSequenceClassification(OlmoPreTrainedModel, LlamaForSequenceClassification):
    base_model_class = OlmoModel
