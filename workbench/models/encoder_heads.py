"""The task heads that BERT-like encoders share; a family's head class names its base model class and prefix.

    base model (``base_model_prefix``) ─► last_hidden_state ─► the head's modules ─► logits

A family's class combines a head here with the family's ``*PreTrainedModel`` and ``base_model_class``
(``class AlbertForTokenClassification(TokenClassificationHead, AlbertHead, AlbertPreTrainedModel)``);
where its modules differ it overrides ``_build_head`` (classifiers) or ``_lm_logits`` (LM heads). Module
names stay the checkpoint keys of each family.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.losses import causal_lm_loss, sequence_classification_loss, span_loss, token_classification_loss
from ..nn.summary import SequenceSummary
from ..outputs import (
    BaseModelOutputWithPooling,
    CausalLMOutputWithPast,
    MaskedLMOutput,
    ModelOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    Tensor,
    Tensors,
    TokenClassifierOutput,
)


class EncoderHeadMixin:
    """Runs the base model (found under ``base_model_prefix``) and finishes the output."""

    base_model_class: type  # the family's base model, built under ``base_model_prefix``

    def _new_base_model(self, config: PretrainedConfig, pooling: bool) -> PreTrainedModel:
        return self.base_model_class(config, add_pooling_layer=pooling)

    def _encode(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                **kwargs) -> BaseModelOutputWithPooling:
        kwargs.pop("return_dict", None)
        return getattr(self, self.base_model_prefix)(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            position_ids=position_ids, inputs_embeds=inputs_embeds, return_dict=True, **kwargs,
        )


    def _dropout_probability(self) -> float:
        dropout = getattr(self.config, "classifier_dropout", None)
        return dropout if dropout is not None else self.config.hidden_dropout_prob


class BuiltHead(EncoderHeadMixin):
    """A task head whose modules ``_build_head`` makes, right after the model base class's ``__init__``:
    a family with another classifier overrides ``_build_head`` (not ``__init__``)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self._build_head(config)


class MaskedLMHead(EncoderHeadMixin):
    """Last hidden state ─► the family's ``_lm_logits`` ─► logits over the vocabulary."""

    def _lm_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define _lm_logits")

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, return_dict=None, **kwargs):
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        logits = self._lm_logits(out.last_hidden_state)
        loss = token_classification_loss(logits, labels) if labels is not None else None
        return self._finish(MaskedLMOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class CausalLMHead(EncoderHeadMixin):
    """An encoder used as a decoder (``config.is_decoder``: causal self-attention, a key/value cache):
    the family's ``_lm_logits`` over every position; ``labels`` give the next-token loss."""

    is_generative = True

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, past_key_values=None, use_cache=None, return_dict=None, **kwargs):
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                           past_key_values=past_key_values, use_cache=False if labels is not None else use_cache,
                           **kwargs)
        logits = self._lm_logits(out.last_hidden_state)
        loss = causal_lm_loss(logits, labels) if labels is not None else None
        output = CausalLMOutputWithPast(loss, logits, out.past_key_values, out.hidden_states, out.attentions)
        return self._finish(output, return_dict)


@dataclass
class BertForPreTrainingOutput(ModelOutput):
    loss: Tensor = None
    prediction_logits: Tensor = None  # (B, T, vocab)
    seq_relationship_logits: Tensor = None  # (B, 2): index 0 where the second segment follows the first
    hidden_states: Tensors = None
    attentions: Tensors = None


class PreTrainingHead(EncoderHeadMixin):
    """Masked-LM logits over every token (``_lm_logits``) and next-sentence logits (B, 2) from the pooled
    first token (``cls.seq_relationship``); the loss is their sum when both ``labels`` and
    ``next_sentence_label`` are given (BERT, MobileBERT)."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, next_sentence_label=None, return_dict=None, **kwargs):
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        prediction = self._lm_logits(out.last_hidden_state)
        relationship = self.cls.seq_relationship(out.pooler_output)
        loss = None
        if labels is not None and next_sentence_label is not None:
            loss = token_classification_loss(prediction, labels) + token_classification_loss(relationship,
                                                                                            next_sentence_label)
        output = BertForPreTrainingOutput(loss, prediction, relationship, out.hidden_states, out.attentions)
        return self._finish(output, return_dict)


class NextSentencePredictionHead(BuiltHead):
    """Logits (B, 2) from the pooled first token: whether the second segment follows the first (index 0)."""

    def _build_head(self, config: PretrainedConfig) -> None:
        setattr(self, self.base_model_prefix, self._new_base_model(config, pooling=True))
        self.cls = nn.Module()
        self.cls.seq_relationship = nn.Linear(config.hidden_size, 2)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, return_dict=None, **kwargs):
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        logits = self.cls.seq_relationship(out.pooler_output)
        loss = token_classification_loss(logits, labels) if labels is not None else None
        return self._finish(SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


def tied_lm_keys(prefix: str, head: str = "cls.predictions") -> dict[str, str]:
    """The ``_tied_weights_keys`` of an LM head at ``head`` whose decoder is the word embeddings of the base
    model at ``prefix`` and whose decoder bias is the head's ``bias`` (the one checkpoints store)."""
    return {f"{head}.decoder.weight": f"{prefix}.embeddings.word_embeddings.weight",
            f"{head}.decoder.bias": f"{head}.bias"}


