"""DeBERTa-v2 and -v3 (https://arxiv.org/abs/2006.03654, https://arxiv.org/abs/2111.09543): BERT's
encoder with disentangled attention.

    input_ids ─► word (+ position) (+ token-type) embeddings ─► (embed_proj) ─► LayerNorm ─► × mask
              ─► N × [ disentangled self-attention ─► add & LayerNorm ─► feed-forward ─► add & LayerNorm ]
                       (after layer 0, DeBERTa-v2's optional conv layer mixes in the embeddings)

Attention scores add, to the content-to-content product, content-to-position and position-to-content
terms (``pos_att_type``) read from a relative-position table shared by all layers
(``encoder.rel_embeddings``; layer-normed when ``norm_rel_ebd`` says "layer_norm"); distances are
log-bucketed when ``position_buckets`` > 0 (:mod:`workbench.nn.disentangled`). With
``share_att_key`` the table goes through the layer's own query and key projections, else through
``pos_query_proj`` and ``pos_key_proj``.

DeBERTa (v1, ``deberta.py``) reuses everything here with its own attention and LayerNorm.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.attention import split_heads
from ..nn.disentangled import content_to_position, position_to_content, relative_positions
from ..nn.layers import output_flags
from ..nn.losses import sequence_classification_loss
from ..outputs import BaseModelOutput, SequenceClassifierOutput
from .bert import BertIntermediate, check_inputs
from .encoder_heads import (
    EncoderHeadMixin,
    MaskedLMHead,
    MultipleChoiceHead,
    QuestionAnsweringHead,
    SequenceClassificationHead,
    TokenClassificationHead,
    resized_bias,
)


class DebertaV2Config(PretrainedConfig):
    model_type = "deberta-v2"
    defaults = {
        "vocab_size": 128100,
        "hidden_size": 1536,
        "num_hidden_layers": 24,
        "num_attention_heads": 24,
        "intermediate_size": 6144,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 512,
        "type_vocab_size": 0,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-7,
        "relative_attention": False,
        "max_relative_positions": -1,
        "pad_token_id": 0,
        "position_biased_input": True,
        "pos_att_type": None,
        "pooler_dropout": 0.0,
        "pooler_hidden_act": "gelu",
        "legacy": True,
        "tie_word_embeddings": True,
    }

    def __post_init__(self) -> None:
        if isinstance(self.pos_att_type, str):  # older configs write "p2c|c2p"
            self.pos_att_type = [part.strip() for part in self.pos_att_type.lower().split("|")]
        if self.__dict__.get("pooler_hidden_size") is None:
            self.pooler_hidden_size = self.hidden_size


def relative_span(config: PretrainedConfig) -> tuple[int, int]:
    """``(max_relative_positions, position_buckets)``: the distances the table covers (the
    absolute positions' count when unset) and the bucket count (<= 0: no bucketing)."""
    max_relative = config.max_relative_positions
    if max_relative < 1:
        max_relative = config.max_position_embeddings
    return max_relative, getattr(config, "position_buckets", -1)


class DebertaV2Embeddings(nn.Module):
    def __init__(self, config: PretrainedConfig, norm: type[nn.Module] = nn.LayerNorm) -> None:
        super().__init__()
        size = getattr(config, "embedding_size", None) or config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, size, padding_idx=config.pad_token_id)
        self.position_biased_input = getattr(config, "position_biased_input", True)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, size) if self.position_biased_input else None
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, size) if config.type_vocab_size > 0 else None
        self.embed_proj = nn.Linear(size, config.hidden_size, bias=False) if size != config.hidden_size else None
        self.LayerNorm = norm(config.hidden_size, config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids, position_ids, mask, inputs_embeds) -> torch.Tensor:
        """``mask`` (B, T) 1/0: padded positions come out as zeros."""
        embeddings = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        length = embeddings.shape[1]
        if self.position_embeddings is not None:
            if position_ids is None:
                position_ids = torch.arange(length, device=embeddings.device)[None, :]
            embeddings = embeddings + self.position_embeddings(position_ids.long())
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                token_type_ids = torch.zeros(embeddings.shape[:2], dtype=torch.long, device=embeddings.device)
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        if self.embed_proj is not None:
            embeddings = self.embed_proj(embeddings)
        embeddings = self.LayerNorm(embeddings) * mask[..., None].to(embeddings.dtype)
        return self.dropout(embeddings)


