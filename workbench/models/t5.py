"""T5 (https://arxiv.org/abs/1910.10683), T5 v1.1 / FLAN-T5, mT5 (https://arxiv.org/abs/2010.11934)
and UMT5 (https://arxiv.org/abs/2304.09151): one encoder-decoder, configured.

    input_ids ──► shared ─► encoder: N × [ h += SelfAttention(layer_norm(h)) + bias     (bidirectional)
                                           h += DenseReluDense(layer_norm(h)) ] ─► final_layer_norm ─┐
    decoder_input_ids ─► shared ─► decoder: M × [ h += SelfAttention(layer_norm(h)) + bias (causal, cached)
                                                  h += EncDecAttention(layer_norm(h), encoder states) ◄┘
                                                  h += DenseReluDense(layer_norm(h)) ] ─► final_layer_norm
                      ─► × d_model**-0.5 (when ``scale_decoder_outputs``) ─► lm_head ─► logits

There are no position embeddings: each attention adds a learned bias per head and relative-position
bucket to its scores (``workbench.nn.relative_position``), and scores are not scaled by
``1/sqrt(d_kv)`` (the initialisation accounts for it). Norms are RMS norms without bias.

What tells the variants apart are config fields: ``feed_forward_proj`` ("relu" for T5, "gated-gelu"
for v1.1, FLAN-T5 and mT5) parsed into ``dense_act_fn`` and ``is_gated_act``;
``relative_attention_num_buckets`` and ``relative_attention_max_distance``;
``scale_decoder_outputs`` (T5 rescales the decoder output before a tied ``lm_head``; read from
``tie_word_embeddings`` when config.json does not say); and, a family fact of UMT5, a relative
position bias in every layer rather than only the first (``relative_bias_in_every_layer``).
Module names equal the checkpoint keys (``decoder.block.0.layer.1.EncDecAttention.q``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.attention import causal_mask, multi_head_attention, padding_mask, split_heads
from ..nn.cache import DynamicCache, EncoderDecoderCache, as_encoder_decoder_cache
from ..nn.layers import output_flags, run_layers
from ..nn.losses import token_classification_loss
from ..nn.mlp import GatedMLP
from ..nn.norms import RMSNorm
from ..nn.relative_position import relative_position_bias
from ..outputs import (
    BaseModelOutput,
    BaseModelOutputWithPastAndCrossAttentions,
    ModelOutput,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
)

# ---------------------------------------------------------------------------------------------
# configs


class T5Config(PretrainedConfig):
    model_type = "t5"
    attribute_map = {"hidden_size": "d_model", "num_attention_heads": "num_heads", "num_hidden_layers": "num_layers",
                     "head_dim": "d_kv"}
    # family facts, not written to config.json
    relative_bias_in_every_layer = False  # UMT5: True
    scales_tied_output = True  # mT5 never rescales the decoder output
    defaults = {
        "vocab_size": 32128,
        "d_model": 512,
        "d_kv": 64,
        "d_ff": 2048,
        "num_layers": 6,
        "num_decoder_layers": None,  # None: as many as the encoder
        "num_heads": 8,
        "relative_attention_num_buckets": 32,
        "relative_attention_max_distance": 128,
        "dropout_rate": 0.1,
        "layer_norm_epsilon": 1e-6,
        "initializer_factor": 1.0,
        "feed_forward_proj": "relu",
        "is_encoder_decoder": True,
        "is_decoder": False,
        "use_cache": True,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,  # T5 starts decoding from the pad token
        "classifier_dropout": 0.0,
        "tie_word_embeddings": True,
        "scale_decoder_outputs": None,  # None: tie_word_embeddings (and the family) decide
    }

    def __post_init__(self) -> None:
        if self.num_decoder_layers is None:
            self.num_decoder_layers = self.num_layers
        parts = self.feed_forward_proj.split("-")
        if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
            raise ValueError(
                f"feed_forward_proj={self.feed_forward_proj!r} is not an activation: use 'ACT' or 'gated-ACT' "
                "with an activation name, such as 'relu' (T5) or 'gated-gelu' (T5 v1.1, FLAN-T5, mT5)."
            )
        self.is_gated_act = len(parts) == 2
        # "gated-gelu" checkpoints were trained with the tanh approximation
        self.dense_act_fn = "gelu_new" if self.feed_forward_proj == "gated-gelu" else parts[-1]
        if self.scale_decoder_outputs is None:
            # the original T5 rescales before its tied output layer; v1.1 and FLAN-T5 (untied) do not
            self.scale_decoder_outputs = bool(self.tie_word_embeddings) and self.scales_tied_output


class MT5Config(T5Config):
    model_type = "mt5"
    scales_tied_output = False
    defaults = {**T5Config.defaults, "vocab_size": 250112, "d_ff": 1024, "num_layers": 8, "num_heads": 6,
                "feed_forward_proj": "gated-gelu"}


class UMT5Config(MT5Config):
    model_type = "umt5"
    relative_bias_in_every_layer = True
    scales_tied_output = True


# ---------------------------------------------------------------------------------------------
# modules


def _linear(in_features: int, out_features: int, std: float) -> nn.Linear:
    """A bias-free linear layer that remembers T5's init std (Mesh TensorFlow's fan-in scaling)."""
    layer = nn.Linear(in_features, out_features, bias=False)
    layer.init_std = std
    return layer


def _norm(config: T5Config) -> RMSNorm:
    """An RMS norm whose output takes the weight's dtype when that is half precision: under float16,
    ``wo`` stays float32 and the residual stream arrives in float32."""
    return RMSNorm(config.d_model, eps=config.layer_norm_epsilon, output_dtype="weight")


class T5DenseActDense(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        factor = config.initializer_factor
        self.wi = _linear(config.d_model, config.d_ff, factor * config.d_model**-0.5)
        self.wo = _linear(config.d_ff, config.d_model, factor * config.d_ff**-0.5)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = get_activation(config.dense_act_fn)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.dropout(self.act(self.wi(hidden_states)))
        dtype = self.wo.weight.dtype if self.wo.weight.is_floating_point() else hidden_states.dtype  # int8/int4: quantized
        return self.wo(hidden_states.to(dtype))  # wo may be kept in float32


class T5DenseGatedActDense(GatedMLP):
    def __init__(self, config: T5Config) -> None:
        super().__init__(config.d_model, config.d_ff, config.dense_act_fn, dropout=config.dropout_rate,
                         names=("wi_0", "wi_1", "wo"))
        factor = config.initializer_factor
        self.wi_0.init_std = self.wi_1.init_std = factor * config.d_model**-0.5
        self.wo.init_std = factor * config.d_ff**-0.5


class T5LayerFF(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.DenseReluDense = (T5DenseGatedActDense if config.is_gated_act else T5DenseActDense)(config)
        self.layer_norm = _norm(config)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states + self.dropout(self.DenseReluDense(self.layer_norm(hidden_states)))


class T5Attention(nn.Module):
    """Self-attention (``key_value_states`` None) or cross-attention over the encoder output.

    ``mask`` is additive and already holds the relative position bias, so every kernel (SDPA or
    eager) sees ``q·k + bias + mask`` with no ``1/sqrt(d)`` scaling.
    """

    def __init__(self, config: T5Config, layer_idx: int, has_relative_attention_bias: bool = False) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.head_dim = config.d_kv
        self.dropout = config.dropout_rate
        self.has_relative_attention_bias = has_relative_attention_bias
        self.max_distance = config.relative_attention_max_distance
        factor, d_model, inner = config.initializer_factor, config.d_model, config.num_heads * config.d_kv
        self.q = _linear(d_model, inner, factor * (d_model * config.d_kv) ** -0.5)
        self.k = _linear(d_model, inner, factor * d_model**-0.5)
        self.v = _linear(d_model, inner, factor * d_model**-0.5)
        self.o = _linear(inner, d_model, factor * inner**-0.5)
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(config.relative_attention_num_buckets, config.num_heads)
            self.relative_attention_bias.init_std = factor * d_model**-0.5

    def compute_bias(self, query_length: int, key_length: int, bidirectional: bool, past: int = 0) -> torch.Tensor:
        """(1, H, Q, K) bias for queries at ``past ..`` over keys at ``0 .. K - 1``."""
        return relative_position_bias(self.relative_attention_bias, query_length, key_length,
                                      bidirectional=bidirectional, max_distance=self.max_distance, past=past)

    def forward(self, hidden_states, mask, cache: DynamicCache | None, eager: bool, key_value_states=None):
        query = split_heads(self.q(hidden_states), self.head_dim)
        if key_value_states is not None and cache is not None and cache.get_seq_length(self.layer_idx) > 0:
            (key, value), cache = cache[self.layer_idx], None  # the encoder's, computed on the first step
        else:
            source = hidden_states if key_value_states is None else key_value_states
            key, value = split_heads(self.k(source), self.head_dim), split_heads(self.v(source), self.head_dim)
        out, weights = multi_head_attention(query, key, value, mask, cache=cache, layer_idx=self.layer_idx, scale=1.0,
                                            eager=eager, dropout=self.dropout if self.training else 0.0)
        return self.o(out), weights


class T5LayerSelfAttention(nn.Module):
    def __init__(self, config: T5Config, layer_idx: int, has_relative_attention_bias: bool) -> None:
        super().__init__()
        self.SelfAttention = T5Attention(config, layer_idx, has_relative_attention_bias)
        self.layer_norm = _norm(config)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden_states, mask, cache, eager):
        attended, weights = self.SelfAttention(self.layer_norm(hidden_states), mask, cache, eager)
        return hidden_states + self.dropout(attended), weights


class T5LayerCrossAttention(nn.Module):
    def __init__(self, config: T5Config, layer_idx: int) -> None:
        super().__init__()
        self.EncDecAttention = T5Attention(config, layer_idx)
        self.layer_norm = _norm(config)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden_states, encoder_hidden_states, mask, cache, eager):
        attended, weights = self.EncDecAttention(self.layer_norm(hidden_states), mask, cache, eager,
                                                 key_value_states=encoder_hidden_states)
        return hidden_states + self.dropout(attended), weights


def _clamp_float16(hidden_states: torch.Tensor) -> torch.Tensor:
    """T5 activations overflow float16; keep them finite as the reference does."""
    if hidden_states.dtype != torch.float16:
        return hidden_states
    limit = torch.finfo(torch.float16).max
    limit = torch.where(torch.isinf(hidden_states).any(), limit - 1000, limit)
    return torch.clamp(hidden_states, min=-limit, max=limit)


class T5Block(nn.Module):
    """``layer``: [self-attention, (cross-attention, in the decoder), feed-forward]."""

    def __init__(self, config: T5Config, layer_idx: int, is_decoder: bool, has_relative_attention_bias: bool) -> None:
        super().__init__()
        self.is_decoder = is_decoder
        self.layer = nn.ModuleList([T5LayerSelfAttention(config, layer_idx, has_relative_attention_bias)])
        if is_decoder:
            self.layer.append(T5LayerCrossAttention(config, layer_idx))
        self.layer.append(T5LayerFF(config))

    def forward(self, hidden_states, mask, cache: EncoderDecoderCache | None, eager, encoder_hidden_states=None,
                cross_mask=None):
        self_cache = cache.self_attention_cache if cache is not None else None
        hidden_states, self_weights = self.layer[0](hidden_states, mask, self_cache, eager)
        hidden_states = _clamp_float16(hidden_states)
        cross_weights = None
        if self.is_decoder and encoder_hidden_states is not None:
            cross_cache = cache.cross_attention_cache if cache is not None else None
            hidden_states, cross_weights = self.layer[1](hidden_states, encoder_hidden_states, cross_mask, cross_cache, eager)
            hidden_states = _clamp_float16(hidden_states)
        return _clamp_float16(self.layer[-1](hidden_states)), self_weights, cross_weights


class T5Stack(nn.Module):
    """The encoder or the decoder: embeddings (shared with the other stack), blocks, final norm."""

    def __init__(self, config: T5Config, embed_tokens: nn.Embedding, is_decoder: bool) -> None:
        super().__init__()
        self.config = config
        self.is_decoder = is_decoder
        self.embed_tokens = embed_tokens
        count = config.num_decoder_layers if is_decoder else config.num_layers
        every = config.relative_bias_in_every_layer
        self.block = nn.ModuleList(T5Block(config, i, is_decoder, every or i == 0) for i in range(count))
        self.final_layer_norm = _norm(config)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, input_ids=None, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
                inputs_embeds=None, past_key_values=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, eager=None, **kwargs):
        """Hidden states of every position (B, T, d_model); the decoder attends over
        ``encoder_hidden_states`` and, with ``use_cache``, fills an :class:`EncoderDecoderCache`."""
        config = self.config
        output_attentions, output_hidden_states, default_eager = output_flags(config, output_attentions,
                                                                              output_hidden_states)
        eager = default_eager if eager is None else eager
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds (decoder_input_ids or "
                             "decoder_inputs_embeds for the decoder).")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        cache = None
        if self.is_decoder:
            use_cache = config.use_cache if use_cache is None else use_cache
            cache = as_encoder_decoder_cache(past_key_values, True) if (use_cache or past_key_values is not None) else None
        length = inputs_embeds.shape[1]
        past = cache.get_seq_length() if cache is not None else 0
        dtype, device = inputs_embeds.dtype, inputs_embeds.device
        if self.is_decoder:
            mask = _decoder_mask(attention_mask, length, past, dtype, device)
        else:
            mask = padding_mask(attention_mask, dtype)
        cross_mask = padding_mask(encoder_attention_mask, dtype) if encoder_hidden_states is not None else None

        stack = run_layers(self.block, self.dropout(inputs_embeds), self._biased_masks(mask, length, past), cache, eager,
                           encoder_hidden_states, cross_mask, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions,
                           cross_attentions=self.is_decoder and encoder_hidden_states is not None,
                           final=lambda hidden: self.dropout(self.final_layer_norm(hidden)))
        return BaseModelOutputWithPastAndCrossAttentions(stack.last_hidden_state, cache, stack.hidden_states,
                                                         stack.attentions, stack.cross_attentions)

    def _biased_masks(self, mask, length: int, past: int) -> list[torch.Tensor | None]:
        """Per block, the mask plus the relative position bias (B or 1, H, Q, K), computed by the
        first block (T5) or by every block (UMT5) and reused by those without a bias table."""
        masks, biased = [], None
        for block in self.block:
            attn = block.layer[0].SelfAttention
            if attn.has_relative_attention_bias:
                bias = attn.compute_bias(length, past + length, bidirectional=not self.is_decoder, past=past)
                biased = bias if mask is None else bias + mask
            masks.append(biased)
        return masks


def _decoder_mask(attention_mask, length: int, past: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
    """Additive (B or 1, 1, Q, past + Q) causal mask with padding; always explicit for Q > 1 (the
    bias is added to it, so SDPA's is_causal cannot stand in for it)."""
    mask = causal_mask(attention_mask, length, past + length, dtype, device)
    if mask is None and length > 1:
        blocked = torch.ones(length, past + length, dtype=torch.bool, device=device).triu(past + 1)
        mask = torch.zeros(blocked.shape, dtype=dtype, device=device).masked_fill(blocked, torch.finfo(dtype).min)
        mask = mask[None, None]
    return mask


# ---------------------------------------------------------------------------------------------
# models


class T5PreTrainedModel(PreTrainedModel):
    config_class = T5Config
    base_model_prefix = "transformer"
    # old exporters gave the first decoder cross-attention a relative bias it never used
    _ignore_unexpected = (r"^decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight$",)
    _stacks: tuple[str, ...] = ("encoder", "decoder")
    _keep_in_fp32_modules = ("wo",)  # float16 only, as in the reference

    def _build_shared(self, config: T5Config) -> None:
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.shared.init_std = config.initializer_factor * 1.0
        self.encoder = T5Stack(config, self.shared, is_decoder=False)
        if "decoder" in self._stacks:
            self.decoder = T5Stack(config, self.shared, is_decoder=True)

    def _init_weights(self, module: nn.Module) -> None:
        """T5's init: each layer's std is set where it is built (``init_std``); norms start at 1."""
        std = getattr(module, "init_std", None)
        if std is not None:
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, RMSNorm):
            nn.init.constant_(module.weight, self.config.initializer_factor)

    def active_tied_weights(self) -> dict[str, str]:
        # both stacks embed with `shared` itself (one module), whatever tie_word_embeddings says
        return {f"{stack}.embed_tokens.weight": "shared.weight" for stack in self._stacks}

    def get_input_embeddings(self) -> nn.Embedding:
        return self.shared

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.shared = embeddings
        for stack in self._stacks:
            getattr(self, stack).embed_tokens = embeddings

    def get_encoder(self) -> T5Stack:
        return self.encoder

    def get_decoder(self) -> T5Stack:
        return self.decoder

    def _shift_right(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Labels -> decoder inputs: ``decoder_start_token_id`` first, the labels moved one to the
        right, ignored (-100) labels as ``pad_token_id``."""
        start, pad = self.config.decoder_start_token_id, self.config.pad_token_id
        if start is None or pad is None:
            raise ValueError(f"{type(self).__name__} needs config.decoder_start_token_id and config.pad_token_id to "
                             "build decoder inputs from labels; T5 checkpoints use 0 (the pad token) for both.")
        shifted = input_ids.new_full(input_ids.shape, start)
        shifted[..., 1:] = input_ids[..., :-1]
        return shifted.masked_fill(shifted == -100, pad)

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return self._shift_right(labels)

    def _encode_and_decode(self, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs,
                           past_key_values, inputs_embeds, decoder_inputs_embeds, use_cache, output_attentions,
                           output_hidden_states):
        """Run the encoder (unless ``encoder_outputs`` are given) and the decoder over it."""
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        eager = output_attentions or self._attn_implementation() == "eager"
        flags = dict(output_attentions=output_attentions, output_hidden_states=output_hidden_states, eager=eager)
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids, attention_mask, inputs_embeds=inputs_embeds, **flags)
        elif not isinstance(encoder_outputs, ModelOutput):  # a tuple (last_hidden_state, hidden_states, attentions)
            encoder_outputs = BaseModelOutput(*encoder_outputs[:3])
        decoder_outputs = self.decoder(decoder_input_ids, decoder_attention_mask, encoder_outputs[0], attention_mask,
                                       decoder_inputs_embeds, past_key_values, use_cache, **flags)
        return encoder_outputs, decoder_outputs

    @staticmethod
    def _seq2seq_fields(encoder_outputs, decoder_outputs) -> dict:
        return dict(
            past_key_values=decoder_outputs.past_key_values,
            decoder_hidden_states=decoder_outputs.hidden_states,
            decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=getattr(encoder_outputs, "hidden_states", None),
            encoder_attentions=getattr(encoder_outputs, "attentions", None),
        )


class T5Model(T5PreTrainedModel):
    """Encoder and decoder without a head: the decoder's last hidden state."""

    _ignore_unexpected = T5PreTrainedModel._ignore_unexpected + (r"^lm_head\.weight$",)

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self._build_shared(config)

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        """``input_ids`` (B, S) are encoded (or ``encoder_outputs`` reused); ``decoder_input_ids``
        (B, T) start with ``decoder_start_token_id`` (see ``_shift_right``)."""
        encoder_outputs, decoder_outputs = self._encode_and_decode(
            input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs, past_key_values,
            inputs_embeds, decoder_inputs_embeds, use_cache, output_attentions, output_hidden_states)
        out = Seq2SeqModelOutput(last_hidden_state=decoder_outputs.last_hidden_state,
                                 **self._seq2seq_fields(encoder_outputs, decoder_outputs))
        return self._finish(out, return_dict)


class T5ForConditionalGeneration(T5PreTrainedModel):
    """Text-to-text: logits over the vocabulary for every decoder position.

    >>> model = T5ForConditionalGeneration.from_pretrained("google-t5/t5-small")    # doctest: +SKIP
    >>> batch = tokenizer(["translate English to German: Hello"], text_target=["Hallo"], return_tensors="pt")  # doctest: +SKIP
    >>> model(**batch).loss                                                         # doctest: +SKIP
    """

    is_generative = True
    _tied_weights_keys = {"lm_head.weight": "shared.weight"}

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self._build_shared(config)
        self.lm_head = _linear(config.d_model, config.vocab_size, config.initializer_factor * 1.0)
        self._head_tied = bool(config.tie_word_embeddings)

    def active_tied_weights(self) -> dict[str, str]:
        tied = super().active_tied_weights()
        return {**tied, **self._tied_weights_keys} if self._head_tied else tied

    def _load_checkpoint(self, files, dtype, ignore_mismatched, read_already=frozenset()):
        # The reference's rule: lm_head shares `shared` unless the checkpoint holds an lm_head of
        # its own with other values (v1.1 and FLAN-T5 do; T5 and models saved tied do not).
        self._head_tied = True
        info = super()._load_checkpoint(files, dtype, ignore_mismatched, read_already)
        head, shared = self.lm_head.weight, self.shared.weight
        if not head.is_meta and not shared.is_meta and not torch.equal(head, shared):
            self._head_tied = False
        self.config.tie_word_embeddings = self._head_tied  # scale_decoder_outputs is already fixed
        return info

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None, labels=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        """Logits (B, T, vocab); ``labels`` (B, T) give the cross-entropy loss (-100 ignored) and,
        when no decoder inputs are passed, the decoder inputs (the labels shifted right)."""
        if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self._shift_right(labels)
        encoder_outputs, decoder_outputs = self._encode_and_decode(
            input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs, past_key_values,
            inputs_embeds, decoder_inputs_embeds, use_cache, output_attentions, output_hidden_states)
        hidden = decoder_outputs.last_hidden_state
        if self.config.scale_decoder_outputs:
            hidden = hidden * self.config.d_model**-0.5  # Mesh TensorFlow's rescale before a tied output layer
        logits = self.lm_head(hidden)
        loss = token_classification_loss(logits, labels) if labels is not None else None
        out = Seq2SeqLMOutput(loss=loss, logits=logits, **self._seq2seq_fields(encoder_outputs, decoder_outputs))
        return self._finish(out, return_dict)


class T5EncoderModel(T5PreTrainedModel):
    """The encoder alone (text embeddings for retrieval, diffusion conditioning, ...)."""

    _stacks = ("encoder",)
    _ignore_unexpected = (r"^decoder\.", r"^lm_head\.weight$")

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self._build_shared(config)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        out = self.encoder(input_ids, attention_mask, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                           output_hidden_states=output_hidden_states)
        result = BaseModelOutput(out.last_hidden_state, out.hidden_states, out.attentions)
        return self._finish(result, return_dict)


# ---------------------------------------------------------------------------------------------
# the families: the same modules under each family's names (save_pretrained writes the class
# name into config.json's "architectures")


class MT5Model(T5Model):
    config_class = MT5Config


class MT5ForConditionalGeneration(T5ForConditionalGeneration):
    config_class = MT5Config


class MT5EncoderModel(T5EncoderModel):
    config_class = MT5Config


class UMT5Model(T5Model):
    config_class = UMT5Config


class UMT5ForConditionalGeneration(T5ForConditionalGeneration):
    config_class = UMT5Config


class UMT5EncoderModel(T5EncoderModel):
    config_class = UMT5Config
