"""CLAP's audio tower: HTSAT (https://arxiv.org/abs/2202.00874), a Swin transformer over the log-mel
spectrogram, and the parts both CLAP towers share (the base class, the projection head).

    input_features (B, C, T, F)   C = 1, or 4 with fusion: the whole clip squeezed to T frames, then 3 crops
      ─► batch_norm over the F mel bins
      ─► mel_to_image: bicubic resize to (spec_size · r, F), then r = spec_size // F slices of time
         stacked along frequency: a square (B, C, spec_size, spec_size) "image"
      ─► patch_embed: conv (+ with fusion, the crops' own conv merged in by attentional feature fusion
         for the clips marked ``is_longer``) ─► LayerNorm
      ─► Swin stages (workbench/models/swin.py's, shifted windows, patch merging between stages) ─► norm
      ─► the (h, w) token map regrouped back to r frequency bands side by side in time ─► mean: pooler_output

Module names equal the checkpoint keys (``audio_encoder.layers.0.blocks.1.attention.self.query``,
``audio_encoder.patch_embed.fusion_model.local_att.0``), so loading is a strict name match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.feature_fusion import AttentionalFeatureFusion
from ..nn.layers import output_flags
from ..outputs import BaseModelOutputWithPooling, ModelOutput, Tensor, Tensors
from .swin import SwinEncoder, SwinSelfAttention, pair


class ClapAudioConfig(PretrainedConfig):
    """HTSAT's settings. ``hidden_size`` must equal the last stage's width,
    ``patch_embeds_hidden_size · 2^(stages - 1)`` (the projection reads it); ``spec_size`` must be a
    multiple of ``num_mel_bins``. Swin's names (``embed_dim``, ``num_heads``) read the same keys."""

    model_type = "clap_audio_model"
    base_config_key = "audio_config"
    attribute_map = {"embed_dim": "patch_embeds_hidden_size", "num_heads": "num_attention_heads"}
    defaults = {
        "window_size": 8, "num_mel_bins": 64, "spec_size": 256, "hidden_act": "gelu", "patch_size": 4,
        "patch_stride": [4, 4], "num_classes": 527, "hidden_size": 768, "projection_dim": 512,
        "depths": [2, 2, 6, 2], "num_attention_heads": [4, 8, 16, 32], "enable_fusion": False,
        "hidden_dropout_prob": 0.1, "fusion_type": None, "patch_embed_input_channels": 1,
        "flatten_patch_embeds": True, "patch_embeds_hidden_size": 96, "enable_patch_layer_norm": True,
        "drop_path_rate": 0.0, "attention_probs_dropout_prob": 0.0, "qkv_bias": True, "mlp_ratio": 4.0,
        "aff_block_r": 4, "num_hidden_layers": 4, "projection_hidden_act": "relu", "layer_norm_eps": 1e-5,
        "initializer_factor": 1.0,
    }


@dataclass
class ClapAudioModelOutput(ModelOutput):
    """``audio_embeds`` (B, projection_dim): the projected pooled output (not normalised)."""

    audio_embeds: Tensor = None
    last_hidden_state: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


class ClapPreTrainedModel(PreTrainedModel):
    """The reference's init: linear and conv weights normal with std ``hidden_size^-0.5 ·
    (2 · num_hidden_layers)^-0.5 · initializer_factor`` (the model's own config: the joint one for
    :class:`ClapModel`), biases zero, relative-position tables zero, logit scales ``log(init value)``."""

    base_model_prefix = "clap"
    # buffers the reference saves: fixed index tables and position ids
    _ignore_unexpected = (r"relative_position_index$", r"position_ids$", r"token_type_ids$")

    def _init_weights(self, module: nn.Module) -> None:
        factor = self.config.initializer_factor
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            std = self.config.hidden_size**-0.5 * (2 * self.config.num_hidden_layers) ** -0.5 * factor
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02 * factor)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
            module.reset_running_stats()
        elif isinstance(module, SwinSelfAttention):
            nn.init.zeros_(module.relative_position_bias_table)
        else:
            super()._init_weights(module)  # layer norms
        if isinstance(getattr(module, "logit_scale_a", None), nn.Parameter):  # the joint model
            for scale in (module.logit_scale_a, module.logit_scale_t):
                nn.init.constant_(scale, math.log(self.config.logit_scale_init_value))