class DisentangledSelfAttention(nn.Module):
    """DeBERTa-v2's attention (checkpoint keys ``attention.self.{query,key,value}_proj``, and
    ``pos_{query,key}_proj`` without ``share_att_key``)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = getattr(config, "attention_head_size", None) or config.hidden_size // self.num_heads
        inner = self.num_heads * self.head_dim
        self.query_proj = nn.Linear(config.hidden_size, inner)
        self.key_proj = nn.Linear(config.hidden_size, inner)
        self.value_proj = nn.Linear(config.hidden_size, inner)
        self.pos_att_type = tuple(config.pos_att_type or ())
        self.share_att_key = getattr(config, "share_att_key", False)
        self.relative_attention = config.relative_attention
        if self.relative_attention:
            max_relative, buckets = relative_span(config)
            self.span = buckets if buckets > 0 else max_relative  # the table has 2 * span rows
            self.pos_dropout = nn.Dropout(config.hidden_dropout_prob)
            if not self.share_att_key and "c2p" in self.pos_att_type:
                self.pos_key_proj = nn.Linear(config.hidden_size, inner)
            if not self.share_att_key and "p2c" in self.pos_att_type:
                self.pos_query_proj = nn.Linear(config.hidden_size, inner)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, hidden_states, mask, relative_position, rel_embeddings):
        """(B, T, C), a (B, 1, T, T) bool mask, (T, T) relative positions, the (2 * span, C) table
        -> (B, T, H * D), weights (B, H, T, T)."""
        query, key, value = (split_heads(m(hidden_states), self.head_dim)
                             for m in (self.query_proj, self.key_proj, self.value_proj))
        # each score term is divided by sqrt(D * number of terms), so their sum keeps unit scale
        terms = 1 + ("c2p" in self.pos_att_type) + ("p2c" in self.pos_att_type)
        scale = torch.sqrt(torch.tensor(self.head_dim, dtype=torch.float) * terms).to(query.dtype)
        scores = torch.matmul(query, key.transpose(-1, -2) / scale)  # (B, H, T, T)
        if self.relative_attention:
            scores = scores + self._position_scores(query, key, relative_position, rel_embeddings, scale)
        scores = scores.masked_fill(~mask, torch.finfo(query.dtype).min)
        weights = self.dropout(torch.softmax(scores, dim=-1))
        out = torch.matmul(weights, value).transpose(1, 2)  # (B, T, H, D)
        return out.reshape(*out.shape[:2], -1), weights

    def _position_scores(self, query, key, relative_position, rel_embeddings, scale):
        table = self.pos_dropout(rel_embeddings)[: self.span * 2][None]  # (1, 2S, C)
        score = 0
        if "c2p" in self.pos_att_type:
            position_key = split_heads(self.key_proj(table) if self.share_att_key else self.pos_key_proj(table),
                                       self.head_dim)
            score = score + content_to_position(query, position_key, relative_position, self.span) / scale
        if "p2c" in self.pos_att_type:
            position_query = split_heads(
                self.query_proj(table) if self.share_att_key else self.pos_query_proj(table), self.head_dim)
            score = score + position_to_content(key, position_query, relative_position, self.span) / scale
        return score


class DebertaV2Output(nn.Module):
    """dense ─► dropout ─► LayerNorm(x + residual): after attention and after the feed-forward."""

    def __init__(self, config: PretrainedConfig, in_features: int, norm: type[nn.Module]) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features, config.hidden_size)
        self.LayerNorm = norm(config.hidden_size, config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class DebertaV2Layer(nn.Module):
    def __init__(self, config: PretrainedConfig, attention: type[nn.Module], norm: type[nn.Module]) -> None:
        super().__init__()
        self.attention = nn.Module()
        self.attention.self = attention(config)
        self.attention.output = DebertaV2Output(config, config.hidden_size, norm)
        self.intermediate = BertIntermediate(config)
        self.output = DebertaV2Output(config, config.intermediate_size, norm)

    def forward(self, hidden_states, mask, relative_position, rel_embeddings):
        attended, weights = self.attention.self(hidden_states, mask, relative_position, rel_embeddings)
        attended = self.attention.output(attended, hidden_states)
        return self.output(self.intermediate(attended), attended), weights


class DebertaV2ConvLayer(nn.Module):
    """DeBERTa-v2's convolution after the first layer (``conv_kernel_size`` > 0): a 1-D convolution
    of the embeddings, added to the first layer's output (https://arxiv.org/abs/2006.03654, appendix A.6)."""

    def __init__(self, config: PretrainedConfig, norm: type[nn.Module]) -> None:
        super().__init__()
        kernel = config.conv_kernel_size
        self.conv = nn.Conv1d(config.hidden_size, config.hidden_size, kernel, padding=(kernel - 1) // 2,
                              groups=getattr(config, "conv_groups", 1))
        self.LayerNorm = norm(config.hidden_size, config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.conv_act = get_activation(getattr(config, "conv_act", "tanh"))

    def forward(self, embeddings, layer_output, input_mask):
        """(B, T, C) embeddings and first-layer output, (B, T) 1/0 mask -> (B, T, C), zero where padded."""
        keep = input_mask[..., None].to(layer_output.dtype)
        out = self.conv(embeddings.transpose(1, 2)).transpose(1, 2) * keep
        out = self.conv_act(self.dropout(out))
        return self.LayerNorm(layer_output + out) * keep


class DebertaV2Encoder(nn.Module):
    def __init__(self, config: PretrainedConfig, attention: type[nn.Module], norm: type[nn.Module]) -> None:
        super().__init__()
        self.layer = nn.ModuleList(DebertaV2Layer(config, attention, norm) for _ in range(config.num_hidden_layers))
        self.relative_attention = config.relative_attention
        self.max_relative, self.buckets = relative_span(config)
        if self.relative_attention:
            rows = 2 * (self.buckets if self.buckets > 0 else self.max_relative)
            self.rel_embeddings = nn.Embedding(rows, config.hidden_size)
        norm_rel = [part.strip() for part in str(getattr(config, "norm_rel_ebd", "none")).lower().split("|")]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, config.layer_norm_eps) if "layer_norm" in norm_rel else None
        kernel = getattr(config, "conv_kernel_size", 0)
        self.conv = DebertaV2ConvLayer(config, norm) if kernel > 0 else None

    def rel_embedding_table(self) -> torch.Tensor | None:
        if not self.relative_attention:
            return None
        table = self.rel_embeddings.weight
        return self.LayerNorm(table) if self.LayerNorm is not None else table

    def forward(self, hidden, attention_mask, output_hidden_states: bool, output_attentions: bool):
        """``attention_mask`` (B, T) 1/0 -> last hidden state, hidden states, attention maps."""
        pair = attention_mask[:, None, :, None].bool() & attention_mask[:, None, None, :].bool()  # (B, 1, T, T)
        relative = None
        if self.relative_attention:
            relative = relative_positions(hidden.shape[1], hidden.shape[1], hidden.device, self.buckets,
                                          self.max_relative)
        table = self.rel_embedding_table()
        all_hidden = (hidden,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        embeddings = hidden
        for index, layer in enumerate(self.layer):
            hidden, weights = layer(hidden, pair, relative, table)
            if index == 0 and self.conv is not None:
                hidden = self.conv(embeddings, hidden, attention_mask)
            if output_hidden_states:
                all_hidden += (hidden,)
            if output_attentions:
                all_attentions += (weights,)
        return hidden, all_hidden, all_attentions


class DebertaV2PreTrainedModel(PreTrainedModel):
    config_class = DebertaV2Config
    base_model_prefix = "deberta"
    _ignore_unexpected = (r"position_embeddings", r"position_ids$", r"^mask_predictions\.")

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, nn.Conv1d):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            nn.init.zeros_(module.bias)
        elif isinstance(module, (DebertaLegacyLMHead, DebertaLMHead)):
            nn.init.zeros_(module.bias)


