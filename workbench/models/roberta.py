"""RoBERTa (https://arxiv.org/abs/1907.11692): BERT's encoder with other positions and heads.

What differs from ``bert.py``, and nothing else:

* positions count real tokens only: they start at ``pad_token_id + 1`` and padding tokens get
  ``pad_token_id`` (fairseq's ``make_positions``), so a right-padded row sees the same
  positions as the row alone;
* the masked-LM head is ``lm_head.{dense, layer_norm, decoder, bias}`` with a fixed GELU;
* sequence classification reads the first token through ``classifier.{dense, out_proj}``
  instead of the pooler.

XLM-RoBERTa (``xlm-roberta``) is the same network under other names; its classes are at the end.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from .bert import BertConfig, BertEmbeddings, BertModel, BertPreTrainedModel
from .encoder_heads import (
    CausalLMHead,
    FirstTokenClassificationHead,
    LMHeadMixin,
    MaskedLMHead,
    MultipleChoiceHead,
    QuestionAnsweringHead,
    TokenClassificationHead,
    tied_lm_keys,
)


class RobertaConfig(PretrainedConfig):
    model_type = "roberta"
    defaults = {**BertConfig.defaults, "vocab_size": 50265, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}


class RobertaEmbeddings(BertEmbeddings):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size,
                                                padding_idx=self.padding_idx)

    def position_ids(self, input_ids: torch.Tensor | None, length: int, device: torch.device, past: int = 0) -> torch.Tensor:
        return positions_after_padding(input_ids, self.padding_idx, length, device, past)


def positions_after_padding(input_ids: torch.Tensor | None, padding_idx: int, length: int,
                            device: torch.device, past: int = 0) -> torch.Tensor:
    """fairseq's ``make_positions``: real tokens count from ``padding_idx + 1``, padding tokens get
    ``padding_idx`` (RoBERTa, MPNet). (B, T) ids -> (B, T) positions; (1, T) without ids. A decoder's
    new tokens count on from the ``past`` cached ones (as the reference does, padding or not)."""
    first = padding_idx + 1 + past
    if input_ids is None:  # embeddings show no padding: count every position
        return torch.arange(first, first + length, device=device)[None, :]
    real = input_ids.ne(padding_idx).long()  # (B, T)
    return (real.cumsum(dim=1) + past) * real + padding_idx


class RobertaPreTrainedModel(BertPreTrainedModel):
    config_class = RobertaConfig
    base_model_prefix = "roberta"


class RobertaModel(RobertaPreTrainedModel, BertModel):
    """BERT's base model with :class:`RobertaEmbeddings`; its pooler goes unused by most heads."""

    embeddings_class = RobertaEmbeddings


class RobertaLMHead(nn.Module):
    """dense ─► GELU ─► layer_norm ─► decoder (tied to the word embeddings, bias ``lm_head.bias``)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # always the exact GELU: the reference ignores config.hidden_act here
        return self.decoder(self.layer_norm(F.gelu(self.dense(hidden_states))))


class RobertaForMaskedLM(LMHeadMixin, MaskedLMHead, RobertaPreTrainedModel):
    base_model_class = RobertaModel
    lm_path = "lm_head"
    # untied, both biases are saved and only the decoder's is used (as in the reference)
    _tied_weights_keys = tied_lm_keys("roberta", "lm_head")

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.roberta = self._new_base_model(config, pooling=False)
        self.lm_head = RobertaLMHead(config)


class RobertaForCausalLM(CausalLMHead, RobertaForMaskedLM):
    """The masked LM's modules and checkpoint keys read left to right: build it with ``is_decoder=True``."""


