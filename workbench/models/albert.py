"""ALBERT (https://arxiv.org/abs/1909.11942): BERT with factorized embeddings and shared layers.

    input_ids ─► word + position + token-type embeddings (embedding_size) ─► LayerNorm
              ─► embedding_hidden_mapping_in (to hidden_size)
              ─► num_hidden_layers × [ the layer group's layers ]   (groups shared across layers)
              ─► last_hidden_state ─► (pooler: tanh(pooler(h[:, 0])))

What differs from ``bert.py``:

* the embeddings are ``embedding_size`` wide; the encoder projects them to the hidden size;
* the encoder holds ``num_hidden_groups`` groups of ``inner_group_num`` layers, and layer i runs
  group ``i // (num_hidden_layers / num_hidden_groups)``: with one group (every released
  checkpoint) one set of weights serves every layer. Hidden states and attentions are reported
  per layer *run*, so there are ``num_hidden_layers * inner_group_num`` of them, as in the reference;
* a layer's attention holds its own output projection and norm
  (``attention.{query, key, value, dense, LayerNorm}``), its feed-forward is ``ffn`` ─► ``ffn_output``
  with ``full_layer_layer_norm`` after it;
* heads use ``classifier_dropout_prob``; pre-training adds a sentence-order head (``sop_classifier``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..nn.activations import get_activation
from ..nn.layers import run_layers
from ..outputs import ModelOutput, Tensor, Tensors
from .bert import BertConfig, BertModel, BertPreTrainedModel, BertSelfAttention, embedding_width
from .encoder_heads import (
    EncoderHeadMixin,
    LMHeadMixin,
    MaskedLMHead,
    MultipleChoiceHead,
    QuestionAnsweringHead,
    SequenceClassificationHead,
    TokenClassificationHead,
    tied_lm_keys,
)


class AlbertConfig(PretrainedConfig):
    model_type = "albert"
    defaults = {
        **BertConfig.defaults,
        "vocab_size": 30000,
        "embedding_size": 128,
        "hidden_size": 4096,
        "num_hidden_groups": 1,
        "num_attention_heads": 64,
        "intermediate_size": 16384,
        "inner_group_num": 1,
        "hidden_act": "gelu_new",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "classifier_dropout_prob": 0.1,
        "bos_token_id": 2,
        "eos_token_id": 3,
    }


class AlbertAttention(BertSelfAttention):
    """BERT's self-attention plus its output block: LayerNorm(x + dropout(dense(attended)))."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, mask, eager):
        attended, weights = super().forward(hidden_states, mask, eager)
        return self.LayerNorm(hidden_states + self.output_dropout(self.dense(attended))), weights


