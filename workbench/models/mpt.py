"""MPT (MosaicML, https://www.mosaicml.com/blog/mpt-7b): a pre-norm decoder with ALiBi and no biases.

    input_ids ─► wte ─► n_layers × [ h = h + attn(norm_1(h))
                                     h = h + ffn(norm_2(h)) ] ─► norm_f ─► heads

    attn: Wqkv (fused [all q | all k | all v], clamped to ±clip_qkv if set)
          ─► softmax(q kᵀ · softmax_scale + ALiBi bias + causal mask) v ─► out_proj
    ffn:  down_proj(gelu(up_proj(h)))

The attention settings live in the ``attn_config`` dict of config.json (``clip_qkv``,
``softmax_scale``, ``attn_pdrop``), read once when the modules are built.
MPT's ALiBi counts key positions back from the last key (workbench.nn.alibi), whatever the padding.
Norms and linears have no bias (``no_bias``). Module names equal the checkpoint keys
(``transformer.blocks.0.attn.Wqkv``); the heads are GPT-2's over :class:`MptModel`.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..errors import ConfigError
from ..modeling import PreTrainedModel
from ..nn.alibi import alibi_attention_mask, alibi_bias, mpt_alibi_slopes
from ..nn.attention import multi_head_attention
from ..nn.cache import as_decoder_cache, next_positions
from ..nn.layers import output_flags, run_layers
from ..nn.linear import Linear
from ..nn.qkv import split_blocks
from ..outputs import BaseModelOutputWithPast
from .gpt2 import GPT2ForQuestionAnswering, GPT2ForSequenceClassification, GPT2ForTokenClassification, GPT2LMHeadModel

ATTN_CONFIG_DEFAULTS = {
    "attn_type": "multihead_attention",
    "attn_pdrop": 0,
    "attn_impl": "torch",
    "clip_qkv": None,
    "softmax_scale": None,  # None: 1 / sqrt(head_dim)
    "prefix_lm": False,
    "qk_ln": False,
    "attn_uses_sequence_id": False,
    "alibi": True,
    "alibi_bias_max": 8,
}


class MptAttentionConfig(dict):
    """``config.attn_config``: the dict config.json holds, whose keys also read as attributes
    (``config.attn_config.clip_qkv``), with the defaults above filled in."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"attn_config has no key {name!r} (keys: {sorted(self)}).") from None


class MptConfig(PretrainedConfig):
    model_type = "mpt"
    attribute_map = {"num_attention_heads": "n_heads", "hidden_size": "d_model", "num_hidden_layers": "n_layers"}
    defaults = {
        "d_model": 2048,
        "n_heads": 16,
        "n_layers": 24,
        "expansion_ratio": 4,
        "max_seq_len": 2048,
        "vocab_size": 50368,
        "resid_pdrop": 0.0,
        "layer_norm_epsilon": 1e-5,
        "emb_pdrop": 0.0,
        "learned_pos_emb": True,
        "attn_config": None,
        "init_device": "cpu",
        "logit_scale": None,
        "no_bias": True,
        "embedding_fraction": 1.0,
        "norm_type": "low_precision_layernorm",
        "use_cache": False,
        "initializer_range": 0.02,
        "tie_word_embeddings": True,
    }

    def __post_init__(self) -> None:
        self.attn_config = MptAttentionConfig({**ATTN_CONFIG_DEFAULTS, **dict(self.attn_config or {})})
        # settings of MosaicML's own code that change the model but that the reference ignores
        # (it would load such a checkpoint and compute something else): refused, not guessed
        unsupported = {"no_bias": (self.no_bias, True), "logit_scale": (self.logit_scale, None),
                       "attn_config.qk_ln": (self.attn_config.qk_ln, False),
                       "attn_config.alibi": (self.attn_config.alibi, True),
                       "attn_config.alibi_bias_max": (self.attn_config.alibi_bias_max, 8),
                       "attn_config.attn_type": (self.attn_config.attn_type, "multihead_attention")}
        for key, (value, supported) in unsupported.items():
            if value != supported:
                raise ConfigError(f"MPT with {key}={value!r} is not supported (workbench, like transformers, "
                                  f"implements {key}={supported!r} only): fix config.json or load the model with "
                                  "its own code.")


