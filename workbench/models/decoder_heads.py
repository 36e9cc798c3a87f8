"""The task heads every decoder-only family shares, over whatever base model the family has.

    base model (under ``base_model_prefix``) ─► last_hidden_state (B, T, C) ─►
        causal LM:                lm_head (``lm_head_name``) ─► next-token logits
        sequence classification:  score ─► the row of the last token that is not padding
        token classification:     dropout ─► score or classifier (``token_classifier``)
        question answering:       qa_outputs ─► start and end logits

Each head is a mixin; a family's class puts it before the family's pretrained-model class and
names its base model::

    class Qwen3ForTokenClassification(DecoderForTokenClassification, LlamaPreTrainedModel):
        config_class, base_model_class = Qwen3Config, Qwen3Model

so ``save_pretrained`` writes the family's class name and the module names are the family's
checkpoint keys (``model.layers...`` or ``transformer.h...`` after the prefix, ``score.weight``).
The base model is called with keywords only, so any family's argument order works. Each
``forward`` names the inputs it takes (Llama's order), not only ``**kwargs``: ``generate()`` and
the Trainer read the signature to decide what to pass (``position_ids``, ``attention_mask`` columns).
"""

from __future__ import annotations

from torch import nn

from ..nn.linear import Linear
from ..nn.logits import keep_positions, last_token_rows
from ..nn.losses import causal_lm_loss, sequence_classification_loss, span_loss, token_classification_loss
from ..outputs import (CausalLMOutputWithCrossAttentions, CausalLMOutputWithPast, QuestionAnsweringModelOutput,
                       SequenceClassifierOutputWithPast, TokenClassifierOutput)


def classifier_dropout(config) -> float:
    """The token classifier's dropout: ``classifier_dropout``, else ``hidden_dropout``, else 0.1."""
    for key in ("classifier_dropout", "hidden_dropout"):
        value = getattr(config, key, None)
        if value is not None:
            return value
    return 0.1


class DecoderHead:
    """Builds ``base_model_class`` under ``base_model_prefix`` and runs it; mixed into a family's
    pretrained-model class, whose ``__init__`` runs first."""

    base_model_class: type[nn.Module]

    def __init__(self, config) -> None:
        super().__init__(config)
        setattr(self, self.base_model_prefix, self.base_model_class(config))

    def _decode(self, token_type_ids=None, **inputs):
        if token_type_ids is not None:  # only families whose base model reads them get them
            inputs["token_type_ids"] = token_type_ids
        return getattr(self, self.base_model_prefix)(**inputs, return_dict=True)


class DecoderForCausalLM(DecoderHead):
    """Next-token logits from the ``lm_head_name`` projection (no bias unless
    :meth:`lm_head_bias` says so); ``labels`` (B, T) give the shifted causal LM loss (-100 is
    ignored); ``logits_to_keep=1`` computes only the last position's logits (what generation needs)."""

    is_generative = True
    lm_head_name = "lm_head"

    def __init__(self, config) -> None:
        super().__init__(config)
        setattr(self, self.lm_head_name, Linear(config.hidden_size, config.vocab_size, bias=self.lm_head_bias(config)))

    def lm_head_bias(self, config) -> bool:
        return False

    def get_output_embeddings(self) -> nn.Linear:
        return getattr(self, self.lm_head_name)

    def set_output_embeddings(self, embeddings: nn.Linear) -> None:
        setattr(self, self.lm_head_name, embeddings)

    def logits(self, hidden_states):
        """(B, T', C) -> (B, T', vocab) logits; a family that scales or caps them overrides this."""
        return self.get_output_embeddings()(hidden_states)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, inputs_embeds=None,
                labels=None, use_cache=None, logits_to_keep=0, return_dict=None, token_type_ids=None, **kwargs):
        out = self._decode(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                           past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                           token_type_ids=token_type_ids, **kwargs)
        logits = self.logits(keep_positions(out.last_hidden_state, logits_to_keep))  # (B, T', V)
        loss = causal_lm_loss(logits, labels) if labels is not None else None
        result = CausalLMOutputWithPast(loss, logits, out.past_key_values, out.hidden_states, out.attentions)
        if getattr(out, "cross_attentions", None) is not None:  # a decoder attending to an encoder's states
            result = CausalLMOutputWithCrossAttentions(loss, logits, out.past_key_values, out.hidden_states,
                                                       out.attentions, out.cross_attentions)
        return self._finish(result, return_dict)


class DecoderForSequenceClassification(DecoderHead):
    """Scores the last token that is not ``config.pad_token_id`` (left and right padding both
    work); without a pad token only a batch of one can be scored, from its last position."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.score = Linear(config.hidden_size, config.num_labels, bias=False)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, inputs_embeds=None,
                labels=None, use_cache=None, return_dict=None, token_type_ids=None, **kwargs):
        out = self._decode(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                           past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                           token_type_ids=token_type_ids, **kwargs)
        logits = self.score(out.last_hidden_state)  # (B, T, num_labels)
        pooled = last_token_rows(logits, input_ids, self.config.pad_token_id, type(self).__name__)  # (B, num_labels)
        loss = sequence_classification_loss(pooled, labels.to(pooled.device), self.config) if labels is not None else None
        result = SequenceClassifierOutputWithPast(loss, pooled, out.past_key_values, out.hidden_states, out.attentions)
        return self._finish(result, return_dict)


class DecoderForTokenClassification(DecoderHead):
    """A label per token: ``token_classifier(dropout(hidden))`` with a bias; dropout
    :func:`classifier_dropout`. The classifier's checkpoint name is ``score`` or ``classifier``."""

    token_classifier = "score"

    def __init__(self, config) -> None:
        super().__init__(config)
        self.dropout = nn.Dropout(classifier_dropout(config))
        setattr(self, self.token_classifier, Linear(config.hidden_size, config.num_labels))

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, inputs_embeds=None,
                labels=None, use_cache=False, return_dict=None, token_type_ids=None, **kwargs):
        # use_cache: False by default, the output has no place for a cache
        out = self._decode(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                           past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                           token_type_ids=token_type_ids, **kwargs)
        logits = getattr(self, self.token_classifier)(self.dropout(out.last_hidden_state))  # (B, T, num_labels)
        loss = token_classification_loss(logits, labels) if labels is not None else None
        return self._finish(TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class DecoderForQuestionAnswering(DecoderHead):
    """Extractive QA: start and end logits per token from ``qa_outputs``."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.qa_outputs = Linear(config.hidden_size, 2)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, inputs_embeds=None,
                start_positions=None, end_positions=None, use_cache=False, return_dict=None, token_type_ids=None,
                **kwargs):
        # use_cache: False by default, the output has no place for a cache
        out = self._decode(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                           past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                           token_type_ids=token_type_ids, **kwargs)
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in self.qa_outputs(out.last_hidden_state).split(1, -1))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        result = QuestionAnsweringModelOutput(loss, start_logits, end_logits, out.hidden_states, out.attentions)
        return self._finish(result, return_dict)
