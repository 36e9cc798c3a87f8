"""DistilBERT (https://arxiv.org/abs/1910.01108): a 6-layer BERT distilled from BERT-base.

    input_ids ─► word + position embeddings ─► LayerNorm          (no token types, no pooler)
              ─► N × [ self-attention (q_lin, k_lin, v_lin, out_lin) ─► add & sa_layer_norm
                       ─► ffn (lin1, activation, lin2) ─► add & output_layer_norm ]

Checkpoint keys use their own names (``distilbert.transformer.layer.0.attention.q_lin``) and
the config its own keys (``dim``, ``n_heads``, ``n_layers``, ``hidden_dim``), so the layers are
written here; the layer loop and the task heads come from ``bert.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.attention import multi_head_attention, split_heads
from ..nn.positions import SinusoidalEmbedding
from ..outputs import BaseModelOutput
from .bert import BertEncoder, check_inputs, run_encoder
from .encoder_heads import (
    EncoderHeadMixin,
    MaskedLMHead,
    MultipleChoiceHead,
    QuestionAnsweringHead,
    SequenceClassificationHead,
    TokenClassificationHead,
    resized_bias,
)

# DistilBERT fixes every LayerNorm's epsilon; its config has no key for it
LAYER_NORM_EPS = 1e-12


class DistilBertConfig(PretrainedConfig):
    model_type = "distilbert"
    attribute_map = {"hidden_size": "dim", "num_attention_heads": "n_heads", "num_hidden_layers": "n_layers"}
    defaults = {
        "vocab_size": 30522,
        "max_position_embeddings": 512,
        "sinusoidal_pos_embds": False,
        "n_layers": 6,
        "n_heads": 12,
        "dim": 768,
        "hidden_dim": 3072,
        "dropout": 0.1,
        "attention_dropout": 0.1,
        "activation": "gelu",
        "initializer_range": 0.02,
        "qa_dropout": 0.1,
        "seq_classif_dropout": 0.2,
        "pad_token_id": 0,
        "eos_token_id": None,
        "bos_token_id": None,
        "tie_word_embeddings": True,
    }


class DistilBertEmbeddings(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.dim, padding_idx=config.pad_token_id)
        positions = SinusoidalEmbedding if config.sinusoidal_pos_embds else nn.Embedding
        self.position_embeddings = positions(config.max_position_embeddings, config.dim)
        self.LayerNorm = nn.LayerNorm(config.dim, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, input_ids=None, inputs_embeds=None, position_ids=None) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, T, D)
        if position_ids is None:
            position_ids = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device)[None, :]
        return self.dropout(self.LayerNorm(inputs_embeds + self.position_embeddings(position_ids)))


class DistilBertSelfAttention(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        if config.dim % config.n_heads:
            raise ValueError(f"dim ({config.dim}) must be a multiple of n_heads ({config.n_heads}): fix one of them in the config.")
        self.num_heads = config.n_heads
        self.head_dim = config.dim // config.n_heads
        self.q_lin = nn.Linear(config.dim, config.dim)
        self.k_lin = nn.Linear(config.dim, config.dim)
        self.v_lin = nn.Linear(config.dim, config.dim)
        self.out_lin = nn.Linear(config.dim, config.dim)
        self.dropout_prob = config.attention_dropout

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor | None, eager: bool):
        query, key, value = (split_heads(m(hidden_states), self.head_dim) for m in (self.q_lin, self.k_lin, self.v_lin))
        out, weights = multi_head_attention(query, key, value, mask, eager=eager,
                                            dropout=self.dropout_prob if self.training else 0.0)
        return self.out_lin(out), weights


class DistilBertFFN(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.lin1 = nn.Linear(config.dim, config.hidden_dim)
        self.lin2 = nn.Linear(config.hidden_dim, config.dim)
        self.activation = get_activation(config.activation)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.lin2(self.activation(self.lin1(hidden_states))))


class DistilBertLayer(nn.Module):
    """Post-norm block, as in BERT; the reference calls it ``TransformerBlock``."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.attention = DistilBertSelfAttention(config)
        self.sa_layer_norm = nn.LayerNorm(config.dim, eps=LAYER_NORM_EPS)
        self.ffn = DistilBertFFN(config)
        self.output_layer_norm = nn.LayerNorm(config.dim, eps=LAYER_NORM_EPS)

    def forward(self, hidden_states, mask, eager):
        attended, weights = self.attention(hidden_states, mask, eager)
        attended = self.sa_layer_norm(attended + hidden_states)
        return self.output_layer_norm(self.ffn(attended) + attended), weights


class DistilBertPreTrainedModel(PreTrainedModel):
    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    _ignore_unexpected = (r"position_ids$",)  # a buffer older exports saved

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, SinusoidalEmbedding):
            module.reset_parameters()  # sin/cos table, not random values
        else:
            super()._init_weights(module)


