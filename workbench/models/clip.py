"""CLIP, contrastive image-text pre-training (https://arxiv.org/abs/2103.00020).

    input_ids ─► token_embedding + position_embedding ─► N × pre-norm layer (causal + padding mask)
              ─► final_layer_norm ─► the state at each row's end-of-text token ─► text_projection
    pixel_values ─► patch_embedding (conv, stride = patch) ─► [class_embedding, patches] + position_embedding
              ─► pre_layrnorm ─► N × pre-norm layer ─► post_layernorm(class token) ─► visual_projection
    logits_per_text (T, I) = exp(logit_scale) · cos(text_embeds, image_embeds);  logits_per_image = its transpose

The two towers are :class:`CLIPTextModel` and :class:`CLIPVisionModel`, each a model of its own
(``clip_text_model`` / ``clip_vision_model``) and the ``text_model`` / ``vision_model`` of
:class:`CLIPModel`. SigLIP (:mod:`workbench.models.siglip`) builds its towers from the layers and
embeddings here. Module names equal the checkpoint keys (``text_model.encoder.layers.0.self_attn.q_proj``,
``vision_model.pre_layrnorm`` with the original's spelling).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.attention import MultiHeadAttention, causal_mask, padding_mask
from ..nn.contrastive import contrastive_loss, similarity_logits
from ..nn.layers import output_flags, run_layers
from ..nn.losses import sequence_classification_loss
from ..nn.mlp import FeedForward
from ..nn.patches import interpolate_positions
from ..outputs import BaseModelOutputWithPooling, ImageClassifierOutput, ModelOutput, Tensor, Tensors

# --- configs -----------------------------------------------------------------------------------


class CLIPTextConfig(PretrainedConfig):
    """The text tower. ``eos_token_id`` picks the pooled token (see :func:`eos_positions`)."""

    model_type = "clip_text_model"
    base_config_key = "text_config"
    defaults = {
        "vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048, "projection_dim": 512,
        "num_hidden_layers": 12, "num_attention_heads": 8, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5, "attention_dropout": 0.0, "initializer_range": 0.02, "initializer_factor": 1.0,
        "pad_token_id": 1, "bos_token_id": 49406, "eos_token_id": 49407,
    }


class CLIPVisionConfig(PretrainedConfig):
    """The vision tower: a ViT over ``patch_size`` patches of an ``image_size`` image."""

    model_type = "clip_vision_model"
    base_config_key = "vision_config"
    defaults = {
        "hidden_size": 768, "intermediate_size": 3072, "projection_dim": 512, "num_hidden_layers": 12,
        "num_attention_heads": 12, "num_channels": 3, "image_size": 224, "patch_size": 32, "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5, "attention_dropout": 0.0, "initializer_range": 0.02, "initializer_factor": 1.0,
    }


class CLIPConfig(PretrainedConfig):
    """The joint model: ``text_config`` and ``vision_config`` (dicts in config.json), the shared
    ``projection_dim`` and the initial ``logit_scale``."""

    model_type = "clip"
    sub_configs = {"text_config": CLIPTextConfig, "vision_config": CLIPVisionConfig}
    defaults = {"text_config": None, "vision_config": None, "projection_dim": 512, "logit_scale_init_value": 2.6592,
                "initializer_factor": 1.0}

    def __post_init__(self) -> None:
        # configs written before transformers 4.27 (openai/clip-vit-large-patch14) also hold text_config_dict /
        # vision_config_dict; as in the reference, such a part, completed by its defaults, overrides the other
        for key, part_class in self.sub_configs.items():
            legacy = self.__dict__.pop(f"{key}_dict", None)
            if legacy:
                part = {**getattr(self, key).to_dict(), **part_class(**legacy).to_dict()}
                setattr(self, key, part_class(**part))


# --- outputs -----------------------------------------------------------------------------------


@dataclass
class CLIPOutput(ModelOutput):
    """``logits_per_image`` (I, T) and ``logits_per_text`` (T, I): scaled cosine similarities; the
    normalised ``text_embeds`` / ``image_embeds``; each tower's own output."""

    loss: Tensor = None
    logits_per_image: Tensor = None
    logits_per_text: Tensor = None
    text_embeds: Tensor = None
    image_embeds: Tensor = None
    text_model_output: BaseModelOutputWithPooling = None
    vision_model_output: BaseModelOutputWithPooling = None

    def to_tuple(self) -> tuple:
        return tuple(v.to_tuple() if isinstance(v, ModelOutput) else v for v in self.values())


