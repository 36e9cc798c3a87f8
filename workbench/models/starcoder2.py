"""StarCoder2 (https://arxiv.org/abs/2402.19173): the Llama-style decoder of workbench/models/llama.py
with GPT-2's norms and MLP.

    input_ids ─► embed_tokens ─► (embedding_dropout)
              ─► N × [ h = h + dropout(self_attn(input_layernorm(h)))
                       h = h + dropout(c_proj(gelu(c_fc(post_attention_layernorm(h))))) ] ─► norm ─► heads

What differs from Llama: LayerNorms with a bias (``norm_epsilon``), biases on q/k/v/o and the MLP
(``use_bias``), the two-matrix MLP ``c_fc`` / ``c_proj``, dropout on the embeddings and after each
residual branch, and a sliding window (``sliding_window``, every layer) instead of full attention.
Grouped-query attention, RoPE, the caches and the masks are Llama's. Module names equal the
checkpoint keys (``model.layers.0.mlp.c_fc``).
"""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from ..nn.activations import get_activation
from ..nn.linear import Linear
from .llama import (
    DecoderConfig,
    LlamaAttention,
    LlamaDecoderLayer,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    LlamaModel,
)
from .llama_variants import LlamaForTokenClassification


class Starcoder2Config(DecoderConfig):
    model_type = "starcoder2"
    defaults = {
        "vocab_size": 49152,
        "hidden_size": 3072,
        "intermediate_size": 12288,
        "num_hidden_layers": 30,
        "num_attention_heads": 24,
        "num_key_value_heads": 2,
        "hidden_act": "gelu_pytorch_tanh",
        "max_position_embeddings": 4096,
        "initializer_range": 0.018042,
        "norm_epsilon": 1e-5,
        "use_cache": True,
        "bos_token_id": 50256,
        "eos_token_id": 50256,
        "pad_token_id": None,
        "rope_parameters": None,
        "sliding_window": None,  # every layer when set
        "attention_dropout": 0.0,
        "residual_dropout": 0.0,
        "embedding_dropout": 0.0,
        "use_bias": True,
        "tie_word_embeddings": True,
    }

    @property
    def attention_bias(self) -> bool:  # q/k/v/o biases: one switch for every linear
        return self.use_bias


def layer_norm(config: Starcoder2Config) -> nn.LayerNorm:
    return nn.LayerNorm(config.hidden_size, eps=config.norm_epsilon)


class Starcoder2Attention(LlamaAttention):
    """Llama's attention, with dropout on its output (``residual_dropout``) in training."""

    def __init__(self, config: Starcoder2Config, layer_idx: int) -> None:
        super().__init__(config, layer_idx)
        self.residual_dropout = config.residual_dropout

    def forward(self, *args, **kwargs):
        out, weights = super().forward(*args, **kwargs)
        return F.dropout(out, self.residual_dropout, self.training), weights


class Starcoder2MLP(nn.Module):
    def __init__(self, config: Starcoder2Config) -> None:
        super().__init__()
        self.c_fc = Linear(config.hidden_size, config.intermediate_size, bias=config.use_bias)
        self.c_proj = Linear(config.intermediate_size, config.hidden_size, bias=config.use_bias)
        self.act = get_activation(config.hidden_act)
        self.residual_dropout = config.residual_dropout

    def forward(self, hidden_states):
        out = self.c_proj(self.act(self.c_fc(hidden_states)))
        return F.dropout(out, self.residual_dropout, self.training)


class Starcoder2DecoderLayer(LlamaDecoderLayer):
    attention_class, mlp_class, make_norm = Starcoder2Attention, Starcoder2MLP, staticmethod(layer_norm)


class Starcoder2Model(LlamaModel):
    config_class = Starcoder2Config
    decoder_layer = Starcoder2DecoderLayer


class Starcoder2ForCausalLM(LlamaForCausalLM):
    config_class = Starcoder2Config
    base_model_class = Starcoder2Model


class Starcoder2ForSequenceClassification(LlamaForSequenceClassification):
    config_class = Starcoder2Config
    base_model_class = Starcoder2Model


class Starcoder2ForTokenClassification(LlamaForTokenClassification):
    config_class = Starcoder2Config
    base_model_class = Starcoder2Model
