"""ELECTRA (https://arxiv.org/abs/2003.10555): BERT's encoder trained as a replaced-token detector.

    input_ids ─► word + position + token-type embeddings (embedding_size) ─► LayerNorm
              ─► (embeddings_project to hidden_size, when embedding_size != hidden_size)
              ─► N × BERT layer ─► last_hidden_state            (no pooler)

What differs from ``bert.py``, and nothing else:

* the embeddings may be narrower than the layers (``embedding_size``), with a projection between;
* the discriminator head (``ElectraForPreTraining``) scores each token as original or replaced;
* the masked-LM (generator) head is ``generator_predictions.{dense, LayerNorm}`` at
  ``embedding_size``, then ``generator_lm_head`` tied to the word embeddings;
* sequence classification reads the first token through a GELU ``classifier.{dense, out_proj}``,
  multiple choice through a :class:`~workbench.nn.summary.SequenceSummary`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..nn.activations import get_activation
from ..outputs import ModelOutput, Tensor, Tensors
from .bert import BertConfig, BertModel, BertPreTrainedModel, embedding_width
from .encoder_heads import (
    CausalLMHead,
    EncoderHeadMixin,
    FirstTokenClassificationHead,
    MaskedLMHead,
    QuestionAnsweringHead,
    SummaryMultipleChoiceHead,
    TokenClassificationHead,
    resized_bias,
)
from .roberta import RobertaClassificationHead


class ElectraConfig(PretrainedConfig):
    model_type = "electra"
    defaults = {
        **BertConfig.defaults,
        "embedding_size": 128,
        "hidden_size": 256,
        "num_attention_heads": 4,
        "intermediate_size": 1024,
        # multiple choice: first token ─► Linear ─► GELU ─► dropout
        "summary_type": "first",
        "summary_use_proj": True,
        "summary_activation": "gelu",
        "summary_last_dropout": 0.1,
    }


class ElectraPreTrainedModel(BertPreTrainedModel):
    config_class = ElectraConfig
    base_model_prefix = "electra"


class ElectraModel(ElectraPreTrainedModel, BertModel):
    """BERT's base model without a pooler, with ``embeddings_project`` where the embeddings are narrower."""

    pooler_class = None
    projects_embeddings = True


class ElectraHead(EncoderHeadMixin):
    base_model_class = ElectraModel


@dataclass
class ElectraForPreTrainingOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None  # (B, T): > 0 where a token looks replaced
    hidden_states: Tensors = None
    attentions: Tensors = None


class ElectraDiscriminatorPredictions(nn.Module):
    """dense ─► hidden_act ─► dense_prediction: one score per token."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = get_activation(config.hidden_act)
        self.dense_prediction = nn.Linear(config.hidden_size, 1)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dense_prediction(self.activation(self.dense(hidden_states))).squeeze(-1)  # (B, T)


class ElectraForPreTraining(ElectraHead, ElectraPreTrainedModel):
    """The discriminator: ``labels`` (B, T) are 1 where a token was replaced, 0 where it is original."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.discriminator_predictions = ElectraDiscriminatorPredictions(config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, return_dict=None, **kwargs):
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        logits = self.discriminator_predictions(out.last_hidden_state)
        loss = None
        if labels is not None:  # binary cross-entropy over the real (unpadded) tokens
            real = attention_mask.bool() if attention_mask is not None else torch.ones_like(logits, dtype=torch.bool)
            loss = F.binary_cross_entropy_with_logits(logits[real], labels[real].to(logits.dtype))
        return self._finish(ElectraForPreTrainingOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class ElectraGeneratorPredictions(nn.Module):
    """dense (to embedding_size) ─► GELU ─► LayerNorm."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, embedding_width(config))
        self.LayerNorm = nn.LayerNorm(embedding_width(config), eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # always the exact GELU: the reference ignores config.hidden_act here
        return self.LayerNorm(F.gelu(self.dense(hidden_states)))


class ElectraForMaskedLM(MaskedLMHead, ElectraHead, ElectraPreTrainedModel):
    """The generator: ``generator_lm_head`` is tied to the word embeddings and keeps its own bias."""

    _tied_weights_keys = {"generator_lm_head.weight": "electra.embeddings.word_embeddings.weight"}

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.generator_predictions = ElectraGeneratorPredictions(config)
        self.generator_lm_head = nn.Linear(embedding_width(config), config.vocab_size)

    def get_output_embeddings(self) -> nn.Linear:
        return self.generator_lm_head

    def _resize_extra(self, count: int) -> None:
        if self.generator_lm_head.bias.shape[0] != count:  # tied: the weight follows the embeddings, the bias not
            self.generator_lm_head.bias = resized_bias(self.generator_lm_head.bias, count)
            self.generator_lm_head.out_features = count

    def _lm_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.generator_lm_head(self.generator_predictions(hidden_states))


class ElectraForCausalLM(CausalLMHead, ElectraForMaskedLM):
    """The generator's modules and checkpoint keys read left to right: build it with ``is_decoder=True``."""


class ElectraForSequenceClassification(FirstTokenClassificationHead, ElectraHead, ElectraPreTrainedModel):
    def _classifier(self, config: PretrainedConfig) -> nn.Module:
        # GELU where BERT and RoBERTa have tanh, as the ELECTRA authors trained it
        return RobertaClassificationHead(config, activation=nn.GELU())


class ElectraForTokenClassification(TokenClassificationHead, ElectraHead, ElectraPreTrainedModel):
    pass


class ElectraForQuestionAnswering(QuestionAnsweringHead, ElectraHead, ElectraPreTrainedModel):
    pass


class ElectraForMultipleChoice(SummaryMultipleChoiceHead, ElectraHead, ElectraPreTrainedModel):
    pass
