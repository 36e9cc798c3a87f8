"""GPTBigCode, the StarCoder 1 / SantaCoder architecture (https://arxiv.org/abs/2301.03988).

GPT-2 (workbench/models/gpt2.py: the same embeddings, blocks, norms and heads, the same checkpoint
keys ``transformer.h.0.attn.c_attn``) with two differences:

- multi-query attention (``multi_query=True``, the default): one key/value head shared by every
  query head, so ``c_attn`` projects to ``hidden + 2 * head_dim`` as [q₀ ... q_H-1 | k | v] and the
  cache holds one head; ``multi_query=False`` is per-head [q, k, v] instead;
- ``nn.Linear`` projections (GPT-2 stores its weights transposed, as ``Conv1D``).
"""

from __future__ import annotations

from torch import nn

from ..nn.activations import get_activation
from ..nn.attention import multi_head_attention
from ..nn.linear import Linear
from ..nn.qkv import split_grouped, split_interleaved
from .gpt2 import (
    GPT2Attention,
    GPT2Block,
    GPT2Config,
    GPT2ForSequenceClassification,
    GPT2ForTokenClassification,
    GPT2LMHeadModel,
    GPT2MLP,
    GPT2Model,
)


class GPTBigCodeConfig(GPT2Config):
    model_type = "gpt_bigcode"
    defaults = {
        "vocab_size": 50257,
        "n_positions": 1024,
        "n_embd": 768,
        "n_layer": 12,
        "n_head": 12,
        "n_inner": None,  # None: 4 * n_embd
        "activation_function": "gelu_pytorch_tanh",
        "resid_pdrop": 0.1,
        "embd_pdrop": 0.1,
        "attn_pdrop": 0.1,
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "use_cache": True,
        "bos_token_id": 50256,
        "eos_token_id": 50256,
        "pad_token_id": None,
        # the reference computes every eager softmax in float32 whatever these say
        "attention_softmax_in_fp32": True,
        "scale_attention_softmax_in_fp32": True,
        "multi_query": True,
        "add_cross_attention": False,
        "tie_word_embeddings": True,
    }
    # read by GPT2Attention / GPT2Config; not GPTBigCode config keys
    scale_attn_by_inverse_layer_idx = False
    reorder_and_upcast_attn = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self.num_key_value_heads = 1 if self.multi_query else self.n_head


class GPTBigCodeAttention(GPT2Attention):
    """Causal self-attention over ``c_attn`` (multi-query or per-head fused) and ``c_proj``."""

    def __init__(self, config: GPTBigCodeConfig, layer_idx: int) -> None:
        nn.Module.__init__(self)  # GPT-2's projections are Conv1D: none of its modules are built
        if config.n_embd % config.n_head:
            raise ValueError(f"n_embd ({config.n_embd}) must be a multiple of n_head ({config.n_head}): fix the config.")
        self.num_heads, self.head_dim, self.layer_idx = config.n_head, config.n_embd // config.n_head, layer_idx
        self.multi_query = config.multi_query
        self.scaling = self.head_dim**-0.5 if config.scale_attn_weights else 1.0
        kv_width = self.head_dim if self.multi_query else config.n_embd
        self.c_attn = Linear(config.n_embd, config.n_embd + 2 * kv_width)
        self.c_proj = Linear(config.n_embd, config.n_embd)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden_states, mask, cache, eager):
        fused = self.c_attn(hidden_states)
        if self.multi_query:  # queries (B, H, T, D), one key/value head (B, 1, T, D)
            query, key, value = split_grouped(fused, self.num_heads, 1)
        else:
            query, key, value = split_interleaved(fused, self.num_heads)
        out, weights = multi_head_attention(query, key, value, mask, cache=cache, layer_idx=self.layer_idx,
                                            causal=True, scale=self.scaling, eager=eager,
                                            dropout=self.attn_dropout.p if self.training else 0.0)
        return self.resid_dropout(self.c_proj(out)), weights


class GPTBigCodeMLP(GPT2MLP):
    """GPT-2's MLP (``c_fc``, activation, ``c_proj``, dropout) with ``nn.Linear`` projections."""

    def __init__(self, config: GPTBigCodeConfig) -> None:
        nn.Module.__init__(self)  # GPT-2's projections are Conv1D: none of its modules are built
        inner = config.n_inner if config.n_inner is not None else 4 * config.n_embd
        self.c_fc = Linear(config.n_embd, inner)
        self.c_proj = Linear(inner, config.n_embd)
        self.act = get_activation(config.activation_function)
        self.dropout = nn.Dropout(config.resid_pdrop)


class GPTBigCodeBlock(GPT2Block):
    attention_class, mlp_class = GPTBigCodeAttention, GPTBigCodeMLP


class GPTBigCodeModel(GPT2Model):
    config_class = GPTBigCodeConfig
    block_class = GPTBigCodeBlock


class GPTBigCodeForCausalLM(GPT2LMHeadModel):
    config_class = GPTBigCodeConfig
    base_model_class = GPTBigCodeModel


class GPTBigCodeForSequenceClassification(GPT2ForSequenceClassification):
    config_class = GPTBigCodeConfig
    base_model_class = GPTBigCodeModel


class GPTBigCodeForTokenClassification(GPT2ForTokenClassification):
    config_class = GPTBigCodeConfig
    base_model_class = GPTBigCodeModel
