"""DeBERTa (https://arxiv.org/abs/2006.03654): the network of ``deberta_v2.py`` with the first release's
attention and LayerNorm.

What differs from DeBERTa-v2, and nothing else:

* queries, keys and values come from one fused ``in_proj`` (no bias; per head, the query, key and
  value rows follow each other), plus separate ``q_bias`` and ``v_bias``;
* the position projections are ``pos_proj`` (keys, no bias) and ``pos_q_proj`` (queries), and the
  relative table is read around its centre, ``min(length, max_relative_positions)`` rows each side;
  no buckets, no shared keys, no conv layer, no layer-normed table;
* optional talking heads (https://arxiv.org/abs/2003.02436): the heads' scores and weights mixed
  by ``head_logits_proj`` and ``head_weights_proj``;
* its LayerNorm normalises in float32 and casts back before the affine step;
* no multiple-choice head.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import PretrainedConfig
from ..nn.attention import split_heads
from ..nn.disentangled import content_to_position, position_to_content
from .deberta_v2 import (
    DebertaV2Config,
    DebertaV2ForMaskedLM,
    DebertaV2ForQuestionAnswering,
    DebertaV2ForSequenceClassification,
    DebertaV2ForTokenClassification,
    DebertaV2Model,
    DebertaV2PreTrainedModel,
    relative_span,
)


class DebertaConfig(DebertaV2Config):
    model_type = "deberta"
    defaults = {**DebertaV2Config.defaults, "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12,
                "num_attention_heads": 12, "intermediate_size": 3072}


class DebertaLayerNorm(nn.Module):
    """LayerNorm computed in float32 (epsilon inside the square root), cast back to the input's
    dtype, then scaled and shifted in that dtype."""

    def __init__(self, size: int, eps: float = 1e-12) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.zeros(size))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        x = hidden_states.float()
        centred = x - x.mean(-1, keepdim=True)
        normed = centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        return self.weight * normed.to(hidden_states.dtype) + self.bias


class DebertaDisentangledSelfAttention(nn.Module):
    """DeBERTa's attention (checkpoint keys ``attention.self.{in_proj, q_bias, v_bias, pos_proj, pos_q_proj}``)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // self.num_heads
        inner = self.num_heads * self.head_dim
        self.in_proj = nn.Linear(config.hidden_size, inner * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(inner))
        self.v_bias = nn.Parameter(torch.zeros(inner))
        self.pos_att_type = tuple(config.pos_att_type or ())
        self.relative_attention = config.relative_attention
        self.talking_head = getattr(config, "talking_head", False)
        if self.talking_head:
            self.head_logits_proj = nn.Linear(self.num_heads, self.num_heads, bias=False)
            self.head_weights_proj = nn.Linear(self.num_heads, self.num_heads, bias=False)
        if self.relative_attention:
            self.max_relative, _ = relative_span(config)
            self.pos_dropout = nn.Dropout(config.hidden_dropout_prob)
            if "c2p" in self.pos_att_type:
                self.pos_proj = nn.Linear(config.hidden_size, inner, bias=False)
            if "p2c" in self.pos_att_type:
                self.pos_q_proj = nn.Linear(config.hidden_size, inner)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def _mix_heads(self, proj: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        return proj(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # a linear map across H of (B, H, Q, K)

    def forward(self, hidden_states, mask, relative_position, rel_embeddings):
        """(B, T, C), a (B, 1, T, T) bool mask, (T, T) relative positions, the (2 * max_relative, C)
        table -> (B, T, H * D), weights (B, H, T, T)."""
        batch, length = hidden_states.shape[:2]
        fused = self.in_proj(hidden_states).view(batch, length, self.num_heads, 3 * self.head_dim).transpose(1, 2)
        query, key, value = fused.chunk(3, dim=-1)  # (B, H, T, D) each
        query = query + self.q_bias.view(self.num_heads, 1, self.head_dim)
        value = value + self.v_bias.view(self.num_heads, 1, self.head_dim)
        # every score term is divided by sqrt(D * number of terms), here through the queries
        scale = torch.sqrt(torch.tensor(self.head_dim, dtype=torch.float) * (1 + len(self.pos_att_type)))
        query = query / scale.to(query.dtype)
        scores = torch.matmul(query, key.transpose(-1, -2))  # (B, H, T, T)
        if self.relative_attention:
            scores = scores + self._position_scores(query, key, relative_position, rel_embeddings, scale)
        if self.talking_head:
            scores = self._mix_heads(self.head_logits_proj, scores)
        scores = scores.masked_fill(~mask, torch.finfo(query.dtype).min)
        weights = self.dropout(torch.softmax(scores, dim=-1))
        if self.talking_head:
            weights = self._mix_heads(self.head_weights_proj, weights)
        out = torch.matmul(weights, value).transpose(1, 2)  # (B, T, H, D)
        return out.reshape(batch, length, -1), weights

    def _position_scores(self, query, key, relative_position, rel_embeddings, scale):
        span = min(key.shape[-2], self.max_relative)
        # the table's rows max_relative - span .. max_relative + span - 1 hold distances -span .. span - 1
        table = self.pos_dropout(rel_embeddings)[self.max_relative - span : self.max_relative + span][None]
        score = 0
        if "c2p" in self.pos_att_type:
            position_key = split_heads(self.pos_proj(table), self.head_dim)
            score = score + content_to_position(query, position_key, relative_position, span)
        if "p2c" in self.pos_att_type:
            position_query = split_heads(self.pos_q_proj(table), self.head_dim) / scale
            score = score + position_to_content(key, position_query.to(key.dtype), relative_position, span)
        return score


class DebertaPreTrainedModel(DebertaV2PreTrainedModel):
    config_class = DebertaConfig

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, DebertaDisentangledSelfAttention):
            nn.init.zeros_(module.q_bias)
            nn.init.zeros_(module.v_bias)


class DebertaModel(DebertaPreTrainedModel, DebertaV2Model):
    attention_class = DebertaDisentangledSelfAttention
    norm_class = DebertaLayerNorm


class DebertaForMaskedLM(DebertaPreTrainedModel, DebertaV2ForMaskedLM):
    base_model_class = DebertaModel


class DebertaForSequenceClassification(DebertaPreTrainedModel, DebertaV2ForSequenceClassification):
    base_model_class = DebertaModel


class DebertaForTokenClassification(DebertaPreTrainedModel, DebertaV2ForTokenClassification):
    base_model_class = DebertaModel


class DebertaForQuestionAnswering(DebertaPreTrainedModel, DebertaV2ForQuestionAnswering):
    base_model_class = DebertaModel
