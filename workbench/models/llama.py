"""Llama-style decoders: one config-driven decoder for Llama, Mistral and Qwen2.

    input_ids ─► embed_tokens ─► N × [ h = h + self_attn(input_layernorm(h))
                                       h = h + mlp(post_attention_layernorm(h)) ] ─► norm ─► lm_head

    self_attn: q_proj, k_proj, v_proj ─► RoPE on queries and keys ─► append to the cache
               ─► causal attention (grouped-query, optionally in a sliding window) ─► o_proj
    mlp:       down_proj(hidden_act(gate_proj(h)) * up_proj(h))

Llama: https://arxiv.org/abs/2302.13971, Mistral: https://arxiv.org/abs/2310.06825,
Qwen2: https://arxiv.org/abs/2407.10671. What tells them apart are config fields, read once when
the modules are built: ``attention_bias`` / ``attention_output_bias`` / ``mlp_bias`` (Qwen2 has
biases on q, k and v but not on o), ``head_dim``, ``num_key_value_heads`` (grouped-query attention),
``sliding_window`` with ``layer_types`` (which layers use it), ``rope_parameters``,
``tie_word_embeddings``, ``norm_weight_offset`` (norms scale by ``offset + weight``: Gemma's 1) and
``scale_embeddings`` (multiply the embeddings by ``sqrt(hidden_size)``: Gemma). A new family of this
shape is a config class with its defaults and facts, plus the class names below; one with other
norms or another MLP (StarCoder2, workbench/models/starcoder2.py) also swaps the layer's
``attention_class`` / ``mlp_class`` / ``make_norm`` and the model's ``decoder_layer``. Module names equal
the checkpoint keys (``model.layers.0.self_attn.q_proj``). The pieces come from ``workbench.nn``:
``RMSNorm``, ``GatedMLP``, the ``multi_head_attention`` core and the ``run_layers`` loop.

Phi-3, Granite, Cohere, OLMo-2 and SmolLM3 are this decoder too, with the fields under "llama-shaped
variants" in :class:`DecoderConfig` (fused projections, where the norms sit and what they compute,
q/k norms, interleaved or absent rotary, Granite's multipliers, logit scales); their config classes
and class names are in ``llama_variants.py``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.attention import multi_head_attention
from ..nn.cache import as_decoder_cache, layer_windows_of, next_positions
from ..nn.decoder_mask import decoder_mask
from ..nn.float32_norms import Float32LayerNorm, Float32RMSNorm
from ..nn.fused_mlp import FusedGatedMLP
from ..nn.layers import output_flags, run_layers
from ..nn.linear import Linear, fused_for_inference
from ..nn.mlp import GatedMLP
from ..nn.norms import RMSNorm
from ..nn.rope import (RotaryEmbedding, apply_rotary, head_dim_of, head_tables, pair_tables, rotate_heads, rotate_pairs,
                       standardize_rope_parameters)
from ..nn.softcap import soft_cap
from ..outputs import BaseModelOutputWithPast
from .decoder_heads import DecoderForCausalLM, DecoderForSequenceClassification

# ---------------------------------------------------------------------------------------------
# configs


class DecoderConfig(PretrainedConfig):
    """What the three families share. The class attributes below are architecture facts that a
    family fixes without writing them to config.json; a family whose config.json carries one
    (Llama's ``attention_bias``) lists it in ``defaults`` instead."""

    attention_bias = False  # bias on q_proj, k_proj, v_proj
    attention_output_bias = None  # bias on o_proj; None: the same as attention_bias
    mlp_bias = False
    head_dim = None  # None: hidden_size // num_attention_heads
    sliding_window = None  # tokens a query sees (itself included) in "sliding_attention" layers
    layer_types = None  # per layer "full_attention" / "sliding_attention"; None: all one kind
    norm_weight_offset = 0.0  # RMS norms scale by (offset + weight); Gemma stores weight - 1
    scale_embeddings = False  # multiply the token embeddings by sqrt(hidden_size) (Gemma)
    final_logit_softcapping = None  # squash the LM logits to cap * tanh(logits / cap) (Gemma 2)
    # llama-shaped variants (their configs: llama_variants.py); each field is read in one place
    fused_qkv = False  # one qkv_proj module, split into queries, keys and values at run time (Phi-3)
    fused_gate_up = False  # one gate_up_proj module, split into gate and up at run time (Phi-3)
    norm_type = "rms"  # every norm's class: "rms", "rms_float32" (scaled before the cast), "layer_float32"
    layer_norms = "pre"  # where a layer's norms sit: a key of LAYER_NORMS
    # norms on queries and keys: None, "projection" (all heads at once), "per_head" (a weight row per head),
    # "head_dim" (each head over head_dim, one weight shared by the heads, before RoPE: Qwen3)
    qk_norm = None
    rope_interleaved = False  # rotate channel pairs (2i, 2i + 1) instead of (i, i + R/2) (Cohere)
    rope_in_float32 = False  # rotate queries and keys in float32, then cast back (Cohere, OLMo-2; below float32)
    float32_rope_tables = False  # with rope_in_float32: cos and sin stay float32, not the activations' dtype (OLMo-2)
    no_rope_layers = None  # per layer 1 (rotary) or 0 (no position encoding at all: SmolLM3's NoPE layers)
    embedding_multiplier = 1.0  # the token embeddings times this (Granite)
    residual_multiplier = 1.0  # each sublayer's output times this before the residual sum (Granite)
    attention_multiplier = None  # the attention scale; None: 1 / sqrt(head_dim)
    resid_pdrop = 0.0  # dropout on each sublayer's output, in training (Phi-3)
    logit_scale = 1.0  # logits times this (Cohere)
    logits_scaling = 1.0  # logits divided by this (Granite)
    embedding_dropout = 0.0  # on the embeddings, in training (StarCoder2)

    def __post_init__(self) -> None:
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if "head_dim" in self.defaults and self.head_dim is None:  # families that write it out
            self.head_dim = self.hidden_size // self.num_attention_heads
        standardize_rope_parameters(self)


_SHARED_DEFAULTS = {
    "hidden_act": "silu",
    "initializer_range": 0.02,
    "rms_norm_eps": 1e-6,
    "use_cache": True,
    "tie_word_embeddings": False,
    "rope_parameters": None,
    "attention_dropout": 0.0,
}


class LlamaConfig(DecoderConfig):
    model_type = "llama"
    defaults = {
        **_SHARED_DEFAULTS,
        "vocab_size": 32000,
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": None,
        "max_position_embeddings": 2048,
        "pad_token_id": None,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pretraining_tp": 1,
        "attention_bias": False,
        "mlp_bias": False,
        "head_dim": None,
    }


class MistralConfig(DecoderConfig):
    model_type = "mistral"
    defaults = {
        **_SHARED_DEFAULTS,
        "vocab_size": 32000,
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": None,
        "max_position_embeddings": 4096 * 32,
        "pad_token_id": None,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "sliding_window": 4096,  # every layer
    }


class Qwen2Config(DecoderConfig):
    model_type = "qwen2"
    attention_bias = True
    attention_output_bias = False
    defaults = {
        **_SHARED_DEFAULTS,
        "vocab_size": 151936,
        "hidden_size": 4096,
        "intermediate_size": 22016,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "max_position_embeddings": 32768,
        "use_sliding_window": False,
        "sliding_window": 4096,
        "max_window_layers": 28,  # layers from this index on use the window
        "layer_types": None,
        "pad_token_id": None,
        "bos_token_id": None,
        "eos_token_id": None,
    }

    def __post_init__(self) -> None:
        if not self.use_sliding_window:
            self.sliding_window = None
        if self.layer_types is None:
            self.layer_types = [
                "sliding_attention" if self.sliding_window is not None and i >= self.max_window_layers else "full_attention"
                for i in range(self.num_hidden_layers)
            ]
        super().__post_init__()


layer_windows = layer_windows_of  # per layer, the sliding window its attention uses (None: full)


# ---------------------------------------------------------------------------------------------
# modules


def rms_norm(config: DecoderConfig, shape=None) -> nn.Module:
    """The family's norm (``config.norm_type``: LLaMA's RMS norm unless a variant picks another)
    over ``shape`` (default: the hidden size)."""
    shape = config.hidden_size if shape is None else shape
    if config.norm_type == "rms":
        return RMSNorm(shape, eps=config.rms_norm_eps, weight_offset=config.norm_weight_offset)
    if config.norm_type == "rms_float32":
        return Float32RMSNorm(shape, eps=config.rms_norm_eps)
    if config.norm_type == "layer_float32":  # Cohere: no bias, its eps under its own name
        return Float32LayerNorm(shape, eps=config.layer_norm_eps)
    raise ValueError(f"norm_type {config.norm_type!r} is not one of 'rms', 'rms_float32', 'layer_float32'.")


class LlamaMLP(GatedMLP):  # gate_proj, up_proj, down_proj
    def __init__(self, config: DecoderConfig) -> None:
        super().__init__(config.hidden_size, config.intermediate_size, config.hidden_act, bias=config.mlp_bias)


def decoder_mlp(config: DecoderConfig) -> nn.Module:
    if config.fused_gate_up:  # gate_up_proj, down_proj
        return FusedGatedMLP(config.hidden_size, config.intermediate_size, config.hidden_act, bias=config.mlp_bias)
    return LlamaMLP(config)


# the norms of a decoder layer by where they sit: (before attention, on its output, before the MLP, on its output)
LAYER_NORMS = {
    "pre": ("input_layernorm", None, "post_attention_layernorm", None),  # LLaMA
    "post": (None, "post_attention_layernorm", None, "post_feedforward_layernorm"),  # OLMo-2
    "parallel": ("input_layernorm", None, None, None),  # Cohere: attention and MLP both read the one norm
}


class LlamaAttention(nn.Module):
    def __init__(self, config: DecoderConfig, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.head_dim = head_dim_of(config)
        self.scaling = self.head_dim**-0.5 if config.attention_multiplier is None else config.attention_multiplier
        self.attention_dropout = config.attention_dropout
        heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
        if heads % kv_heads:
            raise ValueError(
                f"num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kv_heads}): fix the config."
            )
        out_bias = config.attention_bias if config.attention_output_bias is None else config.attention_output_bias
        self.heads, self.kv_heads = heads, kv_heads
        self.sizes = [heads * self.head_dim, kv_heads * self.head_dim, kv_heads * self.head_dim]
        if config.fused_qkv:
            self.qkv_proj = Linear(config.hidden_size, sum(self.sizes), bias=config.attention_bias)
        else:
            self.q_proj = Linear(config.hidden_size, self.sizes[0], bias=config.attention_bias)
            self.k_proj = Linear(config.hidden_size, self.sizes[1], bias=config.attention_bias)
            self.v_proj = Linear(config.hidden_size, self.sizes[2], bias=config.attention_bias)
        self.o_proj = Linear(heads * self.head_dim, config.hidden_size, bias=out_bias)
        self._variant_init(config, layer_idx)

    def _variant_init(self, config: DecoderConfig, layer_idx: int) -> None:
        """What the llama-shaped variants add: q/k norms, pairwise or no rotation; ``plain``
        (none of them) keeps :meth:`project`'s fast path."""
        self.q_norm = self.k_norm = None
        self.norm_heads = config.qk_norm == "head_dim"  # normalised as (B, T, H, D) heads
        if self.norm_heads:
            self.q_norm, self.k_norm = rms_norm(config, self.head_dim), rms_norm(config, self.head_dim)
        elif config.qk_norm is not None:  # normalised over the flat (B, T, heads * head_dim) projections
            per_head = {"projection": False, "per_head": True}[config.qk_norm]
            self.q_norm = rms_norm(config, (self.heads, self.head_dim) if per_head else self.sizes[0])
            self.k_norm = rms_norm(config, (self.kv_heads, self.head_dim) if per_head else self.sizes[1])
        self.use_rope = config.no_rope_layers is None or bool(config.no_rope_layers[layer_idx])
        self.rotate = rotate_pairs if config.rope_interleaved else rotate_heads
        self.rope_in_float32 = config.rope_in_float32
        self.plain = (self.use_rope and self.rotate is rotate_heads and not self.rope_in_float32
                      and self.q_norm is None and "qkv_proj" not in self._modules)

    def project(self, hidden_states, rotary):
        """(B, T, C) -> queries (B, H, T, D), rotated keys and values (B, Hkv, T, D); ``rotary`` is
        (cos, sin, and their head_tables), from the model."""
        if not self.plain:
            return self._project_variant(hidden_states, rotary)
        cos, sin, head_cos, head_sin = rotary
        batch, length, _ = hidden_states.shape
        shape = (batch, length, -1, self.head_dim)
        fused = fused_for_inference(self, "_qkv", [self.q_proj, self.k_proj, self.v_proj])
        if fused is None:  # recording gradients: through the separate modules
            query = self.q_proj(hidden_states).view(shape).transpose(1, 2)
            key = self.k_proj(hidden_states).view(shape).transpose(1, 2)
            value = self.v_proj(hidden_states).view(shape).transpose(1, 2)
            query, key = apply_rotary(query, key, cos, sin)
            return query, key, value
        qkv = fused(hidden_states).view(shape)  # (B, T, H + 2 Hkv, D)
        turning = self.heads + self.kv_heads
        rotated = rotate_heads(qkv[:, :, :turning], head_cos, head_sin)  # queries and keys together
        query, key = rotated.split((self.heads, self.kv_heads), dim=2)
        return query.transpose(1, 2), key.transpose(1, 2), qkv[:, :, turning:].transpose(1, 2)

    def _project_variant(self, hidden_states, rotary):
        """:meth:`project` with a fused ``qkv_proj``, q/k norms, pairwise rotation or none."""
        _, _, head_cos, head_sin = rotary
        if "qkv_proj" in self._modules:  # the checkpoint's fused module (Phi-3)
            query, key, value = self.qkv_proj(hidden_states).split(self.sizes, dim=-1)
        elif (fused := fused_for_inference(self, "_qkv", [self.q_proj, self.k_proj, self.v_proj])) is not None:
            query, key, value = fused(hidden_states).split(self.sizes, dim=-1)
        else:  # recording gradients: through the separate modules
            query, key, value = self.q_proj(hidden_states), self.k_proj(hidden_states), self.v_proj(hidden_states)
        if self.q_norm is not None and not self.norm_heads:  # (B, T, H * D)
            query, key = self.q_norm(query), self.k_norm(key)
        shape = (*hidden_states.shape[:2], -1, self.head_dim)
        query, key, value = query.view(shape), key.view(shape), value.view(shape)  # (B, T, H, D)
        if self.norm_heads:
            query, key = self.q_norm(query), self.k_norm(key)
        if self.use_rope:
            dtype = value.dtype
            if self.rope_in_float32:  # the (lower-precision) tables then multiply float32 heads
                query, key = query.float(), key.float()
            query, key = self.rotate(query, head_cos, head_sin), self.rotate(key, head_cos, head_sin)
            query, key = query.to(dtype), key.to(dtype)
        return query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)

    def forward(self, hidden_states, rotary, mask, cache, eager, cache_position=None):
        query, key, value = self.project(hidden_states, rotary)
        out, weights = multi_head_attention(query, key, value, mask, cache=cache, layer_idx=self.layer_idx,
                                            cache_kwargs={"cache_position": cache_position}, causal=True,
                                            scale=self.scaling, eager=eager,
                                            dropout=self.attention_dropout if self.training else 0.0)
        return self.o_proj(out), weights


class LlamaDecoderLayer(nn.Module):
    # a family with other norms or MLP (StarCoder2: LayerNorm, c_fc/c_proj) swaps these; make_norm
    # also builds the model's final norm
    attention_class, mlp_class, make_norm = LlamaAttention, staticmethod(decoder_mlp), staticmethod(rms_norm)

    def __init__(self, config: DecoderConfig, layer_idx: int) -> None:
        super().__init__()
        self.self_attn = self.attention_class(config, layer_idx)
        self.mlp = self.mlp_class(config)
        self.norm_names = LAYER_NORMS[config.layer_norms]
        self.parallel = config.layer_norms == "parallel"
        for name in filter(None, self.norm_names):
            setattr(self, name, self.make_norm(config))
        self.residual_multiplier, self.resid_pdrop = config.residual_multiplier, config.resid_pdrop

    def forward(self, hidden_states, mask, rotary, cache, eager, cache_position=None):
        normed = self._norm(0, hidden_states)
        attended, weights = self.self_attn(normed, rotary, mask, cache, eager, cache_position)
        if self.parallel:  # h + attention(norm(h)) + mlp(norm(h))
            return hidden_states + attended + self.mlp(normed), weights
        hidden_states = hidden_states + self._sublayer_output(self._norm(1, attended))
        mlp_out = self._norm(3, self.mlp(self._norm(2, hidden_states)))
        return hidden_states + self._sublayer_output(mlp_out), weights

    def _norm(self, slot: int, hidden_states):
        name = self.norm_names[slot]  # slots: see LAYER_NORMS
        return hidden_states if name is None else getattr(self, name)(hidden_states)

    def _sublayer_output(self, out):
        if self.resid_pdrop and self.training:
            out = nn.functional.dropout(out, self.resid_pdrop, training=True)
        return out if self.residual_multiplier == 1 else out * self.residual_multiplier


class LlamaPreTrainedModel(PreTrainedModel):
    config_class = LlamaConfig
    base_model_prefix = "model"
    # checkpoints converted from Meta's weights by old scripts stored the RoPE frequencies
    _ignore_unexpected = (r"rotary_emb\.inv_freq$",)
    _supports_static_cache = True  # masks come from Cache.key_span: static and sliding-window caches work

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, RMSNorm) and module.weight_offset:  # the weight stores scale - offset
            nn.init.constant_(module.weight, 1.0 - module.weight_offset)