class DistilBertModel(DistilBertPreTrainedModel):
    """Returns the last hidden state (and all hidden states / attentions); there is no pooler.

    DistilBERT has no token types: ``token_type_ids`` (which BERT tokenizers return) is accepted
    and ignored, as the reference ignores it.
    """

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.embeddings = DistilBertEmbeddings(config)
        self.transformer = BertEncoder(config, layer_class=DistilBertLayer)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.embeddings.word_embeddings = embeddings

    def get_position_embeddings(self) -> nn.Embedding:
        return self.embeddings.position_embeddings

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, token_type_ids=None, **kwargs):
        check_inputs(input_ids, inputs_embeds)
        hidden = self.embeddings(input_ids, inputs_embeds, position_ids)
        hidden, all_hidden, all_attentions = run_encoder(self, self.transformer, hidden, attention_mask,
                                                         output_attentions, output_hidden_states)
        out = BaseModelOutput(last_hidden_state=hidden, hidden_states=all_hidden, attentions=all_attentions)
        return self._finish(out, return_dict)


# ---------------------------------------------------------------------------------------------
# task heads: bert.py's, with DistilBERT's base model, dropouts and first-token classifier


class DistilBertHeadMixin(EncoderHeadMixin):
    base_model_class = DistilBertModel

    def _new_base_model(self, config: PretrainedConfig, pooling: bool) -> PreTrainedModel:
        return self.base_model_class(config)  # no pooler: heads that pool read the first token

    def _dropout_probability(self) -> float:
        return self.config.dropout

    def _build_first_token_classifier(self, config: PretrainedConfig, num_outputs: int) -> None:
        self.distilbert = self._new_base_model(config, pooling=True)
        self.pre_classifier = nn.Linear(config.dim, config.dim)
        self.classifier = nn.Linear(config.dim, num_outputs)
        self.dropout = nn.Dropout(config.seq_classif_dropout)

    def _first_token_logits(self, out) -> torch.Tensor:
        pooled = torch.relu(self.pre_classifier(out.last_hidden_state[:, 0]))  # (B, D)
        return self.classifier(self.dropout(pooled))


class DistilBertForMaskedLM(DistilBertHeadMixin, MaskedLMHead, DistilBertPreTrainedModel):
    """vocab_transform ─► activation ─► vocab_layer_norm ─► vocab_projector (tied to the word embeddings)."""

    _tied_weights_keys = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.activation = get_activation(config.activation)
        self.distilbert = self._new_base_model(config, pooling=False)
        self.vocab_transform = nn.Linear(config.dim, config.dim)
        self.vocab_layer_norm = nn.LayerNorm(config.dim, eps=LAYER_NORM_EPS)
        self.vocab_projector = nn.Linear(config.dim, config.vocab_size)

    def get_output_embeddings(self) -> nn.Linear:
        return self.vocab_projector

    def _resize_extra(self, count: int) -> None:
        # the projector's bias is its own even when its weight is tied, so it is resized here
        self.vocab_projector.bias = resized_bias(self.vocab_projector.bias, count)
        self.vocab_projector.out_features = count

    def _lm_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.vocab_projector(self.vocab_layer_norm(self.activation(self.vocab_transform(hidden_states))))


class DistilBertForSequenceClassification(DistilBertHeadMixin, SequenceClassificationHead, DistilBertPreTrainedModel):
    def _build_head(self, config: PretrainedConfig) -> None:
        self._build_first_token_classifier(config, config.num_labels)

    def _classify(self, out) -> torch.Tensor:
        return self._first_token_logits(out)


class DistilBertForTokenClassification(DistilBertHeadMixin, TokenClassificationHead, DistilBertPreTrainedModel):
    pass


class DistilBertForQuestionAnswering(DistilBertHeadMixin, QuestionAnsweringHead, DistilBertPreTrainedModel):
    def _build_head(self, config: PretrainedConfig) -> None:
        if config.num_labels != 2:
            raise ValueError(
                f"DistilBertForQuestionAnswering predicts a start and an end logit, so config.num_labels must be 2, "
                f"not {config.num_labels}: pass num_labels=2."
            )
        super()._build_head(config)
        self.dropout = nn.Dropout(config.qa_dropout)

    def _span_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.qa_outputs(self.dropout(hidden_states))


class DistilBertForMultipleChoice(DistilBertHeadMixin, MultipleChoiceHead, DistilBertPreTrainedModel):
    def _build_head(self, config: PretrainedConfig) -> None:
        self._build_first_token_classifier(config, 1)

    def _score(self, out) -> torch.Tensor:
        return self._first_token_logits(out)
