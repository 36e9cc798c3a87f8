"""ViT (https://arxiv.org/abs/2010.11929): a pre-norm transformer encoder over image patches; DeiT
(``deit.py``) and DINOv2 (``dinov2.py``) reuse its attention and encoder loop.

    pixels (B, C, H, W) ─► patches (B, N, D) ─► [CLS, patches] + positions        (nn/patches.py)
        ─► N × [ x + attention(LN(x)) ─► x + MLP(LN(x)) ]
        ─► LayerNorm ─► last_hidden_state (B, 1 + N, D) ─► (pooler: act(dense(h[:, 0])))

Heads: image classification (a linear layer on the final CLS token) and masked image modelling
(SimMIM, https://arxiv.org/abs/2111.09886: masked patches become a learned mask token, and a 1x1 conv
with a pixel shuffle reconstructs the image from the patch tokens).

Module names equal the checkpoint keys (``encoder.layer.0.attention.attention.query``).
``interpolate_pos_encoding=True`` runs the model on images of another size than it was trained on
(the position table is resampled bicubically).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.attention import attention, padding_mask, split_heads
from ..nn.layers import output_flags, run_layers
from ..nn.losses import sequence_classification_loss
from ..nn.patches import PatchTokenEmbeddings, masked_pixel_loss
from ..outputs import BaseModelOutputWithPooling, ImageClassifierOutput, MaskedImageModelingOutput


class ViTConfig(PretrainedConfig):
    model_type = "vit"
    defaults = {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "image_size": 224,
        "patch_size": 16,
        "num_channels": 3,
        "qkv_bias": True,
        "encoder_stride": 16,
        "pooler_output_size": None,
        "pooler_act": "tanh",
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.pooler_output_size:  # the reference writes hidden_size into config.json
            self.pooler_output_size = self.hidden_size


class ViTSelfAttention(nn.Module):
    """(B, T, D) -> per-head attention (B, T, D), weights (B, H, T, T) when ``eager``."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(f"hidden_size ({config.hidden_size}) must be a multiple of num_attention_heads "
                             f"({config.num_attention_heads}): fix one of them in the config.")
        self.head_dim = config.hidden_size // config.num_attention_heads
        bias = getattr(config, "qkv_bias", True)
        self.query = nn.Linear(config.hidden_size, config.hidden_size, bias=bias)
        self.key = nn.Linear(config.hidden_size, config.hidden_size, bias=bias)
        self.value = nn.Linear(config.hidden_size, config.hidden_size, bias=bias)
        self.dropout_prob = config.attention_probs_dropout_prob

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor | None, eager: bool):
        query, key, value = (split_heads(m(hidden_states), self.head_dim) for m in (self.query, self.key, self.value))
        out, weights = attention(query, key, value, mask, eager=eager, dropout=self.dropout_prob if self.training else 0.0)
        return out.reshape(*out.shape[:2], -1), weights  # (B, T, H, D_h) -> (B, T, D)


class ViTSelfOutput(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(hidden_states))


class ViTAttention(nn.Module):
    """``attention`` (the heads) then ``output`` (the projection back); the residual is the layer's."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.attention = ViTSelfAttention(config)
        self.output = ViTSelfOutput(config)

    def forward(self, hidden_states, mask, eager):
        attended, weights = self.attention(hidden_states, mask, eager)
        return self.output(attended), weights


class ViTIntermediate(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = get_activation(config.hidden_act)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden_states))


class ViTOutput(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(hidden_states)) + residual


class ViTLayer(nn.Module):
    """Pre-norm: ``x + attention(layernorm_before(x))``, then ``x + MLP(layernorm_after(x))``."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.attention = ViTAttention(config)
        self.intermediate = ViTIntermediate(config)
        self.output = ViTOutput(config)
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, mask, eager):
        attended, weights = self.attention(self.layernorm_before(hidden_states), mask, eager)
        hidden_states = attended + hidden_states
        return self.output(self.intermediate(self.layernorm_after(hidden_states)), hidden_states), weights


class ViTEncoder(nn.Module):
    layer_class: type[nn.Module] = ViTLayer

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(self.layer_class(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden_states, mask, eager, output_hidden_states: bool, output_attentions: bool):
        """hidden_states: the embeddings, then each layer's output (before the final LayerNorm)."""
        return run_layers(self.layer, hidden_states, mask, eager, output_hidden_states=output_hidden_states,
                          output_attentions=output_attentions)


class ViTPooler(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.pooler_output_size)
        self.activation = get_activation(config.pooler_act)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))


class ViTPreTrainedModel(PreTrainedModel):
    config_class = ViTConfig
    base_model_prefix = "vit"
    main_input_name = "pixel_values"
    # the prefix tokens (and their position rows) start at zero instead of a truncated normal (DeiT)
    zero_embeddings_init: bool = False

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        std = self.config.initializer_range
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, PatchTokenEmbeddings):
            for name in (*module.prefix, "position_embeddings"):
                parameter = getattr(module, name)
                nn.init.zeros_(parameter) if self.zero_embeddings_init else nn.init.trunc_normal_(parameter, std=std)
            if module.mask_token is not None:
                nn.init.zeros_(module.mask_token)


