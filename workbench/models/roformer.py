"""RoFormer (https://arxiv.org/abs/2104.09864): a BERT encoder with rotary position embeddings.

    input_ids ─► word + token-type embeddings (embedding_size) ─► LayerNorm
              ─► (embeddings_project to hidden_size, when embedding_size != hidden_size)
              ─► N × [ BERT layer whose queries and keys (and values, with rotary_value) are rotated
                       by their position ] ─► last_hidden_state          (no pooler)

What differs from ``bert.py``: no position embeddings; each layer's self-attention rotates its
queries and keys on interleaved channel pairs (:mod:`workbench.nn.rope`) by angles
read from ``encoder.embed_positions``, a fixed sinusoidal table of ``head_dim`` columns that
checkpoints store; the masked-LM transform maps to ``embedding_size``; sequence classification
reads the first token through ``classifier.{dense, out_proj}`` with ``hidden_act``; multiple choice
goes through a :class:`~workbench.nn.summary.SequenceSummary` (the last token, unless the config's
``summary_*`` keys say otherwise).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import PretrainedConfig
from ..nn.activations import get_activation
from ..nn.attention import split_heads
from ..nn.rope import apply_interleaved_rotary, interleaved_rotary_tables
from ..nn.layers import run_layers
from ..nn.positions import SinusoidalEmbedding
from .bert import (
    BertConfig,
    BertEncoder,
    BertLMHeadMixin,
    BertLayer,
    BertModel,
    BertPreTrainedModel,
    BertSelfAttention,
    embedding_width,
)
from .encoder_heads import (
    CausalLMHead,
    EncoderHeadMixin,
    FirstTokenClassificationHead,
    MaskedLMHead,
    QuestionAnsweringHead,
    SummaryMultipleChoiceHead,
    TokenClassificationHead,
    tied_lm_keys,
)
from .roberta import RobertaClassificationHead


class RoFormerConfig(PretrainedConfig):
    model_type = "roformer"
    defaults = {**BertConfig.defaults, "vocab_size": 50000, "embedding_size": None, "max_position_embeddings": 1536,
                "rotary_value": False}

    def __post_init__(self) -> None:
        if self.embedding_size is None:  # the reference writes the resolved width to config.json
            self.embedding_size = self.hidden_size


class RoFormerEmbeddings(nn.Module):
    """Word and token-type embeddings, no positions (the attention rotates by position instead)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        width = embedding_width(config)
        self.word_embeddings = nn.Embedding(config.vocab_size, width, padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, width)
        self.LayerNorm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None, past: int = 0):
        """(B, T) ids -> (B, T, embedding_size); ``position_ids`` and ``past`` go unused: the encoder rotates."""
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros(inputs_embeds.shape[:2], dtype=torch.long, device=inputs_embeds.device)
        return self.dropout(self.LayerNorm(inputs_embeds + self.token_type_embeddings(token_type_ids)))


class RoFormerSelfAttention(BertSelfAttention):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.rotary_value = config.rotary_value

    def forward(self, hidden_states, mask, eager, rotary, cache=None, layer_idx: int = 0):
        sin, cos = rotary  # (1, 1, T, D) each
        query, key, value = (split_heads(m(hidden_states), self.head_dim) for m in (self.query, self.key, self.value))
        query, key = apply_interleaved_rotary(query, sin, cos), apply_interleaved_rotary(key, sin, cos)
        if self.rotary_value:
            value = apply_interleaved_rotary(value, sin, cos)
        return self.attend(query, key, value, mask, eager, cache, layer_idx)


class RoFormerLayer(BertLayer):
    self_attention_class = RoFormerSelfAttention


class RoFormerEncoder(BertEncoder):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config, RoFormerLayer)
        head_dim = config.hidden_size // config.num_attention_heads
        self.embed_positions = SinusoidalEmbedding(config.max_position_embeddings, head_dim, interleaved=False,
                                                   frozen=True)

    def forward(self, hidden_states, mask, eager, output_hidden_states, output_attentions, cache=None):
        past = cache.get_seq_length() if cache is not None else 0  # a decoder's new tokens rotate on from there
        rotary = interleaved_rotary_tables(self.embed_positions.weight[past : past + hidden_states.shape[1]])
        stack = run_layers(self.layer, hidden_states, mask, eager, rotary, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions, **({"cache": cache} if cache is not None else {}))
        return stack.last_hidden_state, stack.hidden_states, stack.attentions


class RoFormerPreTrainedModel(BertPreTrainedModel):
    config_class = RoFormerConfig
    base_model_prefix = "roformer"

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, SinusoidalEmbedding):
            module.reset_parameters()  # the sin/cos table, not random values
        else:
            super()._init_weights(module)


class RoFormerModel(RoFormerPreTrainedModel, BertModel):
    embeddings_class = RoFormerEmbeddings
    encoder_class = RoFormerEncoder
    pooler_class = None
    projects_embeddings = True


class RoFormerHead(EncoderHeadMixin):
    base_model_class = RoFormerModel

    def _dropout_probability(self) -> float:
        return self.config.hidden_dropout_prob  # the reference has no classifier_dropout here


class RoFormerForMaskedLM(BertLMHeadMixin, MaskedLMHead, RoFormerHead, RoFormerPreTrainedModel):
    _tied_weights_keys = tied_lm_keys("roformer")

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self._build_lm(config)


class RoFormerForCausalLM(CausalLMHead, RoFormerForMaskedLM):
    """The masked LM's modules and checkpoint keys read left to right: build it with ``is_decoder=True``."""


class RoFormerForSequenceClassification(FirstTokenClassificationHead, RoFormerHead, RoFormerPreTrainedModel):
    def _classifier(self, config: PretrainedConfig) -> nn.Module:
        return RobertaClassificationHead(config, activation=get_activation(config.hidden_act),
                                         dropout=config.hidden_dropout_prob)


class RoFormerForTokenClassification(TokenClassificationHead, RoFormerHead, RoFormerPreTrainedModel):
    pass


class RoFormerForQuestionAnswering(QuestionAnsweringHead, RoFormerHead, RoFormerPreTrainedModel):
    pass


class RoFormerForMultipleChoice(SummaryMultipleChoiceHead, RoFormerHead, RoFormerPreTrainedModel):
    pass