class LMHeadMixin:
    """What LM heads share whose module at ``lm_path`` has a tied ``decoder`` and a ``bias``."""

    lm_path = "cls.predictions"

    def get_output_embeddings(self) -> nn.Linear:
        return self.get_submodule(self.lm_path).decoder

    def _resize_extra(self, count: int) -> None:
        head = self.get_submodule(self.lm_path)
        head.bias = resized_bias(head.bias, count)

    def _lm_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.get_submodule(self.lm_path)(hidden_states)


class SequenceClassificationHead(BuiltHead):
    """Pooled output ─► dropout ─► linear to ``num_labels`` (BERT)."""

    def _build_head(self, config: PretrainedConfig) -> None:
        setattr(self, self.base_model_prefix, self._new_base_model(config, pooling=True))
        self.dropout = nn.Dropout(self._dropout_probability())
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def _classify(self, out) -> torch.Tensor:
        return self.classifier(self.dropout(out.pooler_output))

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, return_dict=None, **kwargs):
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        logits = self._classify(out)
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return self._finish(SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class TokenClassificationHead(BuiltHead):
    def _build_head(self, config: PretrainedConfig) -> None:
        setattr(self, self.base_model_prefix, self._new_base_model(config, pooling=False))
        self.dropout = nn.Dropout(self._dropout_probability())
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, return_dict=None, **kwargs):
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        logits = self.classifier(self.dropout(out.last_hidden_state))
        loss = token_classification_loss(logits, labels) if labels is not None else None
        return self._finish(TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class QuestionAnsweringHead(BuiltHead):
    def _build_head(self, config: PretrainedConfig) -> None:
        setattr(self, self.base_model_prefix, self._new_base_model(config, pooling=False))
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)

    def _span_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.qa_outputs(hidden_states)  # (B, T, 2)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                start_positions=None, end_positions=None, return_dict=None, **kwargs):
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        start_logits, end_logits = self._span_logits(out.last_hidden_state).split(1, dim=-1)
        start_logits, end_logits = start_logits.squeeze(-1).contiguous(), end_logits.squeeze(-1).contiguous()
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        return self._finish(QuestionAnsweringModelOutput(loss, start_logits, end_logits, out.hidden_states, out.attentions), return_dict)


class FirstTokenClassificationHead(SequenceClassificationHead):
    """Sequence classification from the first token's last hidden state through ``classifier``, a
    ``RobertaClassificationHead`` the family's ``_classifier`` makes (RoBERTa, ELECTRA, MPNet, RoFormer)."""

    def _classifier(self, config: PretrainedConfig) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} must define _classifier")

    def _build_head(self, config: PretrainedConfig) -> None:
        setattr(self, self.base_model_prefix, self._new_base_model(config, pooling=False))
        self.classifier = self._classifier(config)

    def _classify(self, out) -> torch.Tensor:
        return self.classifier(out.last_hidden_state)


class MultipleChoiceHead(BuiltHead):
    """Each (batch, choice) pair is encoded on its own; one score per choice."""

    def _build_head(self, config: PretrainedConfig) -> None:
        setattr(self, self.base_model_prefix, self._new_base_model(config, pooling=True))
        self.dropout = nn.Dropout(self._dropout_probability())
        self.classifier = nn.Linear(config.hidden_size, 1)

    def _score(self, out) -> torch.Tensor:
        return self.classifier(self.dropout(out.pooler_output))

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, return_dict=None, **kwargs):
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        flat = lambda t: None if t is None else t.reshape(-1, t.shape[-1])  # (B, C, T) -> (B*C, T)
        if inputs_embeds is not None:
            inputs_embeds = inputs_embeds.reshape(-1, *inputs_embeds.shape[-2:])
        out = self._encode(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids),
                           inputs_embeds, **kwargs)
        logits = self._score(out).view(-1, num_choices)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return self._finish(MultipleChoiceModelOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class SummaryMultipleChoiceHead(MultipleChoiceHead):
    """Multiple choice through a :class:`~workbench.nn.summary.SequenceSummary` of the last hidden state
    (the config's ``summary_*`` keys), then ``classifier`` (ELECTRA, RoFormer)."""

    def _build_head(self, config: PretrainedConfig) -> None:
        setattr(self, self.base_model_prefix, self._new_base_model(config, pooling=False))
        self.sequence_summary = SequenceSummary(config)
        self.classifier = nn.Linear(config.hidden_size, 1)

    def _score(self, out) -> torch.Tensor:
        return self.classifier(self.sequence_summary(out.last_hidden_state))


def resized_bias(bias: nn.Parameter, count: int) -> nn.Parameter:
    new = bias.new_zeros(count)
    keep = min(count, bias.shape[0])
    new[:keep] = bias.detach()[:keep]
    return nn.Parameter(new)
