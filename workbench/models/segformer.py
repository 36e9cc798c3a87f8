"""SegFormer (https://arxiv.org/abs/2105.15203): a hierarchical encoder (Mix Transformer) and an
all-MLP decode head for semantic segmentation.

    pixels (B, 3, H, W) ─► stage i: overlapping patch conv (stride 4, then 2) ─► norm
        ─► blocks [ norm ─► attention, keys/values from a sr_ratio-strided conv of the map ─► + ;
                    norm ─► Mix-FFN (fc ─► 3×3 depthwise conv ─► GELU ─► fc) ─► + ] ─► norm ─► map (B, C_i, h_i, w_i)
    decode head: each map ─► linear to decoder_hidden_size ─► bilinear to the 1/4 map ─► concat (deepest first)
        ─► 1×1 conv ─► batch norm ─► ReLU ─► 1×1 classifier ─► logits (B, num_labels, H/4, W/4)

The logits stay at 1/4 of the image, as the reference returns them; only the loss upsamples them to
the labels' size. Module names equal the checkpoint keys (``segformer.encoder.block.0.1.attention.self.sr``,
``decode_head.linear_c.2.proj``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.attention import attention, split_heads
from ..nn.conv_mlp import DepthwiseConvMLP
from ..nn.drop_path import DropPath, drop_path_rates
from ..nn.layers import output_flags
from ..nn.losses import sequence_classification_loss
from ..outputs import BaseModelOutput, ImageClassifierOutput, SemanticSegmenterOutput


class SegformerConfig(PretrainedConfig):
    """Per-stage lists (``depths``, ``hidden_sizes``, ``num_attention_heads``, ``sr_ratios``,
    ``patch_sizes``, ``strides``, ``mlp_ratios``) of ``num_encoder_blocks`` entries each."""

    model_type = "segformer"
    attribute_map = {"num_hidden_layers": "num_encoder_blocks"}
    defaults = {
        "num_channels": 3, "num_encoder_blocks": 4, "depths": [2, 2, 2, 2], "sr_ratios": [8, 4, 2, 1],
        "hidden_sizes": [32, 64, 160, 256], "patch_sizes": [7, 3, 3, 3], "strides": [4, 2, 2, 2],
        "num_attention_heads": [1, 2, 5, 8], "mlp_ratios": [4, 4, 4, 4], "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout_prob": 0.1,
        "initializer_range": 0.02, "drop_path_rate": 0.1, "layer_norm_eps": 1e-6, "decoder_hidden_size": 256,
        "semantic_loss_ignore_index": 255, "reshape_last_stage": True,
    }


class SegformerOverlapPatchEmbeddings(nn.Module):
    """(B, C, H, W) -> (B, h · w, hidden), h, w: a strided conv whose patches overlap (kernel > stride)."""

    def __init__(self, patch_size: int, stride: int, num_channels: int, hidden_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(num_channels, hidden_size, kernel_size=patch_size, stride=stride, padding=patch_size // 2)
        self.layer_norm = nn.LayerNorm(hidden_size)

    def forward(self, pixel_values: torch.Tensor):
        grid = self.proj(pixel_values)
        height, width = grid.shape[-2:]
        return self.layer_norm(grid.flatten(2).transpose(1, 2)), height, width


class SegformerEfficientSelfAttention(nn.Module):
    """Queries from every token; keys and values from the map shrunk ``sr_ratio`` times per side by a
    strided conv (``sr``) and normed, so attention costs N · N / sr² instead of N²."""

    def __init__(self, config: SegformerConfig, hidden_size: int, num_heads: int, sr_ratio: int) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"SegFormer stage width {hidden_size} is not a multiple of its {num_heads} heads: "
                             "fix hidden_sizes or num_attention_heads.")
        self.head_dim = hidden_size // num_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(hidden_size, hidden_size, kernel_size=sr_ratio, stride=sr_ratio)
            self.layer_norm = nn.LayerNorm(hidden_size)
        self.dropout_prob = config.attention_probs_dropout_prob

    def forward(self, hidden: torch.Tensor, height: int, width: int, eager: bool):
        """(B, N, C) -> (B, N, C), weights (B, heads, N, N / sr²)."""
        query = split_heads(self.query(hidden), self.head_dim)
        source = hidden
        if self.sr_ratio > 1:
            batch, _, channels = hidden.shape
            grid = hidden.transpose(1, 2).reshape(batch, channels, height, width)
            source = self.layer_norm(self.sr(grid).reshape(batch, channels, -1).transpose(1, 2))
        key, value = split_heads(self.key(source), self.head_dim), split_heads(self.value(source), self.head_dim)
        out, weights = attention(query, key, value, None, eager=eager, dropout=self.dropout_prob if self.training else 0.0)
        return out.reshape(*hidden.shape[:2], -1), weights


class SegformerSelfOutput(nn.Module):
    def __init__(self, config: SegformerConfig, hidden_size: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.dense(hidden))


class SegformerAttention(nn.Module):
    def __init__(self, config: SegformerConfig, hidden_size: int, num_heads: int, sr_ratio: int) -> None:
        super().__init__()
        self.self = SegformerEfficientSelfAttention(config, hidden_size, num_heads, sr_ratio)
        self.output = SegformerSelfOutput(config, hidden_size)

    def forward(self, hidden, height, width, eager):
        out, weights = self.self(hidden, height, width, eager)
        return self.output(out), weights


class SegformerLayer(nn.Module):
    """norm ─► efficient attention ─► drop path + residual ─► norm ─► Mix-FFN ─► drop path + residual."""

    def __init__(self, config: SegformerConfig, stage: int, drop_path: float) -> None:
        super().__init__()
        width = config.hidden_sizes[stage]
        self.layer_norm_1 = nn.LayerNorm(width)
        self.attention = SegformerAttention(config, width, config.num_attention_heads[stage], config.sr_ratios[stage])
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.layer_norm_2 = nn.LayerNorm(width)
        self.mlp = DepthwiseConvMLP(width, int(width * config.mlp_ratios[stage]), config.hidden_act,
                                    config.hidden_dropout_prob, names=("dense1", "dwconv", "dense2"))

    def forward(self, hidden, height, width, eager):
        out, weights = self.attention(self.layer_norm_1(hidden), height, width, eager)
        hidden = hidden + self.drop_path(out)
        hidden = hidden + self.drop_path(self.mlp(self.layer_norm_2(hidden), height, width))
        return hidden, weights


class SegformerEncoder(nn.Module):
    """The stages: ``patch_embeddings[i]``, ``block[i]`` (its layers), ``layer_norm[i]``."""

    def __init__(self, config: SegformerConfig) -> None:
        super().__init__()
        self.config = config
        rates, stages = drop_path_rates(config.drop_path_rate, config.depths), range(config.num_encoder_blocks)
        self.patch_embeddings = nn.ModuleList(
            SegformerOverlapPatchEmbeddings(config.patch_sizes[i], config.strides[i],
                                            config.num_channels if i == 0 else config.hidden_sizes[i - 1],
                                            config.hidden_sizes[i]) for i in stages)
        starts = [sum(config.depths[:i]) for i in stages]
        self.block = nn.ModuleList(
            nn.ModuleList(SegformerLayer(config, i, rates[starts[i] + j]) for j in range(config.depths[i])) for i in stages)
        self.layer_norm = nn.ModuleList(nn.LayerNorm(config.hidden_sizes[i]) for i in stages)

    def forward(self, pixel_values, eager, output_hidden_states=False, output_attentions=False) -> BaseModelOutput:
        """``hidden_states``: each stage's output map (B, C_i, h_i, w_i); the last stays (B, N, C) when
        ``config.reshape_last_stage`` is False. ``attentions``: one per layer."""
        states, attentions = () if output_hidden_states else None, () if output_attentions else None
        hidden, last = pixel_values, len(self.block) - 1
        for index, (embed, layers, norm) in enumerate(zip(self.patch_embeddings, self.block, self.layer_norm)):
            hidden, height, width = embed(hidden)
            for layer in layers:
                hidden, weights = layer(hidden, height, width, eager)
                if output_attentions:
                    attentions += (weights,)
            hidden = norm(hidden)
            if index < last or self.config.reshape_last_stage:
                hidden = hidden.reshape(hidden.shape[0], height, width, -1).permute(0, 3, 1, 2).contiguous()
            if output_hidden_states:
                states += (hidden,)
        return BaseModelOutput(hidden, states, attentions)


class SegformerPreTrainedModel(PreTrainedModel):
    config_class = SegformerConfig
    base_model_prefix = "segformer"
    main_input_name = "pixel_values"

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
            module.reset_running_stats()
        else:
            super()._init_weights(module)


class SegformerModel(SegformerPreTrainedModel):
    """Pixels (B, C, H, W) -> the last stage's map (B, C, H/32, W/32 with the default strides)."""

    def __init__(self, config: SegformerConfig) -> None:
        super().__init__(config)
        self.encoder = SegformerEncoder(config)

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.patch_embeddings[0]

    def forward(self, pixel_values=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs) -> BaseModelOutput:
        if pixel_values is None:
            raise ValueError("SegformerModel needs pixel_values (B, num_channels, height, width): make them with an "
                             "image processor.")
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        out = self.encoder(pixel_values, eager, output_hidden_states, output_attentions)
        return self._finish(out, return_dict)


