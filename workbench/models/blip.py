"""BLIP (https://arxiv.org/abs/2201.12086): a ViT image tower and a BERT-shaped text side (blip_text.py).

    pixel_values ─► conv patches + [CLS] + positions ─► N × pre-norm layer ─► post_layernorm ─► image states (B, 1 + P, C)

    BlipModel (zero-shot):   image [CLS] ─► visual_projection ┐ cosine × exp(logit_scale) ─► logits_per_image
                             text [CLS] pooled ─► text_projection ┘
    BlipForConditionalGeneration (captions):  text_decoder(ids, cross-attending to the image states) ─► logits
    BlipForQuestionAnswering (VQA):  text_encoder(question, cross-attending to the image states)
                             ─► text_decoder(answer ids, cross-attending to the encoded question)

``generate()`` of the captioning and VQA models computes the image (and question) states once, then hands
over to the text decoder's ``generate()`` (workbench.generation's loop) with them as ``encoder_hidden_states``,
starting from ``bos_token_id`` and stopping at ``sep_token_id``, as the reference does. Module names equal
the checkpoint keys (``vision_model.encoder.layers.0.self_attn.qkv``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.attention import attention
from ..nn.contrastive import contrastive_loss, similarity_logits
from ..nn.layers import output_flags, run_layers
from ..nn.mlp import FeedForward
from ..nn.patches import interpolate_positions
from ..outputs import BaseModelOutputWithPooling, ModelOutput, Tensor, Tensors
from .blip_text import BlipTextConfig, BlipTextLMHeadModel, BlipTextModel, init_lm_bias


class BlipVisionConfig(PretrainedConfig):
    model_type = "blip_vision_model"
    defaults = {
        "hidden_size": 768, "intermediate_size": 3072, "projection_dim": 512, "num_hidden_layers": 12,
        "num_attention_heads": 12, "image_size": 384, "patch_size": 16, "hidden_act": "gelu", "layer_norm_eps": 1e-5,
        "attention_dropout": 0.0, "initializer_range": 1e-10,
    }


class BlipConfig(PretrainedConfig):
    """A text config and a vision config (dicts in config.json, config objects here), and the joint fields.
    The text side's cross-attention reads the vision tower's states: ``text_config.encoder_hidden_size``
    follows ``vision_config.hidden_size``."""

    model_type = "blip"
    sub_configs = {"text_config": BlipTextConfig, "vision_config": BlipVisionConfig}
    defaults = {
        "text_config": None, "vision_config": None, "projection_dim": 512, "logit_scale_init_value": 2.6592,
        "image_text_hidden_size": 256, "label_smoothing": 0.0, "tie_word_embeddings": True,
        "initializer_factor": 1.0, "initializer_range": 0.02,
    }

    def __post_init__(self) -> None:
        # (the base class built text_config / vision_config from their dicts, and writes them back as dicts)
        self.text_config.encoder_hidden_size = self.vision_config.hidden_size


# ---------------------------------------------------------------------------------------------
# the image tower


class BlipVisionEmbeddings(nn.Module):
    """[CLS] + one token per ``patch_size`` patch (a strided conv), plus a learned position table."""

    def __init__(self, config: BlipVisionConfig) -> None:
        super().__init__()
        self.patch_size = config.patch_size
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.patch_embedding = nn.Conv2d(3, config.hidden_size, kernel_size=config.patch_size, stride=config.patch_size)
        positions = (config.image_size // config.patch_size) ** 2 + 1
        self.position_embedding = nn.Parameter(torch.zeros(1, positions, config.hidden_size))

    def forward(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False) -> torch.Tensor:
        dtype = self.patch_embedding.weight.dtype
        patches = self.patch_embedding(pixel_values.to(dtype)).flatten(2).transpose(1, 2)  # (B, P, C)
        tokens = torch.cat([self.class_embedding.expand(patches.shape[0], 1, -1).to(dtype), patches], dim=1)
        table = self.position_embedding
        if interpolate_pos_encoding:
            table = interpolate_positions(table, 1, *pixel_values.shape[-2:], self.patch_size)
        elif tokens.shape[1] > table.shape[1]:
            raise ValueError(f"The image gives {tokens.shape[1] - 1} patches, the position table has "
                             f"{table.shape[1] - 1}: resize the image (the image processor does) or pass "
                             "interpolate_pos_encoding=True.")
        return tokens + table[:, : tokens.shape[1]].to(dtype)


class BlipAttention(nn.Module):
    """Self-attention over one fused ``qkv`` projection, then ``projection``."""

    def __init__(self, config: BlipVisionConfig) -> None:
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(f"The vision hidden_size ({config.hidden_size}) must be a multiple of num_attention_heads "
                             f"({config.num_attention_heads}): fix the vision config.")
        self.num_heads = config.num_attention_heads
        self.dropout = config.attention_dropout
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.projection = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor, eager: bool):
        batch, length, width = hidden_states.shape
        # (B, T, 3C) -> 3 × (B, H, T, D)
        query, key, value = self.qkv(hidden_states).view(batch, length, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        out, weights = attention(query, key, value, None, eager=eager, dropout=self.dropout if self.training else 0.0)
        return self.projection(out.reshape(batch, length, width)), weights


class BlipEncoderLayer(nn.Module):
    """Pre-norm: x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, config: BlipVisionConfig) -> None:
        super().__init__()
        self.self_attn = BlipAttention(config)
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = FeedForward(config.hidden_size, config.intermediate_size, config.hidden_act)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, mask, eager):
        attended, weights = self.self_attn(self.layer_norm1(hidden_states), eager)
        hidden_states = hidden_states + attended
        return hidden_states + self.mlp(self.layer_norm2(hidden_states)), weights


