"""BART-style encoder-decoders: BART, mBART, Marian and Pegasus, from one config-driven file.

    input_ids ─► embed_tokens × embed_scale + embed_positions ─► (layernorm_embedding)
              ─► N × encoder layer [ self-attention ─► feed-forward ] ─► (layer_norm) ─► encoder states
    decoder_input_ids ─► embed_tokens × embed_scale + embed_positions ─► (layernorm_embedding)
              ─► M × decoder layer [ causal self-attention (cached)
                                     ─► cross-attention over the encoder states (keys/values cached once)
                                     ─► feed-forward ] ─► (layer_norm)
              ─► lm_head (tied to the shared embeddings) + final_logits_bias

    every block, post-norm (BART, Marian):  h = LayerNorm(h + block(h))
                 pre-norm (mBART, Pegasus): h = h + block(LayerNorm(h))
    feed-forward: fc2(activation(fc1(h)))

BART: https://arxiv.org/abs/1910.13461, mBART: https://arxiv.org/abs/2001.08210, Marian:
https://arxiv.org/abs/1804.00344, Pegasus: https://arxiv.org/abs/1912.08777. The families differ in
architecture facts their config classes fix (``normalize_before``, ``add_final_layer_norm``,
``embedding_layer_norm``, ``position_embedding_type``, how labels become decoder inputs) and in
config.json keys (``scale_embedding``, Marian's ``share_encoder_decoder_embeddings``); modules read
them once, when they are built. Module names equal the checkpoint keys
(``model.decoder.layers.0.encoder_attn.k_proj``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.attention import MultiHeadAttention, causal_mask, padding_mask
from ..nn.cache import as_encoder_decoder_cache
from ..nn.layers import output_flags, run_layers
from ..nn.losses import sequence_classification_loss, token_classification_loss
from ..nn.positions import OffsetPositionalEmbedding, SinusoidalEmbedding
from ..outputs import (
    BaseModelOutput,
    BaseModelOutputWithPastAndCrossAttentions,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
    Seq2SeqSequenceClassifierOutput,
)

# ---------------------------------------------------------------------------------------------
# configs


class Seq2SeqConfig(PretrainedConfig):
    """What the four families share. The class attributes are architecture facts a family fixes
    without writing them to config.json."""

    attribute_map = {"num_attention_heads": "encoder_attention_heads", "hidden_size": "d_model",
                     "num_hidden_layers": "encoder_layers", "initializer_range": "init_std"}
    normalize_before = False  # pre-norm blocks instead of post-norm
    add_final_layer_norm = False  # a LayerNorm after the last encoder and decoder layer
    embedding_layer_norm = True  # a LayerNorm on the embeddings (module "layernorm_embedding")
    position_embedding_type = "learned"  # "learned" (fairseq's offset of 2) or "sinusoidal" (fixed)
    scale_decoder_inputs_embeds = False  # embed_scale also applies to decoder_inputs_embeds a caller passes
    labels_start_from_last_token = False  # mBART: decoder inputs start with each row's last label (language id)
    decoder_inputs_from_input_ids = False  # BART, mBART: no decoder inputs means input_ids shifted right
    share_encoder_decoder_embeddings = True  # Marian writes this one to config.json
    position_offset = 2  # learned positions: rows fairseq reserved at the top of the table (Whisper: none)
    key_bias = True  # the attention's k_proj has a bias (Whisper's has none)


_SHARED_DEFAULTS = {
    "vocab_size": 50265, "max_position_embeddings": 1024, "d_model": 1024,
    "encoder_layers": 12, "encoder_ffn_dim": 4096, "encoder_attention_heads": 16,
    "decoder_layers": 12, "decoder_ffn_dim": 4096, "decoder_attention_heads": 16,
    "encoder_layerdrop": 0.0, "decoder_layerdrop": 0.0, "activation_function": "gelu",
    "dropout": 0.1, "attention_dropout": 0.0, "activation_dropout": 0.0, "init_std": 0.02,
    "scale_embedding": False, "use_cache": True, "is_encoder_decoder": True, "is_decoder": False,
    "tie_word_embeddings": True,
}


class BartConfig(Seq2SeqConfig):
    model_type = "bart"
    decoder_inputs_from_input_ids = True
    defaults = {**_SHARED_DEFAULTS, "classifier_dropout": 0.0, "pad_token_id": 1, "bos_token_id": 0,
                "eos_token_id": 2, "decoder_start_token_id": 2, "forced_eos_token_id": 2}

    def __init__(self, **kwargs) -> None:
        if kwargs.get("id2label") is None:
            kwargs.setdefault("num_labels", 3)  # BART's classification checkpoints (MNLI) have three
        super().__init__(**kwargs)


class MBartConfig(Seq2SeqConfig):
    model_type = "mbart"
    normalize_before = True
    add_final_layer_norm = True
    labels_start_from_last_token = True
    decoder_inputs_from_input_ids = True
    defaults = {**_SHARED_DEFAULTS, "classifier_dropout": 0.0, "pad_token_id": 1, "bos_token_id": 0,
                "eos_token_id": 2, "decoder_start_token_id": None, "forced_eos_token_id": 2}


class MarianConfig(Seq2SeqConfig):
    model_type = "marian"
    embedding_layer_norm = False
    position_embedding_type = "sinusoidal"
    scale_decoder_inputs_embeds = True
    defaults = {**_SHARED_DEFAULTS, "vocab_size": 58101, "decoder_vocab_size": None, "pad_token_id": 58100,
                "bos_token_id": None, "eos_token_id": 0, "decoder_start_token_id": 58100, "forced_eos_token_id": 0,
                "share_encoder_decoder_embeddings": True}

    def __post_init__(self) -> None:
        self.decoder_vocab_size = self.decoder_vocab_size or self.vocab_size


class PegasusConfig(Seq2SeqConfig):
    model_type = "pegasus"
    normalize_before = True
    add_final_layer_norm = True
    embedding_layer_norm = False
    position_embedding_type = "sinusoidal"
    scale_decoder_inputs_embeds = True
    defaults = {**_SHARED_DEFAULTS, "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0,
                "forced_eos_token_id": 1}


def decoder_vocab_size(config: Seq2SeqConfig) -> int:
    """Marian checkpoints with separate vocabularies give the decoder its own size."""
    return config.vocab_size if config.share_encoder_decoder_embeddings else config.decoder_vocab_size


# ---------------------------------------------------------------------------------------------
# teacher forcing


def shift_tokens_right(input_ids: torch.Tensor, pad_token_id: int | None, decoder_start_token_id: int | None):
    """(B, T) labels -> decoder inputs ``[start, labels[:-1]]``; ignored labels (-100) become pad."""
    if pad_token_id is None or decoder_start_token_id is None:
        raise ValueError("Making decoder inputs from labels needs config.pad_token_id and "
                         "config.decoder_start_token_id: set both, or pass decoder_input_ids.")
    shifted = input_ids.new_full(input_ids.shape, decoder_start_token_id)
    shifted[:, 1:] = input_ids[:, :-1]
    return shifted.masked_fill(shifted == -100, pad_token_id)


def shift_tokens_right_from_last_token(input_ids: torch.Tensor, pad_token_id: int | None):
    """mBART: right-padded labels ``[tokens, eos, lang_id, pad...]`` -> ``[lang_id, tokens, eos, ...]``.
    The decoder starts from each row's last real token (the target language id), not a fixed one."""
    if pad_token_id is None:
        raise ValueError("Making decoder inputs from labels needs config.pad_token_id: set it, or pass decoder_input_ids.")
    labels = input_ids.masked_fill(input_ids == -100, pad_token_id)
    last = labels.ne(pad_token_id).sum(dim=1, keepdim=True) - 1  # (B, 1) index of the last real token
    shifted = labels.roll(1, dims=1)
    shifted[:, :1] = labels.gather(1, last)
    return shifted


