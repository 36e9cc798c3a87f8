"""Falcon (https://arxiv.org/abs/2311.16867): one config-driven decoder for its layouts.

    input_ids ─► word_embeddings ─► N × layer ─► ln_f ─► heads

    parallel layer (parallel_attn, every new_decoder_architecture model):
        h = h + self_attention(norm_a(h)) + mlp(norm_m(h))        norm_a = norm_m = input_layernorm,
                                                                  or ln_attn and ln_mlp (num_ln_in_parallel_attn=2)
    sequential layer:
        h = h + self_attention(input_layernorm(h));  h = h + mlp(post_attention_layernorm(h))

    self_attention: query_key_value (fused) ─► RoPE on queries and keys, or an ALiBi bias (``alibi``)
                    ─► causal attention ─► dense
    mlp:            dense_4h_to_h(activation(dense_h_to_4h(h)))

The fused projection's layout follows the config (workbench.nn.qkv): ``new_decoder_architecture``
groups H/num_kv_heads queries with each key/value head (Falcon-40B/180B), ``multi_query`` has one
key/value head (Falcon-7B), otherwise each head holds its [q, k, v] (Falcon-RW). ``bias`` puts
biases on every linear. Module names equal the checkpoint keys (``transformer.h.0.self_attention.query_key_value``);
the heads are GPT-2's over :class:`FalconModel`.

ALiBi: the bias is ``slope * position / sqrt(head_dim)``, its slopes rounded to bfloat16, as the
reference computes it. (Its eager attention adds the bias a second time, unlike its SDPA path and
earlier versions; workbench adds it once, whatever the attention kernel.)
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..errors import ConfigError
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.alibi import alibi_slopes, decoder_alibi_mask
from ..nn.attention import multi_head_attention
from ..nn.cache import as_decoder_cache, next_positions
from ..nn.decoder_mask import decoder_mask
from ..nn.layers import output_flags, run_layers
from ..nn.qkv import split_grouped, split_interleaved
from ..nn.rope import RotaryEmbedding, apply_rotary, standardize_rope_parameters
from ..outputs import BaseModelOutputWithPast
from .gpt2 import GPT2ForQuestionAnswering, GPT2ForSequenceClassification, GPT2ForTokenClassification, GPT2LMHeadModel


class FalconConfig(PretrainedConfig):
    model_type = "falcon"
    defaults = {
        "vocab_size": 65024,
        "hidden_size": 4544,
        "num_hidden_layers": 32,
        "num_attention_heads": 71,
        "num_ln_in_parallel_attn": None,  # None: 2 with new_decoder_architecture
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        "use_cache": True,
        "hidden_dropout": 0.0,
        "attention_dropout": 0.0,
        "num_kv_heads": None,  # None: num_attention_heads (new_decoder_architecture only)
        "alibi": False,
        "new_decoder_architecture": False,
        "multi_query": True,
        "parallel_attn": True,
        "bias": False,
        "max_position_embeddings": 2048,
        "rope_parameters": None,
        "bos_token_id": 11,
        "eos_token_id": 11,
        "pad_token_id": None,
        "ffn_hidden_size": None,  # None: 4 * hidden_size
        "activation": "gelu",
        "tie_word_embeddings": True,
    }

    def __post_init__(self) -> None:
        n_embed = self.__dict__.pop("n_embed", None)  # the name of early Falcon configs
        if n_embed is not None:
            self.hidden_size = n_embed
        if self.num_kv_heads is None:
            self.num_kv_heads = self.num_attention_heads
        if self.ffn_hidden_size is None:
            self.ffn_hidden_size = 4 * self.hidden_size
        if self.num_ln_in_parallel_attn is None and self.new_decoder_architecture:
            self.num_ln_in_parallel_attn = 2
        if self.new_decoder_architecture and not self.parallel_attn:
            raise ConfigError("Falcon with new_decoder_architecture=True needs parallel_attn=True (the reference "
                              "cannot run the other combination either): fix the config.")
        if not self.new_decoder_architecture and self.parallel_attn and self.num_ln_in_parallel_attn == 2:
            raise ConfigError("Falcon's two parallel norms (num_ln_in_parallel_attn=2) need "
                              "new_decoder_architecture=True: set num_ln_in_parallel_attn to 1 or None.")
        standardize_rope_parameters(self)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def rotary(self) -> bool:
        return not self.alibi


class FalconLinear(nn.Linear):
    """A linear layer that adds its bias after the product, as Falcon was trained (under bfloat16
    that is one more rounding than a fused bias; the reference keeps it, so workbench does too)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x @ self.weight.T
        return out if self.bias is None else out + self.bias


