"""BERT (https://arxiv.org/abs/1810.04805): the encoder BERT-like families build on, and BERT's heads.

    input_ids ─► word + position + token-type embeddings ─► LayerNorm
              ─► N × [ self-attention ─► add & LayerNorm ─► feed-forward ─► add & LayerNorm ]
              ─► last_hidden_state ─► (pooler: tanh(dense(h[:, 0])))

Module names equal the checkpoint keys (``encoder.layer.0.attention.self.query``), so a
checkpoint loads with a strict name match. RoBERTa (``roberta.py``) reuses everything here;
DistilBERT (``distilbert.py``) reuses the encoder loop. The task heads are ``encoder_heads.py``'s.

With ``config.is_decoder`` the self-attention is causal and fills a key/value cache: the family's
causal LM (``BertLMHeadModel``, ``RobertaForCausalLM``, ...) then decodes left to right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.attention import causal_mask, multi_head_attention, padding_mask, split_heads
from ..nn.cache import as_decoder_cache
from ..nn.layers import output_flags, run_layers
from ..outputs import BaseModelOutputWithPooling
from .encoder_heads import (
    CausalLMHead,
    EncoderHeadMixin,
    LMHeadMixin,
    MaskedLMHead,
    MultipleChoiceHead,
    NextSentencePredictionHead,
    PreTrainingHead,
    QuestionAnsweringHead,
    SequenceClassificationHead,
    TokenClassificationHead,
    tied_lm_keys,
)


class BertConfig(PretrainedConfig):
    model_type = "bert"
    defaults = {
        "vocab_size": 30522,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "classifier_dropout": None,
        "is_decoder": False,
        "add_cross_attention": False,
        "use_cache": True,
        "tie_word_embeddings": True,
    }


def embedding_width(config: PretrainedConfig) -> int:
    """The embeddings' width: ``embedding_size`` where a family factorizes its embeddings (ALBERT,
    ELECTRA, RoFormer: a projection then maps them to the hidden size), else ``hidden_size``."""
    return getattr(config, "embedding_size", None) or config.hidden_size


class BertEmbeddings(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        width = embedding_width(config)
        self.word_embeddings = nn.Embedding(config.vocab_size, width, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, width)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, width)
        self.LayerNorm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def position_ids(self, input_ids: torch.Tensor | None, length: int, device: torch.device, past: int = 0) -> torch.Tensor:
        """(1, T) positions after the ``past`` cached ones."""
        return torch.arange(past, past + length, device=device)[None, :]

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None, past: int = 0) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        batch, length = inputs_embeds.shape[:2]
        if position_ids is None:
            position_ids = self.position_ids(input_ids, length, inputs_embeds.device, past)
        if token_type_ids is None:
            token_type_ids = torch.zeros((batch, length), dtype=torch.long, device=inputs_embeds.device)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids) + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class BertSelfAttention(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(
                f"hidden_size ({config.hidden_size}) must be a multiple of num_attention_heads "
                f"({config.num_attention_heads}): fix one of them in the config."
            )
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_prob = config.attention_probs_dropout_prob
        self.causal = bool(getattr(config, "is_decoder", False))  # an encoder used as a decoder (its causal LM)

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor | None, eager: bool, cache=None, layer_idx: int = 0):
        query, key, value = (split_heads(m(hidden_states), self.head_dim) for m in (self.query, self.key, self.value))
        return self.attend(query, key, value, mask, eager, cache, layer_idx)

    def attend(self, query, key, value, mask, eager, cache, layer_idx):
        """(B, H, T, D) projections -> keys and values appended to ``cache`` -> attention output, weights."""
        return multi_head_attention(query, key, value, mask, cache=cache, layer_idx=layer_idx, causal=self.causal,
                                    eager=eager, dropout=self.dropout_prob if self.training else 0.0)


class BertSelfOutput(nn.Module):
    """dense ─► dropout ─► LayerNorm(x + residual); also the feed-forward's output block."""

    def __init__(self, config: PretrainedConfig, in_features: int | None = None) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features or config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class BertAttention(nn.Module):
    def __init__(self, config: PretrainedConfig, self_attention_class: type[nn.Module] = BertSelfAttention) -> None:
        super().__init__()
        self.self = self_attention_class(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states, mask, eager, *extra, **cache):
        """``extra``: what a family's self-attention takes besides (RoFormer's rotary tables); ``cache``:
        the decoder's ``cache`` and ``layer_idx``, when there is one."""
        attended, weights = self.self(hidden_states, mask, eager, *extra, **cache)
        return self.output(attended, hidden_states), weights


