"""Swin Transformer (https://arxiv.org/abs/2103.14030): attention within windows that shift every
other block, stages joined by patch merging.

    pixels (B, 3, H, W) ─► pad to the patch size ─► patch conv ─► norm (+ mask token, + positions)
      ─► stage 1: blocks [ window attention (+ relative position bias; shifted windows masked) ─► MLP ]
      ─► patch merging (2×2 neighbours concatenated: C -> 4C -> 2C, H/2 × W/2) ─► stage 2 ─► ...
      ─► layernorm ─► last_hidden_state (B, h · w, C) ─► (mean over tokens: pooler_output)

A map whose sides are not multiples of the window is padded with zeros for the attention and
cropped after it. Module names equal the checkpoint keys (``swin.encoder.layers.0.blocks.1.attention.
self.query``); the window primitives are :mod:`workbench.nn.windows`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.attention import attention, split_heads
from ..nn.backbone import BackboneConfigMixin, BackboneMixin
from ..nn.drop_path import DropPath, drop_path_rates
from ..nn.layers import output_flags
from ..nn.losses import sequence_classification_loss
from ..nn.patches import masked_pixel_loss
from ..nn.windows import (pad_to_window, relative_position_index, shifted_window_mask, window_merge,
                          window_partition)
from ..outputs import BackboneOutput, ModelOutput, Tensor, Tensors


class SwinConfig(BackboneConfigMixin, PretrainedConfig):
    """``hidden_size`` (the last stage's width, ``embed_dim · 2^(stages - 1)``), ``num_layers`` and
    ``stage_names`` ("stem", "stage1", ...) follow from ``embed_dim`` and ``depths``."""

    model_type = "swin"
    attribute_map = {"num_attention_heads": "num_heads", "num_hidden_layers": "num_layers"}
    defaults = {
        "image_size": 224, "patch_size": 4, "num_channels": 3, "embed_dim": 96, "depths": [2, 2, 6, 2],
        "num_heads": [3, 6, 12, 24], "window_size": 7, "mlp_ratio": 4.0, "qkv_bias": True,
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "drop_path_rate": 0.1, "hidden_act": "gelu",
        "use_absolute_embeddings": False, "initializer_range": 0.02, "layer_norm_eps": 1e-5, "encoder_stride": 32,
    }

    def __post_init__(self) -> None:
        self.num_layers = len(self.depths)
        self.hidden_size = int(self.embed_dim * 2 ** (len(self.depths) - 1))


def pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


@dataclass
class SwinModelOutput(ModelOutput):
    """``reshaped_hidden_states``: the stem's and each stage's output as (B, C, h, w) maps."""

    last_hidden_state: Tensor = None
    pooler_output: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None
    reshaped_hidden_states: Tensors = None


@dataclass
class SwinMaskedImageModelingOutput(ModelOutput):
    loss: Tensor = None
    reconstruction: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None
    reshaped_hidden_states: Tensors = None


@dataclass
class SwinImageClassifierOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None
    reshaped_hidden_states: Tensors = None


# --- embeddings ------------------------------------------------------------------------------


class SwinPatchEmbeddings(nn.Module):
    """(B, C, H, W) -> (B, h · w, embed_dim), (h, w); pixels padded right and bottom to the patch size."""

    def __init__(self, config: SwinConfig) -> None:
        super().__init__()
        self.patch_size = pair(config.patch_size)
        image = pair(config.image_size)
        self.grid_size = (image[0] // self.patch_size[0], image[1] // self.patch_size[1])
        self.projection = nn.Conv2d(config.num_channels, config.embed_dim, self.patch_size, self.patch_size)

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        height, width = pixel_values.shape[-2:]
        pad_bottom, pad_right = -height % self.patch_size[0], -width % self.patch_size[1]
        if pad_bottom or pad_right:
            pixel_values = F.pad(pixel_values, (0, pad_right, 0, pad_bottom))
        grid = self.projection(pixel_values)
        return grid.flatten(2).transpose(1, 2), tuple(grid.shape[-2:])


class SwinEmbeddings(nn.Module):
    def __init__(self, config: SwinConfig, use_mask_token: bool = False) -> None:
        super().__init__()
        self.patch_embeddings = SwinPatchEmbeddings(config)
        patches = self.patch_embeddings.grid_size[0] * self.patch_embeddings.grid_size[1]
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.embed_dim)) if use_mask_token else None
        self.position_embeddings = (nn.Parameter(torch.zeros(1, patches, config.embed_dim))
                                    if config.use_absolute_embeddings else None)
        self.norm = nn.LayerNorm(config.embed_dim)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def interpolate_pos_encoding(self, grid: tuple[int, int]) -> torch.Tensor:
        """The (1, h · w, C) position table resized (bicubic) from its square grid to ``grid``."""
        table = self.position_embeddings
        side, channels = int(math.sqrt(table.shape[1])), table.shape[-1]
        if grid == (side, side):
            return table
        square = table.reshape(1, side, side, channels).permute(0, 3, 1, 2)
        resized = F.interpolate(square, size=grid, mode="bicubic", align_corners=False)
        return resized.permute(0, 2, 3, 1).reshape(1, -1, channels)

    def forward(self, pixel_values, bool_masked_pos=None, interpolate_pos_encoding: bool = False):
        """-> (B, h · w, C) embeddings, (h, w); ``bool_masked_pos`` (B, h · w) swaps in the mask token."""
        embeddings, grid = self.patch_embeddings(pixel_values)
        embeddings = self.norm(embeddings)
        if bool_masked_pos is not None:
            mask = bool_masked_pos.unsqueeze(-1).type_as(embeddings)
            embeddings = embeddings * (1.0 - mask) + self.mask_token.expand_as(embeddings) * mask
        if self.position_embeddings is not None:
            # the reference interpolates only when asked (and then from the patch grid the pixels give)
            table = self.interpolate_pos_encoding(grid) if interpolate_pos_encoding else self.position_embeddings
            if table.shape[1] != embeddings.shape[1]:
                raise ValueError(f"The image gives a {grid[0]}x{grid[1]} patch grid, but the position table covers "
                                 f"{table.shape[1]} patches: pass interpolate_pos_encoding=True to resize it, or "
                                 "resize the image to the config's image_size.")
            embeddings = embeddings + table
        return self.dropout(embeddings), grid


# --- window attention --------------------------------------------------------------------------


class SwinSelfAttention(nn.Module):
    """Multi-head attention within each window, plus a learned bias per (dy, dx) offset and head."""

    def __init__(self, config: SwinConfig, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"Swin stage width {dim} is not a multiple of its {num_heads} heads: fix embed_dim or num_heads.")
        self.num_heads, self.head_dim, self.window_size = num_heads, dim // num_heads, config.window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * config.window_size - 1) ** 2, num_heads))
        self.query = nn.Linear(dim, dim, bias=config.qkv_bias)
        self.key = nn.Linear(dim, dim, bias=config.qkv_bias)
        self.value = nn.Linear(dim, dim, bias=config.qkv_bias)
        self.dropout_prob = config.attention_probs_dropout_prob

    def position_bias(self, window: int) -> torch.Tensor:
        """(1, heads, w · w, w · w) biases for a ``window``-wide window (at most the table's)."""
        index = relative_position_index(window, self.window_size).to(self.relative_position_bias_table.device)
        return self.relative_position_bias_table[index].permute(2, 0, 1).unsqueeze(0)

    def forward(self, windows: torch.Tensor, window: int, mask: torch.Tensor | None, eager: bool):
        """(B · nW, w · w, C) windows, (nW, w · w, w · w) shift mask -> same-shape output, weights."""
        query, key, value = (split_heads(m(windows), self.head_dim) for m in (self.query, self.key, self.value))
        bias = self.position_bias(window)
        if mask is not None:  # (nW, N, N) -> (B · nW, 1, N, N): windows of each image in order
            count = mask.shape[0]
            bias = bias + mask.unsqueeze(1).repeat(windows.shape[0] // count, 1, 1, 1)
        out, weights = attention(query, key, value, bias.to(query.dtype), eager=eager,
                                 dropout=self.dropout_prob if self.training else 0.0)
        return out.reshape(*windows.shape[:2], -1), weights


class SwinSelfOutput(nn.Module):
    def __init__(self, config: SwinConfig, dim: int) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(hidden))


class SwinAttention(nn.Module):
    def __init__(self, config: SwinConfig, dim: int, num_heads: int) -> None:
        super().__init__()
        self.self = SwinSelfAttention(config, dim, num_heads)
        self.output = SwinSelfOutput(config, dim)

    def forward(self, windows, window, mask, eager):
        out, weights = self.self(windows, window, mask, eager)
        return self.output(out), weights


class SwinIntermediate(nn.Module):
    def __init__(self, config: SwinConfig, dim: int) -> None:
        super().__init__()
        self.dense = nn.Linear(dim, int(config.mlp_ratio * dim))
        self.intermediate_act_fn = get_activation(config.hidden_act)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden))