class AlbertLayer(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.full_layer_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = AlbertAttention(config)
        self.ffn = nn.Linear(config.hidden_size, config.intermediate_size)
        self.ffn_output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.activation = get_activation(config.hidden_act)

    def forward(self, hidden_states, mask, eager):
        attended, weights = self.attention(hidden_states, mask, eager)
        return self.full_layer_layer_norm(self.ffn_output(self.activation(self.ffn(attended))) + attended), weights


class AlbertLayerGroup(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.albert_layers = nn.ModuleList(AlbertLayer(config) for _ in range(config.inner_group_num))


class AlbertTransformer(nn.Module):
    """The projection to the hidden size, then the shared layer groups (``BertEncoder``'s interface)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.num_hidden_layers, self.num_hidden_groups = config.num_hidden_layers, config.num_hidden_groups
        self.embedding_hidden_mapping_in = nn.Linear(embedding_width(config), config.hidden_size)
        self.albert_layer_groups = nn.ModuleList(AlbertLayerGroup(config) for _ in range(config.num_hidden_groups))

    def schedule(self) -> nn.ModuleList:
        """The layers in the order they run: each group's layers, once per layer that uses the group."""
        per_group = self.num_hidden_layers / self.num_hidden_groups
        groups = [self.albert_layer_groups[int(i / per_group)] for i in range(self.num_hidden_layers)]
        # a view of the shared modules, built per call (nothing new to save); run_layers reads its
        # training flag only for LayerDrop, which ALBERT does not have
        return nn.ModuleList(layer for group in groups for layer in group.albert_layers)

    def forward(self, hidden_states, mask, eager, output_hidden_states, output_attentions):
        hidden = self.embedding_hidden_mapping_in(hidden_states)  # (B, T, E) -> (B, T, C)
        stack = run_layers(self.schedule(), hidden, mask, eager, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions)
        return stack.last_hidden_state, stack.hidden_states, stack.attentions


def albert_pooler(config: PretrainedConfig) -> nn.Linear:
    """A bare linear layer in the checkpoint (``pooler.weight``); :meth:`AlbertModel._pool` takes the
    first token and applies tanh outside it, so an adapter wrapping it sees a plain linear map."""
    return nn.Linear(config.hidden_size, config.hidden_size)


class AlbertMLMHead(nn.Module):
    """dense (to embedding_size) ─► hidden_act ─► LayerNorm ─► decoder (tied to the word embeddings)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        width = embedding_width(config)
        self.LayerNorm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.dense = nn.Linear(config.hidden_size, width)
        self.decoder = nn.Linear(width, config.vocab_size)
        self.activation = get_activation(config.hidden_act)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.LayerNorm(self.activation(self.dense(hidden_states))))


class AlbertPreTrainedModel(BertPreTrainedModel):
    config_class = AlbertConfig
    base_model_prefix = "albert"


class AlbertModel(AlbertPreTrainedModel, BertModel):
    encoder_class = AlbertTransformer
    pooler_class = staticmethod(albert_pooler)

    def _pool(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.pooler(hidden[:, 0]))


class AlbertHead(EncoderHeadMixin):
    base_model_class = AlbertModel

    def _dropout_probability(self) -> float:
        dropout = self.config.classifier_dropout_prob
        return dropout if dropout is not None else self.config.hidden_dropout_prob


class AlbertLMHeadMixin(LMHeadMixin, AlbertHead):
    """``predictions`` over the vocabulary, tied to the word embeddings (bias ``predictions.bias``)."""

    lm_path = "predictions"
    _tied_weights_keys = tied_lm_keys("albert", "predictions")


class AlbertForMaskedLM(AlbertLMHeadMixin, MaskedLMHead, AlbertPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.albert = self._new_base_model(config, pooling=False)
        self.predictions = AlbertMLMHead(config)


@dataclass
class AlbertForPreTrainingOutput(ModelOutput):
    loss: Tensor = None
    prediction_logits: Tensor = None  # (B, T, vocab)
    sop_logits: Tensor = None  # (B, num_labels): are the two segments in their original order?
    hidden_states: Tensors = None
    attentions: Tensors = None


class AlbertSOPHead(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, pooled_output: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(pooled_output))


class AlbertForPreTraining(AlbertLMHeadMixin, AlbertPreTrainedModel):
    """Masked-LM and sentence-order prediction; the loss needs both ``labels`` and ``sentence_order_label``."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.albert = self._new_base_model(config, pooling=True)
        self.predictions = AlbertMLMHead(config)
        self.sop_classifier = AlbertSOPHead(config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, sentence_order_label=None, return_dict=None, **kwargs):
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        prediction_logits = self._lm_logits(out.last_hidden_state)
        sop_logits = self.sop_classifier(out.pooler_output)
        loss = None
        if labels is not None and sentence_order_label is not None:
            loss = (F.cross_entropy(prediction_logits.view(-1, prediction_logits.shape[-1]), labels.view(-1))
                    + F.cross_entropy(sop_logits.view(-1, 2), sentence_order_label.view(-1)))
        output = AlbertForPreTrainingOutput(loss, prediction_logits, sop_logits, out.hidden_states, out.attentions)
        return self._finish(output, return_dict)


class AlbertForSequenceClassification(SequenceClassificationHead, AlbertHead, AlbertPreTrainedModel):
    pass


class AlbertForTokenClassification(TokenClassificationHead, AlbertHead, AlbertPreTrainedModel):
    pass


class AlbertForQuestionAnswering(QuestionAnsweringHead, AlbertHead, AlbertPreTrainedModel):
    pass


class AlbertForMultipleChoice(MultipleChoiceHead, AlbertHead, AlbertPreTrainedModel):
    pass