class BertIntermediate(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = get_activation(config.hidden_act)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden_states))


class BertLayer(nn.Module):
    self_attention_class: type[nn.Module] = BertSelfAttention  # RoFormer's rotates queries and keys

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.attention = BertAttention(config, self.self_attention_class)
        self.intermediate = BertIntermediate(config)
        self.output = BertSelfOutput(config, in_features=config.intermediate_size)
        self.layer_idx = 0  # its slot in a decoder's cache: BertEncoder numbers its layers

    def forward(self, hidden_states, mask, eager, *extra, cache=None):
        cache_args = {"cache": cache, "layer_idx": self.layer_idx} if cache is not None else {}
        attended, weights = self.attention(hidden_states, mask, eager, *extra, **cache_args)
        return self.output(self.intermediate(attended), attended), weights


class BertEncoder(nn.Module):
    """The stack of layers; ``layer_class`` lets a family with other layer internals reuse the loop.

    A layer maps ``(hidden_states, mask, eager)`` to ``(hidden_states, attention weights or None)``.
    """

    def __init__(self, config: PretrainedConfig, layer_class: type[nn.Module] = BertLayer) -> None:
        super().__init__()
        self.layer = nn.ModuleList(layer_class(config) for _ in range(config.num_hidden_layers))
        for index, layer in enumerate(self.layer):
            layer.layer_idx = index

    def forward(self, hidden_states, mask, eager, output_hidden_states, output_attentions, cache=None):
        """``cache``: a decoder's key/value cache (``is_decoder``), appended to by every layer."""
        stack = run_layers(self.layer, hidden_states, mask, eager, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions, **({"cache": cache} if cache is not None else {}))
        return stack.last_hidden_state, stack.hidden_states, stack.attentions


class BertPooler(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))


