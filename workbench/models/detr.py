"""DETR (Carion et al., 2020, https://arxiv.org/abs/2005.12872): detection as set prediction.

    pixels (B, 3, H, W), pixel_mask (B, H, W) ─► backbone (ResNet via AutoBackbone, frozen batch norms)
      ─► last feature map (B, C, H/32, W/32) ─► input_projection (1x1 conv to d_model), flattened to (B, h*w, d)
      ─► encoder: self-attention with 2D sine positions added to queries and keys, padded pixels masked
      ─► decoder: num_queries learned query positions, self-attention, cross-attention to the encoder
      ─► class_labels_classifier (num_labels + "no object") and bbox_predictor (3-layer MLP, sigmoid boxes)

The backbone is the family's own ResNet (``use_timm_backbone=False``, ``backbone_config`` a ResNet
config); timm backbones are not supported. Segmentation (the mask head) is in ``detr_segmentation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..auto import AutoBackbone, config_class_for
from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.attention import attention, padding_mask, split_heads
from ..nn.conv_blocks import FrozenBatchNorm2d, freeze_batch_norms
from ..nn.detection_loss import detection_loss
from ..nn.image_positions import sine_position_embedding_2d
from ..nn.layers import output_flags, run_layers
from ..outputs import BaseModelOutput, ModelOutput, Tensor, Tensors
from .detr_mask_head import DetrMaskHeadSmallConv, DetrMHAttentionMap


class DetrConfig(PretrainedConfig):
    """DETR-ResNet-50's shape by default. ``backbone_config``: the backbone's config (a dict or a
    config; by default ResNet-50 returning its last stage when ``use_timm_backbone=False``)."""

    model_type = "detr"
    attribute_map = {"hidden_size": "d_model", "num_attention_heads": "encoder_attention_heads",
                     "num_hidden_layers": "encoder_layers"}
    defaults = {
        "num_channels": 3, "num_queries": 100, "encoder_layers": 6, "encoder_ffn_dim": 2048,
        "encoder_attention_heads": 8, "decoder_layers": 6, "decoder_ffn_dim": 2048, "decoder_attention_heads": 8,
        "encoder_layerdrop": 0.0, "decoder_layerdrop": 0.0, "is_encoder_decoder": True,
        "activation_function": "relu", "d_model": 256, "dropout": 0.1, "attention_dropout": 0.0,
        "activation_dropout": 0.0, "init_std": 0.02, "init_xavier_std": 1.0, "auxiliary_loss": False,
        "position_embedding_type": "sine", "dilation": False, "class_cost": 1, "bbox_cost": 5, "giou_cost": 2,
        "mask_loss_coefficient": 1, "dice_loss_coefficient": 1, "bbox_loss_coefficient": 5,
        "giou_loss_coefficient": 2, "eos_coefficient": 0.1,
    }

    def __init__(self, **kwargs: Any) -> None:
        # the reference reads these to choose the backbone and keeps only backbone_config
        use_timm = kwargs.pop("use_timm_backbone", True)
        backbone = kwargs.pop("backbone", None)
        backbone_kwargs = kwargs.pop("backbone_kwargs", None) or {}
        kwargs.pop("use_pretrained_backbone", None)
        backbone_config = kwargs.pop("backbone_config", None)
        super().__init__(**kwargs)
        if backbone_config is None and use_timm and not backbone_kwargs:
            # a timm backbone, kept as the reference writes it (models need a ResNet config instead)
            backbone_config = {"model_type": "timm_backbone", "backbone": backbone or "resnet50",
                               "num_channels": self.num_channels, "features_only": True,
                               "use_pretrained_backbone": False, "out_indices": [1, 2, 3, 4]}
        elif backbone_config is None:
            backbone_config = {"model_type": "resnet", "out_features": ["stage4"], **backbone_kwargs}
        self.backbone_config = _as_config(backbone_config)



def _as_config(backbone_config: dict | PretrainedConfig) -> dict | PretrainedConfig:
    """A backbone config dict of a registered model type as that family's config; others stay dicts."""
    if isinstance(backbone_config, dict):
        from ..models.registry import FAMILIES

        if backbone_config.get("model_type") in FAMILIES:
            return config_class_for(backbone_config["model_type"]).from_dict(backbone_config)
    return backbone_config