class SwinOutput(nn.Module):
    def __init__(self, config: SwinConfig, dim: int) -> None:
        super().__init__()
        self.dense = nn.Linear(int(config.mlp_ratio * dim), dim)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(hidden))


class SwinLayer(nn.Module):
    """norm ─► (shifted) window attention ─► drop path + residual ─► norm ─► MLP ─► residual."""

    def __init__(self, config: SwinConfig, dim: int, num_heads: int, drop_path: float, shift_size: int) -> None:
        super().__init__()
        self.window_size, self.shift_size = config.window_size, shift_size
        self.layernorm_before = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.attention = SwinAttention(config, dim, num_heads)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.layernorm_after = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.intermediate = SwinIntermediate(config, dim)
        self.output = SwinOutput(config, dim)

    def window_and_shift(self, grid: tuple[int, int], always_partition: bool) -> tuple[int, int]:
        """A map no larger than the window is one unshifted window of its size (the classifier's
        rule); a backbone (``always_partition``) keeps the configured window and shift, padding."""
        if not always_partition and min(grid) <= self.window_size:
            return min(grid), 0
        return self.window_size, self.shift_size

    def forward(self, hidden, grid: tuple[int, int], eager: bool, always_partition: bool = False):
        """(B, h · w, C) -> same shape, attention weights (B · nW, heads, w · w, w · w)."""
        window, shift = self.window_and_shift(grid, always_partition)
        height, width = grid
        batch, _, channels = hidden.shape
        shortcut = hidden
        hidden = pad_to_window(self.layernorm_before(hidden).view(batch, height, width, channels), window)
        padded = hidden.shape[1:3]
        if shift:
            hidden = torch.roll(hidden, shifts=(-shift, -shift), dims=(1, 2))
        mask = shifted_window_mask(*padded, window, shift, hidden.dtype, hidden.device) if shift else None
        out, weights = self.attention(window_partition(hidden, window), window, mask, eager)
        hidden = window_merge(out, window, *padded)
        if shift:
            hidden = torch.roll(hidden, shifts=(shift, shift), dims=(1, 2))
        hidden = hidden[:, :height, :width].reshape(batch, height * width, channels)
        hidden = shortcut + self.drop_path(hidden)
        hidden = hidden + self.output(self.intermediate(self.layernorm_after(hidden)))
        return hidden, weights