class DebertaV2Model(DebertaV2PreTrainedModel):
    """The base model: ``last_hidden_state`` (B, T, C); no pooler (the heads that pool have their own)."""

    attention_class: type[nn.Module] = DisentangledSelfAttention
    norm_class: type[nn.Module] = nn.LayerNorm

    def __init__(self, config: PretrainedConfig, add_pooling_layer: bool = False) -> None:
        super().__init__(config)
        self.embeddings = DebertaV2Embeddings(config, self.norm_class)
        self.encoder = DebertaV2Encoder(config, self.attention_class, self.norm_class)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.embeddings.word_embeddings = embeddings

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        check_inputs(input_ids, inputs_embeds)
        output_attentions, output_hidden_states, _ = output_flags(self.config, output_attentions, output_hidden_states)
        shape = (input_ids if input_ids is not None else inputs_embeds).shape[:2]
        device = (input_ids if input_ids is not None else inputs_embeds).device
        if attention_mask is None:
            attention_mask = torch.ones(shape, dtype=torch.long, device=device)
        hidden = self.embeddings(input_ids, token_type_ids, position_ids, attention_mask, inputs_embeds)
        hidden, all_hidden, all_attentions = self.encoder(hidden, attention_mask, output_hidden_states,
                                                          output_attentions)
        return self._finish(BaseModelOutput(hidden, all_hidden, all_attentions), return_dict)


# ---------------------------------------------------------------------------------------------
# task heads: bert.py's, with DeBERTa's pooler, LM heads and classification loss


class ContextPooler(nn.Module):
    """First token ─► dropout ─► dense ─► ``pooler_hidden_act``."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.pooler_hidden_size, config.pooler_hidden_size)
        self.dropout = nn.Dropout(config.pooler_dropout)
        self.activation = get_activation(config.pooler_hidden_act)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(self.dropout(hidden_states[:, 0])))


class DebertaLegacyLMHead(nn.Module):
    """``legacy=True`` (the default): BERT's masked-LM head, through ``embedding_size``; checkpoint
    keys ``cls.predictions.{transform.dense, transform.LayerNorm, decoder, bias}``."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        size = getattr(config, "embedding_size", None) or config.hidden_size
        self.transform = nn.Sequential()
        self.transform.dense = nn.Linear(config.hidden_size, size)
        self.transform.transform_act_fn = get_activation(config.hidden_act)
        self.transform.LayerNorm = nn.LayerNorm(size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states: torch.Tensor, word_embeddings: nn.Embedding) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))