@dataclass
class CLIPTextModelOutput(ModelOutput):
    text_embeds: Tensor = None
    last_hidden_state: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class CLIPVisionModelOutput(ModelOutput):
    image_embeds: Tensor = None
    last_hidden_state: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


# --- the layers both towers (and SigLIP's) share ---------------------------------------------


class CLIPEncoderLayer(nn.Module):
    """Pre-norm: ``h + attn(layer_norm1(h))``, then ``h + mlp(layer_norm2(h))``; ``causal`` for CLIP's text."""

    def __init__(self, config: PretrainedConfig, causal: bool = False) -> None:
        super().__init__()
        self.config = config  # read by _init_weights (its std depends on the tower's depth and width)
        self.self_attn = MultiHeadAttention(config.hidden_size, config.num_attention_heads, causal=causal,
                                            dropout=config.attention_dropout)
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = FeedForward(config.hidden_size, config.intermediate_size, config.hidden_act)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden, mask, eager):
        attended, weights = self.self_attn(self.layer_norm1(hidden), mask, eager)
        hidden = hidden + attended
        return hidden + self.mlp(self.layer_norm2(hidden)), weights


class CLIPEncoder(nn.Module):
    def __init__(self, config: PretrainedConfig, causal: bool = False) -> None:
        super().__init__()
        self.layers = nn.ModuleList(CLIPEncoderLayer(config, causal) for _ in range(config.num_hidden_layers))

    def forward(self, hidden, mask, eager, output_hidden_states, output_attentions):
        return run_layers(self.layers, hidden, mask, eager, output_hidden_states=output_hidden_states,
                          output_attentions=output_attentions)


