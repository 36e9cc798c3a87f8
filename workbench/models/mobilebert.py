"""MobileBERT (https://arxiv.org/abs/2004.02984): a deep, narrow BERT for phones.

    input_ids ─► word embeddings (embedding_size) ─► [left, self, right] neighbours side by side
              ─► embedding_transformation (3 × embedding_size -> hidden_size) + positions + token types ─► norm
              ─► N × layer ─► last_hidden_state ─► (pooler: tanh(dense(h[:, 0])), or h[:, 0])

    layer:  h (hidden_size) ─► bottleneck.input ─► b (intra_bottleneck_size: the "true" hidden size)
            queries/keys from bottleneck.attention(h) (``key_query_shared_bottleneck``), values from h
            ─► attention over true_hidden_size ─► add b & norm
            ─► (num_feedforward_networks - 1) × [ FFN ─► add & norm ]        (stacked FFNs)
            ─► FFN ─► add & norm ─► output.bottleneck back to hidden_size ─► add h & norm

``normalization_type`` "no_norm" replaces every norm but the LM head's by an elementwise affine map
(:class:`~workbench.nn.affine.NoNorm`). The masked-LM decoder multiplies by the word embeddings
(embedding_size wide) stacked with ``cls.predictions.dense`` (the remaining hidden_size - embedding_size
rows). Task heads are BERT's (``bert.py``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.affine import NoNorm
from ..nn.attention import multi_head_attention, padding_mask, split_heads
from ..nn.layers import output_flags, run_layers
from ..outputs import BaseModelOutputWithPooling
from .bert import check_inputs
from .encoder_heads import (
    EncoderHeadMixin,
    LMHeadMixin,
    MaskedLMHead,
    MultipleChoiceHead,
    NextSentencePredictionHead,
    PreTrainingHead,
    QuestionAnsweringHead,
    SequenceClassificationHead,
    TokenClassificationHead,
    resized_bias,
    tied_lm_keys,
)


class MobileBertConfig(PretrainedConfig):
    model_type = "mobilebert"
    defaults = {
        "vocab_size": 30522, "hidden_size": 512, "num_hidden_layers": 24, "num_attention_heads": 4,
        "intermediate_size": 512, "hidden_act": "relu", "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
        "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0, "embedding_size": 128,
        "trigram_input": True, "use_bottleneck": True, "intra_bottleneck_size": 128,
        "use_bottleneck_attention": False, "key_query_shared_bottleneck": True, "num_feedforward_networks": 4,
        "normalization_type": "no_norm", "classifier_activation": True, "classifier_dropout": None,
        "tie_word_embeddings": True,
    }

    def __post_init__(self) -> None:
        # the width attention and the FFNs run at: the bottleneck's, when there is one
        self.true_hidden_size = self.intra_bottleneck_size if self.use_bottleneck else self.hidden_size


def make_norm(config: PretrainedConfig, size: int, eps: bool = True) -> nn.Module:
    """The block norm ``normalization_type`` names. ``eps=False``: the reference builds some norms
    without the config's epsilon (a LayerNorm then has torch's 1e-5)."""
    kinds = {"no_norm": NoNorm, "layer_norm": nn.LayerNorm}
    if config.normalization_type not in kinds:
        raise ValueError(f"normalization_type {config.normalization_type!r} is not one of {sorted(kinds)}: fix the config.")
    return kinds[config.normalization_type](size, eps=config.layer_norm_eps) if eps else kinds[config.normalization_type](size)


class MobileBertEmbeddings(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.trigram_input = config.trigram_input
        self.project = config.trigram_input or config.embedding_size != config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        width = config.embedding_size * (3 if config.trigram_input else 1)
        self.embedding_transformation = nn.Linear(width, config.hidden_size)
        self.LayerNorm = make_norm(config, config.hidden_size, eps=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None) -> torch.Tensor:
        embeds = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, E)
        batch, length = embeds.shape[:2]
        if self.trigram_input:  # each token sees its right and left neighbours (zeros past the ends)
            right = F.pad(embeds[:, 1:], (0, 0, 0, 1))
            left = F.pad(embeds[:, :-1], (0, 0, 1, 0))
            embeds = torch.cat([right, embeds, left], dim=2)  # (B, T, 3E)
        if self.project:
            embeds = self.embedding_transformation(embeds)
        if position_ids is None:
            position_ids = torch.arange(length, device=embeds.device)[None, :]
        if token_type_ids is None:
            token_type_ids = torch.zeros((batch, length), dtype=torch.long, device=embeds.device)
        embeddings = embeds + self.position_embeddings(position_ids) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(embeddings))


class MobileBertSelfAttention(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.head_dim = config.true_hidden_size // config.num_attention_heads
        inner = self.head_dim * config.num_attention_heads
        self.query = nn.Linear(config.true_hidden_size, inner)
        self.key = nn.Linear(config.true_hidden_size, inner)
        value_width = config.true_hidden_size if config.use_bottleneck_attention else config.hidden_size
        self.value = nn.Linear(value_width, inner)
        self.dropout_prob = config.attention_probs_dropout_prob

    def forward(self, query, key, value, mask, eager: bool):
        query, key, value = (split_heads(m(x), self.head_dim) for m, x in ((self.query, query), (self.key, key),
                                                                            (self.value, value)))
        return multi_head_attention(query, key, value, mask, eager=eager,
                                    dropout=self.dropout_prob if self.training else 0.0)


class MobileBertResidual(nn.Module):
    """dense ─► (dropout) ─► norm(x + residual): the output blocks of attention, FFNs and the bottleneck."""

    def __init__(self, config: PretrainedConfig, in_features: int, out_features: int, dropout: bool,
                 eps: bool = True) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features, out_features)
        self.LayerNorm = make_norm(config, out_features, eps=eps)
        if dropout:
            self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dense(hidden_states)
        if hasattr(self, "dropout"):
            hidden_states = self.dropout(hidden_states)
        return self.LayerNorm(hidden_states + residual)


class MobileBertIntermediate(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.true_hidden_size, config.intermediate_size)
        self.intermediate_act_fn = get_activation(config.hidden_act)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden_states))


class MobileBertOutput(nn.Module):
    """The last FFN's output: back to the residual at true_hidden_size, then (with the bottleneck)
    out to hidden_size and the layer's input."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.true_hidden_size)
        self.LayerNorm = make_norm(config, config.true_hidden_size, eps=False)
        if config.use_bottleneck:
            self.bottleneck = MobileBertResidual(config, config.true_hidden_size, config.hidden_size, dropout=True)
        else:
            self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, intermediate, residual, layer_input):
        out = self.dense(intermediate)
        if not hasattr(self, "bottleneck"):
            return self.LayerNorm(self.dropout(out) + residual)
        return self.bottleneck(self.LayerNorm(out + residual), layer_input)


