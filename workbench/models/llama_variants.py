"""Llama-shaped decoders that differ from LLaMA only in config fields of the decoder in llama.py:
Phi-3, Granite, Cohere, OLMo-2, SmolLM3 and Qwen3, plus the token-classification and extractive
question-answering heads some of them have.

What each family sets (the fields are documented on :class:`~workbench.models.llama.DecoderConfig`):

- Phi-3 (https://arxiv.org/abs/2404.14219): ``fused_qkv`` and ``fused_gate_up`` (the checkpoint
  stores ``qkv_proj`` and ``gate_up_proj``), ``partial_rotary_factor``, LongRoPE scaling,
  ``resid_pdrop``;
- Granite (https://arxiv.org/abs/2408.13359): ``embedding_multiplier``, ``residual_multiplier``,
  ``attention_multiplier`` (the attention scale) and ``logits_scaling`` (logits divided by it);
- Cohere (Command-R): float32 layer norms without bias, attention and MLP in parallel from one
  norm, ``logit_scale``, interleaved rotary pairs, per-head q/k layer norms with ``use_qk_norm``;
- OLMo-2 (https://arxiv.org/abs/2501.00656): norms on the sublayers' outputs (no input norm),
  RMS norms over the whole q and k projections, all scaled in float32;
- SmolLM3: no rotary embedding on the layers where ``no_rope_layers`` is 0 (NoPE);
- Qwen3 (https://arxiv.org/abs/2505.09388): Qwen2's sliding-window layers, ``qk_norm="head_dim"``
  (each query and key head RMS-normalised before RoPE), no q/k/v bias, an explicit ``head_dim``.
"""

from __future__ import annotations

from .decoder_heads import DecoderForQuestionAnswering, DecoderForTokenClassification
from .llama import (
    _SHARED_DEFAULTS,
    DecoderConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    LlamaModel,
    LlamaPreTrainedModel,
    Qwen2Config,
)

# ---------------------------------------------------------------------------------------------
# configs


class Phi3Config(DecoderConfig):
    model_type = "phi3"
    fused_qkv = True
    fused_gate_up = True
    defaults = {
        **_SHARED_DEFAULTS,
        "vocab_size": 32064,
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": None,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "max_position_embeddings": 4096,
        "original_max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
        "bos_token_id": 1,
        "eos_token_id": 32000,
        "pad_token_id": 32000,
        "sliding_window": None,  # every layer when set (Mistral's way)
    }

    def __post_init__(self) -> None:
        params = self.__dict__.get("rope_scaling") or self.__dict__.get("rope_parameters")
        if params and params.get("rope_type", params.get("type")) in ("su", "yarn"):  # early Phi-3 names
            params["rope_type"] = "longrope"
        super().__post_init__()


class GraniteConfig(DecoderConfig):
    model_type = "granite"
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
        "attention_bias": False,
        "mlp_bias": False,
        "embedding_multiplier": 1.0,
        "logits_scaling": 1.0,
        "residual_multiplier": 1.0,
        "attention_multiplier": 1.0,
    }


class CohereConfig(DecoderConfig):
    model_type = "cohere"
    norm_type = "layer_float32"
    layer_norms = "parallel"
    rope_interleaved = True
    rope_in_float32 = True
    defaults = {
        **{k: v for k, v in _SHARED_DEFAULTS.items() if k != "rms_norm_eps"},
        "vocab_size": 256000,
        "hidden_size": 8192,
        "intermediate_size": 22528,
        "logit_scale": 0.0625,
        "num_hidden_layers": 40,
        "num_attention_heads": 64,
        "num_key_value_heads": None,
        "max_position_embeddings": 8192,
        "layer_norm_eps": 1e-5,
        "pad_token_id": 0,
        "bos_token_id": 5,
        "eos_token_id": 255001,
        "tie_word_embeddings": True,
        "rope_theta": 500000.0,
        "attention_bias": False,
        "use_qk_norm": False,
    }

    @property
    def qk_norm(self) -> str | None:
        return "per_head" if self.use_qk_norm else None  # weights (heads, head_dim)


class Olmo2Config(DecoderConfig):
    model_type = "olmo2"
    norm_type = "rms_float32"
    layer_norms = "post"
    qk_norm = "projection"
    rope_in_float32 = True
    float32_rope_tables = True
    defaults = {
        **_SHARED_DEFAULTS,
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
        "rms_norm_eps": 1e-5,
    }