@dataclass
class DetrModelOutput(ModelOutput):
    last_hidden_state: Tensor = None  # (B, num_queries, d_model): the decoder's output
    past_key_values: Any = None
    decoder_hidden_states: Tensors = None
    decoder_attentions: Tensors = None
    cross_attentions: Tensors = None
    encoder_last_hidden_state: Tensor = None  # (B, h*w, d_model)
    encoder_hidden_states: Tensors = None
    encoder_attentions: Tensors = None
    intermediate_hidden_states: Tensor = None  # (decoder_layers, B, Q, d) with auxiliary_loss: each layer's normed output


@dataclass
class DetrObjectDetectionOutput(ModelOutput):
    loss: Tensor = None
    loss_dict: dict | None = None
    logits: Tensor = None  # (B, num_queries, num_labels + 1): the last class is "no object"
    pred_boxes: Tensor = None  # (B, num_queries, 4): (center_x, center_y, width, height) in [0, 1] of the unpadded image
    auxiliary_outputs: list | None = None
    last_hidden_state: Tensor = None
    decoder_hidden_states: Tensors = None
    decoder_attentions: Tensors = None
    cross_attentions: Tensors = None
    encoder_last_hidden_state: Tensor = None
    encoder_hidden_states: Tensors = None
    encoder_attentions: Tensors = None


