"""ResNet (He et al., 2015, https://arxiv.org/abs/1512.03385) in the Hugging Face layout.

    pixels (B, 3, H, W) ─► embedder: 7x7/2 conv-bn-relu, 3x3/2 max pool          (B, E, H/4, W/4)
      ─► stage1 ... stageN: residual layers, each stage after the first halves H, W (B, C_N, H/32, W/32)
      ─► pooler: global average                                                   (B, C_N, 1, 1)

A residual layer is ``basic`` (two 3x3 convs) or ``bottleneck`` (1x1 down to C/4, 3x3, 1x1 up);
``downsample_in_bottleneck`` puts a bottleneck's stride on its first 1x1 conv instead of the 3x3.
``ResNetBackbone`` returns the stages ``config.out_features`` names (DETR's feature maps).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.backbone import BackboneConfigMixin, BackboneMixin, select_feature_maps
from ..nn.conv_blocks import ConvNormActivation, init_conv_model_weights
from ..nn.losses import sequence_classification_loss
from ..outputs import BackboneOutput, BaseModelOutputWithPoolingAndNoAttention, ImageClassifierOutputWithNoAttention


class ResNetConfig(BackboneConfigMixin, PretrainedConfig):
    """ResNet-50's shape by default; ``layer_type="basic"`` with ``depths=[2, 2, 2, 2]`` is ResNet-18."""

    model_type = "resnet"
    defaults = {
        "num_channels": 3,
        "embedding_size": 64,
        "hidden_sizes": [256, 512, 1024, 2048],
        "depths": [3, 4, 6, 3],
        "layer_type": "bottleneck",
        "hidden_act": "relu",
        "downsample_in_first_stage": False,
        "downsample_in_bottleneck": False,
    }

    def __post_init__(self) -> None:
        if self.layer_type not in ("basic", "bottleneck"):
            raise ValueError(f"ResNet layer_type {self.layer_type!r} is not 'basic' or 'bottleneck': fix config.json.")
        self.hidden_sizes, self.depths = list(self.hidden_sizes), list(self.depths)


class ResNetEmbeddings(nn.Module):
    """The stem: one 7x7 stride-2 conv, then a 3x3 stride-2 max pool (H/4, W/4)."""

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        self.embedder = ConvNormActivation(config.num_channels, config.embedding_size, 7, stride=2,
                                           activation=config.hidden_act)
        self.pooler = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.num_channels = config.num_channels

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.shape[1] != self.num_channels:
            raise ValueError(f"pixel_values have {pixel_values.shape[1]} channels, but the config says num_channels="
                             f"{self.num_channels}: convert the images (RGB has 3) or fix the config.")
        return self.pooler(self.embedder(pixel_values))


def shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """The residual path: a 1x1 conv and norm where the shape changes, else the identity."""
    if in_channels == out_channels and stride == 1:
        return nn.Identity()
    return ConvNormActivation(in_channels, out_channels, 1, stride=stride, activation=None)