class BottleneckLayer(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intra_bottleneck_size)
        self.LayerNorm = make_norm(config, config.intra_bottleneck_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(hidden_states))


class Bottleneck(nn.Module):
    """hidden_size -> (queries, keys, values, residual) of the attention block."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.use_bottleneck_attention = config.use_bottleneck_attention
        self.input = BottleneckLayer(config)
        if config.key_query_shared_bottleneck:
            self.attention = BottleneckLayer(config)

    def forward(self, hidden_states: torch.Tensor):
        narrow = self.input(hidden_states)
        if self.use_bottleneck_attention:
            return narrow, narrow, narrow, narrow
        if hasattr(self, "attention"):
            shared = self.attention(hidden_states)
            return shared, shared, hidden_states, narrow
        return hidden_states, hidden_states, hidden_states, narrow


class FFNLayer(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.intermediate = MobileBertIntermediate(config)
        self.output = MobileBertResidual(config, config.intermediate_size, config.true_hidden_size, dropout=False)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.output(self.intermediate(hidden_states), hidden_states)


class MobileBertLayer(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.attention = nn.Module()
        self.attention.self = MobileBertSelfAttention(config)
        self.attention.output = MobileBertResidual(config, config.true_hidden_size, config.true_hidden_size,
                                                   dropout=not config.use_bottleneck)
        self.intermediate = MobileBertIntermediate(config)
        self.output = MobileBertOutput(config)
        if config.use_bottleneck:
            self.bottleneck = Bottleneck(config)
        if config.num_feedforward_networks > 1:
            self.ffn = nn.ModuleList(FFNLayer(config) for _ in range(config.num_feedforward_networks - 1))

    def forward(self, hidden_states, mask, eager):
        if hasattr(self, "bottleneck"):
            query, key, value, residual = self.bottleneck(hidden_states)
        else:
            query = key = value = residual = hidden_states
        attended, weights = self.attention.self(query, key, value, mask, eager)
        attended = self.attention.output(attended, residual)
        for ffn in getattr(self, "ffn", ()):
            attended = ffn(attended)
        return self.output(self.intermediate(attended), attended, hidden_states), weights


class MobileBertPooler(nn.Module):
    """The first token, through tanh(dense) when ``classifier_activation``."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        if config.classifier_activation:
            self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        first = hidden_states[:, 0]
        return torch.tanh(self.dense(first)) if hasattr(self, "dense") else first


