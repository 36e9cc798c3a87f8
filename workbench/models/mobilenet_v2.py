"""MobileNetV2 (https://arxiv.org/abs/1801.04381), and DeepLabV3 on it (https://arxiv.org/abs/1706.05587).

    pixel_values (B, 3, H, W) ─► conv_stem [ 3x3 conv stride 2 ─► (1x1 expand) ─► 3x3 depthwise ─► 1x1 reduce ]
        ─► 16 × inverted residual [ 1x1 expand (x expand_ratio) ─► 3x3 depthwise ─► 1x1 reduce (+ input) ]
        ─► conv_1x1 (to 1280 x depth_multiplier channels) ─► last_hidden_state (B, C, H/32, W/32)
        ─► average pool ─► pooler_output (B, C) ─► classifier

Every conv is conv ─► BatchNorm ─► ReLU6 (the 1x1 reduce has no activation). ``tf_padding`` pads as
TensorFlow's "SAME" (Google's TF checkpoints); torchvision's weights want ``tf_padding=False`` and
``layer_norm_eps=1e-5``. With ``output_stride`` 8 or 16 the later depthwise convs dilate instead of
striding (DeepLab's atrous layout). Module names equal the checkpoint keys
(``mobilenet_v2.layer.3.conv_3x3.convolution.weight``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.conv_blocks import ConvNormActivation, init_conv_and_batch_norm
from ..nn.losses import sequence_classification_loss
from ..outputs import BaseModelOutputWithPoolingAndNoAttention, ImageClassifierOutputWithNoAttention, SemanticSegmenterOutput

# the paper's table 2 at depth multiplier 1: channels after the stem and after each inverted residual,
# and each block's depthwise stride
BLOCK_CHANNELS = (16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320)
BLOCK_STRIDES = (2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1)


class MobileNetV2Config(PretrainedConfig):
    """MobileNetV2's config: ``depth_multiplier`` scales every layer's channels (rounded to
    ``depth_divisible_by``, at least ``min_depth``); ``finegrained_output`` keeps the last conv at 1280
    channels when the multiplier is below 1."""

    model_type = "mobilenet_v2"
    defaults = {
        "num_channels": 3, "image_size": 224, "depth_multiplier": 1.0, "depth_divisible_by": 8, "min_depth": 8,
        "expand_ratio": 6.0, "output_stride": 32, "first_layer_is_expansion": True, "finegrained_output": True,
        "hidden_act": "relu6", "tf_padding": True, "classifier_dropout_prob": 0.8, "initializer_range": 0.02,
        "layer_norm_eps": 0.001, "semantic_loss_ignore_index": 255,
    }

    def __post_init__(self) -> None:
        if self.depth_multiplier <= 0:
            raise ValueError(f"depth_multiplier must be greater than zero, not {self.depth_multiplier}.")


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """``value`` rounded to a multiple of ``divisor`` (at least ``min_value``), never more than 10% below it."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * value else rounded)


def scaled_channels(config: MobileNetV2Config, channels: int) -> int:
    return make_divisible(int(round(channels * config.depth_multiplier)), config.depth_divisible_by, config.min_depth)


def conv_layer(config: MobileNetV2Config, in_channels: int, out_channels: int, kernel_size: int, *,
               activation: str | None = "config", norm_eps: float | None = None, **kwargs) -> ConvNormActivation:
    """A conv ─► BatchNorm ─► activation with the config's padding rule, norm epsilon and activation."""
    eps = config.layer_norm_eps if norm_eps is None else norm_eps
    # momentum 0.997 is TensorFlow's moving-average decay, kept as the reference passes it to PyTorch
    return ConvNormActivation(in_channels, out_channels, kernel_size, tf_padding=config.tf_padding, norm_eps=eps,
                              norm_momentum=0.997, activation=config.hidden_act if activation == "config" else activation,
                              **kwargs)