class LlamaModel(LlamaPreTrainedModel):
    # the layer and RoPE modules: a family of another layer shape (Gemma 2's sandwich norms) or with
    # RoPE per layer type (Gemma 3) names its own, and its ``rotary_tables`` says what layers get
    decoder_layer = LlamaDecoderLayer
    rotary_embedding = RotaryEmbedding

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.layers = nn.ModuleList(self.decoder_layer(config, i) for i in range(config.num_hidden_layers))
        self.norm = self.decoder_layer.make_norm(config)
        self.rotary_emb = self.rotary_embedding(config)
        self.layer_windows = layer_windows(config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.embed_tokens = embeddings

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, inputs_embeds=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                cache_position=None, layer_kwargs=None, **kwargs):
        """Hidden states of every position; with ``use_cache`` (the config's default) the keys and
        values go into ``past_key_values`` (a new :class:`DynamicCache` if none is passed).

        ``attention_mask`` is a (B, past + T) 1/0 padding mask; ``position_ids`` default to
        ``past, past + 1, ...`` (pass them for left-padded batches). ``layer_kwargs`` go to every
        layer (a mixture-of-experts layer's router-logits list).
        """
        config = self.config
        output_attentions, output_hidden_states, eager = output_flags(config, output_attentions, output_hidden_states)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
            if config.scale_embeddings:  # the factor rounded to the embeddings' dtype, as Gemma does
                inputs_embeds = inputs_embeds * torch.tensor(config.hidden_size**0.5, dtype=inputs_embeds.dtype)
        if config.embedding_multiplier != 1:  # Granite, on passed embeddings too
            inputs_embeds = inputs_embeds * config.embedding_multiplier
        if config.embedding_dropout and self.training:
            inputs_embeds = F.dropout(inputs_embeds, config.embedding_dropout, training=True)
        past_key_values = as_decoder_cache(past_key_values, config.use_cache if use_cache is None else use_cache)
        batch, length = inputs_embeds.shape[:2]
        if cache_position is None:
            cache_position = next_positions(past_key_values, length, inputs_embeds.device)
        if position_ids is None:
            position_ids = cache_position[None]
        tables_dtype = torch.float32 if config.float32_rope_tables else inputs_embeds.dtype
        rotary = self.rotary_tables(position_ids, tables_dtype)
        masks = self._masks(attention_mask, past_key_values, cache_position, length, inputs_embeds.dtype)
        stack = run_layers(self.layers, inputs_embeds, [masks[window] for window in self.layer_windows], rotary,
                           past_key_values, eager, cache_position, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions, final=self.norm, **(layer_kwargs or {}))
        out = BaseModelOutputWithPast(stack.last_hidden_state, past_key_values, stack.hidden_states, stack.attentions)
        return self._finish(out, return_dict)

    def rotary_tables(self, position_ids, dtype):
        """What every layer's attention takes as ``rotary``: (cos, sin, *their head_tables), each
        (B or 1, T, rotary_dim) or, for the head tables, (B or 1, T, 1, rotary_dim); with
        ``rope_interleaved`` (Cohere) the head tables are the pair layout's (:func:`pair_tables`)."""
        cos, sin = self.rotary_emb(position_ids, dtype)
        return (cos, sin, *(pair_tables if self.config.rope_interleaved else head_tables)(cos, sin))

    def _masks(self, attention_mask, cache, cache_position, length, dtype) -> dict:
        """Per sliding window (None: full attention), the :func:`decoder_mask` of the first layer
        with that window: over the keys the cache will return, or None where SDPA's own causal
        masking is exact."""
        masks = {}
        for layer_idx, window in enumerate(self.layer_windows):
            if window not in masks:
                masks[window] = decoder_mask(attention_mask, cache, cache_position, length, dtype, layer_idx, window)
        return masks