# ---------------------------------------------------------------------------------------------
# modules


def position_embedding(config: Seq2SeqConfig) -> nn.Embedding:
    if config.position_embedding_type == "sinusoidal":  # sines then cosines, not trained
        return SinusoidalEmbedding(config.max_position_embeddings, config.d_model, interleaved=False, frozen=True)
    return OffsetPositionalEmbedding(config.max_position_embeddings, config.d_model, offset=config.position_offset)


class Seq2SeqAttention(MultiHeadAttention):
    """Encoder self-attention, decoder causal self-attention or cross-attention (see
    :class:`~workbench.nn.attention.MultiHeadAttention`), with biases (Whisper: none on k_proj)."""

    def __init__(self, config: Seq2SeqConfig, num_heads: int, layer_idx: int, causal: bool = False) -> None:
        super().__init__(config.d_model, num_heads, layer_idx, causal=causal, key_bias=config.key_bias,
                         dropout=config.attention_dropout)


class _Block(nn.Module):
    """The residual wiring and feed-forward that encoder and decoder layers share."""

    def __init__(self, config: Seq2SeqConfig, ffn_dim: int) -> None:
        super().__init__()
        self.normalize_before = config.normalize_before
        self.dropout, self.activation_dropout = config.dropout, config.activation_dropout
        self.activation_fn = get_activation(config.activation_function)
        self.fc1 = nn.Linear(config.d_model, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, config.d_model)
        self.final_layer_norm = nn.LayerNorm(config.d_model)

    def _sublayer(self, hidden, norm: nn.LayerNorm, block):
        """pre-norm: h + block(norm(h)); post-norm: norm(h + block(h)); dropout on the block's output."""
        out, weights = block(norm(hidden) if self.normalize_before else hidden)
        hidden = hidden + F.dropout(out, self.dropout, self.training)
        return (hidden if self.normalize_before else norm(hidden)), weights

    def _feed_forward(self, hidden):
        hidden = F.dropout(self.activation_fn(self.fc1(hidden)), self.activation_dropout, self.training)
        return self.fc2(hidden), None


