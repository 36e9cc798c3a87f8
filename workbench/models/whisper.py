"""Whisper, OpenAI's speech recogniser (https://arxiv.org/abs/2212.04356).

    input_features (B, mels, 3000) ─► conv1 ─► GELU ─► conv2 (stride 2) ─► GELU ─► + sinusoids (1500, C)
              ─► N × pre-norm encoder layer ─► layer_norm ─► encoder states (B, 1500, C)
    decoder_input_ids ─► embed_tokens + learned positions ─► M × pre-norm decoder layer
              [ causal self-attention (cached) ─► cross-attention (keys/values cached once) ─► feed-forward ]
              ─► layer_norm ─► proj_out (tied to embed_tokens)

The decoder and the layers are the BART-family modules of :mod:`workbench.models.bart`, set by the
facts :class:`WhisperConfig` fixes (pre-norm, final norms, no embedding norm, positions without an
offset, no bias on k_proj). Module names equal the checkpoint keys (``model.encoder.conv1``,
``model.decoder.layers.0.encoder_attn.k_proj``, ``proj_out``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..modeling import PreTrainedModel
from ..nn.layers import output_flags, run_layers
from ..nn.losses import token_classification_loss
from ..outputs import BaseModelOutput, Seq2SeqLMOutput, Seq2SeqModelOutput
from .bart import EncoderLayer, Seq2SeqConfig, Seq2SeqDecoder, _seq2seq_fields, shift_tokens_right


class WhisperConfig(Seq2SeqConfig):
    model_type = "whisper"
    attribute_map = {"num_attention_heads": "encoder_attention_heads", "hidden_size": "d_model",
                     "num_hidden_layers": "encoder_layers", "initializer_range": "init_std",
                     "max_position_embeddings": "max_target_positions"}
    normalize_before = True
    add_final_layer_norm = True
    embedding_layer_norm = False
    position_offset = 0
    key_bias = False
    defaults = {
        "vocab_size": 51865, "num_mel_bins": 80, "encoder_layers": 4, "encoder_attention_heads": 6,
        "decoder_layers": 4, "decoder_attention_heads": 6, "decoder_ffn_dim": 1536, "encoder_ffn_dim": 1536,
        "encoder_layerdrop": 0.0, "decoder_layerdrop": 0.0, "decoder_start_token_id": 50257, "use_cache": True,
        "is_encoder_decoder": True, "activation_function": "gelu", "d_model": 384, "dropout": 0.0,
        "attention_dropout": 0.0, "activation_dropout": 0.0, "init_std": 0.02, "scale_embedding": False,
        "max_source_positions": 1500, "max_target_positions": 448, "pad_token_id": 50256, "bos_token_id": 50256,
        "eos_token_id": 50256, "suppress_tokens": None, "begin_suppress_tokens": [220, 50256],
        "use_weighted_layer_sum": False, "classifier_proj_size": 256, "apply_spec_augment": False,
        "mask_time_prob": 0.05, "mask_time_length": 10, "mask_time_min_masks": 2, "mask_feature_prob": 0.0,
        "mask_feature_length": 10, "mask_feature_min_masks": 0, "median_filter_width": 7,
        "tie_word_embeddings": True,
    }


def whisper_sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's fixed encoder positions: (length, channels), sines then cosines, with timescales
    spaced geometrically from 1 to ``max_timescale`` over ``channels / 2 - 1`` steps."""
    if channels % 2:
        raise ValueError(f"d_model ({channels}) must be even for Whisper's sinusoidal positions: fix the config.")
    step = math.log(max_timescale) / (channels // 2 - 1)
    inverse = torch.exp(-step * torch.arange(channels // 2, dtype=torch.float32))
    angles = torch.arange(length, dtype=torch.float32)[:, None] * inverse[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class WhisperEncoder(nn.Module):
    """Log-mel features (B, num_mel_bins, 2 × max_source_positions) -> states (B, max_source_positions, C)."""

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__()
        self.config = config
        width = config.d_model
        self.conv1 = nn.Conv1d(config.num_mel_bins, width, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(width, width, kernel_size=3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(config.max_source_positions, width)
        self.embed_positions.requires_grad_(False)
        self.layers = nn.ModuleList(EncoderLayer(config, i) for i in range(config.encoder_layers))
        self.layer_norm = nn.LayerNorm(width)

    def forward(self, input_features=None, attention_mask=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs) -> BaseModelOutput:
        config = self.config
        frames = config.max_source_positions * self.conv1.stride[0] * self.conv2.stride[0]
        if input_features is None or input_features.dim() != 3 or input_features.shape[1:] != (config.num_mel_bins, frames):
            shape = None if input_features is None else tuple(input_features.shape)
            raise ValueError(f"Whisper's encoder takes input_features of shape (batch, {config.num_mel_bins}, {frames}), "
                             f"got {shape}: make them with its feature extractor (WhisperFeatureExtractor, which "
                             "pads every clip to 30 s).")
        output_attentions, output_hidden_states, eager = output_flags(config, output_attentions, output_hidden_states)
        hidden = F.gelu(self.conv2(F.gelu(self.conv1(input_features)))).permute(0, 2, 1)  # (B, S, C)
        hidden = F.dropout(hidden + self.embed_positions.weight, config.dropout, self.training)
        stack = run_layers(self.layers, hidden, None, eager, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions, layerdrop=config.encoder_layerdrop, final=self.layer_norm)
        out = BaseModelOutput(stack.last_hidden_state, stack.hidden_states, stack.attentions)
        return out if return_dict is not False else out.to_tuple()


class WhisperPreTrainedModel(PreTrainedModel):
    config_class = WhisperConfig
    base_model_prefix = "model"
    main_input_name = "input_features"

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, WhisperEncoder):  # after its children: the fixed table replaces the random one
            with torch.no_grad():
                module.embed_positions.weight.copy_(whisper_sinusoids(*module.embed_positions.weight.shape))
        elif isinstance(module, nn.Conv1d):
            nn.init.normal_(module.weight, std=self.config.init_std)
            nn.init.zeros_(module.bias)
        else:
            super()._init_weights(module)

    def get_encoder(self) -> WhisperEncoder:
        return getattr(self, self.base_model_prefix, self).encoder

    def get_decoder(self) -> Seq2SeqDecoder:
        return getattr(self, self.base_model_prefix, self).decoder

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)


class WhisperModel(WhisperPreTrainedModel):
    """Encoder and decoder; ``last_hidden_state`` is the decoder's (B, T, C)."""

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__(config)
        self.encoder = WhisperEncoder(config)
        self.decoder = Seq2SeqDecoder(config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.decoder.embed_tokens

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.decoder.embed_tokens = embeddings

    def forward(self, input_features=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, decoder_inputs_embeds=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None,
                decoder_position_ids=None, **kwargs):
        """Encode ``input_features`` (or reuse ``encoder_outputs``), then decode ``decoder_input_ids``
        against all 1,500 encoder states (Whisper's cross-attention has no padding mask)."""
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            raise ValueError("WhisperModel needs decoder_input_ids (for example the <|startoftranscript|> prompt); "
                             "to train on labels, pass labels= to WhisperForConditionalGeneration.")
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_features, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states)
        elif not isinstance(encoder_outputs, BaseModelOutput):  # a tuple from return_dict=False
            encoder_outputs = BaseModelOutput(*encoder_outputs[:3])
        decoded = self.decoder(decoder_input_ids, decoder_attention_mask, encoder_outputs.last_hidden_state, None,
                               past_key_values, decoder_inputs_embeds, use_cache, output_attentions,
                               output_hidden_states, position_ids=decoder_position_ids)
        out = Seq2SeqModelOutput(
            last_hidden_state=decoded.last_hidden_state, past_key_values=decoded.past_key_values,
            decoder_hidden_states=decoded.hidden_states, decoder_attentions=decoded.attentions,
            cross_attentions=decoded.cross_attentions, encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states, encoder_attentions=encoder_outputs.attentions,
        )
        return self._finish(out, return_dict)


class WhisperForConditionalGeneration(WhisperPreTrainedModel):
    """Next-token logits; ``labels`` (B, T) give the loss, the decoder inputs then being ``labels``
    shifted right behind ``decoder_start_token_id`` (unless given)."""

    is_generative = True
    prepends_decoder_start = False  # a decoder prompt is taken whole: it may open with <|startofprev|>
    _tied_weights_keys = {"proj_out.weight": "model.decoder.embed_tokens.weight"}

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__(config)
        self.model = WhisperModel(config)
        self.proj_out = nn.Linear(config.d_model, config.vocab_size, bias=False)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.decoder.embed_tokens

    def get_output_embeddings(self) -> nn.Linear:
        return self.proj_out

    def set_output_embeddings(self, embeddings: nn.Linear) -> None:
        self.proj_out = embeddings

    def generate(self, input_features=None, generation_config=None, logits_processor=None, stopping_criteria=None,
                 return_timestamps=None, task=None, language=None, is_multilingual=None, prompt_ids=None,
                 prompt_condition_type=None, return_token_timestamps=None, return_segments=False,
                 return_dict_in_generate=None, attention_mask=None, **kwargs):
        """Transcribe (or translate) log-mel ``input_features`` (B, mels, frames). More than one
        30-s window (3000 frames, from ``feature_extractor(audio, truncation=False, padding="longest",
        return_attention_mask=True)``) is decoded window by window (sequential long-form; see
        :func:`workbench.generation.whisper_longform.generate_long_form` for ``temperature`` fallback,
        ``compression_ratio_threshold``, ``logprob_threshold``, ``no_speech_threshold`` and
        ``condition_on_prev_tokens``); pass the ``attention_mask`` with a batch.

        The decoder starts from ``<|startoftranscript|> <|lang|> <|task|> [<|notimestamps|>]``:
        ``language`` is a code ("fr"), a token ("<|fr|>") or a name ("french"), one or one per row;
        a multilingual checkpoint given none detects it (:meth:`detect_language`). ``task`` is
        "transcribe" or "translate". ``return_timestamps=True`` lets the model emit timestamp
        tokens (``<|0.00|>`` ... in pairs; ``WhisperTimeStampLogitsProcessor``). ``prompt_ids``
        (``<|startofprev|>`` + text tokens, from the processor's ``get_prompt_ids``) conditions on
        earlier text. ``return_token_timestamps=True`` adds each token's time in seconds from the
        cross-attention of ``generation_config.alignment_heads`` (pass the feature extractor's
        ``attention_mask`` so the padding is left out).

        Returns the generated tokens (B, T), without the start tokens or eos, like the reference; a
        dict with ``sequences``, ``token_timestamps`` and/or ``segments`` when those are asked for;
        with ``return_dict_in_generate=True`` and no timestamps, generate()'s output (whole sequences).
        Other settings (``num_beams``, ``max_new_tokens``, ...) are as in ``PreTrainedModel.generate``.
        """
        from ..generation.whisper import whisper_generate  # lazy: generation is a layer above the models
        from ..generation.whisper_longform import generate_long_form, is_long_form

        if input_features is None and "inputs" in kwargs:
            input_features = kwargs.pop("inputs")
        if is_long_form(self, input_features):  # more than one 30-s window: sequential long-form decoding
            return generate_long_form(self, input_features, attention_mask=attention_mask,
                                      generation_config=generation_config, logits_processor=logits_processor,
                                      stopping_criteria=stopping_criteria, return_timestamps=return_timestamps,
                                      task=task, language=language, is_multilingual=is_multilingual,
                                      prompt_ids=prompt_ids, prompt_condition_type=prompt_condition_type,
                                      return_token_timestamps=return_token_timestamps, return_segments=return_segments,
                                      return_dict_in_generate=return_dict_in_generate, **kwargs)
        return whisper_generate(self, input_features, generation_config, logits_processor, stopping_criteria,
                                return_timestamps=return_timestamps, task=task, language=language,
                                is_multilingual=is_multilingual, prompt_ids=prompt_ids,
                                prompt_condition_type=prompt_condition_type,
                                return_token_timestamps=return_token_timestamps, return_segments=return_segments,
                                return_dict_in_generate=return_dict_in_generate, attention_mask=attention_mask,
                                **kwargs)

    def detect_language(self, input_features=None, encoder_outputs=None, generation_config=None,
                        num_segment_frames: int = 3000) -> torch.Tensor:
        """The most likely language token id per row (B,) of a multilingual checkpoint: one decoder
        step from ``<|startoftranscript|>``, the best of ``generation_config.lang_to_id``'s tokens."""
        from ..generation.whisper_prompt import detect_language

        return detect_language(self, input_features, encoder_outputs, generation_config, num_segment_frames)

    def forward(self, input_features=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, decoder_inputs_embeds=None, labels=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, decoder_position_ids=None,
                **kwargs):
        if labels is not None:
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        out = self.model(input_features, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs,
                         past_key_values, decoder_inputs_embeds, use_cache, output_attentions, output_hidden_states,
                         return_dict=True, decoder_position_ids=decoder_position_ids)
        logits = self.proj_out(out.last_hidden_state)
        loss = token_classification_loss(logits, labels) if labels is not None else None
        return self._finish(Seq2SeqLMOutput(loss, logits, **_seq2seq_fields(out)), return_dict)