class BlipEncoder(nn.Module):
    def __init__(self, config: BlipVisionConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(BlipEncoderLayer(config) for _ in range(config.num_hidden_layers))


class BlipPreTrainedModel(PreTrainedModel):
    config_class = BlipConfig
    _ignore_unexpected = (r"position_ids$",)

    def _init_weights(self, module: nn.Module) -> None:
        std = getattr(self.config, "initializer_range", 0.02)
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, std=std)
            nn.init.zeros_(module.bias)
        elif isinstance(module, BlipVisionEmbeddings):
            vision = getattr(self.config, "vision_config", self.config)
            nn.init.trunc_normal_(module.position_embedding, std=vision.initializer_range)
            nn.init.trunc_normal_(module.class_embedding, std=vision.initializer_range)
        elif isinstance(module, BlipModel):
            nn.init.constant_(module.logit_scale, self.config.logit_scale_init_value)
        else:
            super()._init_weights(module)
            init_lm_bias(module)


class BlipVisionModel(BlipPreTrainedModel):
    """Pixels (B, 3, H, W) -> ``last_hidden_state`` (B, 1 + P, C) after ``post_layernorm``, and
    ``pooler_output``: the [CLS] row of it, layer-normed once more (as the reference does)."""

    config_class = BlipVisionConfig
    main_input_name = "pixel_values"

    def __init__(self, config: BlipVisionConfig) -> None:
        super().__init__(config)
        self.embeddings = BlipVisionEmbeddings(config)
        self.encoder = BlipEncoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, pixel_values=None, interpolate_pos_encoding=False, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        if pixel_values is None:
            raise ValueError("BLIP's vision model needs pixel_values (B, 3, H, W): make them with its image processor.")
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        hidden = self.embeddings(pixel_values, interpolate_pos_encoding)
        # hidden_states: the embeddings and each layer's output, before post_layernorm
        stack = run_layers(self.encoder.layers, hidden, None, eager, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions)
        last = self.post_layernorm(stack.last_hidden_state)
        out = BaseModelOutputWithPooling(last, self.post_layernorm(last[:, 0]), stack.hidden_states, stack.attentions)
        return self._finish(out, return_dict)


# ---------------------------------------------------------------------------------------------
# the models


@dataclass
class BlipOutput(ModelOutput):
    loss: Tensor = None
    logits_per_image: Tensor = None
    logits_per_text: Tensor = None
    text_embeds: Tensor = None
    image_embeds: Tensor = None
    text_model_output: Any = None
    vision_model_output: Any = None


@dataclass
class BlipForConditionalGenerationModelOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None
    image_embeds: Tensor = None  # the image states the decoder attends to (B, 1 + P, C)
    last_hidden_state: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class BlipTextVisionModelOutput(ModelOutput):
    loss: Tensor = None
    image_embeds: Tensor = None
    last_hidden_state: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