class EncoderLayer(_Block):
    def __init__(self, config: Seq2SeqConfig, layer_idx: int) -> None:
        super().__init__(config, config.encoder_ffn_dim)
        self.self_attn = Seq2SeqAttention(config, config.encoder_attention_heads, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)

    def forward(self, hidden, mask, eager):
        hidden, weights = self._sublayer(hidden, self.self_attn_layer_norm, lambda h: self.self_attn(h, mask, eager))
        hidden, _ = self._sublayer(hidden, self.final_layer_norm, self._feed_forward)
        if hidden.dtype == torch.float16 and not torch.isfinite(hidden).all():  # keep fp16 inference finite
            limit = torch.finfo(hidden.dtype).max - 1000
            hidden = hidden.clamp(-limit, limit)
        return hidden, weights


class DecoderLayer(_Block):
    def __init__(self, config: Seq2SeqConfig, layer_idx: int) -> None:
        super().__init__(config, config.decoder_ffn_dim)
        heads = config.decoder_attention_heads
        self.self_attn = Seq2SeqAttention(config, heads, layer_idx, causal=True)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.encoder_attn = Seq2SeqAttention(config, heads, layer_idx)
        self.encoder_attn_layer_norm = nn.LayerNorm(config.d_model)

    def forward(self, hidden, mask, encoder_states, encoder_mask, cache, eager):
        hidden, self_weights = self._sublayer(hidden, self.self_attn_layer_norm,
                                              lambda h: self.self_attn(h, mask, eager, cache))
        cross_weights = None
        if encoder_states is not None:
            hidden, cross_weights = self._sublayer(hidden, self.encoder_attn_layer_norm,
                                                   lambda h: self.encoder_attn(h, encoder_mask, eager, cache, encoder_states))
        hidden, _ = self._sublayer(hidden, self.final_layer_norm, self._feed_forward)
        return hidden, self_weights, cross_weights