class LlamaForCausalLM(DecoderForCausalLM, LlamaPreTrainedModel):
    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}
    base_model_class = LlamaModel

    def logits(self, hidden_states):
        logits = self.lm_head(hidden_states)
        if self.config.logit_scale != 1:  # Cohere
            logits = logits * self.config.logit_scale
        if self.config.logits_scaling != 1:  # Granite
            logits = logits / self.config.logits_scaling
        return soft_cap(logits, self.config.final_logit_softcapping)  # Gemma 2


class LlamaForSequenceClassification(DecoderForSequenceClassification, LlamaPreTrainedModel):
    base_model_class = LlamaModel


# ---------------------------------------------------------------------------------------------
# the families: the same modules under each family's names (save_pretrained writes the class
# name into config.json's "architectures", so each family needs its own)


class MistralModel(LlamaModel):
    config_class = MistralConfig


class MistralForCausalLM(LlamaForCausalLM):
    config_class = MistralConfig
    base_model_class = MistralModel


class MistralForSequenceClassification(LlamaForSequenceClassification):
    config_class = MistralConfig
    base_model_class = MistralModel


class Qwen2Model(LlamaModel):
    config_class = Qwen2Config


class Qwen2ForCausalLM(LlamaForCausalLM):
    config_class = Qwen2Config
    base_model_class = Qwen2Model


class Qwen2ForSequenceClassification(LlamaForSequenceClassification):
    config_class = Qwen2Config
    base_model_class = Qwen2Model