class FalconAttention(nn.Module):
    def __init__(self, config: FalconConfig, layer_idx: int) -> None:
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(f"hidden_size ({config.hidden_size}) must be a multiple of num_attention_heads "
                             f"({config.num_attention_heads}): fix the config.")
        self.layer_idx, self.num_heads, self.head_dim = layer_idx, config.num_attention_heads, config.head_dim
        if config.new_decoder_architecture:
            self.kv_heads = config.num_kv_heads
        else:
            self.kv_heads = 1 if config.multi_query else self.num_heads
        self.interleaved = not config.new_decoder_architecture and not config.multi_query  # per head [q, k, v]
        self.scaling = 1 / math.sqrt(self.head_dim)
        # the reference drops attention weights only with ALiBi
        self.attention_dropout = config.attention_dropout if config.alibi else 0.0
        width = (self.num_heads + 2 * self.kv_heads) * self.head_dim
        self.query_key_value = FalconLinear(config.hidden_size, width, bias=config.bias)
        self.dense = FalconLinear(config.hidden_size, config.hidden_size, bias=config.bias)

    def forward(self, hidden_states, mask, rotary, cache, eager):
        """(B, T, C) -> (B, T, C), weights; ``rotary`` is (cos, sin) or None (ALiBi: the bias is in ``mask``)."""
        fused = self.query_key_value(hidden_states)
        if self.interleaved:
            query, key, value = split_interleaved(fused, self.num_heads)
        else:  # queries (B, H, T, D), keys and values (B, Hkv, T, D)
            query, key, value = split_grouped(fused, self.num_heads, self.kv_heads)
        if rotary is not None:
            query, key = apply_rotary(query, key, *rotary)
        out, weights = multi_head_attention(query, key, value, mask, cache=cache, layer_idx=self.layer_idx,
                                            causal=True, scale=self.scaling, eager=eager,
                                            dropout=self.attention_dropout if self.training else 0.0)
        return self.dense(out), weights


class FalconMLP(nn.Module):
    def __init__(self, config: FalconConfig) -> None:
        super().__init__()
        self.dense_h_to_4h = FalconLinear(config.hidden_size, config.ffn_hidden_size, bias=config.bias)
        self.act = get_activation(config.activation)
        self.dense_4h_to_h = FalconLinear(config.ffn_hidden_size, config.hidden_size, bias=config.bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dense_4h_to_h(self.act(self.dense_h_to_4h(hidden_states)))


class FalconDecoderLayer(nn.Module):
    def __init__(self, config: FalconConfig, layer_idx: int) -> None:
        super().__init__()
        self.self_attention = FalconAttention(config, layer_idx)
        self.mlp = FalconMLP(config)
        self.parallel = config.parallel_attn
        self.two_norms = config.parallel_attn and config.num_ln_in_parallel_attn == 2
        self.hidden_dropout, self.attention_dropout = config.hidden_dropout, config.attention_dropout
        norm = lambda: nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon)  # noqa: E731
        if self.two_norms:
            self.ln_attn, self.ln_mlp = norm(), norm()
        else:
            self.input_layernorm = norm()
            if not self.parallel:
                self.post_attention_layernorm = norm()

    def forward(self, hidden_states, mask, rotary, cache, eager):
        attention_in = (self.ln_attn if self.two_norms else self.input_layernorm)(hidden_states)
        attended, weights = self.self_attention(attention_in, mask, rotary, cache, eager)
        if self.parallel:
            mlp_in = self.ln_mlp(hidden_states) if self.two_norms else attention_in
            branches = self.mlp(mlp_in) + attended
            return hidden_states + F.dropout(branches, self.hidden_dropout, self.training), weights
        # sequential: the reference drops the attention branch with attention_dropout
        hidden_states = hidden_states + F.dropout(attended, self.attention_dropout, self.training)
        out = self.mlp(self.post_attention_layernorm(hidden_states))
        return hidden_states + F.dropout(out, self.hidden_dropout, self.training), weights