class ResNetResidualLayer(nn.Module):
    """``activation(layer(x) + shortcut(x))``; ``layer`` is the basic or bottleneck stack of convs."""

    def __init__(self, config: ResNetConfig, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.shortcut = shortcut(in_channels, out_channels, stride)
        if config.layer_type == "bottleneck":
            reduced = out_channels // 4
            first_stride, middle_stride = (stride, 1) if config.downsample_in_bottleneck else (1, stride)
            self.layer = nn.Sequential(
                ConvNormActivation(in_channels, reduced, 1, stride=first_stride),
                ConvNormActivation(reduced, reduced, 3, stride=middle_stride),
                ConvNormActivation(reduced, out_channels, 1, activation=None),
            )
        else:
            self.layer = nn.Sequential(
                ConvNormActivation(in_channels, out_channels, 3, stride=stride),
                ConvNormActivation(out_channels, out_channels, 3, activation=None),
            )
        self.activation = get_activation(config.hidden_act)

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        return self.activation(self.layer(hidden_state) + self.shortcut(hidden_state))


class ResNetStage(nn.Module):
    def __init__(self, config: ResNetConfig, in_channels: int, out_channels: int, stride: int, depth: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(ResNetResidualLayer(config, in_channels, out_channels, stride),
                                    *[ResNetResidualLayer(config, out_channels, out_channels) for _ in range(depth - 1)])

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        return self.layers(hidden_state)


class ResNetEncoder(nn.Module):
    """The stages; the first halves H and W only with ``downsample_in_first_stage`` (the stem's pool did)."""

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        widths = [config.embedding_size, *config.hidden_sizes]
        strides = [2 if config.downsample_in_first_stage else 1] + [2] * (len(config.depths) - 1)
        self.stages = nn.ModuleList(ResNetStage(config, widths[i], widths[i + 1], strides[i], depth)
                                    for i, depth in enumerate(config.depths))

    def forward(self, hidden_state: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """-> the last stage's output, and every stage's input then the last output (N + 1 maps)."""
        states = [hidden_state]
        for stage in self.stages:
            states.append(stage(states[-1]))
        return states[-1], tuple(states)


class ResNetPreTrainedModel(PreTrainedModel):
    config_class = ResNetConfig
    base_model_prefix = "resnet"
    main_input_name = "pixel_values"

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if init_conv_model_weights(module):
            return
        if isinstance(module, nn.Linear):  # PyTorch's own Linear init, as the reference keeps it
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight.shape[1]) if module.weight.shape[1] > 0 else 0
                nn.init.uniform_(module.bias, -bound, bound)
            return
        super()._init_weights(module)


class ResNetModel(ResNetPreTrainedModel):
    """The stem and the stages, with the last stage average-pooled (``pooler_output``, (B, C, 1, 1))."""

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__(config)
        self.embedder = ResNetEmbeddings(config)
        self.encoder = ResNetEncoder(config)
        self.pooler = nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, pixel_values: torch.Tensor, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **_):
        """pixel_values (B, C, H, W) -> last_hidden_state (B, C_N, H/32, W/32), pooler_output, and with
        ``output_hidden_states`` the stem's output and each stage's."""
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        last, states = self.encoder(self.embedder(pixel_values))
        out = BaseModelOutputWithPoolingAndNoAttention(last_hidden_state=last, pooler_output=self.pooler(last),
                                                       hidden_states=states if output_hidden_states else None)
        return self._finish(out, return_dict)


class ResNetForImageClassification(ResNetPreTrainedModel):
    """ResNet with a linear classifier on the pooled features (``classifier.1``, after a flatten)."""

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__(config)
        self.resnet = ResNetModel(config)
        head = nn.Linear(config.hidden_sizes[-1], config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.classifier = nn.Sequential(nn.Flatten(), head)

    def forward(self, pixel_values: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None, **_):
        """-> logits (B, num_labels); with ``labels`` (B,) the loss (cross-entropy, or by ``problem_type``)."""
        outputs = self.resnet(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(outputs.pooler_output)
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        out = ImageClassifierOutputWithNoAttention(loss=loss, logits=logits, hidden_states=outputs.hidden_states)
        return self._finish(out, return_dict)


class ResNetBackbone(BackboneMixin, ResNetPreTrainedModel):
    """The stem and stages without the pooler; returns the feature maps of ``config.out_features``
    (``AutoBackbone.from_pretrained(folder, out_features=["stage2", "stage4"])``)."""

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__(config)
        self.embedder = ResNetEmbeddings(config)
        self.encoder = ResNetEncoder(config)
        self.num_features = [config.embedding_size, *config.hidden_sizes]  # channels per stage, the stem's first

    def forward(self, pixel_values: torch.Tensor, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **_):
        """pixel_values (B, C, H, W) -> feature_maps: one (B, C_i, H_i, W_i) per ``out_features`` stage."""
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        _, states = self.encoder(self.embedder(pixel_values))
        out = BackboneOutput(feature_maps=select_feature_maps(states, self.stage_names, self.out_features),
                             hidden_states=states if output_hidden_states else None)
        return self._finish(out, return_dict)
