"""VisionEncoderDecoder: any image encoder (ViT, DeiT, ...) feeding any text decoder with
cross-attention (GPT-2, BERT as a decoder, ...), e.g. TrOCR-style OCR or image captioning.

    pixel_values ─► encoder (an AutoModel) ─► last_hidden_state (B, S, D_enc)
                     ─► (enc_to_dec_proj when D_enc != D_dec and the decoder sets no cross_attention_hidden_size)
    decoder_input_ids ─► decoder (an AutoModelForCausalLM, add_cross_attention) over those states ─► logits

Checkpoint keys are ``encoder.*``, ``decoder.*`` (the two models' own keys) and ``enc_to_dec_proj.*``;
config.json nests the two models' configs under ``encoder`` and ``decoder``. ``generate()`` encodes the
image once, then decodes from ``decoder_start_token_id``.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.losses import token_classification_loss
from ..outputs import BaseModelOutput, Seq2SeqLMOutput

logger = logging.getLogger("workbench")


def _sub_config(value, default_type: str, defaults: dict) -> PretrainedConfig:
    """A nested config (a dict from config.json, or a config) as a workbench config of its model_type."""
    from ..auto import config_class_for  # the registry of families sits beside the models

    if isinstance(value, PretrainedConfig):
        return value
    values = {**defaults, **(value or {})}
    return config_class_for(values.pop("model_type", default_type), "VisionEncoderDecoderConfig")(**values)


class VisionEncoderDecoderConfig(PretrainedConfig):
    """``encoder`` and ``decoder``: the two models' configs (dicts in config.json). Without them the
    reference's defaults apply: a ViT encoder and a BERT decoder with cross-attention."""

    model_type = "vision-encoder-decoder"
    defaults = {"encoder": None, "decoder": None, "is_encoder_decoder": True, "tie_word_embeddings": False}

    def __post_init__(self) -> None:
        super().__post_init__()
        self.encoder = _sub_config(self.encoder, "vit", {})
        self.decoder = _sub_config(self.decoder, "bert", {"is_decoder": True, "add_cross_attention": True})

    @classmethod
    def from_encoder_decoder_configs(cls, encoder_config: PretrainedConfig, decoder_config: PretrainedConfig,
                                     **kwargs) -> "VisionEncoderDecoderConfig":
        """Join two configs; the decoder's becomes a decoder with cross-attention."""
        decoder_config.is_decoder = True
        decoder_config.add_cross_attention = True
        return cls(encoder=encoder_config.to_dict(), decoder=decoder_config.to_dict(), **kwargs)



def _model_class(config: PretrainedConfig, task: str) -> type:
    """The class ``task`` ("AutoModel", "AutoModelForCausalLM") picks for ``config``'s family."""
    from .. import auto  # the registry's lookup, which sits beside the models

    return getattr(auto, task).model_class(config)


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int | None, decoder_start_token_id: int | None) -> torch.Tensor:
    """(B, T) labels -> decoder inputs: ``decoder_start_token_id`` then the labels but the last, -100 as padding."""
    if decoder_start_token_id is None or pad_token_id is None:
        raise ValueError("Deriving decoder_input_ids from labels needs config.decoder_start_token_id and "
                         "config.pad_token_id: set both on the VisionEncoderDecoderConfig.")
    shifted = labels.new_full(labels.shape, decoder_start_token_id)
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == -100, pad_token_id)