class SegformerForImageClassification(SegformerPreTrainedModel):
    """A linear classifier on the mean of the last stage's tokens."""

    def __init__(self, config: SegformerConfig) -> None:
        super().__init__(config)
        self.segformer = SegformerModel(config)
        self.classifier = nn.Linear(config.hidden_sizes[-1], config.num_labels)

    def forward(self, pixel_values=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs) -> ImageClassifierOutput:
        out = self.segformer(pixel_values, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        last = out.last_hidden_state
        if self.config.reshape_last_stage:  # (B, C, h, w) -> (B, h, w, C)
            last = last.permute(0, 2, 3, 1)
        logits = self.classifier(last.reshape(last.shape[0], -1, self.config.hidden_sizes[-1]).mean(dim=1))
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return self._finish(ImageClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class SegformerMLP(nn.Module):
    """(B, C, h, w) -> (B, h · w, decoder_hidden_size)."""

    def __init__(self, config: SegformerConfig, input_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(input_dim, config.decoder_hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.proj(hidden.flatten(2).transpose(1, 2))


class SegformerDecodeHead(nn.Module):
    """The stages' maps -> (B, num_labels, h_0, w_0) logits at the first (1/4) map's size."""

    def __init__(self, config: SegformerConfig) -> None:
        super().__init__()
        self.config = config
        self.linear_c = nn.ModuleList(SegformerMLP(config, width) for width in config.hidden_sizes)
        width = config.decoder_hidden_size
        self.linear_fuse = nn.Conv2d(width * config.num_encoder_blocks, width, kernel_size=1, bias=False)
        self.batch_norm = nn.BatchNorm2d(width)
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Conv2d(width, config.num_labels, kernel_size=1)

    def forward(self, maps: tuple[torch.Tensor, ...]) -> torch.Tensor:
        batch, size = maps[-1].shape[0], maps[0].shape[2:]
        unified = []
        for hidden, linear in zip(maps, self.linear_c):
            if hidden.dim() == 3:  # the last stage left as tokens (reshape_last_stage=False): a square map
                side = int(hidden.shape[1] ** 0.5)
                hidden = hidden.reshape(batch, side, side, -1).permute(0, 3, 1, 2)
            height, width = hidden.shape[2:]
            hidden = linear(hidden).transpose(1, 2).reshape(batch, -1, height, width)
            unified.append(F.interpolate(hidden, size=size, mode="bilinear", align_corners=False))
        hidden = self.linear_fuse(torch.cat(unified[::-1], dim=1))
        return self.classifier(self.dropout(self.activation(self.batch_norm(hidden))))


class SegformerForSemanticSegmentation(SegformerPreTrainedModel):
    """Per-pixel class logits (B, num_labels, H/4, W/4). With ``labels`` (B, H, W), the loss compares
    them upsampled (bilinear) to the labels' size: cross-entropy ignoring ``semantic_loss_ignore_index``,
    or, with one label, a binary cross-entropy over the valid pixels."""

    def __init__(self, config: SegformerConfig) -> None:
        super().__init__(config)
        self.segformer = SegformerModel(config)
        self.decode_head = SegformerDecodeHead(config)

    def forward(self, pixel_values=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs) -> SemanticSegmenterOutput:
        if labels is not None and self.config.num_labels < 1:
            raise ValueError(f"config.num_labels is {self.config.num_labels}: a segmentation loss needs at least one label.")
        out = self.segformer(pixel_values, output_attentions=output_attentions, output_hidden_states=True)
        logits = self.decode_head(out.hidden_states)
        loss = segmentation_loss(logits, labels, self.config) if labels is not None else None
        wanted = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        return self._finish(SemanticSegmenterOutput(loss, logits, out.hidden_states if wanted else None, out.attentions),
                            return_dict)


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor, config: SegformerConfig) -> torch.Tensor:
    """``logits`` (B, L, h, w) upsampled to ``labels`` (B, H, W), then compared."""
    upsampled = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
    ignore = config.semantic_loss_ignore_index
    if config.num_labels > 1:
        return F.cross_entropy(upsampled, labels, ignore_index=ignore)
    valid = ((labels >= 0) & (labels != ignore)).float()
    return (F.binary_cross_entropy_with_logits(upsampled.squeeze(1), labels.float(), reduction="none") * valid).mean()
