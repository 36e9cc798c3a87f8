"""BLIP's text side (https://arxiv.org/abs/2201.12086): a BERT-shaped encoder whose every layer can also
cross-attend to other states (the image's patches, or an encoded question), and its LM head.

    input_ids ─► word + position embeddings ─► LayerNorm
              ─► N × [ self-attention (causal when decoding) ─► add & LayerNorm
                       ─► cross-attention to encoder_hidden_states (when given) ─► add & LayerNorm
                       ─► feed-forward ─► add & LayerNorm ]
              ─► last_hidden_state ─► (pooler: tanh(dense(h[:, 0])))  or  (cls.predictions: logits)

One config (``is_decoder=True``, which only says the layers have cross-attention modules) serves as
the question encoder (bidirectional), the contrastive text tower and the caption/answer decoder: whether
the self-attention is causal is the caller's ``is_decoder`` argument, as in the reference. Module names
equal the checkpoint keys (``text_decoder.bert.encoder.layer.0.crossattention.self.key``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.attention import causal_mask, multi_head_attention, padding_mask, split_heads
from ..nn.cache import as_decoder_cache, as_encoder_decoder_cache
from ..nn.layers import output_flags, run_layers
from ..outputs import ModelOutput, Tensor, Tensors
from .bert import BertIntermediate, BertLMPredictionHead, BertPooler, BertSelfOutput, check_inputs
from .encoder_heads import LMHeadMixin, tied_lm_keys


class BlipTextConfig(PretrainedConfig):
    model_type = "blip_text_model"
    defaults = {
        "vocab_size": 30524, "hidden_size": 768, "encoder_hidden_size": 768, "intermediate_size": 3072,
        "projection_dim": 768, "num_hidden_layers": 12, "num_attention_heads": 8, "max_position_embeddings": 512,
        "hidden_act": "gelu", "layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "initializer_range": 0.02, "bos_token_id": 30522, "eos_token_id": 2, "pad_token_id": 0, "sep_token_id": 102,
        "is_decoder": True, "use_cache": True, "tie_word_embeddings": True, "label_smoothing": 0.0,
    }


@dataclass
class BlipTextModelOutput(ModelOutput):
    last_hidden_state: Tensor = None
    pooler_output: Tensor = None
    hidden_states: Tensors = None
    past_key_values: object = None
    attentions: Tensors = None
    cross_attentions: Tensors = None


@dataclass
class BlipTextLMOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None
    past_key_values: object = None
    hidden_states: Tensors = None
    attentions: Tensors = None
    cross_attentions: Tensors = None


class BlipTextEmbeddings(nn.Module):
    """Word + position embeddings (no token types) ─► LayerNorm ─► dropout."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, position_ids=None, inputs_embeds=None, past: int = 0) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if position_ids is None:  # (1, T) after the ``past`` cached positions
            position_ids = torch.arange(past, past + inputs_embeds.shape[1], device=inputs_embeds.device)[None]
        return self.dropout(self.LayerNorm(inputs_embeds + self.position_embeddings(position_ids)))


class BlipTextSelfAttention(nn.Module):
    """query/key/value; a cross-attention's keys and values come from ``encoder_hidden_size``-wide states,
    projected on the first decoding step and then read from an encoder-decoder cache."""

    def __init__(self, config: PretrainedConfig, is_cross_attention: bool, layer_idx: int) -> None:
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(f"hidden_size ({config.hidden_size}) must be a multiple of num_attention_heads "
                             f"({config.num_attention_heads}): fix the text config.")
        self.head_dim = config.hidden_size // config.num_attention_heads
        source = config.encoder_hidden_size if is_cross_attention else config.hidden_size
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(source, config.hidden_size)
        self.value = nn.Linear(source, config.hidden_size)
        self.dropout_prob = config.attention_probs_dropout_prob
        self.layer_idx = layer_idx

    def _cross_keys_values(self, encoder_states, cache):
        cached = cache.cross_attention(self.layer_idx) if cache is not None else None
        if cached is not None:
            return cached
        key, value = split_heads(self.key(encoder_states), self.head_dim), split_heads(self.value(encoder_states), self.head_dim)
        if cache is not None:
            cache.store_cross_attention(key, value, self.layer_idx)
        return key, value

    def forward(self, hidden_states, mask, eager, causal=False, cache=None, encoder_states=None):
        """(B, T, C) -> (B, T, C), weights (B, H, T, K) when ``eager``."""
        query = split_heads(self.query(hidden_states), self.head_dim)
        if encoder_states is None:
            key, value = split_heads(self.key(hidden_states), self.head_dim), split_heads(self.value(hidden_states), self.head_dim)
        else:
            key, value = self._cross_keys_values(encoder_states, cache)
            cache, causal = None, False  # the encoder's keys are stored once
        return multi_head_attention(query, key, value, mask, cache=cache, layer_idx=self.layer_idx, causal=causal,
                                    eager=eager, dropout=self.dropout_prob if self.training else 0.0)


BlipTextSelfOutput = BertSelfOutput  # dense ─► dropout ─► LayerNorm(x + residual): BERT's keys


class BlipTextAttention(nn.Module):
    def __init__(self, config: PretrainedConfig, layer_idx: int, is_cross_attention: bool = False) -> None:
        super().__init__()
        self.self = BlipTextSelfAttention(config, is_cross_attention, layer_idx)
        self.output = BlipTextSelfOutput(config)

    def forward(self, hidden_states, mask, eager, **kwargs):
        attended, weights = self.self(hidden_states, mask, eager, **kwargs)
        return self.output(attended, hidden_states), weights