class DetrConvEncoder(nn.Module):
    """The backbone (``model``) with its batch norms frozen; returns (feature map, mask) per stage it outputs."""

    def __init__(self, config: DetrConfig) -> None:
        super().__init__()
        backbone_config = config.backbone_config
        if not isinstance(backbone_config, PretrainedConfig):
            raise ValueError(f"DETR's backbone_config is {backbone_config.get('model_type')!r}: workbench builds "
                             "DETR on its own backbones only (timm is not supported). Pass use_timm_backbone=False "
                             "and backbone_config=ResNetConfig(out_features=[...]) (or its dict).")
        self.model = freeze_batch_norms(AutoBackbone.model_class(backbone_config)(backbone_config))
        self.intermediate_channel_sizes = self.model.channels
        if "resnet" in backbone_config.model_type:
            # the reference means to train stages 2-4 only, but its name test ("stage.1") matches none of
            # ResNet's parameter names ("stages.1"), so the whole ResNet stays frozen: so here too, so that
            # fine-tuning updates the same weights
            for parameter in self.model.parameters():
                parameter.requires_grad_(False)

    def forward(self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        features = self.model(pixel_values, return_dict=True).feature_maps
        # (B, H, W) -> (B, h, w) by nearest sampling, as a bool mask of valid pixels
        return [(feature_map, F.interpolate(pixel_mask[None].float(), size=feature_map.shape[-2:]).bool()[0])
                for feature_map in features]


class DetrLearnedPositionEmbedding(nn.Module):
    """Learned row and column embeddings (up to 50 each), concatenated column first: (B, 2 * dim, h, w)."""

    def __init__(self, embedding_dim: int) -> None:
        super().__init__()
        self.row_embeddings = nn.Embedding(50, embedding_dim)
        self.column_embeddings = nn.Embedding(50, embedding_dim)

    def forward(self, mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        batch, height, width = mask.shape
        columns = self.column_embeddings(torch.arange(width, device=mask.device))  # (w, dim)
        rows = self.row_embeddings(torch.arange(height, device=mask.device))  # (h, dim)
        table = torch.cat([columns[None].expand(height, -1, -1), rows[:, None].expand(-1, width, -1)], dim=-1)
        return table.permute(2, 0, 1)[None].expand(batch, -1, -1, -1)


def position_embeddings(model: nn.Module, config: DetrConfig, mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, h, w) valid-pixel mask -> (B, h*w, d_model) position embeddings of the flattened map."""
    if config.position_embedding_type == "sine":
        table = sine_position_embedding_2d(mask, config.d_model // 2, normalize=True, dtype=dtype)
    else:
        table = model.position_embedding(mask, dtype)
    return table.flatten(2).transpose(1, 2)


class DetrAttention(nn.Module):
    """Multi-head attention whose positions are added to the queries and keys, never to the values."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.head_dim, self.dropout = hidden_size // num_heads, dropout
        self.k_proj = nn.Linear(hidden_size, hidden_size)
        self.v_proj = nn.Linear(hidden_size, hidden_size)
        self.q_proj = nn.Linear(hidden_size, hidden_size)
        self.o_proj = nn.Linear(hidden_size, hidden_size)

    def forward(self, hidden_states, mask, query_positions=None, key_value_states=None, key_positions=None,
                eager: bool = False):
        """hidden_states (B, Q, d); keys and values from ``key_value_states`` (B, K, d) (cross-attention)
        or ``hidden_states`` (self-attention, whose keys then take ``query_positions`` too)."""
        if key_value_states is None:
            key_value_states, key_positions = hidden_states, query_positions
        queries = hidden_states if query_positions is None else hidden_states + query_positions
        keys = key_value_states if key_positions is None else key_value_states + key_positions
        out, weights = attention(split_heads(self.q_proj(queries), self.head_dim),
                                 split_heads(self.k_proj(keys), self.head_dim),
                                 split_heads(self.v_proj(key_value_states), self.head_dim), mask,
                                 eager=eager, dropout=self.dropout if self.training else 0.0)
        return self.o_proj(out.reshape(*out.shape[:2], -1)), weights


class DetrMLP(nn.Module):
    def __init__(self, config: DetrConfig, intermediate_size: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, intermediate_size)
        self.fc2 = nn.Linear(intermediate_size, config.d_model)
        self.activation_fn = get_activation(config.activation_function)
        self.activation_dropout, self.dropout = config.activation_dropout, config.dropout

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = F.dropout(self.activation_fn(self.fc1(hidden_states)), self.activation_dropout, self.training)
        return F.dropout(self.fc2(hidden_states), self.dropout, self.training)


class DetrEncoderLayer(nn.Module):
    """Post-norm: x = norm(x + attention(x + pos)); x = norm(x + mlp(x))."""

    def __init__(self, config: DetrConfig) -> None:
        super().__init__()
        self.self_attn = DetrAttention(config.d_model, config.encoder_attention_heads, config.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.mlp = DetrMLP(config, config.encoder_ffn_dim)
        self.dropout = config.dropout
        self.final_layer_norm = nn.LayerNorm(config.d_model)

    def forward(self, hidden_states, mask, positions, eager=False):
        attended, weights = self.self_attn(hidden_states, mask, positions, eager=eager)
        hidden_states = self.self_attn_layer_norm(hidden_states + F.dropout(attended, self.dropout, self.training))
        return self.final_layer_norm(hidden_states + self.mlp(hidden_states)), weights


class DetrDecoderLayer(nn.Module):
    """Post-norm: self-attention over the queries (query positions on queries and keys), cross-attention
    to the encoder (query positions on the queries, pixel positions on the keys), then the MLP."""

    def __init__(self, config: DetrConfig) -> None:
        super().__init__()
        heads, dropout = config.decoder_attention_heads, config.attention_dropout
        self.self_attn = DetrAttention(config.d_model, heads, dropout)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.encoder_attn = DetrAttention(config.d_model, heads, dropout)
        self.encoder_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.mlp = DetrMLP(config, config.decoder_ffn_dim)
        self.dropout = config.dropout
        self.final_layer_norm = nn.LayerNorm(config.d_model)

    def forward(self, hidden_states, mask, query_positions, encoder_states, encoder_mask, pixel_positions, eager=False):
        attended, self_weights = self.self_attn(hidden_states, mask, query_positions, eager=eager)
        hidden_states = self.self_attn_layer_norm(hidden_states + F.dropout(attended, self.dropout, self.training))
        attended, cross_weights = self.encoder_attn(hidden_states, encoder_mask, query_positions, encoder_states,
                                                    pixel_positions, eager=eager)
        hidden_states = self.encoder_attn_layer_norm(hidden_states + F.dropout(attended, self.dropout, self.training))
        return self.final_layer_norm(hidden_states + self.mlp(hidden_states)), self_weights, cross_weights


# DETR checkpoints (the reference writes them so too) keep the original layout's names; the modules have
# the reference's names since transformers 5. (checkpoint name, module name) pairs, read both ways.
CHECKPOINT_NAMES = (
    ("backbone.conv_encoder.", "backbone."), (".out_proj.", ".o_proj."), (".fc1.", ".mlp.fc1."), (".fc2.", ".mlp.fc2."),
    ("bbox_attention.q_linear.", "bbox_attention.q_proj."), ("bbox_attention.k_linear.", "bbox_attention.k_proj."),
    ("mask_head.lay1.", "mask_head.conv1.conv."), ("mask_head.gn1.", "mask_head.conv1.norm."),
    ("mask_head.lay2.", "mask_head.conv2.conv."), ("mask_head.gn2.", "mask_head.conv2.norm."),
    *[pair for stage in range(3) for pair in (
        (f"mask_head.adapter{stage + 1}.", f"mask_head.fpn_stages.{stage}.fpn_adapter."),
        (f"mask_head.lay{stage + 3}.", f"mask_head.fpn_stages.{stage}.refine.conv."),
        (f"mask_head.gn{stage + 3}.", f"mask_head.fpn_stages.{stage}.refine.norm."))],
    ("mask_head.out_lay.", "mask_head.output_conv."),
)


def _renamed(name: str, pairs) -> str:
    """``name`` with each pair's source replaced by its target, once; a name already in the target's
    form (``.mlp.fc1.`` holds ``.fc1.``) is left as it is."""
    for source, target in pairs:
        if source in name and not (source in target and target in name):
            name = name.replace(source, target, 1)
    return name


class DetrPreTrainedModel(PreTrainedModel):
    config_class = DetrConfig
    base_model_prefix = "model"
    main_input_name = "pixel_values"
    _ignore_unexpected = (r"num_batches_tracked",)  # frozen batch norms keep no count

    def _checkpoint_key(self, name: str, expected: set[str]) -> str | None:
        return super()._checkpoint_key(_renamed(name, CHECKPOINT_NAMES), expected)

    def save_pretrained(self, save_directory, **kwargs) -> None:
        """Writes the checkpoint names DETR checkpoints have (``CHECKPOINT_NAMES``)."""
        if kwargs.get("state_dict") is None:
            kwargs["state_dict"] = self.state_dict()
        swapped = [(target, source) for source, target in CHECKPOINT_NAMES]
        kwargs["state_dict"] = {_renamed(name, swapped): tensor for name, tensor in kwargs["state_dict"].items()}
        super().save_pretrained(save_directory, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Linear and conv layers normal(0, init_std) with zero bias, as the reference; the mask head's
        convs and attention map (detr_segmentation) are set by their own init after this."""
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(module.weight, std=self.config.init_std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=self.config.init_std)
        elif isinstance(module, DetrLearnedPositionEmbedding):
            nn.init.uniform_(module.row_embeddings.weight)
            nn.init.uniform_(module.column_embeddings.weight)
        elif isinstance(module, FrozenBatchNorm2d):
            module.reset_statistics()
        elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif hasattr(module, "reset_head_parameters"):  # the segmentation head's own init
            module.reset_head_parameters(self.config)


class DetrEncoder(nn.Module):
    def __init__(self, config: DetrConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DetrEncoderLayer(config) for _ in range(config.encoder_layers))
        self.config = config

    def forward(self, inputs_embeds, attention_mask, positions, output_attentions=None, output_hidden_states=None):
        """inputs_embeds (B, h*w, d), attention_mask (B, h*w) of valid pixels, positions (B, h*w, d)."""
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        hidden = F.dropout(inputs_embeds, self.config.dropout, self.training)
        mask = padding_mask(attention_mask, hidden.dtype)
        stack = run_layers(self.layers, hidden, mask, positions, eager, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions, layerdrop=self.config.encoder_layerdrop)
        return BaseModelOutput(stack.last_hidden_state, stack.hidden_states, stack.attentions)


class DetrDecoder(nn.Module):
    def __init__(self, config: DetrConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DetrDecoderLayer(config) for _ in range(config.decoder_layers))
        self.layernorm = nn.LayerNorm(config.d_model)
        self.config = config

    def forward(self, queries, attention_mask, query_positions, encoder_states, encoder_mask, pixel_positions,
                output_attentions=None, output_hidden_states=None) -> dict:
        """queries (B, Q, d) -> the decoded queries, layer-normed (B, Q, d); with ``auxiliary_loss`` each layer's
        output is normed before the next layer takes it, and those are ``intermediate_hidden_states``."""
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        mask = padding_mask(attention_mask, queries.dtype)
        cross_mask = padding_mask(encoder_mask, queries.dtype)
        hidden, states, self_maps, cross_maps, intermediate = queries, [queries], [], [], []
        for layer in self.layers:
            if self.training and self.config.decoder_layerdrop > 0 and bool(torch.rand([]) < self.config.decoder_layerdrop):
                states.append(hidden)
                continue
            hidden, self_weights, cross_weights = layer(hidden, mask, query_positions, encoder_states, cross_mask,
                                                        pixel_positions, eager)
            states.append(hidden)
            self_maps.append(self_weights)
            cross_maps.append(cross_weights)
            if self.config.auxiliary_loss:
                hidden = self.layernorm(hidden)
                intermediate.append(hidden)
        hidden = self.layernorm(hidden)
        states[-1] = hidden  # the last hidden state is the normed output, as the reference reports it
        return {"last_hidden_state": hidden, "hidden_states": tuple(states) if output_hidden_states else None,
                "attentions": tuple(self_maps) if output_attentions else None,
                "cross_attentions": tuple(cross_maps) if output_attentions else None,
                "intermediate_hidden_states": torch.stack(intermediate) if intermediate else None}


@dataclass
class ImageFeatures:
    """What the backbone and projection make of the pixels: every backbone stage's (map, mask), the
    projected last map (B, d, h, w), its flattened form (B, h*w, d), positions and mask (B, h*w)."""

    stages: list
    projected: torch.Tensor
    flattened: torch.Tensor
    positions: torch.Tensor
    mask: torch.Tensor


class DetrModel(DetrPreTrainedModel):
    """Backbone, projection, encoder and decoder: the decoded queries, (B, num_queries, d_model)."""

    def __init__(self, config: DetrConfig) -> None:
        super().__init__(config)
        if config.position_embedding_type not in ("sine", "learned"):
            raise ValueError(f"position_embedding_type {config.position_embedding_type!r} is not 'sine' or 'learned'.")
        self.backbone = DetrConvEncoder(config)
        if config.position_embedding_type == "learned":
            self.position_embedding = DetrLearnedPositionEmbedding(config.d_model // 2)
        self.query_position_embeddings = nn.Embedding(config.num_queries, config.d_model)
        self.input_projection = nn.Conv2d(self.backbone.intermediate_channel_sizes[-1], config.d_model, kernel_size=1)
        self.encoder = DetrEncoder(config)
        self.decoder = DetrDecoder(config)

    def freeze_backbone(self) -> None:
        for parameter in self.backbone.model.parameters():
            parameter.requires_grad_(False)

    def unfreeze_backbone(self) -> None:
        for parameter in self.backbone.model.parameters():
            parameter.requires_grad_(True)

    def image_features(self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor | None) -> ImageFeatures:
        if pixel_mask is None:
            pixel_mask = torch.ones(pixel_values.shape[:1] + pixel_values.shape[2:], device=pixel_values.device)
        stages = self.backbone(pixel_values, pixel_mask)
        feature_map, mask = stages[-1]
        projected = self.input_projection(feature_map)
        positions = position_embeddings(self, self.config, mask, pixel_values.dtype)
        return ImageFeatures(stages, projected, projected.flatten(2).transpose(1, 2), positions, mask.flatten(1))

    def embedded_features(self, inputs_embeds: torch.Tensor, pixel_mask: torch.Tensor | None) -> ImageFeatures:
        """A flattened square map given directly (B, s*s, d), instead of the backbone's."""
        batch, length = inputs_embeds.shape[:2]
        side = int(length**0.5)
        if pixel_mask is not None:
            mask = F.interpolate(pixel_mask[None].float(), size=(side, side)).bool()[0]
        else:
            mask = torch.ones(batch, side, side, dtype=torch.bool, device=inputs_embeds.device)
        positions = position_embeddings(self, self.config, torch.ones_like(mask), inputs_embeds.dtype)
        return ImageFeatures([], None, inputs_embeds, positions, mask.flatten(1))

    def transform(self, features: ImageFeatures, decoder_attention_mask=None, encoder_outputs=None,
                  decoder_inputs_embeds=None, output_attentions=None, output_hidden_states=None) -> DetrModelOutput:
        """The encoder (unless ``encoder_outputs`` are given) and the decoder over ``features``."""
        if encoder_outputs is None:
            encoder_outputs = self.encoder(features.flattened, features.mask, features.positions,
                                           output_attentions, output_hidden_states)
        elif not isinstance(encoder_outputs, ModelOutput):
            encoder_outputs = BaseModelOutput(*encoder_outputs)
        batch = features.flattened.shape[0]
        query_positions = self.query_position_embeddings.weight[None].expand(batch, -1, -1)
        queries = decoder_inputs_embeds if decoder_inputs_embeds is not None else torch.zeros_like(query_positions)
        decoded = self.decoder(queries, decoder_attention_mask, query_positions, encoder_outputs.last_hidden_state,
                               features.mask, features.positions, output_attentions, output_hidden_states)
        return DetrModelOutput(
            last_hidden_state=decoded["last_hidden_state"], decoder_hidden_states=decoded["hidden_states"],
            decoder_attentions=decoded["attentions"], cross_attentions=decoded["cross_attentions"],
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states, encoder_attentions=encoder_outputs.attentions,
            intermediate_hidden_states=decoded["intermediate_hidden_states"])

    def forward(self, pixel_values: torch.Tensor | None = None, pixel_mask: torch.Tensor | None = None,
                decoder_attention_mask: torch.Tensor | None = None, encoder_outputs=None,
                inputs_embeds: torch.Tensor | None = None, decoder_inputs_embeds: torch.Tensor | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **_):
        """pixel_values (B, C, H, W) and pixel_mask (B, H, W), 1 on real pixels and 0 on padding (all real
        when None) -> last_hidden_state (B, num_queries, d_model) and the encoder's outputs."""
        if pixel_values is None and inputs_embeds is None:
            raise ValueError("DetrModel needs pixel_values (or inputs_embeds, a flattened feature map).")
        features = (self.embedded_features(inputs_embeds, pixel_mask) if inputs_embeds is not None
                    else self.image_features(pixel_values, pixel_mask))
        out = self.transform(features, decoder_attention_mask, encoder_outputs, decoder_inputs_embeds,
                             output_attentions, output_hidden_states)
        return self._finish(out, return_dict)


class DetrMLPPredictionHead(nn.Module):
    """``num_layers`` linear layers with ReLU between them (the box regressor)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        widths = [input_dim] + [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip(widths, widths[1:] + [output_dim]))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        for index, layer in enumerate(self.layers):
            hidden_states = layer(hidden_states)
            if index < len(self.layers) - 1:
                hidden_states = F.relu(hidden_states)
        return hidden_states


class DetrForObjectDetection(DetrPreTrainedModel):
    """DETR with class logits (``num_labels`` + "no object") and boxes per query; ``labels`` (one dict per
    image: ``class_labels`` (N,), ``boxes`` (N, 4) normalized cx, cy, w, h) give the matching loss."""

    def __init__(self, config: DetrConfig) -> None:
        super().__init__(config)
        self.model = DetrModel(config)
        self.class_labels_classifier = nn.Linear(config.d_model, config.num_labels + 1)
        self.bbox_predictor = DetrMLPPredictionHead(config.d_model, config.d_model, 4, num_layers=3)

    def predict(self, decoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., Q, d) decoded queries -> class logits (..., Q, num_labels + 1), boxes (..., Q, 4) in [0, 1]."""
        return self.class_labels_classifier(decoded), self.bbox_predictor(decoded).sigmoid()

    def loss(self, logits, pred_boxes, labels, intermediate, pred_masks=None):
        """The set loss, its parts, and (with ``auxiliary_loss``) each earlier decoder layer's predictions."""
        auxiliary = None
        if self.config.auxiliary_loss:
            layer_logits, layer_boxes = self.predict(intermediate)
            auxiliary = [{"logits": a, "pred_boxes": b} for a, b in zip(layer_logits[:-1], layer_boxes[:-1])]
        total, parts = detection_loss(self.config, logits, pred_boxes, labels, pred_masks, auxiliary)
        return total, parts, auxiliary

    def forward(self, pixel_values: torch.Tensor | None = None, pixel_mask: torch.Tensor | None = None,
                decoder_attention_mask: torch.Tensor | None = None, encoder_outputs=None,
                inputs_embeds: torch.Tensor | None = None, decoder_inputs_embeds: torch.Tensor | None = None,
                labels: list[dict] | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None, **_):
        """-> logits (B, num_queries, num_labels + 1), pred_boxes (B, num_queries, 4); with ``labels``, the
        loss and ``loss_dict``."""
        outputs = self.model(pixel_values, pixel_mask, decoder_attention_mask, encoder_outputs, inputs_embeds,
                             decoder_inputs_embeds, output_attentions, output_hidden_states, return_dict=True)
        logits, pred_boxes = self.predict(outputs.last_hidden_state)
        loss = loss_dict = auxiliary = None
        if labels is not None:
            loss, loss_dict, auxiliary = self.loss(logits, pred_boxes, labels, outputs.intermediate_hidden_states)
        out = DetrObjectDetectionOutput(
            loss=loss, loss_dict=loss_dict, logits=logits, pred_boxes=pred_boxes, auxiliary_outputs=auxiliary,
            last_hidden_state=outputs.last_hidden_state, decoder_hidden_states=outputs.decoder_hidden_states,
            decoder_attentions=outputs.decoder_attentions, cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states, encoder_attentions=outputs.encoder_attentions)
        return self._finish(out, return_dict)


@dataclass
class DetrSegmentationOutput(ModelOutput):
    loss: Tensor = None
    loss_dict: dict | None = None
    logits: Tensor = None
    pred_boxes: Tensor = None
    pred_masks: Tensor = None  # (B, num_queries, H/4, W/4) mask logits
    auxiliary_outputs: list | None = None
    last_hidden_state: Tensor = None
    decoder_hidden_states: Tensors = None
    decoder_attentions: Tensors = None
    cross_attentions: Tensors = None
    encoder_last_hidden_state: Tensor = None
    encoder_hidden_states: Tensors = None
    encoder_attentions: Tensors = None


class DetrForSegmentation(DetrPreTrainedModel):
    """DETR's detector (``detr``) plus a mask per query (``pred_masks``), for panoptic segmentation. The
    mask head reads the last three backbone stages before the last: ``backbone_config.out_features``
    names four stages."""

    def __init__(self, config: DetrConfig) -> None:
        super().__init__(config)
        self.detr = DetrForObjectDetection(config)
        hidden, heads = config.d_model, config.encoder_attention_heads
        channels = self.detr.model.backbone.intermediate_channel_sizes
        self.mask_head = DetrMaskHeadSmallConv(hidden + heads, channels[::-1][-3:], hidden, config.activation_function)
        self.bbox_attention = DetrMHAttentionMap(hidden, heads)

    def forward(self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor | None = None,
                decoder_attention_mask: torch.Tensor | None = None, encoder_outputs=None,
                inputs_embeds: torch.Tensor | None = None, decoder_inputs_embeds: torch.Tensor | None = None,
                labels: list[dict] | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None, **_):
        """-> logits, pred_boxes and pred_masks (B, num_queries, H/4, W/4); ``labels`` also hold ``masks``
        (N, H, W) per image for the mask losses. ``inputs_embeds`` cannot stand in for the pixels here:
        the mask head needs the backbone's earlier stages."""
        model = self.detr.model
        features = model.image_features(pixel_values, pixel_mask)
        out = model.transform(features, decoder_attention_mask, encoder_outputs, decoder_inputs_embeds,
                              output_attentions, output_hidden_states)
        logits, pred_boxes = self.detr.predict(out.last_hidden_state)
        batch, _, height, width = features.projected.shape
        memory = out.encoder_last_hidden_state.transpose(1, 2).reshape(batch, -1, height, width)
        valid = features.mask.view(batch, 1, 1, height, width)
        additive = torch.zeros(valid.shape, dtype=memory.dtype, device=memory.device).masked_fill(~valid, torch.finfo(memory.dtype).min)
        maps = self.bbox_attention(out.last_hidden_state, memory, additive)
        fpn = [features.stages[2][0], features.stages[1][0], features.stages[0][0]]
        masks = self.mask_head(features.projected, maps, fpn)
        pred_masks = masks.view(batch, self.config.num_queries, *masks.shape[-2:])
        loss = loss_dict = auxiliary = None
        if labels is not None:
            loss, loss_dict, auxiliary = self.detr.loss(logits, pred_boxes, labels, out.intermediate_hidden_states,
                                                        pred_masks)
        result = DetrSegmentationOutput(
            loss=loss, loss_dict=loss_dict, logits=logits, pred_boxes=pred_boxes, pred_masks=pred_masks,
            auxiliary_outputs=auxiliary, last_hidden_state=out.last_hidden_state,
            decoder_hidden_states=out.decoder_hidden_states, decoder_attentions=out.decoder_attentions,
            cross_attentions=out.cross_attentions, encoder_last_hidden_state=out.encoder_last_hidden_state,
            encoder_hidden_states=out.encoder_hidden_states, encoder_attentions=out.encoder_attentions)
        return self._finish(result, return_dict)