class MobileNetV2InvertedResidual(nn.Module):
    """1x1 expand ─► 3x3 depthwise (strided or dilated) ─► 1x1 linear reduce, plus the input when the
    shape is kept."""

    def __init__(self, config: MobileNetV2Config, in_channels: int, out_channels: int, stride: int,
                 dilation: int = 1) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"MobileNetV2 blocks stride by 1 or 2, not {stride}.")
        expanded = make_divisible(int(round(in_channels * config.expand_ratio)), config.depth_divisible_by,
                                  config.min_depth)
        self.use_residual = stride == 1 and in_channels == out_channels
        self.expand_1x1 = conv_layer(config, in_channels, expanded, 1)
        self.conv_3x3 = conv_layer(config, expanded, expanded, 3, stride=stride, groups=expanded, dilation=dilation)
        self.reduce_1x1 = conv_layer(config, expanded, out_channels, 1, activation=None)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.reduce_1x1(self.conv_3x3(self.expand_1x1(features)))
        return features + out if self.use_residual else out


class MobileNetV2Stem(nn.Module):
    """The first block: a full 3x3 conv (stride 2) whose output is the expansion (unless
    ``first_layer_is_expansion`` is False: then a 1x1 expand follows), depthwise, reduce."""

    def __init__(self, config: MobileNetV2Config, in_channels: int, expanded: int, out_channels: int) -> None:
        super().__init__()
        self.first_conv = conv_layer(config, in_channels, expanded, 3, stride=2)
        self.expand_1x1 = None if config.first_layer_is_expansion else conv_layer(config, expanded, expanded, 1)
        self.conv_3x3 = conv_layer(config, expanded, expanded, 3, groups=expanded)
        self.reduce_1x1 = conv_layer(config, expanded, out_channels, 1, activation=None)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = self.first_conv(features)
        if self.expand_1x1 is not None:
            features = self.expand_1x1(features)
        return self.reduce_1x1(self.conv_3x3(features))


class MobileNetV2PreTrainedModel(PreTrainedModel):
    config_class = MobileNetV2Config
    base_model_prefix = "mobilenet_v2"
    main_input_name = "pixel_values"

    def _init_weights(self, module: nn.Module) -> None:
        if not init_conv_and_batch_norm(module, self.config.initializer_range):
            super()._init_weights(module)


def block_strides(config: MobileNetV2Config) -> list[tuple[int, int]]:
    """(stride, dilation) of each inverted residual: once the stride so far reaches ``output_stride``,
    blocks stop striding and dilate instead, the dilation growing from the block after."""
    current, dilation, layout = 2, 1, []  # the stem strides by 2
    for stride in BLOCK_STRIDES:
        if current == config.output_stride:
            layout.append((1, dilation))
            dilation *= stride
        else:
            layout.append((stride, 1))
            current *= stride
    return layout