class MptAttention(nn.Module):
    def __init__(self, config: MptConfig, layer_idx: int) -> None:
        super().__init__()
        if config.d_model % config.n_heads:
            raise ValueError(f"d_model ({config.d_model}) must be a multiple of n_heads ({config.n_heads}): fix the config.")
        attn = config.attn_config
        self.layer_idx, self.head_dim = layer_idx, config.d_model // config.n_heads
        scale = attn.softmax_scale
        self.softmax_scale = 1 / math.sqrt(config.d_model / config.n_heads) if scale is None else scale
        self.clip_qkv, self.attn_dropout = attn.clip_qkv, attn.attn_pdrop
        self.Wqkv = Linear(config.d_model, 3 * config.d_model, bias=False)
        self.out_proj = Linear(config.d_model, config.d_model, bias=False)

    def forward(self, hidden_states, mask, cache, eager):
        fused = self.Wqkv(hidden_states)  # (B, T, 3C)
        if self.clip_qkv:
            fused = fused.clamp(min=-self.clip_qkv, max=self.clip_qkv)
        width = fused.shape[-1] // 3
        query, key, value = split_blocks(fused, (width, width, width), self.head_dim)
        out, weights = multi_head_attention(query, key, value, mask, cache=cache, layer_idx=self.layer_idx,
                                            scale=self.softmax_scale, eager=eager,
                                            dropout=self.attn_dropout if self.training else 0.0)
        return self.out_proj(out), weights


class MptMLP(nn.Module):
    def __init__(self, config: MptConfig) -> None:
        super().__init__()
        inner = config.expansion_ratio * config.d_model
        self.up_proj = Linear(config.d_model, inner, bias=False)
        self.act = nn.GELU()
        self.down_proj = Linear(inner, config.d_model, bias=False)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act(self.up_proj(hidden_states)))


def layer_norm(config: MptConfig) -> nn.LayerNorm:
    return nn.LayerNorm(config.d_model, eps=config.layer_norm_epsilon, bias=False)


class MptBlock(nn.Module):
    def __init__(self, config: MptConfig, layer_idx: int) -> None:
        super().__init__()
        self.norm_1 = layer_norm(config)
        self.attn = MptAttention(config, layer_idx)
        self.norm_2 = layer_norm(config)
        self.ffn = MptMLP(config)
        self.dropout = config.attn_config.attn_pdrop  # the reference's residual dropout (not resid_pdrop)

    def forward(self, hidden_states, mask, cache, eager):
        attended, weights = self.attn(self.norm_1(hidden_states), mask, cache, eager)
        hidden_states = hidden_states + F.dropout(attended, self.dropout, self.training)
        return hidden_states + F.dropout(self.ffn(self.norm_2(hidden_states)), self.dropout, self.training), weights


class MptPreTrainedModel(PreTrainedModel):
    config_class = MptConfig
    base_model_prefix = "transformer"
    _supports_static_cache = True  # the masks and ALiBi positions cover the keys Cache.key_span names


class MptModel(MptPreTrainedModel):
    def __init__(self, config: MptConfig) -> None:
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(MptBlock(config, i) for i in range(config.n_layers))
        self.norm_f = layer_norm(config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.wte

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.wte = embeddings

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, inputs_embeds=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, position_ids=None,
                cache_position=None, **kwargs):
        """Hidden states of every position; ``attention_mask`` is the (B, past + T) 1/0 padding
        mask. ALiBi needs no positions: ``position_ids`` are ignored."""
        config = self.config
        output_attentions, output_hidden_states, eager = output_flags(config, output_attentions, output_hidden_states)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        if inputs_embeds is None:
            inputs_embeds = self.wte(input_ids)  # (B, T, C)
        past_key_values = as_decoder_cache(past_key_values, config.use_cache if use_cache is None else use_cache)
        length, device = inputs_embeds.shape[1], inputs_embeds.device
        if cache_position is None:
            cache_position = next_positions(past_key_values, length, device)
        # the keys the cache returns: past + T, or a static cache's whole buffer
        keys = past_key_values.key_span(0, cache_position, length)[1] if past_key_values is not None else length
        # MPT's key positions end at 0 on the last key: 1 - K, ..., 0
        positions = torch.arange(1 - keys, 1, dtype=torch.int32, device=device)[None]
        slopes = mpt_alibi_slopes(config.n_heads, 8.0, device)  # alibi_bias_max: 8, checked by the config
        mask = alibi_attention_mask(alibi_bias(slopes, positions), attention_mask, cache_position, inputs_embeds.dtype)
        stack = run_layers(self.blocks, inputs_embeds, mask, past_key_values, eager,
                           output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                           final=self.norm_f)
        out = BaseModelOutputWithPast(stack.last_hidden_state, past_key_values, stack.hidden_states, stack.attentions)
        return self._finish(out, return_dict)


# ---------------------------------------------------------------------------------------------
# heads: GPT-2's, over MptModel (the LM head is tied to transformer.wte, as GPT-2's)


class MptForCausalLM(GPT2LMHeadModel):
    config_class = MptConfig
    _supports_static_cache = True
    base_model_class = MptModel


class MptForSequenceClassification(GPT2ForSequenceClassification):
    config_class = MptConfig
    base_model_class = MptModel


class MptForTokenClassification(GPT2ForTokenClassification):
    config_class = MptConfig
    base_model_class = MptModel


class MptForQuestionAnswering(GPT2ForQuestionAnswering):
    config_class = MptConfig
    base_model_class = MptModel