class VisionEncoderDecoderModel(PreTrainedModel):
    """An image encoder and a text decoder joined by cross-attention.

    >>> model = VisionEncoderDecoderModel.from_encoder_decoder_pretrained("path/to/vit", "path/to/gpt2")  # doctest: +SKIP
    >>> model.config.decoder_start_token_id = model.config.pad_token_id = 0                             # doctest: +SKIP
    >>> ids = model.generate(pixel_values=pixels, max_new_tokens=20)                                     # doctest: +SKIP
    """

    config_class = VisionEncoderDecoderConfig
    base_model_prefix = "vision_encoder_decoder"
    main_input_name = "pixel_values"
    is_generative = True

    def __init__(self, config: PretrainedConfig | None = None, encoder: PreTrainedModel | None = None,
                 decoder: PreTrainedModel | None = None) -> None:
        if config is None:
            if encoder is None or decoder is None:
                raise ValueError("Pass a VisionEncoderDecoderConfig, or both an encoder and a decoder model.")
            config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder.config, decoder.config)
        cross_width = getattr(config.decoder, "cross_attention_hidden_size", None)
        if cross_width is not None and cross_width != config.encoder.hidden_size:
            raise ValueError(f"The decoder's cross_attention_hidden_size ({cross_width}) must equal the encoder's "
                             f"hidden_size ({config.encoder.hidden_size}): fix the decoder config.")
        config.tie_word_embeddings = False
        super().__init__(config)
        self.encoder = encoder if encoder is not None else _model_class(config.encoder, "AutoModel")(config.encoder)
        self.decoder = decoder if decoder is not None else _model_class(config.decoder, "AutoModelForCausalLM")(config.decoder)
        self.encoder.config, self.decoder.config = config.encoder, config.decoder  # one config, shared
        if self.encoder.get_output_embeddings() is not None:
            raise ValueError(f"The encoder ({type(self.encoder).__name__}) has a language-model head: use its base model.")
        if self._projects():
            self.enc_to_dec_proj = nn.Linear(config.encoder.hidden_size, config.decoder.hidden_size)

    def _projects(self) -> bool:
        """Whether encoder states are projected to the decoder's width before cross-attention."""
        decoder = self.config.decoder
        return (self.config.encoder.hidden_size != decoder.hidden_size
                and getattr(decoder, "cross_attention_hidden_size", None) is None)

    def _init_weights(self, module: nn.Module) -> None:
        # each half initialises its own modules its own way (run once, when ``apply`` reaches the half itself)
        if module is self.encoder or module is self.decoder:
            module.apply(module._init_weights)
        elif module is getattr(self, "enc_to_dec_proj", None):
            super()._init_weights(module)

    def active_tied_weights(self) -> dict[str, str]:
        """The decoder's own tie (GPT-2's lm_head to wte), under its prefix."""
        return {f"{part}.{target}": f"{part}.{source}" for part in ("encoder", "decoder")
                for target, source in getattr(self, part).active_tied_weights().items()}

    def get_encoder(self) -> PreTrainedModel:
        return self.encoder

    def get_decoder(self) -> PreTrainedModel:
        return self.decoder

    def get_input_embeddings(self) -> nn.Module:
        return self.decoder.get_input_embeddings()

    def get_output_embeddings(self) -> nn.Module | None:
        return self.decoder.get_output_embeddings()

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    @classmethod
    def from_encoder_decoder_pretrained(cls, encoder_pretrained_model_name_or_path=None,
                                        decoder_pretrained_model_name_or_path=None, **kwargs) -> "VisionEncoderDecoderModel":
        """An encoder checkpoint (loaded as its family's base model) and a decoder checkpoint (loaded as its
        causal LM, with cross-attention layers added and randomly initialised when it has none).
        ``encoder_*`` / ``decoder_*`` keyword arguments go to each half (``decoder_model=`` passes a model
        built already); the rest update the joint config."""
        halves = {part: {k[len(part) + 1:]: kwargs.pop(k) for k in list(kwargs) if k.startswith(part + "_")}
                  for part in ("encoder", "decoder")}
        encoder = halves["encoder"].pop("model", None) or _load_half(
            encoder_pretrained_model_name_or_path, "AutoModel", halves["encoder"], decoder=False)
        decoder = halves["decoder"].pop("model", None) or _load_half(
            decoder_pretrained_model_name_or_path, "AutoModelForCausalLM", halves["decoder"], decoder=True)
        config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder.config, decoder.config, **kwargs)
        return cls(config=config, encoder=encoder, decoder=decoder)

    def forward(self, pixel_values=None, decoder_input_ids=None, decoder_attention_mask=None, encoder_outputs=None,
                past_key_values=None, decoder_inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        """(B, C, H, W) pixels (or ``encoder_outputs``) and (B, T) decoder ids -> (B, T, vocab) logits;
        ``labels`` alone give the decoder inputs (shifted right) and a cross-entropy loss (-100 ignored)."""
        flags = {"output_attentions": output_attentions, "output_hidden_states": output_hidden_states}
        if encoder_outputs is None:
            if pixel_values is None:
                raise ValueError("Pass pixel_values (or encoder_outputs) to VisionEncoderDecoderModel.")
            encoder_outputs = self.encoder(pixel_values=pixel_values, **flags, return_dict=True)
        elif isinstance(encoder_outputs, (tuple, list)):
            encoder_outputs = BaseModelOutput(*encoder_outputs)
        states = encoder_outputs[0]  # (B, S, D_enc)
        if self._projects():
            states = self.enc_to_dec_proj(states)
        if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        out = self.decoder(input_ids=decoder_input_ids, attention_mask=decoder_attention_mask,
                           encoder_hidden_states=states, inputs_embeds=decoder_inputs_embeds,
                           past_key_values=past_key_values, use_cache=use_cache, **flags, return_dict=True)
        loss = token_classification_loss(out.logits, labels) if labels is not None else None
        return self._finish(Seq2SeqLMOutput(
            loss=loss, logits=out.logits, past_key_values=out.past_key_values,
            decoder_hidden_states=out.hidden_states, decoder_attentions=out.attentions,
            cross_attentions=getattr(out, "cross_attentions", None),
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states, encoder_attentions=encoder_outputs.attentions,
        ), return_dict)


def _load_half(path, task: str, options: dict, decoder: bool) -> PreTrainedModel:
    """One half of a VisionEncoderDecoderModel from its own checkpoint, its config set for its role."""
    from ..auto import AutoConfig

    if path is None:
        raise ValueError(f"Pass the {'decoder' if decoder else 'encoder'} checkpoint's path (or "
                         f"{'decoder' if decoder else 'encoder'}_model=a model).")
    config = options.pop("config", None) or AutoConfig.from_pretrained(path)
    config.is_decoder = config.add_cross_attention = decoder  # an encoder neither attends causally nor crosses
    return _model_class(config, task).from_pretrained(path, config=config, **options)
