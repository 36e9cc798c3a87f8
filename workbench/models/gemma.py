"""Gemma decoders: Gemma, Gemma 2 and Gemma 3 (text), built on the Llama decoder of ``llama.py``.

    Gemma:    the Llama layer; RMS norms scale by (1 + weight) in float32, embeddings times
              sqrt(hidden_size), a GELU(tanh)-gated MLP, tied lm_head, an explicit head_dim
    Gemma 2:  h = h + post_attention_layernorm(self_attn(input_layernorm(h)))
              h = h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)))   ("sandwich" norms)
              scores scaled by query_pre_attn_scalar**-0.5 and soft-capped (cap * tanh(s / cap));
              sliding-window and global layers alternate (layer_types); LM logits soft-capped
    Gemma 3:  Gemma 2's layer plus RMS norms on each query and key head before RoPE; local
              (sliding) layers turn at their own RoPE base (rope_parameters per layer type);
              the reference keeps attn_logit_softcapping in the config but never applies it

Gemma: https://arxiv.org/abs/2403.08295, Gemma 2: https://arxiv.org/abs/2408.00118,
Gemma 3: https://arxiv.org/abs/2503.19786. Gemma needs only config fields of the Llama decoder;
Gemma 2 and 3 swap in their own layer (``Gemma2DecoderLayer``) and Gemma 3 its RoPE
(``LayerTypeRotary``); the rest (masks per sliding window, caches, heads) is Llama's.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..nn.linear import fused_for_inference
from ..nn.norms import RMSNorm
from ..nn.rope import RotaryEmbedding, head_tables, rotate_heads, standardize_rope_parameters
from .llama import (DecoderConfig, LlamaAttention, LlamaForCausalLM, LlamaForSequenceClassification, LlamaMLP,
                    LlamaModel, LlamaPreTrainedModel, multi_head_attention, rms_norm)
from .llama_variants import LlamaForTokenClassification

# ---------------------------------------------------------------------------------------------
# configs

LAYER_TYPES = ("full_attention", "sliding_attention")


class GemmaConfig(DecoderConfig):
    model_type = "gemma"
    norm_weight_offset = 1.0  # norms store weight - 1
    scale_embeddings = True
    defaults = {
        "vocab_size": 256000,
        "hidden_size": 3072,
        "intermediate_size": 24576,
        "num_hidden_layers": 28,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "head_dim": 256,
        "hidden_act": "gelu_pytorch_tanh",
        "max_position_embeddings": 8192,
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-6,
        "use_cache": True,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "bos_token_id": 2,
        "tie_word_embeddings": True,
        "rope_parameters": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "use_bidirectional_attention": None,
    }

    def __post_init__(self) -> None:
        if self.hidden_act == "gelu":  # the first Gemma releases wrote "gelu" and meant the tanh approximation
            self.hidden_act = "gelu_pytorch_tanh"
        super().__post_init__()


class Gemma2Config(DecoderConfig):
    model_type = "gemma2"
    attribute_map = {"hidden_act": "hidden_activation"}
    norm_weight_offset = 1.0
    scale_embeddings = True
    query_key_norms = False  # RMS norms on each query and key head (Gemma 3)
    defaults = {
        **{k: v for k, v in GemmaConfig.defaults.items() if k != "hidden_act"},
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": 2304,
        "intermediate_size": 9216,
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "query_pre_attn_scalar": 256,  # scores are scaled by its inverse square root
        "sliding_window": 4096,
        "layer_types": None,  # None: local (sliding) and global layers alternate, local first
        "final_logit_softcapping": 30.0,
        "attn_logit_softcapping": 50.0,
    }

    @property
    def attention_softcap(self) -> float | None:
        """The cap the attention scores get (None: none)."""
        return self.attn_logit_softcapping

    def __post_init__(self) -> None:
        if self.layer_types is None:
            self.layer_types = [LAYER_TYPES[(i + 1) % 2] for i in range(self.num_hidden_layers)]
        super().__post_init__()


class Gemma3TextConfig(Gemma2Config):
    model_type = "gemma3_text"
    query_key_norms = True
    defaults = {
        **Gemma2Config.defaults,
        "vocab_size": 262208,
        "max_position_embeddings": 131072,
        "final_logit_softcapping": None,
        "attn_logit_softcapping": None,
        "use_bidirectional_attention": False,
    }
    # RoPE bases when config.json names none: global (full-attention) layers and local (sliding) ones
    default_theta = {"full_attention": 1_000_000.0, "sliding_attention": 10_000.0}

    @property
    def attention_softcap(self) -> float | None:
        return None  # the reference's Gemma 3 attention never passes attn_logit_softcapping on

    def __post_init__(self) -> None:
        if self.layer_types is None:  # older config.json files: every `sliding_window_pattern`-th layer is global
            pattern = self.__dict__.get("sliding_window_pattern", 6)
            self.layer_types = [LAYER_TYPES[(i + 1) % pattern != 0] for i in range(self.num_hidden_layers)]
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads
        self._layer_type_rope_parameters()  # in place of DecoderConfig's one rope_parameters dict

    def _layer_type_rope_parameters(self) -> None:
        """``rope_parameters`` as one dict per layer type, from that form or the older loose keys:
        ``rope_theta`` and ``rope_scaling`` for global layers, ``rope_local_base_freq`` for local ones."""
        loose = self.__dict__
        scaling, local_theta = loose.pop("rope_scaling", None), loose.pop("rope_local_base_freq", None)
        thetas = {"full_attention": loose.pop("rope_theta", None), "sliding_attention": local_theta}
        given = self.rope_parameters or {}
        params = {kind: dict(given.get(kind) or {"rope_type": "default"}) for kind in LAYER_TYPES}
        if scaling is not None:
            params["full_attention"].update(scaling)
        for kind in LAYER_TYPES:
            theta = thetas[kind] if thetas[kind] is not None else self.default_theta[kind]
            params[kind].setdefault("rope_theta", theta)
            view = _RopeView(self, params[kind])
            standardize_rope_parameters(view)
            params[kind] = view.rope_parameters
        self.rope_parameters = params


class _RopeView:
    """A config as one layer type's RoPE sees it: that type's ``rope_parameters``, the rest shared."""

    def __init__(self, config: Any, rope_parameters: dict) -> None:
        self._config = config
        self.rope_parameters = rope_parameters

    def __getattr__(self, name: str) -> Any:
        if name == "_config":  # not set yet (copy.deepcopy builds the object without __init__)
            raise AttributeError(name)
        return getattr(self._config, name)


# ---------------------------------------------------------------------------------------------
# modules


class Gemma2Attention(LlamaAttention):
    """Llama's attention with Gemma 2's scale (``query_pre_attn_scalar``) and score soft-capping,
    and, with ``query_key_norms`` (Gemma 3), an RMS norm on every query and key head before RoPE."""

    def __init__(self, config: Gemma2Config, layer_idx: int) -> None:
        super().__init__(config, layer_idx)
        self.scaling = config.query_pre_attn_scalar**-0.5
        self.softcap = config.attention_softcap
        self.query_key_norms = config.query_key_norms
        if self.query_key_norms:
            self.q_norm = RMSNorm(self.head_dim, eps=config.rms_norm_eps, weight_offset=config.norm_weight_offset)
            self.k_norm = RMSNorm(self.head_dim, eps=config.rms_norm_eps, weight_offset=config.norm_weight_offset)

    def project(self, hidden_states, rotary):
        """(B, T, C) -> queries (B, H, T, D), normed and rotated keys and values (B, Hkv, T, D)."""
        if not self.query_key_norms:
            return super().project(hidden_states, rotary)
        _, _, head_cos, head_sin = rotary
        shape = (*hidden_states.shape[:2], -1, self.head_dim)
        linears = [self.q_proj, self.k_proj, self.v_proj]
        fused = fused_for_inference(self, "_qkv", linears)
        if fused is None:  # recording gradients: through the separate modules
            query, key, value = (linear(hidden_states).view(shape) for linear in linears)  # (B, T, H or Hkv, D)
        else:
            query, key, value = fused(hidden_states).view(shape).split((self.heads, self.kv_heads, self.kv_heads), dim=2)
        query = rotate_heads(self.q_norm(query), head_cos, head_sin)
        key = rotate_heads(self.k_norm(key), head_cos, head_sin)
        return query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)

    def forward(self, hidden_states, rotary, mask, cache, eager, cache_position=None):
        query, key, value = self.project(hidden_states, rotary)
        out, weights = multi_head_attention(query, key, value, mask, cache=cache, layer_idx=self.layer_idx,
                                            cache_kwargs={"cache_position": cache_position}, causal=True,
                                            scale=self.scaling, eager=eager, softcap=self.softcap,
                                            dropout=self.attention_dropout if self.training else 0.0)
        return self.o_proj(out), weights


class Gemma2DecoderLayer(nn.Module):
    """Pre- and post-norms around both the attention and the MLP ("sandwich" norms)."""

    make_norm = staticmethod(rms_norm)  # the model's final norm too

    def __init__(self, config: Gemma2Config, layer_idx: int) -> None:
        super().__init__()
        self.layer_type = config.layer_types[layer_idx]
        self.self_attn = Gemma2Attention(config, layer_idx)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = rms_norm(config)
        self.post_attention_layernorm = rms_norm(config)
        self.pre_feedforward_layernorm = rms_norm(config)
        self.post_feedforward_layernorm = rms_norm(config)

    def forward(self, hidden_states, mask, rotary, cache, eager, cache_position=None):
        if isinstance(rotary, dict):  # RoPE per layer type (Gemma 3)
            rotary = rotary[self.layer_type]
        attended, weights = self.self_attn(self.input_layernorm(hidden_states), rotary, mask, cache, eager,
                                           cache_position)
        hidden_states = hidden_states + self.post_attention_layernorm(attended)
        fed = self.mlp(self.pre_feedforward_layernorm(hidden_states))
        return hidden_states + self.post_feedforward_layernorm(fed), weights


class LayerTypeRotary(nn.Module):
    """One :class:`RotaryEmbedding` per layer type, each from ``config.rope_parameters[type]``:
    position ids -> {layer type: (cos, sin)}. Gemma 3's local layers turn at base 10k, its global
    ones at 1M (and only they are stretched for long contexts)."""

    def __init__(self, config: Gemma3TextConfig) -> None:
        super().__init__()
        kinds = sorted(set(config.layer_types))
        self.per_type = nn.ModuleDict({kind: RotaryEmbedding(_RopeView(config, config.rope_parameters[kind]))
                                       for kind in kinds})

    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {kind: rope(position_ids, dtype) for kind, rope in self.per_type.items()}


# ---------------------------------------------------------------------------------------------
# models


class GemmaPreTrainedModel(LlamaPreTrainedModel):
    config_class = GemmaConfig

    def __init__(self, config: DecoderConfig) -> None:
        if getattr(config, "use_bidirectional_attention", None):
            raise ValueError(f"{type(self).__name__}: use_bidirectional_attention=True (EmbeddingGemma's encoder "
                             "layout) is not supported by workbench; load a causal Gemma checkpoint.")
        super().__init__(config)


class GemmaModel(GemmaPreTrainedModel, LlamaModel):
    pass


class GemmaForCausalLM(GemmaPreTrainedModel, LlamaForCausalLM):
    base_model_class = GemmaModel


class GemmaForSequenceClassification(GemmaPreTrainedModel, LlamaForSequenceClassification):
    base_model_class = GemmaModel


class GemmaForTokenClassification(GemmaPreTrainedModel, LlamaForTokenClassification):
    base_model_class = GemmaModel


class Gemma2Model(GemmaPreTrainedModel, LlamaModel):
    config_class = Gemma2Config
    decoder_layer = Gemma2DecoderLayer


class Gemma2ForCausalLM(GemmaPreTrainedModel, LlamaForCausalLM):
    config_class = Gemma2Config
    base_model_class = Gemma2Model


class Gemma2ForSequenceClassification(GemmaPreTrainedModel, LlamaForSequenceClassification):
    config_class = Gemma2Config
    base_model_class = Gemma2Model


class Gemma2ForTokenClassification(GemmaPreTrainedModel, LlamaForTokenClassification):
    config_class = Gemma2Config
    base_model_class = Gemma2Model


class Gemma3TextModel(Gemma2Model):
    config_class = Gemma3TextConfig
    rotary_embedding = LayerTypeRotary

    def rotary_tables(self, position_ids, dtype):
        """{layer type: (cos, sin, *their head_tables)}; each layer takes its own type's."""
        return {kind: (cos, sin, *head_tables(cos, sin)) for kind, (cos, sin) in self.rotary_emb(position_ids, dtype).items()}


class Gemma3ForCausalLM(GemmaPreTrainedModel, LlamaForCausalLM):
    config_class = Gemma3TextConfig
    base_model_class = Gemma3TextModel


class Gemma3TextForSequenceClassification(GemmaPreTrainedModel, LlamaForSequenceClassification):
    config_class = Gemma3TextConfig
    base_model_class = Gemma3TextModel