def vit_embeddings(config: PretrainedConfig, prefix: tuple[str, ...], use_mask_token: bool) -> PatchTokenEmbeddings:
    """ViT-style embeddings: positions resampled only with ``interpolate_pos_encoding``, in their own dtype."""
    return PatchTokenEmbeddings(config.image_size, config.patch_size, config.num_channels, config.hidden_size,
                                dropout=config.hidden_dropout_prob, prefix=prefix,
                                mask_token_shape=(1, 1, config.hidden_size) if use_mask_token else None)


class ViTModel(ViTPreTrainedModel):
    """embeddings ─► encoder ─► layernorm ─► (pooler). ``prefix_tokens`` are the learned tokens before
    the patches (DeiT adds a distillation token)."""

    prefix_tokens: tuple[str, ...] = ("cls_token",)
    pooler_class: type[nn.Module] = ViTPooler

    def __init__(self, config: PretrainedConfig, add_pooling_layer: bool = True, use_mask_token: bool = False) -> None:
        super().__init__(config)
        self.embeddings = vit_embeddings(config, self.prefix_tokens, use_mask_token)
        self.encoder = ViTEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pooler = self.pooler_class(config) if add_pooling_layer else None

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings.patch_embeddings

    def forward(self, pixel_values=None, bool_masked_pos=None, interpolate_pos_encoding=None, attention_mask=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        """(B, C, H, W) pixels -> (B, P + N, D) ``last_hidden_state``, ``pooler_output`` (B, D).
        ``bool_masked_pos`` (B, N): patches to replace by the mask token (a model built with one)."""
        if pixel_values is None:
            raise ValueError("pixel_values are required: pass the image processor's output.")
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        hidden = self.embeddings(pixel_values, bool_masked_pos, bool(interpolate_pos_encoding))
        mask = padding_mask(attention_mask, hidden.dtype)
        stack = self.encoder(hidden, mask, eager, output_hidden_states, output_attentions)
        sequence = self.layernorm(stack.last_hidden_state)
        out = BaseModelOutputWithPooling(
            last_hidden_state=sequence,
            pooler_output=self.pooler(sequence) if self.pooler is not None else None,
            hidden_states=stack.hidden_states,
            attentions=stack.attentions,
        )
        return self._finish(out, return_dict)


def classification_loss(logits: torch.Tensor, labels: torch.Tensor | None, config) -> torch.Tensor | None:
    return sequence_classification_loss(logits, labels.to(logits.device), config) if labels is not None else None


class ViTForImageClassification(ViTPreTrainedModel):
    """A linear classifier on the final CLS token (B, num_labels)."""

    base_model_class: type[ViTModel] = ViTModel

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        setattr(self, self.base_model_prefix, self.base_model_class(config, add_pooling_layer=False))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()

    def forward(self, pixel_values=None, labels=None, interpolate_pos_encoding=None, attention_mask=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        out = getattr(self, self.base_model_prefix)(
            pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, attention_mask=attention_mask,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(out.last_hidden_state[:, 0])
        return self._finish(ImageClassifierOutput(
            loss=classification_loss(logits, labels, self.config), logits=logits,
            hidden_states=out.hidden_states, attentions=out.attentions), return_dict)


class ViTForMaskedImageModeling(ViTPreTrainedModel):
    """SimMIM: the patch tokens (B, N, D) as a (B, D, h, w) grid ─► 1x1 conv to stride² x C channels ─►
    pixel shuffle ─► ``reconstruction`` (B, C, h·stride, w·stride). The loss is the L1 error over the
    masked patches' pixels."""

    base_model_class: type[ViTModel] = ViTModel

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        base = self.base_model_class(config, add_pooling_layer=False, use_mask_token=True)
        setattr(self, self.base_model_prefix, base)
        self.num_prefix = len(base.prefix_tokens)
        self.decoder = nn.Sequential(
            nn.Conv2d(config.hidden_size, config.encoder_stride**2 * config.num_channels, kernel_size=1),
            nn.PixelShuffle(config.encoder_stride),
        )

    def forward(self, pixel_values=None, bool_masked_pos=None, interpolate_pos_encoding=None, attention_mask=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        config = self.config
        if bool_masked_pos is not None and config.patch_size != config.encoder_stride:
            raise ValueError(f"bool_masked_pos needs patch_size == encoder_stride (the reconstruction then has the "
                             f"input's size); the config has {config.patch_size} and {config.encoder_stride}.")
        out = getattr(self, self.base_model_prefix)(
            pixel_values, bool_masked_pos=bool_masked_pos, interpolate_pos_encoding=interpolate_pos_encoding,
            attention_mask=attention_mask, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        patches = out.last_hidden_state[:, self.num_prefix :]  # (B, N, D)
        batch, length, channels = patches.shape
        side = math.floor(length**0.5)  # a square grid, as the reference assumes
        reconstruction = self.decoder(patches.transpose(1, 2).reshape(batch, channels, side, side))
        loss = None
        if bool_masked_pos is not None:
            loss = masked_pixel_loss(pixel_values, reconstruction, bool_masked_pos, config)
        return self._finish(MaskedImageModelingOutput(
            loss=loss, reconstruction=reconstruction, hidden_states=out.hidden_states, attentions=out.attentions),
            return_dict)