class BlipTextLayer(nn.Module):
    def __init__(self, config: PretrainedConfig, layer_idx: int) -> None:
        super().__init__()
        self.attention = BlipTextAttention(config, layer_idx)
        if config.is_decoder:  # the config's flag says the layer *has* cross-attention
            self.crossattention = BlipTextAttention(config, layer_idx, is_cross_attention=True)
        self.intermediate = BertIntermediate(config)
        self.output = BertSelfOutput(config, in_features=config.intermediate_size)

    def forward(self, hidden_states, mask, eager, causal, cache, encoder_states, cross_mask):
        """-> hidden (B, T, C), self-attention weights, cross-attention weights (None without encoder states)."""
        hidden, weights = self.attention(hidden_states, mask, eager, causal=causal, cache=cache)
        cross_weights = None
        if encoder_states is not None:
            if not hasattr(self, "crossattention"):
                raise ValueError("encoder_hidden_states were given, but this text model has no cross-attention: "
                                 "build it from a text config with is_decoder=True.")
            hidden, cross_weights = self.crossattention(hidden, cross_mask, eager, cache=cache, encoder_states=encoder_states)
        return self.output(self.intermediate(hidden), hidden), weights, cross_weights


class BlipTextEncoder(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BlipTextLayer(config, i) for i in range(config.num_hidden_layers))


class BlipTextPreTrainedModel(PreTrainedModel):
    config_class = BlipTextConfig
    base_model_prefix = "bert"
    _ignore_unexpected = (r"position_ids$",)

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        init_lm_bias(module)


def init_lm_bias(module: nn.Module) -> None:
    """An LM head's output bias: a bare parameter the generic init skips."""
    if isinstance(module, BertLMPredictionHead):
        nn.init.zeros_(module.bias)


class BlipTextModel(BlipTextPreTrainedModel):
    """embeddings ─► layers ─► (pooler). ``is_decoder=True`` makes the self-attention causal and fills a
    cache (``use_cache``); ``encoder_hidden_states`` (B, S, encoder_hidden_size) switch cross-attention on."""

    def __init__(self, config: PretrainedConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = BlipTextEmbeddings(config)
        self.encoder = BlipTextEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.embeddings.word_embeddings = embeddings

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None,
                encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None, use_cache=None,
                is_decoder=False, output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        check_inputs(input_ids, inputs_embeds)
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        use_cache = bool(is_decoder and (self.config.use_cache if use_cache is None else use_cache))
        cross = encoder_hidden_states is not None
        # with cross-attention the cache holds both kinds (a plain cache passed in becomes the self-attention part)
        cache = (as_encoder_decoder_cache if cross else as_decoder_cache)(past_key_values, use_cache) if use_cache else None
        past = cache.get_seq_length() if cache is not None else 0
        hidden = self.embeddings(input_ids, position_ids, inputs_embeds, past)  # (B, T, C)
        if is_decoder:
            mask = causal_mask(attention_mask, hidden.shape[1], past + hidden.shape[1], hidden.dtype, hidden.device)
        else:
            mask = padding_mask(attention_mask, hidden.dtype)  # (B, 1, 1, T)
        cross_mask = padding_mask(encoder_attention_mask, hidden.dtype) if cross else None  # (B, 1, 1, S)
        stack = run_layers(self.encoder.layer, hidden, mask, eager, bool(is_decoder), cache, encoder_hidden_states,
                           cross_mask, output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                           cross_attentions=cross)
        out = BlipTextModelOutput(
            last_hidden_state=stack.last_hidden_state,
            pooler_output=self.pooler(stack.last_hidden_state) if self.pooler is not None else None,
            hidden_states=stack.hidden_states, past_key_values=cache, attentions=stack.attentions,
            cross_attentions=stack.cross_attentions,
        )
        return self._finish(out, return_dict)


class BlipTextLMHeadModel(LMHeadMixin, BlipTextPreTrainedModel):
    """The caption / answer decoder: causal self-attention, cross-attention to ``encoder_hidden_states``,
    BERT's LM head tied to the word embeddings. ``generate()`` here is the loop BLIP's models hand over
    to, with the image (or question) states as ``encoder_hidden_states``."""

    is_generative = True
    _tied_weights_keys = tied_lm_keys("bert")

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.bert = BlipTextModel(config, add_pooling_layer=False)
        self.cls = nn.Module()
        self.cls.predictions = BertLMPredictionHead(config)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None,
                encoder_hidden_states=None, encoder_attention_mask=None, labels=None, past_key_values=None,
                use_cache=None, is_decoder=True, reduction="mean", logits_to_keep=0, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        """``labels`` (B, T): the next-token loss (position t predicts label t + 1; -100 ignored) with the
        config's ``label_smoothing``; ``reduction="none"`` gives one summed loss per row."""
        out = self.bert(input_ids, attention_mask, position_ids, inputs_embeds, encoder_hidden_states,
                        encoder_attention_mask, past_key_values, False if labels is not None else use_cache,
                        is_decoder, output_attentions, output_hidden_states, return_dict=True)
        hidden = out.last_hidden_state
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        logits = self.cls.predictions(hidden)  # (B, T, V)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1).to(logits.device),
                                   reduction=reduction, label_smoothing=self.config.label_smoothing)
            if reduction == "none":
                loss = loss.view(logits.shape[0], -1).sum(1)
        output = BlipTextLMOutput(loss, logits, out.past_key_values, out.hidden_states, out.attentions, out.cross_attentions)
        return self._finish(output, return_dict)