class SwinPatchMerging(nn.Module):
    """(B, h · w, C) -> (B, ⌈h/2⌉ · ⌈w/2⌉, 2C): each 2×2 neighbourhood concatenated, normed, projected."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, hidden: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        batch, _, channels = hidden.shape
        hidden = hidden.view(batch, *grid, channels)
        if grid[0] % 2 or grid[1] % 2:
            hidden = F.pad(hidden, (0, 0, 0, grid[1] % 2, 0, grid[0] % 2))
        # the checkpoint's channel order: (0, 0), (1, 0), (0, 1), (1, 1) offsets
        hidden = torch.cat([hidden[:, row::2, col::2] for col in range(2) for row in range(2)], dim=-1)
        return self.reduction(self.norm(hidden.view(batch, -1, 4 * channels)))


class SwinStage(nn.Module):
    def __init__(self, config: SwinConfig, index: int, drop_paths: list[float]) -> None:
        super().__init__()
        dim = int(config.embed_dim * 2**index)
        self.blocks = nn.ModuleList(
            SwinLayer(config, dim, config.num_heads[index], drop_paths[i], 0 if i % 2 == 0 else config.window_size // 2)
            for i in range(config.depths[index]))
        self.downsample = SwinPatchMerging(dim) if index < len(config.depths) - 1 else None

    def forward(self, hidden, grid, eager, always_partition=False):
        """-> (output, its grid, the output before merging, the last block's attention weights)."""
        weights = None
        for block in self.blocks:
            hidden, weights = block(hidden, grid, eager, always_partition)
        if self.downsample is None:
            return hidden, grid, hidden, weights
        merged = ((grid[0] + 1) // 2, (grid[1] + 1) // 2)
        return self.downsample(hidden, grid), merged, hidden, weights


def as_map(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, h · w, C) -> (B, C, h, w)."""
    return tokens.view(tokens.shape[0], *grid, tokens.shape[-1]).permute(0, 3, 1, 2).contiguous()


class SwinEncoder(nn.Module):
    def __init__(self, config: SwinConfig) -> None:
        super().__init__()
        rates, start = drop_path_rates(config.drop_path_rate, config.depths), 0
        stages = []
        for index, depth in enumerate(config.depths):
            stages.append(SwinStage(config, index, rates[start : start + depth]))
            start += depth
        self.layers = nn.ModuleList(stages)

    def forward(self, hidden, grid, eager, output_hidden_states=False, output_attentions=False,
                always_partition=False, before_downsampling=False) -> SwinModelOutput:
        """``hidden_states``: the embeddings, then each stage's output (merged); ``reshaped_hidden_states``:
        the same as maps, or each stage's output before merging when ``before_downsampling`` (a backbone's)."""
        states, maps = ((hidden,), (as_map(hidden, grid),)) if output_hidden_states else (None, None)
        attentions = () if output_attentions else None
        for stage in self.layers:
            unmerged_grid = grid
            hidden, grid, unmerged, weights = stage(hidden, grid, eager, always_partition)
            if output_hidden_states:
                states += (hidden,)
                maps += (as_map(unmerged, unmerged_grid) if before_downsampling else as_map(hidden, grid),)
            if output_attentions:
                attentions += (weights,)
        return SwinModelOutput(last_hidden_state=hidden, hidden_states=states, attentions=attentions,
                               reshaped_hidden_states=maps)


# --- models -------------------------------------------------------------------------------------


class SwinPreTrainedModel(PreTrainedModel):
    config_class = SwinConfig
    base_model_prefix = "swin"
    main_input_name = "pixel_values"
    # older exports saved the (fixed) index of the relative-position table
    _ignore_unexpected = (r"relative_position_index$",)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, SwinEmbeddings):
            for table in (module.mask_token, module.position_embeddings):
                if table is not None:
                    nn.init.zeros_(table)
        elif isinstance(module, SwinSelfAttention):
            nn.init.zeros_(module.relative_position_bias_table)
        else:
            super()._init_weights(module)


class SwinModel(SwinPreTrainedModel):
    """Pixels (B, C, H, W) -> tokens (B, h · w, hidden_size) of the last stage, their mean as
    ``pooler_output`` (unless ``add_pooling_layer=False``), the stages' outputs as
    ``hidden_states`` and as maps (``reshaped_hidden_states``)."""

    def __init__(self, config: SwinConfig, add_pooling_layer: bool = True, use_mask_token: bool = False) -> None:
        super().__init__(config)
        self.num_features = config.hidden_size
        self.embeddings = SwinEmbeddings(config, use_mask_token)
        self.encoder = SwinEncoder(config)
        self.layernorm = nn.LayerNorm(self.num_features, eps=config.layer_norm_eps)
        self.add_pooling_layer = add_pooling_layer

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings.patch_embeddings

    def forward(self, pixel_values=None, bool_masked_pos=None, output_attentions=None, output_hidden_states=None,
                interpolate_pos_encoding: bool = False, return_dict=None, always_partition: bool = False,
                output_hidden_states_before_downsampling: bool = False, **kwargs) -> SwinModelOutput:
        if pixel_values is None:
            raise ValueError("SwinModel needs pixel_values (B, num_channels, height, width): make them with an image processor.")
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        hidden, grid = self.embeddings(pixel_values, bool_masked_pos, interpolate_pos_encoding)
        out = self.encoder(hidden, grid, eager, output_hidden_states, output_attentions, always_partition,
                           output_hidden_states_before_downsampling)
        out.last_hidden_state = self.layernorm(out.last_hidden_state)
        if self.add_pooling_layer:
            out.pooler_output = out.last_hidden_state.mean(dim=1)
        return self._finish(out, return_dict)


class SwinForImageClassification(SwinPreTrainedModel):
    """A linear classifier on the mean of the last stage's tokens."""

    def __init__(self, config: SwinConfig) -> None:
        super().__init__(config)
        self.swin = SwinModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()

    def forward(self, pixel_values=None, labels=None, output_attentions=None, output_hidden_states=None,
                interpolate_pos_encoding: bool = False, return_dict=None, **kwargs) -> SwinImageClassifierOutput:
        out = self.swin(pixel_values, output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                        interpolate_pos_encoding=interpolate_pos_encoding)
        logits = self.classifier(out.pooler_output)
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return self._finish(SwinImageClassifierOutput(loss, logits, out.hidden_states, out.attentions,
                                                      out.reshaped_hidden_states), return_dict)


class SwinForMaskedImageModeling(SwinPreTrainedModel):
    """SimMIM (https://arxiv.org/abs/2111.09886): patches marked in ``bool_masked_pos`` (B, h · w) are
    replaced by the mask token; a 1×1 conv and a pixel shuffle (``encoder_stride``) rebuild the
    pixels, and the loss is the L1 error on the masked patches."""

    def __init__(self, config: SwinConfig) -> None:
        super().__init__(config)
        self.swin = SwinModel(config, add_pooling_layer=False, use_mask_token=True)
        self.decoder = nn.Sequential(
            nn.Conv2d(config.hidden_size, config.encoder_stride**2 * config.num_channels, kernel_size=1),
            nn.PixelShuffle(config.encoder_stride))

    def forward(self, pixel_values=None, bool_masked_pos=None, output_attentions=None, output_hidden_states=None,
                interpolate_pos_encoding: bool = False, return_dict=None, **kwargs) -> SwinMaskedImageModelingOutput:
        out = self.swin(pixel_values, bool_masked_pos=bool_masked_pos, output_attentions=output_attentions,
                        output_hidden_states=output_hidden_states, interpolate_pos_encoding=interpolate_pos_encoding)
        tokens = out.last_hidden_state.transpose(1, 2)  # (B, C, h · w), a square grid
        side = math.floor(tokens.shape[-1] ** 0.5)
        reconstruction = self.decoder(tokens.reshape(*tokens.shape[:2], side, side))
        loss = None
        if bool_masked_pos is not None:
            loss = masked_pixel_loss(pixel_values, reconstruction, bool_masked_pos, self.config)
        return self._finish(SwinMaskedImageModelingOutput(loss, reconstruction, out.hidden_states, out.attentions,
                                                          out.reshaped_hidden_states), return_dict)


class SwinBackbone(BackboneMixin, SwinPreTrainedModel):
    """Feature maps (B, C, h, w) of the stages in ``config.out_features`` ("stem", "stage1", ...), each
    layer-normed, taken before patch merging; windows stay partitioned (and shifted) at every size."""

    def __init__(self, config: SwinConfig) -> None:
        super().__init__(config)
        self.num_features = [config.embed_dim] + [int(config.embed_dim * 2**i) for i in range(len(config.depths))]
        self.swin = SwinModel(config, add_pooling_layer=False)  # its final layernorm is unused, as in the reference
        self.hidden_states_norms = nn.ModuleDict(
            {stage: nn.LayerNorm(channels) for stage, channels in zip(self.out_features, self.channels)})

    def forward(self, pixel_values=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs) -> BackboneOutput:
        out = self.swin(pixel_values, output_attentions=output_attentions, output_hidden_states=True,
                        always_partition=True, output_hidden_states_before_downsampling=True)
        feature_maps = tuple(
            self.hidden_states_norms[stage](state.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous()
            for stage, state in zip(self.stage_names, out.reshaped_hidden_states) if stage in self.out_features)
        wanted = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        return self._finish(BackboneOutput(feature_maps, out.reshaped_hidden_states if wanted else None,
                                           out.attentions), return_dict)

    def save_pretrained(self, save_directory, **kwargs) -> None:
        """The reference's layout: the stem and the encoder without the ``swin.`` prefix (loading puts it back)."""
        if kwargs.get("state_dict") is None:
            kwargs["state_dict"] = {re.sub(r"^swin\.(embeddings|encoder)\.", r"\1.", name): tensor
                                    for name, tensor in self.state_dict().items()}
        super().save_pretrained(save_directory, **kwargs)