class SmolLM3Config(DecoderConfig):
    model_type = "smollm3"
    defaults = {
        **_SHARED_DEFAULTS,
        "vocab_size": 128256,
        "hidden_size": 2048,
        "intermediate_size": 11008,
        "num_hidden_layers": 36,
        "num_attention_heads": 16,
        "num_key_value_heads": 4,
        "max_position_embeddings": 32768,
        "pad_token_id": 128004,
        "bos_token_id": 128000,
        "eos_token_id": 128001,
        "rope_theta": 2000000.0,
        "use_sliding_window": False,
        "sliding_window": None,
        "no_rope_layers": None,  # None: every no_rope_layer_interval-th layer has no rotary embedding
        "no_rope_layer_interval": 4,
        "layer_types": None,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": True,
    }

    def __post_init__(self) -> None:
        layers = range(self.num_hidden_layers)
        if self.no_rope_layers is None:
            self.no_rope_layers = [int((i + 1) % self.no_rope_layer_interval != 0) for i in layers]
        if self.layer_types is None:  # the window, when used, goes to the NoPE layers
            windowed = self.use_sliding_window and self.sliding_window is not None
            self.layer_types = ["sliding_attention" if windowed and not self.no_rope_layers[i] else "full_attention"
                                for i in layers]
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


# ---------------------------------------------------------------------------------------------
# heads the llama file does not have


class LlamaForTokenClassification(DecoderForTokenClassification, LlamaPreTrainedModel):
    base_model_class = LlamaModel


class LlamaForQuestionAnswering(DecoderForQuestionAnswering, LlamaPreTrainedModel):
    """The base model sits under ``transformer`` (the checkpoints' key, kept from older versions of
    the reference), except where a family's checkpoints say ``model`` (Mixtral, Qwen2-MoE)."""

    base_model_prefix = "transformer"
    base_model_class = LlamaModel


# ---------------------------------------------------------------------------------------------
# the families' class names (save_pretrained writes them into config.json's "architectures")

class Phi3Model(LlamaModel):
    config_class = Phi3Config


class Phi3ForCausalLM(LlamaForCausalLM):
    config_class = Phi3Config
    base_model_class = Phi3Model

    def cache_restart_length(self) -> int | None:
        """With LongRoPE, a sequence longer than the pre-trained length turns every position by the
        long factors, so the keys cached before are stale: generate() encodes the whole sequence
        again at the step that first passes this length (the reference's Phi-3 does the same)."""
        params = self.config.rope_parameters
        return params["original_max_position_embeddings"] if params["rope_type"] == "longrope" else None


class Phi3ForSequenceClassification(LlamaForSequenceClassification):
    config_class = Phi3Config
    base_model_class = Phi3Model


class Phi3ForTokenClassification(LlamaForTokenClassification):
    config_class = Phi3Config
    base_model_class = Phi3Model


class GraniteModel(LlamaModel):
    config_class = GraniteConfig


class GraniteForCausalLM(LlamaForCausalLM):
    config_class = GraniteConfig
    base_model_class = GraniteModel


class CohereModel(LlamaModel):
    config_class = CohereConfig


class CohereForCausalLM(LlamaForCausalLM):
    config_class = CohereConfig
    base_model_class = CohereModel


class Olmo2Model(LlamaModel):
    config_class = Olmo2Config


class Olmo2ForCausalLM(LlamaForCausalLM):
    config_class = Olmo2Config
    base_model_class = Olmo2Model


class Olmo2ForSequenceClassification(LlamaForSequenceClassification):
    config_class = Olmo2Config
    base_model_class = Olmo2Model


class SmolLM3Model(LlamaModel):
    config_class = SmolLM3Config


class SmolLM3ForCausalLM(LlamaForCausalLM):
    config_class = SmolLM3Config
    base_model_class = SmolLM3Model


class SmolLM3ForSequenceClassification(LlamaForSequenceClassification):
    config_class = SmolLM3Config
    base_model_class = SmolLM3Model


class SmolLM3ForTokenClassification(LlamaForTokenClassification):
    config_class = SmolLM3Config
    base_model_class = SmolLM3Model


class SmolLM3ForQuestionAnswering(LlamaForQuestionAnswering):
    config_class = SmolLM3Config
    base_model_class = SmolLM3Model


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
