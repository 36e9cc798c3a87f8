"""DINOv2 (https://arxiv.org/abs/2304.07193): a ViT trained by self-distillation, whose features serve
as a general-purpose image backbone.

    pixels ─► [CLS, patches] + positions (always resampled to the image's size, in float32)
        ─► N × [ x + λ1 · attention(norm1(x)) ─► x + λ2 · MLP(norm2(x)) ]     (λ: LayerScale)
        ─► layernorm ─► last_hidden_state; pooler_output = its CLS token

The MLP is fc1 ─► act ─► fc2, or with ``use_swiglu_ffn`` a SwiGLU whose ``weights_in`` holds the gate
and the up projection stacked (as the checkpoints store it). The classifier reads the CLS token and the
mean of the patch tokens side by side; the backbone returns the chosen stages (``out_features``) as
(B, D, h, w) feature maps. Attention and its checkpoint keys are ViT's (``vit.py``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..nn.activations import get_activation
from ..nn.attention import padding_mask
from ..nn.backbone import BackboneConfigMixin, BackboneMixin
from ..nn.drop_path import DropPath
from ..nn.layer_scale import LayerScale
from ..nn.layers import output_flags
from ..nn.patches import PatchTokenEmbeddings
from ..outputs import BackboneOutput, BaseModelOutputWithPooling, ImageClassifierOutput
from .vit import ViTAttention, ViTEncoder, ViTPreTrainedModel, classification_loss


class Dinov2Config(BackboneConfigMixin, PretrainedConfig):
    model_type = "dinov2"
    defaults = {
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "mlp_ratio": 4,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-6,
        "image_size": 224,
        "patch_size": 14,
        "num_channels": 3,
        "qkv_bias": True,
        "layerscale_value": 1.0,
        "drop_path_rate": 0.0,
        "use_swiglu_ffn": False,
        "apply_layernorm": True,
        "reshape_hidden_states": True,
        "use_mask_token": True,
    }

    def default_stage_names(self) -> list[str]:
        # the backbone's stages: the embeddings ("stem"), then each layer's output
        return ["stem"] + [f"stage{index}" for index in range(1, self.num_hidden_layers + 1)]


class Dinov2MLP(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        hidden = int(config.hidden_size * config.mlp_ratio)
        self.fc1 = nn.Linear(config.hidden_size, hidden)
        self.activation = get_activation(config.hidden_act)
        self.fc2 = nn.Linear(hidden, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation(self.fc1(hidden_states)))


class Dinov2SwiGLUFFN(nn.Module):
    """silu(gate) · up ─► weights_out; ``weights_in`` (2F, D) holds gate then up, F = 2/3 of the MLP
    width rounded up to a multiple of 8 (as the original code sizes it)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        hidden = (int(int(config.hidden_size * config.mlp_ratio) * 2 / 3) + 7) // 8 * 8
        self.weights_in = nn.Linear(config.hidden_size, 2 * hidden)
        self.weights_out = nn.Linear(hidden, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        gate, up = self.weights_in(hidden_states).chunk(2, dim=-1)
        return self.weights_out(F.silu(gate) * up)


class Dinov2Layer(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = ViTAttention(config)
        self.layer_scale1 = LayerScale(config.hidden_size, config.layerscale_value)
        self.drop_path = DropPath(config.drop_path_rate)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = Dinov2SwiGLUFFN(config) if config.use_swiglu_ffn else Dinov2MLP(config)
        self.layer_scale2 = LayerScale(config.hidden_size, config.layerscale_value)

    def forward(self, hidden_states, mask, eager):
        attended, weights = self.attention(self.norm1(hidden_states), mask, eager)
        hidden_states = self.drop_path(self.layer_scale1(attended)) + hidden_states
        hidden_states = self.drop_path(self.layer_scale2(self.mlp(self.norm2(hidden_states)))) + hidden_states
        return hidden_states, weights


class Dinov2Encoder(ViTEncoder):
    layer_class = Dinov2Layer


class Dinov2PreTrainedModel(ViTPreTrainedModel):
    config_class = Dinov2Config
    base_model_prefix = "dinov2"

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, (nn.Linear, nn.Conv2d)):  # the reference truncates at two standard deviations
            nn.init.trunc_normal_(module.weight, std=self.config.initializer_range)
        elif isinstance(module, LayerScale):
            module.reset_parameters()


class Dinov2Embedded(Dinov2PreTrainedModel):
    """What the base model and the backbone share: ``embeddings``, ``encoder``, ``layernorm``."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        mask_shape = (1, config.hidden_size) if config.use_mask_token else None
        self.embeddings = PatchTokenEmbeddings(config.image_size, config.patch_size, config.num_channels,
                                               config.hidden_size, dropout=config.hidden_dropout_prob,
                                               mask_token_shape=mask_shape, always_interpolate=True,
                                               upcast_interpolation=True)
        self.encoder = Dinov2Encoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings.patch_embeddings

    def _encode(self, pixel_values, bool_masked_pos, attention_mask, eager, output_hidden_states, output_attentions):
        if pixel_values is None:
            raise ValueError("pixel_values are required: pass the image processor's output.")
        hidden = self.embeddings(pixel_values, bool_masked_pos)
        return self.encoder(hidden, padding_mask(attention_mask, hidden.dtype), eager, output_hidden_states,
                            output_attentions)


class Dinov2Model(Dinov2Embedded):
    def forward(self, pixel_values=None, bool_masked_pos=None, attention_mask=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        """(B, C, H, W) pixels of any size (multiples of the patch) -> (B, 1 + N, D) ``last_hidden_state``;
        ``pooler_output`` is its CLS token. ``bool_masked_pos`` (B, N): patches replaced by the mask token."""
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        stack = self._encode(pixel_values, bool_masked_pos, attention_mask, eager, output_hidden_states, output_attentions)
        sequence = self.layernorm(stack.last_hidden_state)
        return self._finish(BaseModelOutputWithPooling(
            last_hidden_state=sequence, pooler_output=sequence[:, 0], hidden_states=stack.hidden_states,
            attentions=stack.attentions), return_dict)


class Dinov2ForImageClassification(Dinov2PreTrainedModel):
    """A linear classifier on [CLS token, mean of the patch tokens] (B, 2D)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.dinov2 = Dinov2Model(config)
        self.classifier = nn.Linear(2 * config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()

    def forward(self, pixel_values=None, labels=None, attention_mask=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        out = self.dinov2(pixel_values, attention_mask=attention_mask, output_attentions=output_attentions,
                          output_hidden_states=output_hidden_states)
        hidden = out.last_hidden_state
        logits = self.classifier(torch.cat([hidden[:, 0], hidden[:, 1:].mean(dim=1)], dim=1))
        return self._finish(ImageClassifierOutput(
            loss=classification_loss(logits, labels, self.config), logits=logits, hidden_states=out.hidden_states,
            attentions=out.attentions), return_dict)


class Dinov2Backbone(BackboneMixin, Dinov2Embedded):
    """The stages named in ``config.out_features`` (``stem`` = the embeddings, ``stageK`` = layer K's output),
    each layer-normed (``apply_layernorm``) and, with ``reshape_hidden_states``, its patch tokens laid out as a
    (B, D, H / patch, W / patch) map (else the (B, 1 + N, D) tokens)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.num_features = [config.hidden_size] * (config.num_hidden_layers + 1)

    def forward(self, pixel_values=None, attention_mask=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        stack = self._encode(pixel_values, None, attention_mask, eager, True, output_attentions)
        patch_h, patch_w = self.embeddings.patch_embeddings.patch_size
        rows, cols = pixel_values.shape[-2] // patch_h, pixel_values.shape[-1] // patch_w
        maps = []
        for name, hidden in zip(self.config.stage_names, stack.hidden_states):
            if name not in self.config.out_features:
                continue
            if self.config.apply_layernorm:
                hidden = self.layernorm(hidden)
            if self.config.reshape_hidden_states:  # (B, 1 + N, D) -> (B, D, rows, cols), the CLS token dropped
                hidden = hidden[:, 1:].reshape(hidden.shape[0], rows, cols, -1).permute(0, 3, 1, 2).contiguous()
            maps.append(hidden)
        return self._finish(BackboneOutput(
            feature_maps=tuple(maps), hidden_states=stack.hidden_states if output_hidden_states else None,
            attentions=stack.attentions), return_dict)