class RobertaClassificationHead(nn.Module):
    """First token (``<s>``) ─► dropout ─► dense ─► activation ─► dropout ─► out_proj.

    RoBERTa's activation is tanh and its dropout ``classifier_dropout`` (or ``hidden_dropout_prob``);
    ELECTRA, MPNet and RoFormer pass their own activation or dropout to the same head.
    """

    def __init__(self, config: PretrainedConfig, activation: nn.Module | None = None,
                 dropout: float | None = None) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        if dropout is None:
            dropout = getattr(config, "classifier_dropout", None)
            dropout = dropout if dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.activation = activation if activation is not None else nn.Tanh()
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        first = self.dropout(hidden_states[:, 0])  # (B, D)
        return self.out_proj(self.dropout(self.activation(self.dense(first))))


class RobertaForSequenceClassification(FirstTokenClassificationHead, RobertaPreTrainedModel):
    base_model_class = RobertaModel

    def _classifier(self, config: PretrainedConfig) -> nn.Module:
        return RobertaClassificationHead(config)


class RobertaForTokenClassification(TokenClassificationHead, RobertaPreTrainedModel):
    base_model_class = RobertaModel


class RobertaForQuestionAnswering(QuestionAnsweringHead, RobertaPreTrainedModel):
    base_model_class = RobertaModel


class RobertaForMultipleChoice(MultipleChoiceHead, RobertaPreTrainedModel):
    base_model_class = RobertaModel

    def _dropout_probability(self) -> float:
        return self.config.hidden_dropout_prob  # the reference ignores classifier_dropout here


# ---------------------------------------------------------------------------------------------
# XLM-RoBERTa: same modules and checkpoint keys (prefix ``roberta``), another model_type


class XLMRobertaConfig(RobertaConfig):
    model_type = "xlm-roberta"
    defaults = {**RobertaConfig.defaults, "vocab_size": 30522}


class XLMRobertaModel(RobertaModel):
    config_class = XLMRobertaConfig


class XLMRobertaForMaskedLM(RobertaForMaskedLM):
    config_class, base_model_class = XLMRobertaConfig, XLMRobertaModel


class XLMRobertaForCausalLM(RobertaForCausalLM):
    config_class, base_model_class = XLMRobertaConfig, XLMRobertaModel


class XLMRobertaForSequenceClassification(RobertaForSequenceClassification):
    config_class, base_model_class = XLMRobertaConfig, XLMRobertaModel


class XLMRobertaForTokenClassification(RobertaForTokenClassification):
    config_class, base_model_class = XLMRobertaConfig, XLMRobertaModel


class XLMRobertaForQuestionAnswering(RobertaForQuestionAnswering):
    config_class, base_model_class = XLMRobertaConfig, XLMRobertaModel


class XLMRobertaForMultipleChoice(RobertaForMultipleChoice):
    config_class, base_model_class = XLMRobertaConfig, XLMRobertaModel


# ---------------------------------------------------------------------------------------------
# CamemBERT: RoBERTa trained on French (https://arxiv.org/abs/1911.03894); same modules and
# checkpoint keys (prefix ``roberta``), another model_type


class CamembertConfig(RobertaConfig):
    model_type = "camembert"
    defaults = {**RobertaConfig.defaults, "vocab_size": 30522}


class CamembertModel(RobertaModel):
    config_class = CamembertConfig


class CamembertForMaskedLM(RobertaForMaskedLM):
    config_class, base_model_class = CamembertConfig, CamembertModel


class CamembertForCausalLM(RobertaForCausalLM):
    config_class, base_model_class = CamembertConfig, CamembertModel


class CamembertForSequenceClassification(RobertaForSequenceClassification):
    config_class, base_model_class = CamembertConfig, CamembertModel


class CamembertForTokenClassification(RobertaForTokenClassification):
    config_class, base_model_class = CamembertConfig, CamembertModel


class CamembertForQuestionAnswering(RobertaForQuestionAnswering):
    config_class, base_model_class = CamembertConfig, CamembertModel


class CamembertForMultipleChoice(RobertaForMultipleChoice):
    config_class, base_model_class = CamembertConfig, CamembertModel