class BlipModel(BlipPreTrainedModel):
    """Image and text embeddings in one space; ``logits_per_image`` (B_images, B_texts) are their
    cosine similarities times ``exp(logit_scale)`` (zero-shot image classification)."""

    main_input_name = "input_ids"

    def __init__(self, config: BlipConfig) -> None:
        super().__init__(config)
        self.text_model = BlipTextModel(config.text_config)
        self.vision_model = BlipVisionModel(config.vision_config)
        self.visual_projection = nn.Linear(config.vision_config.hidden_size, config.projection_dim, bias=False)
        self.text_projection = nn.Linear(config.text_config.hidden_size, config.projection_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init_value)))

    def get_input_embeddings(self) -> nn.Embedding:
        return self.text_model.get_input_embeddings()

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.text_model.set_input_embeddings(embeddings)

    def get_text_features(self, input_ids=None, attention_mask=None, position_ids=None, **kwargs) -> torch.Tensor:
        """(B, projection_dim) text embeddings, not normalized."""
        out = self.text_model(input_ids, attention_mask, position_ids, return_dict=True, **kwargs)
        return self.text_projection(out.pooler_output)

    def get_image_features(self, pixel_values=None, interpolate_pos_encoding=False, **kwargs) -> torch.Tensor:
        """(B, projection_dim) image embeddings, not normalized."""
        out = self.vision_model(pixel_values, interpolate_pos_encoding, return_dict=True, **kwargs)
        return self.visual_projection(out.pooler_output)

    def forward(self, input_ids=None, pixel_values=None, attention_mask=None, position_ids=None, return_loss=None,
                interpolate_pos_encoding=False, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs):
        flags = {"output_attentions": output_attentions, "output_hidden_states": output_hidden_states, "return_dict": True}
        vision = self.vision_model(pixel_values, interpolate_pos_encoding, **flags)
        text = self.text_model(input_ids, attention_mask, position_ids, **flags)
        text_embeds, image_embeds, logits_per_text = similarity_logits(
            self.text_projection(text.pooler_output), self.visual_projection(vision.pooler_output), self.logit_scale)
        loss = contrastive_loss(logits_per_text) if return_loss else None
        out = BlipOutput(loss, logits_per_text.t(), logits_per_text, text_embeds, image_embeds, text, vision)
        return self._finish(out, return_dict)


class BlipDecoderHeadMixin:
    """The captioning and VQA models' ``text_decoder`` LM head, tied to its word embeddings."""

    _tied_weights_keys = {
        "text_decoder.cls.predictions.decoder.weight": "text_decoder.bert.embeddings.word_embeddings.weight",
        "text_decoder.cls.predictions.decoder.bias": "text_decoder.cls.predictions.bias",
    }

    def get_output_embeddings(self) -> nn.Linear:
        return self.text_decoder.cls.predictions.decoder

    def _decode(self, start_ids, attention_mask, states, states_mask, kwargs):
        """The text decoder's ``generate()``, cross-attending to ``states`` (B, S, C), ending at ``sep_token_id``."""
        text = self.config.text_config
        kwargs.setdefault("eos_token_id", text.sep_token_id)
        kwargs.setdefault("pad_token_id", text.pad_token_id)
        return self.text_decoder.generate(start_ids, attention_mask, encoder_hidden_states=states,
                                          encoder_attention_mask=states_mask, **kwargs)


