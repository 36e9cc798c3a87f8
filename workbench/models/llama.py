"""Llama-style decoders: one config-driven decoder for Llama, Mistral, Qwen2 and Qwen3.

    input_ids ─► embed_tokens ─► N × [ h = h + self_attn(input_layernorm(h))
                                       h = h + mlp(post_attention_layernorm(h)) ] ─► norm ─► lm_head

    self_attn: q_proj, k_proj, v_proj ─► RoPE on queries and keys ─► append to the cache
               ─► causal attention (grouped-query, optionally in a sliding window) ─► o_proj
    mlp:       down_proj(hidden_act(gate_proj(h)) * up_proj(h))

Llama: https://arxiv.org/abs/2302.13971, Mistral: https://arxiv.org/abs/2310.06825,
Qwen2: https://arxiv.org/abs/2407.10671, Qwen3: https://arxiv.org/abs/2505.09388. What tells them apart are config fields, read once when
the modules are built: ``attention_bias`` / ``attention_output_bias`` / ``mlp_bias`` (Qwen2 has
biases on q, k and v but not on o), ``head_dim``, ``num_key_value_heads`` (grouped-query attention),
``sliding_window`` with ``layer_types`` (which layers use it), ``qk_norm`` (RMS norms on each
query and key head before RoPE: Qwen3), ``rope_parameters``,
``tie_word_embeddings``, ``norm_weight_offset`` (norms scale by ``offset + weight``: Gemma's 1) and
``scale_embeddings`` (multiply the embeddings by ``sqrt(hidden_size)``: Gemma). A new family of this
shape is a config class with its defaults and facts, plus the class names below. Module names equal
the checkpoint keys (``model.layers.0.self_attn.q_proj``). The pieces come from ``workbench.nn``:
``RMSNorm``, ``GatedMLP``, the ``multi_head_attention`` core and the ``run_layers`` loop.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.attention import cache_causal_mask, multi_head_attention
from ..nn.cache import as_decoder_cache, layer_windows_of
from ..nn.layers import output_flags, run_layers
from ..nn.linear import Linear, fused_for_inference
from ..nn.logits import keep_positions, last_token_rows
from ..nn.losses import causal_lm_loss, sequence_classification_loss, span_loss, token_classification_loss
from ..nn.mlp import GatedMLP
from ..nn.norms import RMSNorm
from ..nn.rope import RotaryEmbedding, apply_rotary, head_dim_of, head_tables, rotate_heads, standardize_rope_parameters
from ..outputs import (
    BaseModelOutputWithPast,
    CausalLMOutputWithPast,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutputWithPast,
    TokenClassifierOutput,
)

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
    # norms on queries and keys before RoPE (self_attn.q_norm / k_norm): None, or "head_dim" (each head
    # normalised over head_dim, one weight of head_dim shared by the heads: Qwen3)
    qk_norm = None
    scale_embeddings = False  # multiply the token embeddings by sqrt(hidden_size) (Gemma)

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


class Qwen3Config(Qwen2Config):
    """Qwen2's shape (and its sliding-window layers) with per-head query / key norms, no q/k/v
    biases and an explicit head_dim (https://arxiv.org/abs/2505.09388)."""

    model_type = "qwen3"
    attention_bias = False
    attention_output_bias = None
    qk_norm = "head_dim"
    defaults = {
        **Qwen2Config.defaults,
        "num_key_value_heads": 32,
        "head_dim": 128,
        "attention_bias": False,
    }


layer_windows = layer_windows_of  # per layer, the sliding window its attention uses (None: full)


# ---------------------------------------------------------------------------------------------
# modules


def rms_norm(config: DecoderConfig) -> RMSNorm:
    return RMSNorm(config.hidden_size, eps=config.rms_norm_eps, weight_offset=config.norm_weight_offset)


def head_rms_norm(config: DecoderConfig) -> RMSNorm:
    """The per-head query / key norm of ``qk_norm`` decoders: over head_dim, shared by the heads."""
    return RMSNorm(head_dim_of(config), eps=config.rms_norm_eps, weight_offset=config.norm_weight_offset)


class LlamaMLP(GatedMLP):  # gate_proj, up_proj, down_proj
    def __init__(self, config: DecoderConfig) -> None:
        super().__init__(config.hidden_size, config.intermediate_size, config.hidden_act, bias=config.mlp_bias)


class LlamaAttention(nn.Module):
    def __init__(self, config: DecoderConfig, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.head_dim = head_dim_of(config)
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_dropout
        heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
        if heads % kv_heads:
            raise ValueError(
                f"num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kv_heads}): fix the config."
            )
        out_bias = config.attention_bias if config.attention_output_bias is None else config.attention_output_bias
        self.heads, self.kv_heads = heads, kv_heads
        self.q_proj = Linear(config.hidden_size, heads * self.head_dim, bias=config.attention_bias)
        self.k_proj = Linear(config.hidden_size, kv_heads * self.head_dim, bias=config.attention_bias)
        self.v_proj = Linear(config.hidden_size, kv_heads * self.head_dim, bias=config.attention_bias)
        self.o_proj = Linear(heads * self.head_dim, config.hidden_size, bias=out_bias)
        if config.qk_norm not in (None, "head_dim"):
            raise ValueError(f"qk_norm {config.qk_norm!r} is not None or 'head_dim'.")
        if config.qk_norm:
            self.q_norm, self.k_norm = head_rms_norm(config), head_rms_norm(config)
        self.qk_norm = config.qk_norm is not None

    def project(self, hidden_states, rotary):
        """(B, T, C) -> queries (B, H, T, D), rotated keys and values (B, Hkv, T, D); ``rotary`` is
        (cos, sin, and their head_tables), from the model."""
        cos, sin, head_cos, head_sin = rotary
        batch, length, _ = hidden_states.shape
        shape = (batch, length, -1, self.head_dim)
        fused = fused_for_inference(self, "_qkv", [self.q_proj, self.k_proj, self.v_proj])
        if fused is None:  # recording gradients: through the separate modules
            query = self.q_proj(hidden_states).view(shape)
            key = self.k_proj(hidden_states).view(shape)
            if self.qk_norm:
                query, key = self.q_norm(query), self.k_norm(key)
            query, key = apply_rotary(query.transpose(1, 2), key.transpose(1, 2), cos, sin)
            return query, key, self.v_proj(hidden_states).view(shape).transpose(1, 2)
        qkv = fused(hidden_states).view(shape)  # (B, T, H + 2 Hkv, D)
        turning = self.heads + self.kv_heads
        queries_keys = qkv[:, :, :turning]
        if self.qk_norm:
            queries_keys = torch.cat((self.q_norm(qkv[:, :, : self.heads]), self.k_norm(qkv[:, :, self.heads : turning])), 2)
        rotated = rotate_heads(queries_keys, head_cos, head_sin)  # queries and keys together
        query, key = rotated.split((self.heads, self.kv_heads), dim=2)
        return query.transpose(1, 2), key.transpose(1, 2), qkv[:, :, turning:].transpose(1, 2)

    def forward(self, hidden_states, rotary, mask, cache, eager, cache_position=None):
        query, key, value = self.project(hidden_states, rotary)
        out, weights = multi_head_attention(query, key, value, mask, cache=cache, layer_idx=self.layer_idx,
                                            cache_kwargs={"cache_position": cache_position}, causal=True,
                                            scale=self.scaling, eager=eager,
                                            dropout=self.attention_dropout if self.training else 0.0)
        return self.o_proj(out), weights


class LlamaDecoderLayer(nn.Module):
    def __init__(self, config: DecoderConfig, layer_idx: int) -> None:
        super().__init__()
        self.self_attn = LlamaAttention(config, layer_idx)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = rms_norm(config)
        self.post_attention_layernorm = rms_norm(config)

    def forward(self, hidden_states, mask, rotary, cache, eager, cache_position=None):
        attended, weights = self.self_attn(self.input_layernorm(hidden_states), rotary, mask, cache, eager,
                                           cache_position)
        hidden_states = hidden_states + attended
        hidden_states = hidden_states + self.mlp(self.post_attention_layernorm(hidden_states))
        return hidden_states, weights


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
    decoder_layer = LlamaDecoderLayer  # a mixture-of-experts decoder swaps the layer (models/moe.py)

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.layers = nn.ModuleList(self.decoder_layer(config, i) for i in range(config.num_hidden_layers))
        self.norm = rms_norm(config)
        self.rotary_emb = RotaryEmbedding(config)
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
        past_key_values = as_decoder_cache(past_key_values, config.use_cache if use_cache is None else use_cache)
        batch, length = inputs_embeds.shape[:2]
        if cache_position is None:
            past = past_key_values.get_seq_length() if past_key_values is not None else 0
            cache_position = torch.arange(past, past + length, device=inputs_embeds.device)
        if position_ids is None:
            position_ids = cache_position[None]
        cos, sin = self.rotary_emb(position_ids, inputs_embeds.dtype)  # (B or 1, T, rotary_dim)
        rotary = (cos, sin, *head_tables(cos, sin))
        masks = self._masks(attention_mask, past_key_values, cache_position, length, inputs_embeds.dtype)
        stack = run_layers(self.layers, inputs_embeds, [masks[window] for window in self.layer_windows], rotary,
                           past_key_values, eager, cache_position, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions, final=self.norm, **(layer_kwargs or {}))
        out = BaseModelOutputWithPast(stack.last_hidden_state, past_key_values, stack.hidden_states, stack.attentions)
        return self._finish(out, return_dict)

    def _masks(self, attention_mask, cache, cache_position, length, dtype) -> dict:
        """Per sliding window (None: full attention), the additive mask over the keys the cache
        will return, or None where SDPA's own causal masking (or none, for one decode step) is exact."""
        padded = attention_mask is not None and (torch.compiler.is_compiling() or not bool(attention_mask.all()))
        padding = attention_mask if padded else None
        # a growing cache returns keys that end at the last query; a static one returns its whole buffer
        exact = cache is None or not cache.is_compileable
        masks = {}
        for layer_idx, window in enumerate(self.layer_windows):
            if window in masks:
                continue
            start, keys = cache.key_span(layer_idx, cache_position, length) if cache is not None else (0, length)
            window_matters = window is not None and keys > window
            if exact and padding is None and not window_matters and (length == 1 or keys == length):
                masks[window] = None
            else:
                masks[window] = cache_causal_mask(padding, cache_position, start, keys, dtype, window)
        return masks


class LlamaForCausalLM(LlamaPreTrainedModel):
    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}
    is_generative = True
    base_model_class = LlamaModel

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__(config)
        self.model = self.base_model_class(config)
        self.lm_head = Linear(config.hidden_size, config.vocab_size, bias=False)

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, inputs_embeds=None,
                labels=None, use_cache=None, logits_to_keep=0, return_dict=None, **kwargs):
        """Next-token logits; ``labels`` (B, T) give the shifted causal LM loss (-100 is ignored).
        ``logits_to_keep=1`` computes only the last position's logits (what generation needs)."""
        out = self.model(input_ids, attention_mask, position_ids, past_key_values, inputs_embeds, use_cache,
                         return_dict=True, **kwargs)
        logits = self.lm_head(keep_positions(out.last_hidden_state, logits_to_keep))
        loss = causal_lm_loss(logits, labels) if labels is not None else None
        result = CausalLMOutputWithPast(loss, logits, out.past_key_values, out.hidden_states, out.attentions)
        return self._finish(result, return_dict)