class CLIPTextEmbeddings(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embedding = nn.Embedding(config.max_position_embeddings, config.hidden_size)

    def forward(self, input_ids, position_ids=None) -> torch.Tensor:
        length, limit = input_ids.shape[-1], self.position_embedding.num_embeddings
        if length > limit:
            raise ValueError(f"The text has {length} tokens, the model's positions reach {limit} "
                             "(max_position_embeddings): truncate it (tokenizer(..., truncation=True)).")
        if position_ids is None:
            position_ids = torch.arange(length, device=input_ids.device)[None]
        return self.token_embedding(input_ids) + self.position_embedding(position_ids)


class CLIPVisionEmbeddings(nn.Module):
    """(B, C, H, W) -> (B, [1 +] N, D): patch tokens behind a learned class token (``class_token``;
    SigLIP has none) plus a learned position table, resampled for another image size when
    ``interpolate_pos_encoding``."""

    def __init__(self, config: PretrainedConfig, class_token: bool = True, patch_bias: bool = False) -> None:
        super().__init__()
        width, patch = config.hidden_size, config.patch_size
        self.image_size, self.patch_size, self.num_channels = config.image_size, patch, config.num_channels
        self.class_embedding = nn.Parameter(torch.empty(width)) if class_token else None
        self.patch_embedding = nn.Conv2d(config.num_channels, width, kernel_size=patch, stride=patch, bias=patch_bias)
        self.num_prefix = int(class_token)
        self.position_embedding = nn.Embedding((config.image_size // patch) ** 2 + self.num_prefix, width)

    def forward(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False) -> torch.Tensor:
        if pixel_values is None or pixel_values.dim() != 4 or pixel_values.shape[1] != self.num_channels:
            shape = None if pixel_values is None else tuple(pixel_values.shape)
            raise ValueError(f"pixel_values must be (batch, {self.num_channels}, height, width), got {shape}: make "
                             "them with the model's image processor.")
        height, width = pixel_values.shape[-2:]
        if not interpolate_pos_encoding and (height, width) != (self.image_size, self.image_size):
            raise ValueError(f"The image is {height}x{width} pixels, the model's positions are for {self.image_size}x"
                             f"{self.image_size}: resize it (the image processor does) or pass "
                             "interpolate_pos_encoding=True.")
        weight = self.patch_embedding.weight
        patches = self.patch_embedding(pixel_values.to(weight.dtype)).flatten(2).transpose(1, 2)  # (B, N, D)
        if self.class_embedding is not None:
            patches = torch.cat((self.class_embedding.expand(patches.shape[0], 1, -1), patches), dim=1)
        table = self.position_embedding.weight[None]  # (1, P + n*n, D)
        if interpolate_pos_encoding:
            table = interpolate_positions(table, self.num_prefix, height, width, self.patch_size)
        return patches + table


def eos_positions(input_ids: torch.Tensor, eos_token_id) -> torch.Tensor:
    """(B,) index of the token each row is pooled at. Configs written before transformers 4.31 say
    ``eos_token_id=2`` (wrongly): those pool at the highest id of the row (CLIP's end-of-text token is
    the last of its vocabulary), as the original code did; others at the first ``eos_token_id`` (the
    padding may be that same token)."""
    if eos_token_id == 2:
        return input_ids.to(torch.int).argmax(dim=-1)
    return (input_ids == eos_token_id).int().argmax(dim=-1)


# --- models ------------------------------------------------------------------------------------


class CLIPPreTrainedModel(PreTrainedModel):
    config_class = CLIPConfig
    base_model_prefix = "clip"

    def _init_weights(self, module: nn.Module) -> None:
        """The reference's init: std scaled by width and depth, times ``initializer_factor``. Runs on
        children before parents, so a parent's rule below overrides the generic one for its children."""
        super()._init_weights(module)
        config = getattr(module, "config", self.config)  # a layer's own tower
        factor = getattr(self.config, "initializer_factor", 1.0)
        if isinstance(module, CLIPTextEmbeddings):
            nn.init.normal_(module.token_embedding.weight, std=0.02 * factor)
            nn.init.normal_(module.position_embedding.weight, std=0.02 * factor)
        elif isinstance(module, CLIPVisionEmbeddings):
            width = module.patch_embedding.out_channels
            if module.class_embedding is not None:
                nn.init.normal_(module.class_embedding, std=width**-0.5 * factor)
            std = getattr(self._tower_config(module), "initializer_range", 0.02) * factor
            nn.init.normal_(module.patch_embedding.weight, std=std)
            nn.init.normal_(module.position_embedding.weight, std=std)
        elif isinstance(module, CLIPEncoderLayer):
            width, depth = config.hidden_size, config.num_hidden_layers
            in_std = width**-0.5 * (2 * depth) ** -0.5 * factor
            attention = module.self_attn
            for linear in (attention.q_proj, attention.k_proj, attention.v_proj):
                nn.init.normal_(linear.weight, std=in_std)
            nn.init.normal_(attention.out_proj.weight, std=width**-0.5 * factor)
            nn.init.normal_(module.mlp.fc1.weight, std=(2 * width) ** -0.5 * factor)
            nn.init.normal_(module.mlp.fc2.weight, std=in_std)
        elif isinstance(module, (CLIPModel, CLIPTextModelWithProjection, CLIPVisionModelWithProjection)):
            for name in ("text_projection", "visual_projection"):
                linear = getattr(module, name, None)
                if linear is not None:
                    nn.init.normal_(linear.weight, std=linear.in_features**-0.5 * factor)
            if isinstance(module, CLIPModel):
                nn.init.constant_(module.logit_scale, module.config.logit_scale_init_value)
        elif isinstance(module, CLIPForImageClassification):
            nn.init.normal_(module.classifier.weight, std=module.classifier.in_features**-0.5 * factor)

    def _tower_config(self, module: nn.Module) -> PretrainedConfig:
        """The vision tower's config, whichever model holds ``module``."""
        return getattr(self.config, "vision_config", self.config)


class CLIPTextModel(CLIPPreTrainedModel):
    """The text tower; ``pooler_output`` (B, D) is the final state at each row's end-of-text token.

    Loads a ``clip`` checkpoint too (its ``text_model.*`` tensors), as the reference does."""

    config_class = CLIPTextConfig
    base_model_prefix = "text_model"  # the joint model's key prefix: stripped when loading its checkpoint
    causal = True

    def __init__(self, config: CLIPTextConfig) -> None:
        super().__init__(config)
        self.embeddings = CLIPTextEmbeddings(config)
        self.encoder = CLIPEncoder(config, causal=self.causal)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.token_embedding

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.embeddings.token_embedding = embeddings

    def _encode(self, input_ids, attention_mask, position_ids, output_attentions, output_hidden_states):
        """(B, T) ids -> final states (B, T, D), the layer stack's output (its per-layer states and weights)."""
        if input_ids is None:
            raise ValueError(f"{type(self).__name__} needs input_ids (from the model's tokenizer).")
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        hidden = self.embeddings(input_ids, position_ids)
        length = input_ids.shape[-1]
        if self.causal:  # None without padding: the attention's own causal path covers it
            mask = causal_mask(attention_mask, length, length, hidden.dtype, hidden.device)
        else:
            mask = padding_mask(attention_mask, hidden.dtype)
        stack = self.encoder(hidden, mask, eager, output_hidden_states, output_attentions)
        return self.final_layer_norm(stack.last_hidden_state), stack

    def pool(self, hidden: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        return hidden[rows, eos_positions(input_ids, self.config.eos_token_id).to(hidden.device)]

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        hidden, stack = self._encode(input_ids, attention_mask, position_ids, output_attentions, output_hidden_states)
        out = BaseModelOutputWithPooling(hidden, self.pool(hidden, input_ids), stack.hidden_states, stack.attentions)
        return self._finish(out, return_dict)


class CLIPVisionModel(CLIPPreTrainedModel):
    """The vision tower; ``pooler_output`` (B, D) is the class token's final state, layer-normed.

    Loads a ``clip`` checkpoint too (its ``vision_model.*`` tensors)."""

    config_class = CLIPVisionConfig
    base_model_prefix = "vision_model"
    main_input_name = "pixel_values"

    def __init__(self, config: CLIPVisionConfig) -> None:
        super().__init__(config)
        self.embeddings = CLIPVisionEmbeddings(config)
        self.pre_layrnorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.encoder = CLIPEncoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def get_input_embeddings(self) -> nn.Conv2d:
        return self.embeddings.patch_embedding

    def forward(self, pixel_values=None, interpolate_pos_encoding=False, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        hidden = self.pre_layrnorm(self.embeddings(pixel_values, interpolate_pos_encoding))
        stack = self.encoder(hidden, None, eager, output_hidden_states, output_attentions)
        pooled = self.post_layernorm(stack.last_hidden_state[:, 0])  # the class token
        out = BaseModelOutputWithPooling(stack.last_hidden_state, pooled, stack.hidden_states, stack.attentions)
        return self._finish(out, return_dict)


class CLIPModel(CLIPPreTrainedModel):
    """Both towers, their projections and ``logit_scale``. ``model(input_ids=, pixel_values=)`` gives the
    similarity of every text to every image; softmax over ``logits_per_image`` rows gives zero-shot
    label probabilities.

    >>> out = model(**processor(text=["a cat", "a dog"], images=image, return_tensors="pt", padding=True))  # doctest: +SKIP
    >>> out.logits_per_image.softmax(dim=-1)                                                                  # doctest: +SKIP
    """

    def __init__(self, config: CLIPConfig) -> None:
        super().__init__(config)
        text, vision = config.text_config, config.vision_config
        self.text_model = CLIPTextModel(text)
        self.vision_model = CLIPVisionModel(vision)
        self.visual_projection = nn.Linear(vision.hidden_size, config.projection_dim, bias=False)
        self.text_projection = nn.Linear(text.hidden_size, config.projection_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init_value)))

    def get_input_embeddings(self) -> nn.Embedding:
        return self.text_model.get_input_embeddings()

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.text_model.set_input_embeddings(embeddings)

    def get_text_features(self, input_ids=None, attention_mask=None, position_ids=None, output_attentions=None,
                          output_hidden_states=None, return_dict=None, **kwargs):
        """The text tower's output, its ``pooler_output`` projected to (B, projection_dim) (not normalised)."""
        out = self.text_model(input_ids, attention_mask, position_ids, output_attentions, output_hidden_states,
                              return_dict=True)
        out.pooler_output = self.text_projection(out.pooler_output)
        return self._finish(out, return_dict)

    def get_image_features(self, pixel_values=None, interpolate_pos_encoding=False, output_attentions=None,
                           output_hidden_states=None, return_dict=None, **kwargs):
        """The vision tower's output, its ``pooler_output`` projected to (B, projection_dim) (not normalised)."""
        out = self.vision_model(pixel_values, interpolate_pos_encoding, output_attentions, output_hidden_states,
                                return_dict=True)
        out.pooler_output = self.visual_projection(out.pooler_output)
        return self._finish(out, return_dict)

    def forward(self, input_ids=None, pixel_values=None, attention_mask=None, position_ids=None, return_loss=None,
                output_attentions=None, output_hidden_states=None, interpolate_pos_encoding=False, return_dict=None,
                **kwargs):
        """``return_loss=True`` adds the contrastive loss (the i-th text describes the i-th image)."""
        vision = self.get_image_features(pixel_values, interpolate_pos_encoding, output_attentions,
                                         output_hidden_states, return_dict=True)
        text = self.get_text_features(input_ids, attention_mask, position_ids, output_attentions,
                                      output_hidden_states, return_dict=True)
        text_embeds, image_embeds, logits_per_text = similarity_logits(text.pooler_output, vision.pooler_output,
                                                                       self.logit_scale)
        loss = contrastive_loss(logits_per_text) if return_loss else None
        out = CLIPOutput(loss, logits_per_text.t(), logits_per_text, text_embeds, image_embeds, text, vision)
        return self._finish(out, return_dict)


class CLIPTextModelWithProjection(CLIPPreTrainedModel):
    """The text tower and ``text_projection``: ``text_embeds`` (B, projection_dim), not normalised."""

    config_class = CLIPTextConfig
    base_model_prefix = "text_model"

    def __init__(self, config: CLIPTextConfig) -> None:
        super().__init__(config)
        self.text_model = CLIPTextModel(config)
        self.text_projection = nn.Linear(config.hidden_size, config.projection_dim, bias=False)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        out = self.text_model(input_ids, attention_mask, position_ids, output_attentions, output_hidden_states,
                              return_dict=True)
        embeds = self.text_projection(out.pooler_output)
        return self._finish(CLIPTextModelOutput(embeds, out.last_hidden_state, out.hidden_states, out.attentions),
                            return_dict)


class CLIPVisionModelWithProjection(CLIPPreTrainedModel):
    """The vision tower and ``visual_projection``: ``image_embeds`` (B, projection_dim), not normalised."""

    config_class = CLIPVisionConfig
    base_model_prefix = "vision_model"
    main_input_name = "pixel_values"

    def __init__(self, config: CLIPVisionConfig) -> None:
        super().__init__(config)
        self.vision_model = CLIPVisionModel(config)
        self.visual_projection = nn.Linear(config.hidden_size, config.projection_dim, bias=False)

    def forward(self, pixel_values=None, interpolate_pos_encoding=False, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        out = self.vision_model(pixel_values, interpolate_pos_encoding, output_attentions, output_hidden_states,
                                return_dict=True)
        embeds = self.visual_projection(out.pooler_output)
        return self._finish(CLIPVisionModelOutput(embeds, out.last_hidden_state, out.hidden_states, out.attentions),
                            return_dict)


class CLIPForImageClassification(CLIPPreTrainedModel):
    """The vision tower and a linear classifier over the mean of the patch tokens' final states (the
    class token left out); ``labels`` give the classification loss."""

    main_input_name = "pixel_values"

    def __init__(self, config: CLIPConfig) -> None:
        super().__init__(config)
        vision = config.vision_config
        self.vision_model = CLIPVisionModel(vision)
        self.classifier = (nn.Linear(vision.hidden_size, config.num_labels) if config.num_labels > 0
                           else nn.Identity())

    def forward(self, pixel_values=None, labels=None, interpolate_pos_encoding=False, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        out = self.vision_model(pixel_values, interpolate_pos_encoding, output_attentions, output_hidden_states,
                                return_dict=True)
        logits = self.classifier(out.last_hidden_state[:, 1:].mean(dim=1))
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return self._finish(ImageClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)