class BlipForConditionalGeneration(BlipDecoderHeadMixin, BlipPreTrainedModel):
    """Image captioning: the text decoder reads the image states through cross-attention; ``input_ids``
    are the caption so far (a prompt such as "a picture of", starting with bos)."""

    main_input_name = "pixel_values"
    is_generative = True

    def __init__(self, config: BlipConfig) -> None:
        super().__init__(config)
        self.vision_model = BlipVisionModel(config.vision_config)
        self.text_decoder = BlipTextLMHeadModel(config.text_config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.text_decoder.bert.get_input_embeddings()

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.text_decoder.bert.set_input_embeddings(embeddings)

    def forward(self, pixel_values=None, input_ids=None, attention_mask=None, labels=None, interpolate_pos_encoding=False,
                logits_to_keep=0, output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        """``labels``: the caption ids (not shifted; position t predicts label t + 1), for the mean loss."""
        vision = self.vision_model(pixel_values, interpolate_pos_encoding, output_attentions, output_hidden_states,
                                   return_dict=True)
        image_states = vision.last_hidden_state
        decoded = self.text_decoder(input_ids, attention_mask, encoder_hidden_states=image_states, labels=labels,
                                    use_cache=False, logits_to_keep=logits_to_keep, return_dict=True)
        out = BlipForConditionalGenerationModelOutput(decoded.loss, decoded.logits, image_states, image_states,
                                                      vision.hidden_states, vision.attentions)
        return self._finish(out, return_dict)

    @torch.no_grad()
    def generate(self, pixel_values=None, input_ids=None, attention_mask=None, interpolate_pos_encoding=False, **kwargs):
        """Caption ``pixel_values`` (B, 3, H, W): ids (B, 1 + new) from bos, or continuing ``input_ids`` (B, T),
        a tokenized prompt whose last token (the tokenizer's [SEP]) is dropped and whose first becomes bos,
        as the reference does. Settings (``max_new_tokens``, ``num_beams``, ...) as ``PreTrainedModel.generate``."""
        image_states = self.vision_model(pixel_values, interpolate_pos_encoding, return_dict=True).last_hidden_state
        image_mask = torch.ones(image_states.shape[:2], dtype=torch.long, device=image_states.device)
        text = self.config.text_config
        if input_ids is None:
            input_ids = torch.full((image_states.shape[0], 1), text.bos_token_id, device=image_states.device)
        else:
            input_ids = torch.as_tensor(input_ids, device=image_states.device)[:, :-1].clone()
            input_ids[:, 0] = text.bos_token_id
            attention_mask = attention_mask[:, :-1] if attention_mask is not None else None
        return self._decode(input_ids, attention_mask, image_states, image_mask, kwargs)


class BlipForQuestionAnswering(BlipDecoderHeadMixin, BlipPreTrainedModel):
    """Visual question answering: ``text_encoder`` reads the question (bidirectional) and the image
    (cross-attention); ``text_decoder`` writes the answer, cross-attending to the encoded question."""

    main_input_name = "input_ids"
    is_generative = True

    def __init__(self, config: BlipConfig) -> None:
        super().__init__(config)
        self.vision_model = BlipVisionModel(config.vision_config)
        self.text_encoder = BlipTextModel(config.text_config, add_pooling_layer=False)
        self.text_decoder = BlipTextLMHeadModel(config.text_config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.text_encoder.get_input_embeddings()

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.text_encoder.set_input_embeddings(embeddings)

    def _question_states(self, input_ids, pixel_values, attention_mask, interpolate_pos_encoding, vision_flags=None):
        vision = self.vision_model(pixel_values, interpolate_pos_encoding, **(vision_flags or {}), return_dict=True)
        image_states = vision.last_hidden_state
        image_mask = torch.ones(image_states.shape[:2], dtype=torch.long, device=image_states.device)
        question = self.text_encoder(input_ids, attention_mask, encoder_hidden_states=image_states,
                                     encoder_attention_mask=image_mask, return_dict=True)
        return vision, question.last_hidden_state

    def forward(self, input_ids=None, pixel_values=None, decoder_input_ids=None, decoder_attention_mask=None,
                attention_mask=None, labels=None, interpolate_pos_encoding=False, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        """The output holds the loss (with ``labels``, the answer ids, also the decoder's inputs when
        ``decoder_input_ids`` are not given) and the image tower's states, as the reference's does."""
        if labels is None and decoder_input_ids is None:
            raise ValueError("BlipForQuestionAnswering needs decoder_input_ids or labels (the answer ids); to answer "
                             "a question, call generate(input_ids=question_ids, pixel_values=...).")
        flags = {"output_attentions": output_attentions, "output_hidden_states": output_hidden_states}
        vision, question = self._question_states(input_ids, pixel_values, attention_mask, interpolate_pos_encoding, flags)
        if decoder_input_ids is None:
            decoder_input_ids = labels  # the answer ids start with bos already
        answer = self.text_decoder(decoder_input_ids, decoder_attention_mask, encoder_hidden_states=question,
                                   encoder_attention_mask=attention_mask, labels=labels, use_cache=False, return_dict=True)
        loss = answer.loss.mean() if labels is not None else None
        image_states = vision.last_hidden_state
        out = BlipTextVisionModelOutput(loss, image_states, image_states, vision.hidden_states, vision.attentions)
        return self._finish(out, return_dict)

    @torch.no_grad()
    def generate(self, input_ids=None, pixel_values=None, attention_mask=None, interpolate_pos_encoding=False, **kwargs):
        """Answer the questions ``input_ids`` (B, T) about ``pixel_values``: answer ids (B, 1 + new) from bos.
        As in the reference, the decoder attends to every question position (the question's padding too)."""
        if input_ids is None or pixel_values is None:
            raise ValueError("BlipForQuestionAnswering.generate needs input_ids (the tokenized question) and pixel_values.")
        input_ids = torch.as_tensor(input_ids)
        _, question = self._question_states(input_ids, pixel_values, attention_mask, interpolate_pos_encoding)
        question_mask = torch.ones(question.shape[:2], dtype=torch.long, device=question.device)
        start = torch.full((question.shape[0], 1), self.config.text_config.bos_token_id, device=question.device)
        return self._decode(start, None, question, question_mask, kwargs)


@dataclass
class BlipImageTextMatchingModelOutput(ModelOutput):
    itm_score: Tensor = None  # (B, 2) match / no-match logits, or (B_images, B_texts) cosine similarities
    loss: Tensor = None
    image_embeds: Tensor = None
    last_hidden_state: Tensor = None  # the image tower's
    hidden_states: Tensors = None
    vision_pooler_output: Tensor = None
    attentions: Tensors = None
    question_embeds: Tensor = None  # the text encoder's states (B, T, C)


class BlipForImageTextRetrieval(BlipPreTrainedModel):
    """Image-text matching (the reference registers it under no Auto class: load it by name).
    ``use_itm_head=True``: the text encoder reads the text and the image (cross-attention) and ``itm_head``
    scores its [CLS] state as match / no match, (B, 2). ``use_itm_head=False``: cosine similarities
    (B_images, B_texts) of the projected image and text [CLS] states, each encoded alone."""

    main_input_name = "input_ids"

    def __init__(self, config: BlipConfig) -> None:
        super().__init__(config)
        self.vision_model = BlipVisionModel(config.vision_config)
        self.text_encoder = BlipTextModel(config.text_config, add_pooling_layer=False)
        self.vision_proj = nn.Linear(config.vision_config.hidden_size, config.image_text_hidden_size)
        self.text_proj = nn.Linear(config.text_config.hidden_size, config.image_text_hidden_size)
        self.itm_head = nn.Linear(config.text_config.hidden_size, 2)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.text_encoder.get_input_embeddings()

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.text_encoder.set_input_embeddings(embeddings)

    def forward(self, input_ids=None, pixel_values=None, use_itm_head=True, attention_mask=None,
                interpolate_pos_encoding=False, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs):
        vision = self.vision_model(pixel_values, interpolate_pos_encoding, output_attentions, output_hidden_states,
                                   return_dict=True)
        image_states = vision.last_hidden_state
        if use_itm_head:
            image_mask = torch.ones(image_states.shape[:2], dtype=torch.long, device=image_states.device)
            text = self.text_encoder(input_ids, attention_mask, encoder_hidden_states=image_states,
                                     encoder_attention_mask=image_mask, return_dict=True).last_hidden_state
            score = self.itm_head(text[:, 0])
        else:
            text = self.text_encoder(input_ids, attention_mask, return_dict=True).last_hidden_state
            image_features = nn.functional.normalize(self.vision_proj(image_states[:, 0]), dim=-1)
            text_features = nn.functional.normalize(self.text_proj(text[:, 0]), dim=-1)
            score = image_features @ text_features.t()
        out = BlipImageTextMatchingModelOutput(itm_score=score, last_hidden_state=image_states,
                                               hidden_states=vision.hidden_states, attentions=vision.attentions,
                                               question_embeds=text)
        return self._finish(out, return_dict)