class BertPreTrainedModel(PreTrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"
    _ignore_unexpected = (r"position_ids$", r"token_type_ids$", r"^cls\.seq_relationship", r"pooler\.")
    _checkpoint_renames = ((r"LayerNorm\.gamma$", "LayerNorm.weight"), (r"LayerNorm\.beta$", "LayerNorm.bias"))

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(getattr(module, "decoder", None), nn.Linear) and isinstance(getattr(module, "bias", None), nn.Parameter):
            # an LM head's output bias (BERT's, RoBERTa's, ALBERT's): a bare parameter the generic init skips
            nn.init.zeros_(module.bias)


class BertModel(BertPreTrainedModel):
    """embeddings ─► encoder ─► (pooler); a BERT-shaped family swaps the three classes below
    (``pooler_class = None``: the family has no pooler)."""

    embeddings_class: type[nn.Module] = BertEmbeddings
    encoder_class: type[nn.Module] = BertEncoder
    pooler_class: type[nn.Module] | None = BertPooler
    # ELECTRA and RoFormer project embeddings narrower than the hidden size (``embedding_size``)
    # before the encoder, in ``embeddings_project``
    projects_embeddings: bool = False

    def __init__(self, config: PretrainedConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = self.embeddings_class(config)
        if self.projects_embeddings and embedding_width(config) != config.hidden_size:
            self.embeddings_project = nn.Linear(embedding_width(config), config.hidden_size)
        self.encoder = self.encoder_class(config)
        self.pooler = self.pooler_class(config) if add_pooling_layer and self.pooler_class is not None else None

    def _pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, C) ``pooler_output``."""
        return self.pooler(hidden)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.embeddings.word_embeddings = embeddings

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, past_key_values=None,
                use_cache=None, **kwargs):
        """With ``config.is_decoder`` (causal self-attention, as the family's causal LM runs) a cache is made
        and returned when ``use_cache``. Without it, as in the reference, a cache passed in is still filled
        (attention then looks both ways over it) but not returned."""
        check_inputs(input_ids, inputs_embeds)
        use_cache = bool(self.config.is_decoder and (self.config.use_cache if use_cache is None else use_cache))
        cache = as_decoder_cache(past_key_values, use_cache)
        past = cache.get_seq_length() if cache is not None else 0
        hidden = self._embed(input_ids, token_type_ids, position_ids, inputs_embeds, past)
        hidden, all_hidden, all_attentions = run_encoder(self, self.encoder, hidden, attention_mask,
                                                         output_attentions, output_hidden_states, cache)
        out = BaseModelOutputWithPoolingAndPast(
            last_hidden_state=hidden,
            pooler_output=self._pool(hidden) if self.pooler is not None else None,
            hidden_states=all_hidden,
            attentions=all_attentions,
            past_key_values=cache if use_cache else None,
        )
        return self._finish(out, return_dict)

    def _embed(self, input_ids, token_type_ids, position_ids, inputs_embeds, past: int = 0) -> torch.Tensor:
        """(B, T) ids -> (B, T, C) encoder input; positions continue after ``past`` cached ones."""
        continued = {"past": past} if past else {}  # only the decoders' embeddings (BERT's, RoBERTa's) take it
        hidden = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds, **continued)  # (B, T, E)
        return self.embeddings_project(hidden) if "embeddings_project" in self._modules else hidden


@dataclass
class BaseModelOutputWithPoolingAndPast(BaseModelOutputWithPooling):
    past_key_values: Any = None  # a decoder's cache (config.is_decoder), else None


def check_inputs(input_ids, inputs_embeds) -> None:
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("Pass exactly one of input_ids or inputs_embeds.")


def run_encoder(model: PreTrainedModel, encoder: BertEncoder, hidden: torch.Tensor, attention_mask,
                output_attentions, output_hidden_states, cache=None):
    """Shared body of encoder-only base models: resolve the output flags from the config, build
    the padding mask (causal too when ``config.is_decoder``), pick the attention kernel, run the layers."""
    output_attentions, output_hidden_states, eager = output_flags(model.config, output_attentions, output_hidden_states)
    past = cache.get_seq_length() if cache is not None else 0
    if getattr(model.config, "is_decoder", False):
        mask = causal_mask(attention_mask, hidden.shape[1], past + hidden.shape[1], hidden.dtype, hidden.device)
    else:
        mask = padding_mask(attention_mask, hidden.dtype)  # (B, 1, 1, past + T)
    return encoder(hidden, mask, eager, output_hidden_states, output_attentions, **({"cache": cache} if cache is not None else {}))


# ---------------------------------------------------------------------------------------------
# BERT's heads (the shared task heads: encoder_heads.py)


class BertHead(EncoderHeadMixin):
    base_model_class = BertModel


class BertLMPredictionHead(nn.Module):
    """transform (dense ─► hidden_act ─► LayerNorm) ─► decoder; the transform maps to the embedding
    width (RoFormer's ``embedding_size``; BERT's is the hidden size), where the tied decoder reads."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        width = embedding_width(config)
        self.transform = nn.Sequential()
        self.transform.dense = nn.Linear(config.hidden_size, width)
        self.transform.transform_act_fn = get_activation(config.hidden_act)
        self.transform.LayerNorm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        # with tied embeddings the decoder's bias is ``bias`` (the only one checkpoints store)
        self.decoder = nn.Linear(width, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))


class BertLMHeadMixin(LMHeadMixin):
    """BERT's ``cls.predictions`` (and ``cls.seq_relationship`` when pre-training), also RoFormer's."""

    _tied_weights_keys = tied_lm_keys("bert")

    def _build_lm(self, config: PretrainedConfig, pooling: bool = False, next_sentence: bool = False) -> None:
        setattr(self, self.base_model_prefix, self._new_base_model(config, pooling=pooling))
        self.cls = nn.Module()
        self.cls.predictions = BertLMPredictionHead(config)
        if next_sentence:
            self.cls.seq_relationship = nn.Linear(config.hidden_size, 2)


class BertForMaskedLM(BertLMHeadMixin, MaskedLMHead, BertHead, BertPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self._build_lm(config)


class BertForPreTraining(BertLMHeadMixin, PreTrainingHead, BertHead, BertPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self._build_lm(config, pooling=True, next_sentence=True)


class BertLMHeadModel(BertLMHeadMixin, CausalLMHead, BertHead, BertPreTrainedModel):
    """BERT as a left-to-right language model: build it with ``is_decoder=True`` (else its attention
    looks both ways, as the reference's does)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self._build_lm(config)


class BertForNextSentencePrediction(NextSentencePredictionHead, BertHead, BertPreTrainedModel):
    pass


class BertForSequenceClassification(SequenceClassificationHead, BertHead, BertPreTrainedModel):
    pass


class BertForTokenClassification(TokenClassificationHead, BertHead, BertPreTrainedModel):
    pass


class BertForQuestionAnswering(QuestionAnsweringHead, BertHead, BertPreTrainedModel):
    pass


class BertForMultipleChoice(MultipleChoiceHead, BertHead, BertPreTrainedModel):
    pass