class DebertaLMHead(nn.Module):
    """``legacy=False``: dense ─► activation ─► LayerNorm ─► product with the word embeddings + bias
    (keys ``lm_predictions.lm_head.{dense, LayerNorm, bias}``; the embeddings are read, not tied)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = get_activation(config.hidden_act)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states: torch.Tensor, word_embeddings: nn.Embedding) -> torch.Tensor:
        hidden_states = self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))
        return torch.matmul(hidden_states, word_embeddings.weight.t()) + self.bias


def deberta_classification_loss(logits: torch.Tensor, labels: torch.Tensor, config) -> torch.Tensor:
    """DeBERTa's loss when ``config.problem_type`` is unset: regression for one label, cross-entropy
    over the rows whose integer label is >= 0, or cross-entropy against soft (B, num_labels) labels;
    with a problem type set, the shared loss."""
    if config.problem_type is not None:
        return sequence_classification_loss(logits, labels, config)
    if logits.shape[-1] == 1:
        return F.mse_loss(logits.view(-1).to(labels.dtype), labels.view(-1))
    if labels.dim() == 1 or labels.shape[-1] == 1:
        labels = labels.view(-1).long()
        kept = labels >= 0
        if not bool(kept.any()):
            return torch.tensor(0).to(logits)
        return F.cross_entropy(logits[kept].float(), labels[kept])
    return -(F.log_softmax(logits, dim=-1) * labels).sum(-1).mean()


class DebertaHeadMixin(EncoderHeadMixin):
    base_model_class = DebertaV2Model

    def _dropout_probability(self) -> float:
        dropout = getattr(self.config, "cls_dropout", None)
        return self.config.hidden_dropout_prob if dropout is None else dropout

    def _build_pooled_head(self, config: PretrainedConfig, outputs: int) -> None:
        setattr(self, self.base_model_prefix, self._new_base_model(config, pooling=False))
        self.pooler = ContextPooler(config)
        self.classifier = nn.Linear(config.hidden_size, outputs)
        self.dropout = nn.Dropout(self._dropout_probability())

    def _pooled_logits(self, out) -> torch.Tensor:
        return self.classifier(self.dropout(self.pooler(out.last_hidden_state)))


class DebertaV2ForMaskedLM(DebertaHeadMixin, MaskedLMHead, DebertaV2PreTrainedModel):
    _tied_weights_keys = {
        "cls.predictions.decoder.weight": "deberta.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.deberta = self._new_base_model(config, pooling=False)
        if config.legacy:
            self.cls = nn.Module()
            self.cls.predictions = DebertaLegacyLMHead(config)
        else:
            self._tied_weights_keys = {}  # the new head multiplies by the embeddings itself
            self.lm_predictions = nn.Module()
            self.lm_predictions.lm_head = DebertaLMHead(config)

    def _head(self) -> nn.Module:
        return self.cls.predictions if self.config.legacy else self.lm_predictions.lm_head

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder if self.config.legacy else self.lm_predictions.lm_head.dense

    def _resize_extra(self, count: int) -> None:
        self._head().bias = resized_bias(self._head().bias, count)

    def _lm_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self._head()(hidden_states, self.deberta.embeddings.word_embeddings)


class DebertaV2ForSequenceClassification(DebertaHeadMixin, SequenceClassificationHead, DebertaV2PreTrainedModel):
    def _build_head(self, config: PretrainedConfig) -> None:
        self._build_pooled_head(config, config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, return_dict=None, **kwargs):
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        logits = self._pooled_logits(out)
        loss = deberta_classification_loss(logits, labels, self.config) if labels is not None else None
        return self._finish(SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class DebertaV2ForTokenClassification(DebertaHeadMixin, TokenClassificationHead, DebertaV2PreTrainedModel):
    def _dropout_probability(self) -> float:
        return self.config.hidden_dropout_prob  # cls_dropout is for the pooled heads only


class DebertaV2ForQuestionAnswering(DebertaHeadMixin, QuestionAnsweringHead, DebertaV2PreTrainedModel):
    pass


class DebertaV2ForMultipleChoice(DebertaHeadMixin, MultipleChoiceHead, DebertaV2PreTrainedModel):
    def _build_head(self, config: PretrainedConfig) -> None:
        self._build_pooled_head(config, 1)

    def _score(self, out) -> torch.Tensor:
        return self._pooled_logits(out)