class LlamaForSequenceClassification(LlamaPreTrainedModel):
    """Scores the last token that is not ``config.pad_token_id`` (so left and right padding both
    work); without a pad token only a batch of one can be scored, from its last position."""

    base_model_class = LlamaModel

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__(config)
        self.model = self.base_model_class(config)
        self.score = Linear(config.hidden_size, config.num_labels, bias=False)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, inputs_embeds=None,
                labels=None, use_cache=None, return_dict=None, **kwargs):
        out = self.model(input_ids, attention_mask, position_ids, past_key_values, inputs_embeds, use_cache,
                         return_dict=True, **kwargs)
        logits = self.score(out.last_hidden_state)  # (B, T, num_labels)
        pooled = last_token_rows(logits, input_ids, self.config.pad_token_id, type(self).__name__)  # (B, num_labels)
        loss = sequence_classification_loss(pooled, labels.to(pooled.device), self.config) if labels is not None else None
        result = SequenceClassifierOutputWithPast(loss, pooled, out.past_key_values, out.hidden_states, out.attentions)
        return self._finish(result, return_dict)


class LlamaForTokenClassification(LlamaPreTrainedModel):
    """A label per token: ``score`` over the dropped-out hidden states."""

    base_model_class = LlamaModel

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__(config)
        self.model = self.base_model_class(config)
        dropout = getattr(config, "classifier_dropout", None)
        if dropout is None:
            dropout = getattr(config, "hidden_dropout", None)
        self.dropout = nn.Dropout(0.1 if dropout is None else dropout)
        self.score = Linear(config.hidden_size, config.num_labels, bias=getattr(config, "token_classification_bias", True))

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, inputs_embeds=None,
                labels=None, use_cache=False, return_dict=None, **kwargs):
        out = self.model(input_ids, attention_mask, position_ids, past_key_values, inputs_embeds, use_cache,
                         return_dict=True, **kwargs)  # (the output has no place for a cache)
        logits = self.score(self.dropout(out.last_hidden_state))  # (B, T, num_labels)
        loss = token_classification_loss(logits, labels) if labels is not None else None
        return self._finish(TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class LlamaForQuestionAnswering(LlamaPreTrainedModel):
    """Extractive question answering: start and end logits per token from ``qa_outputs``. The
    base model sits under ``transformer`` (the reference's name for Llama and Qwen; its Mixtral and
    Qwen2-MoE use ``model``: ``base_model_prefix`` says which)."""

    base_model_class = LlamaModel
    base_model_prefix = "transformer"

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__(config)
        setattr(self, self.base_model_prefix, self.base_model_class(config))
        self.qa_outputs = Linear(config.hidden_size, 2)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, inputs_embeds=None,
                start_positions=None, end_positions=None, use_cache=False, return_dict=None, **kwargs):
        out = getattr(self, self.base_model_prefix)(input_ids, attention_mask, position_ids, past_key_values,
                                                    inputs_embeds, use_cache, return_dict=True, **kwargs)
        start, end = (t.squeeze(-1).contiguous() for t in self.qa_outputs(out.last_hidden_state).split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start, end, start_positions, end_positions)
        return self._finish(QuestionAnsweringModelOutput(loss, start, end, out.hidden_states, out.attentions), return_dict)


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


class Qwen3Model(LlamaModel):
    config_class = Qwen3Config


class Qwen3ForCausalLM(LlamaForCausalLM):
    config_class = Qwen3Config
    base_model_class = Qwen3Model


class Qwen3ForSequenceClassification(LlamaForSequenceClassification):
    config_class = Qwen3Config
    base_model_class = Qwen3Model


class Qwen3ForTokenClassification(LlamaForTokenClassification):
    config_class = Qwen3Config
    base_model_class = Qwen3Model


class Qwen3ForQuestionAnswering(LlamaForQuestionAnswering):
    config_class = Qwen3Config
    base_model_class = Qwen3Model
