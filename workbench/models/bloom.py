"""BLOOM (https://arxiv.org/abs/2211.05100): a pre-norm decoder with ALiBi instead of position embeddings.

    input_ids ─► word_embeddings ─► word_embeddings_layernorm
              ─► n_layer × [ h = r₁ + self_attention(input_layernorm(h))
                             h = r₂ + mlp(post_attention_layernorm(h)) ] ─► ln_f ─► heads

    self_attention: query_key_value (fused, per head [q, k, v]) ─► append k, v to the cache
                    ─► softmax(q kᵀ / √d + ALiBi bias + causal mask) v ─► dense

The residuals r are the norms' inputs, or their outputs with ``apply_residual_connection_post_layernorm``.
The ALiBi bias counts each row's real tokens (workbench.nn.alibi), so left padding shifts nothing;
``position_ids`` are accepted and ignored. Module names equal the checkpoint keys
(``transformer.h.0.self_attention.query_key_value``); the heads are GPT-2's over :class:`BloomModel`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.alibi import alibi_slopes, decoder_alibi_mask
from ..nn.attention import multi_head_attention
from ..nn.cache import as_decoder_cache, next_positions
from ..nn.layers import output_flags, run_layers
from ..nn.linear import Linear
from ..nn.qkv import split_interleaved
from ..outputs import BaseModelOutputWithPast
from .gpt2 import GPT2ForQuestionAnswering, GPT2ForSequenceClassification, GPT2ForTokenClassification, GPT2LMHeadModel


class BloomConfig(PretrainedConfig):
    model_type = "bloom"
    attribute_map = {"num_hidden_layers": "n_layer", "num_attention_heads": "n_head"}
    defaults = {
        "vocab_size": 250880,
        "hidden_size": 64,
        "n_layer": 2,
        "n_head": 8,
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        "use_cache": True,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": None,
        "apply_residual_connection_post_layernorm": False,
        "hidden_dropout": 0.0,
        "attention_dropout": 0.0,
        # Megatron's tensor-parallel degree; with slow_but_exact the reference sums the output
        # projections slice by slice, which changes their rounding only
        "pretraining_tp": 1,
        "slow_but_exact": False,
        "tie_word_embeddings": True,
    }

    def __post_init__(self) -> None:
        n_embed = self.__dict__.pop("n_embed", None)  # the name of early BLOOM configs
        if n_embed is not None:
            self.hidden_size = n_embed


class BloomGELU(nn.Module):
    """GELU's tanh approximation with Megatron's constants, written as BLOOM's reference writes it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))


class BloomAttention(nn.Module):
    def __init__(self, config: BloomConfig, layer_idx: int) -> None:
        super().__init__()
        if config.hidden_size % config.n_head:
            raise ValueError(f"hidden_size ({config.hidden_size}) must be a multiple of n_head ({config.n_head}): "
                             "fix the config.")
        self.num_heads, self.layer_idx = config.n_head, layer_idx
        self.scaling = (config.hidden_size // config.n_head) ** -0.5
        self.attention_dropout = config.attention_dropout
        self.query_key_value = Linear(config.hidden_size, 3 * config.hidden_size, bias=True)
        self.dense = Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states, mask, cache, eager):
        query, key, value = split_interleaved(self.query_key_value(hidden_states), self.num_heads)
        out, weights = multi_head_attention(query, key, value, mask, cache=cache, layer_idx=self.layer_idx,
                                            scale=self.scaling, eager=eager,
                                            dropout=self.attention_dropout if self.training else 0.0)
        return self.dense(out), weights


class BloomMLP(nn.Module):
    def __init__(self, config: BloomConfig) -> None:
        super().__init__()
        self.dense_h_to_4h = Linear(config.hidden_size, 4 * config.hidden_size)
        self.gelu_impl = BloomGELU()
        self.dense_4h_to_h = Linear(4 * config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dense_4h_to_h(self.gelu_impl(self.dense_h_to_4h(hidden_states)))


class BloomBlock(nn.Module):
    def __init__(self, config: BloomConfig, layer_idx: int) -> None:
        super().__init__()
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon)
        self.self_attention = BloomAttention(config, layer_idx)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon)
        self.mlp = BloomMLP(config)
        self.post_norm_residual = config.apply_residual_connection_post_layernorm
        self.hidden_dropout = config.hidden_dropout

    def forward(self, hidden_states, mask, cache, eager):
        normed = self.input_layernorm(hidden_states)
        residual = normed if self.post_norm_residual else hidden_states
        attended, weights = self.self_attention(normed, mask, cache, eager)
        hidden_states = residual + F.dropout(attended, self.hidden_dropout, self.training)
        normed = self.post_attention_layernorm(hidden_states)
        residual = normed if self.post_norm_residual else hidden_states
        return residual + F.dropout(self.mlp(normed), self.hidden_dropout, self.training), weights


class BloomPreTrainedModel(PreTrainedModel):
    config_class = BloomConfig
    base_model_prefix = "transformer"
    _supports_static_cache = True  # the masks and ALiBi positions cover the keys Cache.key_span names


class BloomModel(BloomPreTrainedModel):
    def __init__(self, config: BloomConfig) -> None:
        super().__init__(config)
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.word_embeddings_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon)
        self.h = nn.ModuleList(BloomBlock(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.word_embeddings

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.word_embeddings = embeddings

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, inputs_embeds=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, position_ids=None,
                cache_position=None, **kwargs):
        """Hidden states of every position; ``attention_mask`` is the (B, past + T) 1/0 padding mask,
        from which the ALiBi positions come (``position_ids`` are ignored)."""
        config = self.config
        output_attentions, output_hidden_states, eager = output_flags(config, output_attentions, output_hidden_states)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, T, C)
        past_key_values = as_decoder_cache(past_key_values, config.use_cache if use_cache is None else use_cache)
        hidden = self.word_embeddings_layernorm(inputs_embeds)
        if cache_position is None:
            cache_position = next_positions(past_key_values, hidden.shape[1], hidden.device)
        slopes = alibi_slopes(config.n_head, hidden.device)  # float32
        mask = decoder_alibi_mask(slopes, attention_mask, past_key_values, cache_position, hidden.shape[1], hidden.dtype)
        stack = run_layers(self.h, hidden, mask, past_key_values, eager, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions, final=self.ln_f)
        out = BaseModelOutputWithPast(stack.last_hidden_state, past_key_values, stack.hidden_states, stack.attentions)
        return self._finish(out, return_dict)


# ---------------------------------------------------------------------------------------------
# heads: GPT-2's, over BloomModel


class BloomForCausalLM(GPT2LMHeadModel):
    config_class = BloomConfig
    _supports_static_cache = True
    base_model_class = BloomModel
    _tied_weights_keys = {"lm_head.weight": "transformer.word_embeddings.weight"}


class BloomForSequenceClassification(GPT2ForSequenceClassification):
    config_class = BloomConfig
    base_model_class = BloomModel


class BloomForTokenClassification(GPT2ForTokenClassification):
    config_class = BloomConfig
    base_model_class = BloomModel


class BloomForQuestionAnswering(GPT2ForQuestionAnswering):
    config_class = BloomConfig
    base_model_class = BloomModel