class _Stack(nn.Module):
    """What the encoder and the decoder share: embeddings, the layer list, the optional norms."""

    def __init__(self, config: Seq2SeqConfig, vocab_size: int, layers: list[nn.Module], layerdrop: float) -> None:
        super().__init__()
        self.config = config
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.embed_tokens = nn.Embedding(vocab_size, config.d_model, padding_idx=config.pad_token_id)
        self.embed_positions = position_embedding(config)
        self.layernorm_embedding = nn.LayerNorm(config.d_model) if config.embedding_layer_norm else None
        self.layers = nn.ModuleList(layers)
        self.layer_norm = nn.LayerNorm(config.d_model) if config.add_final_layer_norm else None
        self.dropout, self.layerdrop = config.dropout, layerdrop

    def _run(self, hidden, mask, *args, output_attentions, output_hidden_states, cross_attentions=False):
        return run_layers(self.layers, hidden, mask, *args, output_hidden_states=output_hidden_states,
                          output_attentions=output_attentions, cross_attentions=cross_attentions,
                          layerdrop=self.layerdrop, final=self.layer_norm)

    def _embed(self, input_ids, inputs_embeds, start: int, scale_passed: bool = False,
               position_ids: torch.Tensor | None = None) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids) * self.embed_scale
        elif scale_passed:
            inputs_embeds = inputs_embeds * self.embed_scale
        if position_ids is None:  # (T,): the positions after the cached ones
            position_ids = torch.arange(start, start + inputs_embeds.shape[1], device=inputs_embeds.device)
        hidden = inputs_embeds + self.embed_positions(position_ids)  # (B, T, C) + (T, C) or (B, T, C)
        if self.layernorm_embedding is not None:
            hidden = self.layernorm_embedding(hidden)
        return F.dropout(hidden, self.dropout, self.training)


class Seq2SeqEncoder(_Stack):
    def __init__(self, config: Seq2SeqConfig) -> None:
        layers = [EncoderLayer(config, i) for i in range(config.encoder_layers)]
        super().__init__(config, config.vocab_size, layers, config.encoder_layerdrop)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs) -> BaseModelOutput:
        """(B, S) ids and 1/0 padding mask -> encoder states (B, S, C)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds to the encoder.")
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        hidden = self._embed(input_ids, inputs_embeds, 0)
        stack = self._run(hidden, padding_mask(attention_mask, hidden.dtype), eager, output_attentions=output_attentions,
                          output_hidden_states=output_hidden_states)
        out = BaseModelOutput(stack.last_hidden_state, stack.hidden_states, stack.attentions)
        return out if return_dict is not False else out.to_tuple()


class Seq2SeqDecoder(_Stack):
    def __init__(self, config: Seq2SeqConfig) -> None:
        layers = [DecoderLayer(config, i) for i in range(config.decoder_layers)]
        super().__init__(config, decoder_vocab_size(config), layers, config.decoder_layerdrop)

    def forward(self, input_ids=None, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
                past_key_values=None, inputs_embeds=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, position_ids=None,
                **kwargs) -> BaseModelOutputWithPastAndCrossAttentions:
        """(B, T) decoder ids attending to (B, S, C) encoder states. ``attention_mask`` is the
        decoder's (B, past + T) padding mask, ``encoder_attention_mask`` the encoder's (B, S);
        ``position_ids`` (B, T) count from each row's first real token (left padding), by default
        the positions after the cached ones."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of decoder_input_ids or decoder_inputs_embeds.")
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        cache = as_encoder_decoder_cache(past_key_values, self.config.use_cache if use_cache is None else use_cache)
        past = cache.get_seq_length() if cache is not None else 0
        hidden = self._embed(input_ids, inputs_embeds, past, scale_passed=self.config.scale_decoder_inputs_embeds,
                             position_ids=position_ids)
        length = hidden.shape[1]
        mask = causal_mask(attention_mask, length, past + length, hidden.dtype, hidden.device)
        encoder_mask = padding_mask(encoder_attention_mask, hidden.dtype)
        stack = self._run(hidden, mask, encoder_hidden_states, encoder_mask, cache, eager,
                          output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                          cross_attentions=encoder_hidden_states is not None)
        out = BaseModelOutputWithPastAndCrossAttentions(stack.last_hidden_state, cache, stack.hidden_states,
                                                        stack.attentions, stack.cross_attentions)
        return out if return_dict is not False else out.to_tuple()


# ---------------------------------------------------------------------------------------------
# models