class FalconPreTrainedModel(PreTrainedModel):
    config_class = FalconConfig
    base_model_prefix = "transformer"
    _supports_static_cache = True  # the masks (and ALiBi positions) cover the keys Cache.key_span names


class FalconModel(FalconPreTrainedModel):
    def __init__(self, config: FalconConfig) -> None:
        super().__init__(config)
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.h = nn.ModuleList(FalconDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.ln_f = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon)
        self.rotary_emb = None if config.alibi else RotaryEmbedding(config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.word_embeddings

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.word_embeddings = embeddings

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, position_ids=None, inputs_embeds=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None, cache_position=None,
                **kwargs):
        """Hidden states of every position. ``attention_mask`` is the (B, past + T) 1/0 padding mask;
        ``position_ids`` (RoPE) default to ``past, past + 1, ...`` (pass them for left-padded
        batches); with ALiBi the positions come from ``attention_mask``."""
        config = self.config
        output_attentions, output_hidden_states, eager = output_flags(config, output_attentions, output_hidden_states)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, T, C)
        past_key_values = as_decoder_cache(past_key_values, config.use_cache if use_cache is None else use_cache)
        length, dtype, device = inputs_embeds.shape[1], inputs_embeds.dtype, inputs_embeds.device
        if cache_position is None:
            cache_position = next_positions(past_key_values, length, device)
        rotary = None
        if config.alibi:  # slopes rounded to bfloat16, the bias divided by sqrt(head_dim), as the reference does
            slopes = alibi_slopes(config.num_attention_heads, device).bfloat16()
            mask = decoder_alibi_mask(slopes, attention_mask, past_key_values, cache_position, length, dtype,
                                      divisor=math.sqrt(config.head_dim))
        else:
            if position_ids is None:
                position_ids = cache_position[None]
            rotary = self.rotary_emb(position_ids, dtype)  # (cos, sin), each (B or 1, T, head_dim)
            mask = decoder_mask(attention_mask, past_key_values, cache_position, length, dtype)
        stack = run_layers(self.h, inputs_embeds, mask, rotary, past_key_values, eager,
                           output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                           final=self.ln_f)
        out = BaseModelOutputWithPast(stack.last_hidden_state, past_key_values, stack.hidden_states, stack.attentions)
        return self._finish(out, return_dict)


# ---------------------------------------------------------------------------------------------
# heads: GPT-2's, over FalconModel


class FalconForCausalLM(GPT2LMHeadModel):
    config_class = FalconConfig
    _supports_static_cache = True
    base_model_class = FalconModel
    _tied_weights_keys = {"lm_head.weight": "transformer.word_embeddings.weight"}


class FalconForSequenceClassification(GPT2ForSequenceClassification):
    config_class = FalconConfig
    base_model_class = FalconModel


class FalconForTokenClassification(GPT2ForTokenClassification):
    config_class = FalconConfig
    base_model_class = FalconModel


class FalconForQuestionAnswering(GPT2ForQuestionAnswering):
    config_class = FalconConfig
    base_model_class = FalconModel