class MobileNetV2Model(MobileNetV2PreTrainedModel):
    """The convolutional trunk; ``hidden_states`` are the 16 inverted residuals' outputs."""

    def __init__(self, config: MobileNetV2Config, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        channels = [scaled_channels(config, c) for c in BLOCK_CHANNELS]
        self.conv_stem = MobileNetV2Stem(config, config.num_channels, scaled_channels(config, 32), channels[0])
        self.layer = nn.ModuleList(
            MobileNetV2InvertedResidual(config, channels[i], channels[i + 1], stride, dilation)
            for i, (stride, dilation) in enumerate(block_strides(config)))
        fine = config.finegrained_output and config.depth_multiplier < 1.0
        self.conv_1x1 = conv_layer(config, channels[-1], 1280 if fine else scaled_channels(config, 1280), 1)
        self.pooler = nn.AdaptiveAvgPool2d((1, 1)) if add_pooling_layer else None

    def forward(self, pixel_values: torch.Tensor | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **kwargs) -> BaseModelOutputWithPoolingAndNoAttention:
        if pixel_values is None:
            raise ValueError("MobileNetV2Model needs pixel_values (B, C, H, W): pass pixel_values=...")
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        features = self.conv_stem(pixel_values)
        states = []
        for block in self.layer:
            features = block(features)
            states.append(features)
        last = self.conv_1x1(features)
        pooled = torch.flatten(self.pooler(last), 1) if self.pooler is not None else None  # (B, C)
        out = BaseModelOutputWithPoolingAndNoAttention(last, pooled, tuple(states) if output_hidden_states else None)
        return self._finish(out, return_dict)


class MobileNetV2ForImageClassification(MobileNetV2PreTrainedModel):
    """Pooled features ─► dropout ─► linear ``classifier`` (B, num_labels)."""

    def __init__(self, config: MobileNetV2Config) -> None:
        super().__init__(config)
        self.mobilenet_v2 = MobileNetV2Model(config)
        width = self.mobilenet_v2.conv_1x1.convolution.out_channels
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(width, config.num_labels) if config.num_labels > 0 else nn.Identity()

    def forward(self, pixel_values: torch.Tensor | None = None, output_hidden_states: bool | None = None,
                labels: torch.Tensor | None = None, return_dict: bool | None = None,
                **kwargs) -> ImageClassifierOutputWithNoAttention:
        out = self.mobilenet_v2(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(self.dropout(out.pooler_output))
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return self._finish(ImageClassifierOutputWithNoAttention(loss, logits, out.hidden_states), return_dict)


class MobileNetV2DeepLabV3Plus(nn.Module):
    """DeepLabV3's head (named V3+ in the reference's keys): image-level features (average pool ─► 1x1
    conv, spread back over the map) beside a 1x1 conv of the map ─► concatenated ─► 1x1 projection
    ─► dropout ─► 1x1 ``classifier`` with a bias. Its norms use eps 1e-5 and ReLU whatever the trunk uses."""

    def __init__(self, config: MobileNetV2Config) -> None:
        super().__init__()
        width = scaled_channels(config, 320)  # the last inverted residual's channels
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_pool = conv_layer(config, width, 256, 1, activation="relu", norm_eps=1e-5)
        self.conv_aspp = conv_layer(config, width, 256, 1, activation="relu", norm_eps=1e-5)
        self.conv_projection = conv_layer(config, 512, 256, 1, activation="relu", norm_eps=1e-5)
        self.dropout = nn.Dropout2d(config.classifier_dropout_prob)
        self.classifier = ConvNormActivation(256, config.num_labels, 1, bias=True, tf_padding=config.tf_padding,
                                             norm_eps=None, activation=None)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.conv_pool(self.avg_pool(features))  # (B, 256, 1, 1)
        pooled = F.interpolate(pooled, size=features.shape[-2:], mode="bilinear", align_corners=True)
        features = torch.cat([pooled, self.conv_aspp(features)], dim=1)  # (B, 512, h, w)
        return self.classifier(self.dropout(self.conv_projection(features)))


class MobileNetV2ForSemanticSegmentation(MobileNetV2PreTrainedModel):
    """The trunk without ``conv_1x1``'s use or pooling: DeepLabV3 on the last inverted residual's map;
    ``logits`` (B, num_labels, h, w) at that map's resolution. ``labels`` (B, H, W) give a per-pixel
    cross-entropy on the logits upsampled to their size (``semantic_loss_ignore_index`` left out)."""

    def __init__(self, config: MobileNetV2Config) -> None:
        super().__init__(config)
        self.mobilenet_v2 = MobileNetV2Model(config, add_pooling_layer=False)
        self.segmentation_head = MobileNetV2DeepLabV3Plus(config)

    def forward(self, pixel_values: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None,
                **kwargs) -> SemanticSegmenterOutput:
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        if labels is not None and self.config.num_labels == 1:
            raise ValueError("Semantic segmentation needs num_labels > 1 (one score per class, background included).")
        out = self.mobilenet_v2(pixel_values, output_hidden_states=True, return_dict=True)
        logits = self.segmentation_head(out.hidden_states[-1])
        loss = None
        if labels is not None:
            upsampled = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
            loss = F.cross_entropy(upsampled, labels, ignore_index=self.config.semantic_loss_ignore_index)
        hidden = out.hidden_states if output_hidden_states else None
        return self._finish(SemanticSegmenterOutput(loss, logits, hidden), return_dict)