class ClapProjectionLayer(nn.Module):
    """linear1 (hidden_size -> projection_dim) ─► projection_hidden_act ─► linear2."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.linear1 = nn.Linear(config.hidden_size, config.projection_dim)
        self.activation = get_activation(config.projection_hidden_act)
        self.linear2 = nn.Linear(config.projection_dim, config.projection_dim)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.activation(self.linear1(hidden)))


class ClapAudioPatchEmbed(nn.Module):
    """(B, C, S, S) spectrogram image -> (B, h · w, D) patch tokens. With ``enable_fusion`` channel 0 is
    the whole clip; for the clips listed in ``longer`` the 3 crops (channels 1-3) go through
    ``mel_conv2d`` (3x wider strides in time), side by side in time, and are fused into the clip's patches."""

    def __init__(self, config: ClapAudioConfig) -> None:
        super().__init__()
        size, patch, stride = pair(config.spec_size), pair(config.patch_size), pair(config.patch_stride)
        self.img_size, self.patch_stride = size, stride
        self.grid_size = (size[0] // stride[0], size[1] // stride[1])
        self.flatten = config.flatten_patch_embeds
        self.enable_fusion = config.enable_fusion
        padding = ((patch[0] - stride[0]) // 2, (patch[1] - stride[1]) // 2)
        width = config.patch_embeds_hidden_size
        channel_map = config.enable_fusion and config.fusion_type == "channel_map"
        self.proj = nn.Conv2d(config.patch_embed_input_channels * (4 if channel_map else 1), width,
                              kernel_size=patch, stride=stride, padding=padding)
        self.norm = nn.LayerNorm(width) if config.enable_patch_layer_norm else nn.Identity()
        if self.enable_fusion:
            self.fusion_model = AttentionalFeatureFusion(width, config.aff_block_r)
            self.mel_conv2d = nn.Conv2d(config.patch_embed_input_channels, width, kernel_size=(patch[0], patch[1] * 3),
                                        stride=(stride[0], stride[1] * 3), padding=padding)

    def forward(self, image: torch.Tensor, longer: torch.Tensor | None = None) -> torch.Tensor:
        whole = image[:, 0:1] if self.enable_fusion else image
        if tuple(whole.shape[-2:]) != self.img_size:
            raise ValueError(f"The spectrogram image is {tuple(whole.shape[-2:])}, the model takes {self.img_size} "
                             "(spec_size): make input_features with the model's feature extractor.")
        hidden = self.proj(whole)  # (B, D, h, w)
        if self.enable_fusion and longer is not None and len(longer) > 0:
            crops = image[longer, 1:]  # (n, 3, S, S)
            count, parts, height, width = crops.shape
            local = self.mel_conv2d(crops.reshape(count * parts, 1, height, width))  # (n · 3, D, h, w')
            local = local.view(count, parts, *local.shape[1:]).permute(0, 2, 3, 1, 4).flatten(3)  # (n, D, h, 3 · w')
            local = F.pad(local, (0, hidden.shape[-1] - local.shape[-1]))  # zeros up to w (or cropped to it)
            hidden = hidden.index_put((longer,), self.fusion_model(hidden[longer], local))
        if self.flatten:
            hidden = hidden.flatten(2).transpose(1, 2)
        return self.norm(hidden)


class ClapAudioEncoder(SwinEncoder):
    """Swin's stages (``layers``) between HTSAT's input and output steps (see the module docstring)."""

    def __init__(self, config: ClapAudioConfig) -> None:
        super().__init__(config)
        if config.spec_size % config.num_mel_bins:
            raise ValueError(f"spec_size ({config.spec_size}) must be a multiple of num_mel_bins ({config.num_mel_bins}).")
        self.patch_embed = ClapAudioPatchEmbed(config)
        self.enable_fusion = config.enable_fusion
        self.spec_size = config.spec_size
        self.freq_ratio = config.spec_size // config.num_mel_bins
        self.num_features = int(config.patch_embeds_hidden_size * 2 ** (len(config.depths) - 1))
        self.batch_norm = nn.BatchNorm2d(config.num_mel_bins)
        self.norm = nn.LayerNorm(self.num_features)

    def mel_to_image(self, features: torch.Tensor) -> torch.Tensor:
        """(B, C, T, F) -> (B, C, F · r, T' / r): resized (bicubic) to T' = spec_size · r frames and
        F' = spec_size / r bins if shorter, then r time slices stacked along frequency."""
        time, freq = features.shape[-2:]
        width, height = self.spec_size * self.freq_ratio, self.spec_size // self.freq_ratio
        if time > width or freq > height:
            raise ValueError(f"input_features of {time} frames x {freq} mel bins exceed the model's {width} x {height}: "
                             "make them with the model's feature extractor (its max_length_s and feature_size).")
        if time < width:
            features = F.interpolate(features, (width, freq), mode="bicubic", align_corners=True)
        if freq < height:  # the reference resizes time back to the input's length here
            features = F.interpolate(features, (time, height), mode="bicubic", align_corners=True)
        batch, channels, time, freq = features.shape
        features = features.reshape(batch, channels * self.freq_ratio, time // self.freq_ratio, freq)
        features = features.permute(0, 1, 3, 2).contiguous()
        return features.reshape(batch, channels, freq * self.freq_ratio, time // self.freq_ratio)

    def pool(self, hidden: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, h · w, D) final tokens -> the (B, D, h / r, r · w) map of r frequency bands side by side in
        time, and its mean (B, D)."""
        batch, _, channels = hidden.shape
        shrink = 2 ** (len(self.layers) - 1)
        freq, time = frames // shrink // self.patch_embed.patch_stride[0], frames // shrink // self.patch_embed.patch_stride[1]
        grid = hidden.permute(0, 2, 1).reshape(batch, channels, freq, time)
        band = freq // self.freq_ratio
        grid = grid.reshape(batch, channels, freq // band, band, time).permute(0, 1, 3, 2, 4)
        grid = grid.reshape(batch, channels, band, -1)
        return grid, grid.flatten(2).mean(-1)

    def forward(self, input_features, is_longer, eager, output_hidden_states=False, output_attentions=False):
        # (B, C, T, F): normalise each mel bin (the batch norm's channels) over the batch statistics
        features = self.batch_norm(input_features.transpose(1, 3)).transpose(1, 3)
        longer = None
        if self.enable_fusion and is_longer is not None:
            longer = torch.where(is_longer.to(features.device).reshape(-1) == 1)[0]
        image = self.mel_to_image(features)
        tokens = self.patch_embed(image, longer)
        out = super().forward(tokens, self.patch_embed.grid_size, eager, output_hidden_states, output_attentions)
        last, pooled = self.pool(self.norm(out.last_hidden_state), image.shape[2])
        # the reference reports the stages as (B, D, h, w) maps only
        return BaseModelOutputWithPooling(last, pooled, out.reshaped_hidden_states, out.attentions)


class ClapAudioModel(ClapPreTrainedModel):
    """The audio tower: ``input_features`` (B, 1, T, F) (B, 4, T, F with ``enable_fusion``, with
    ``is_longer`` (B, 1) marking the clips whose crops are fused in; None: no clip is) -> the final
    map as ``last_hidden_state`` and its mean as ``pooler_output`` (B, hidden_size)."""

    config_class = ClapAudioConfig
    base_model_prefix = "audio_model"  # the key prefix of the models that hold it: stripped when loading theirs
    main_input_name = "input_features"

    def __init__(self, config: ClapAudioConfig) -> None:
        super().__init__(config)
        self.audio_encoder = ClapAudioEncoder(config)

    def get_input_embeddings(self) -> nn.Module:
        return self.audio_encoder.patch_embed.proj

    def forward(self, input_features=None, is_longer=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        if input_features is None:
            raise ValueError(f"{type(self).__name__} needs input_features (B, 1, frames, mel bins): make them with "
                             "ClapFeatureExtractor.")
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        out = self.audio_encoder(input_features, is_longer, eager, output_hidden_states, output_attentions)
        return self._finish(out, return_dict)


class ClapAudioModelWithProjection(ClapPreTrainedModel):
    """The audio tower and its projection: ``audio_embeds`` (B, projection_dim), not normalised."""

    config_class = ClapAudioConfig
    base_model_prefix = "audio_model"
    main_input_name = "input_features"

    def __init__(self, config: ClapAudioConfig) -> None:
        super().__init__(config)
        self.audio_model = ClapAudioModel(config)
        self.audio_projection = ClapProjectionLayer(config)

    def get_input_embeddings(self) -> nn.Module:
        return self.audio_model.get_input_embeddings()

    def forward(self, input_features=None, is_longer=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        out = self.audio_model(input_features, is_longer, output_attentions, output_hidden_states, return_dict=True)
        embeds = self.audio_projection(out.pooler_output)
        return self._finish(ClapAudioModelOutput(embeds, out.last_hidden_state, out.hidden_states, out.attentions),
                            return_dict)