class MobileBertPreTrainedModel(PreTrainedModel):
    config_class = MobileBertConfig
    base_model_prefix = "mobilebert"
    _ignore_unexpected = (r"position_ids$",)

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, MobileBertLMPredictionHead):
            nn.init.zeros_(module.bias)  # a bare parameter the generic init skips


class MobileBertModel(MobileBertPreTrainedModel):
    def __init__(self, config: PretrainedConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = MobileBertEmbeddings(config)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(MobileBertLayer(config) for _ in range(config.num_hidden_layers))
        self.pooler = MobileBertPooler(config) if add_pooling_layer else None

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.embeddings.word_embeddings = embeddings

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        check_inputs(input_ids, inputs_embeds)
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        hidden = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        stack = run_layers(self.encoder.layer, hidden, padding_mask(attention_mask, hidden.dtype), eager,
                           output_hidden_states=output_hidden_states, output_attentions=output_attentions)
        hidden = stack.last_hidden_state
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return self._finish(BaseModelOutputWithPooling(hidden, pooled, stack.hidden_states, stack.attentions), return_dict)


# ---------------------------------------------------------------------------------------------
# task heads: bert.py's, on MobileBertModel; the LM head decodes through the embeddings and `dense`


class MobileBertLMPredictionHead(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.transform = nn.Sequential()
        self.transform.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform.transform_act_fn = get_activation(config.hidden_act)
        self.transform.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)  # always a LayerNorm
        # (vocab, hidden - embedding) stored as a Linear from the vocabulary, as in the checkpoints
        self.dense = nn.Linear(config.vocab_size, config.hidden_size - config.embedding_size, bias=False)
        self.decoder = nn.Linear(config.embedding_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # (B, T, hidden) @ (hidden, vocab): the embedding rows, then the extra rows
        output = torch.cat([self.decoder.weight.t(), self.dense.weight], dim=0)
        return self.transform(hidden_states).matmul(output) + self.decoder.bias


class MobileBertHeadMixin(EncoderHeadMixin):
    base_model_class = MobileBertModel


class MobileBertLMHeadMixin(LMHeadMixin, MobileBertHeadMixin):
    """What the heads with ``cls.predictions`` share: the tied decoder, and resizing ``dense`` with it."""

    _tied_weights_keys = tied_lm_keys("mobilebert")

    def _resize_extra(self, count: int) -> None:
        head = self.cls.predictions
        head.bias = resized_bias(head.bias, count)
        old = head.dense.weight.detach()  # (hidden - embedding, vocab): one column per token
        head.dense = nn.Linear(count, old.shape[0], bias=False, device=old.device, dtype=old.dtype)
        with torch.no_grad():
            head.dense.weight.zero_()
            keep = min(count, old.shape[1])
            head.dense.weight[:, :keep] = old[:, :keep]


class MobileBertForMaskedLM(MobileBertLMHeadMixin, MaskedLMHead, MobileBertPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.mobilebert = self._new_base_model(config, pooling=False)
        self.cls = nn.Module()
        self.cls.predictions = MobileBertLMPredictionHead(config)


class MobileBertForPreTraining(MobileBertLMHeadMixin, PreTrainingHead, MobileBertPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.mobilebert = self._new_base_model(config, pooling=True)
        self.cls = nn.Module()
        self.cls.predictions = MobileBertLMPredictionHead(config)
        self.cls.seq_relationship = nn.Linear(config.hidden_size, 2)


class MobileBertForNextSentencePrediction(MobileBertHeadMixin, NextSentencePredictionHead, MobileBertPreTrainedModel):
    pass


class MobileBertForSequenceClassification(MobileBertHeadMixin, SequenceClassificationHead, MobileBertPreTrainedModel):
    pass


class MobileBertForTokenClassification(MobileBertHeadMixin, TokenClassificationHead, MobileBertPreTrainedModel):
    pass


class MobileBertForQuestionAnswering(MobileBertHeadMixin, QuestionAnsweringHead, MobileBertPreTrainedModel):
    pass


class MobileBertForMultipleChoice(MobileBertHeadMixin, MultipleChoiceHead, MobileBertPreTrainedModel):
    pass