class BartPreTrainedModel(PreTrainedModel):
    config_class = BartConfig
    base_model_prefix = "model"
    _ignore_unexpected = (r"(^|\.)(encoder|decoder)\.version$",)  # fairseq bookkeeping in old exports

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__(config)
        fixed = (r"embed_positions\.weight$",) if config.position_embedding_type == "sinusoidal" else ()
        self._ignore_missing = (r"(^|\.)final_logits_bias$", *fixed)  # Marian's exports leave its tables out

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, SinusoidalEmbedding):
            module.reset_parameters()  # the sin/cos table, not random values
        else:
            super()._init_weights(module)
        if isinstance(getattr(module, "final_logits_bias", None), torch.Tensor):
            with torch.no_grad():
                module.final_logits_bias.zero_()

    def get_encoder(self) -> Seq2SeqEncoder:
        return getattr(self, self.base_model_prefix, self).encoder

    def get_decoder(self) -> Seq2SeqDecoder:
        return getattr(self, self.base_model_prefix, self).decoder

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """The decoder inputs that teacher-force ``labels`` (what data collators call)."""
        if self.config.labels_start_from_last_token:
            return shift_tokens_right_from_last_token(labels, self.config.pad_token_id)
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)


class BartModel(BartPreTrainedModel):
    """Encoder and decoder; ``last_hidden_state`` is the decoder's (B, T, C)."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__(config)
        if config.share_encoder_decoder_embeddings:
            self.shared = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id)
            self._tied_weights_keys = {"encoder.embed_tokens.weight": "shared.weight",
                                       "decoder.embed_tokens.weight": "shared.weight"}
        self.encoder = Seq2SeqEncoder(config)
        self.decoder = Seq2SeqDecoder(config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.shared if self.config.share_encoder_decoder_embeddings else self.encoder.embed_tokens

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        if self.config.share_encoder_decoder_embeddings:
            self.shared = self.decoder.embed_tokens = embeddings
        self.encoder.embed_tokens = embeddings

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        """Encode ``input_ids`` (or reuse ``encoder_outputs``), then decode ``decoder_input_ids``.

        BART and mBART make the decoder inputs from ``input_ids`` when none are given (denoising);
        with ``use_cache`` (the config's default) the decoder's keys and values go into
        ``past_key_values``, an :class:`EncoderDecoderCache`.
        """
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            if not self.config.decoder_inputs_from_input_ids or input_ids is None:
                raise ValueError(f"{type(self).__name__} needs decoder_input_ids (or decoder_inputs_embeds); "
                                 "to train on labels, pass labels= to the model with a language-model head.")
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(input_ids)
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids, attention_mask, inputs_embeds, output_attentions,
                                           output_hidden_states)
        elif not isinstance(encoder_outputs, BaseModelOutput):  # a tuple from return_dict=False
            encoder_outputs = BaseModelOutput(*encoder_outputs[:3])
        decoded = self.decoder(decoder_input_ids, decoder_attention_mask, encoder_outputs.last_hidden_state,
                               attention_mask, past_key_values, decoder_inputs_embeds, use_cache, output_attentions,
                               output_hidden_states)
        out = Seq2SeqModelOutput(
            last_hidden_state=decoded.last_hidden_state, past_key_values=decoded.past_key_values,
            decoder_hidden_states=decoded.hidden_states, decoder_attentions=decoded.attentions,
            cross_attentions=decoded.cross_attentions, encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states, encoder_attentions=encoder_outputs.attentions,
        )
        return self._finish(out, return_dict)


def _seq2seq_fields(out: Seq2SeqModelOutput) -> dict:
    return {name: getattr(out, name) for name in (
        "past_key_values", "decoder_hidden_states", "decoder_attentions", "cross_attentions",
        "encoder_last_hidden_state", "encoder_hidden_states", "encoder_attentions")}


class BartForConditionalGeneration(BartPreTrainedModel):
    """Next-token logits over the decoder vocabulary; ``labels`` (B, T) give the loss, and the
    decoder inputs are then ``labels`` shifted right (unless given).

    >>> summary_ids = model.generate(**tokenizer([article], return_tensors="pt"), num_beams=4)  # doctest: +SKIP
    """

    is_generative = True
    base_model_class = BartModel

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__(config)
        self.model = self.base_model_class(config)
        vocab = decoder_vocab_size(config)
        self.register_buffer("final_logits_bias", torch.zeros(1, vocab))  # fairseq's output bias, kept as a buffer
        self.lm_head = nn.Linear(config.d_model, vocab, bias=False)
        source = "model.shared.weight" if config.share_encoder_decoder_embeddings else "model.decoder.embed_tokens.weight"
        self._tied_weights_keys = {"lm_head.weight": source,
                                   **{f"model.{k}": f"model.{v}" for k, v in self.model._tied_weights_keys.items()}}

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def _resize_extra(self, count: int) -> None:
        old = self.final_logits_bias
        new = old.new_zeros(1, count)
        new[:, :min(count, old.shape[1])] = old[:, :count]
        self.final_logits_bias = new

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None,
                labels=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs):
        if labels is not None:
            use_cache = False
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        out = self.model(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs,
                         past_key_values, inputs_embeds, decoder_inputs_embeds, use_cache, output_attentions,
                         output_hidden_states, return_dict=True)
        logits = self.lm_head(out.last_hidden_state) + self.final_logits_bias.to(out.last_hidden_state.device)
        loss = token_classification_loss(logits, labels) if labels is not None else None
        return self._finish(Seq2SeqLMOutput(loss, logits, **_seq2seq_fields(out)), return_dict)


class BartClassificationHead(nn.Module):
    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.d_model, config.d_model)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.out_proj = nn.Linear(config.d_model, config.num_labels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.dropout(torch.tanh(self.dense(self.dropout(hidden)))))


class BartForSequenceClassification(BartPreTrainedModel):
    """Classifies the decoder state at each row's last eos token of ``input_ids`` (every row must
    hold the same number of eos tokens, as BART's tokenizer gives: one at the end)."""

    base_model_class = BartModel

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__(config)
        self.model = self.base_model_class(config)
        self.classification_head = BartClassificationHead(config)
        self._tied_weights_keys = {f"model.{k}": f"model.{v}" for k, v in self.model._tied_weights_keys.items()}

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, inputs_embeds=None, decoder_inputs_embeds=None, labels=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        if input_ids is None:
            raise NotImplementedError(f"{type(self).__name__} needs input_ids: it pools at the eos tokens in them.")
        out = self.model(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs, None,
                         inputs_embeds, decoder_inputs_embeds, False if labels is not None else use_cache,
                         output_attentions, output_hidden_states, return_dict=True)
        hidden = out.last_hidden_state  # (B, T, C)
        eos = input_ids.eq(self.config.eos_token_id).to(hidden.device)
        counts = eos.sum(1)
        if bool((counts != counts[0]).any()) or int(counts[0]) == 0:
            raise ValueError(f"Every row of input_ids must hold the same number (at least one) of eos tokens "
                             f"({self.config.eos_token_id}), but they hold {counts.tolist()}: tokenize with the model's "
                             "tokenizer, which ends each text with one.")
        pooled = hidden[eos].view(hidden.shape[0], -1, hidden.shape[-1])[:, -1]  # (B, C) at the last eos
        logits = self.classification_head(pooled)
        loss = sequence_classification_loss(logits, labels.to(logits.device), self.config) if labels is not None else None
        return self._finish(Seq2SeqSequenceClassifierOutput(loss, logits, **_seq2seq_fields(out)), return_dict)


# ---------------------------------------------------------------------------------------------
# the families: the same modules under each family's names (save_pretrained writes the class
# name into config.json's "architectures")


class MBartModel(BartModel):
    config_class = MBartConfig


class MBartForConditionalGeneration(BartForConditionalGeneration):
    config_class = MBartConfig
    base_model_class = MBartModel


class MBartForSequenceClassification(BartForSequenceClassification):
    config_class = MBartConfig
    base_model_class = MBartModel


class MarianModel(BartModel):
    config_class = MarianConfig


class MarianMTModel(BartForConditionalGeneration):
    config_class = MarianConfig
    base_model_class = MarianModel


class PegasusModel(BartModel):
    config_class = PegasusConfig


class PegasusForConditionalGeneration(BartForConditionalGeneration):
    config_class = PegasusConfig
    base_model_class = PegasusModel
