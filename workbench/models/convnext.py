"""ConvNeXt (https://arxiv.org/abs/2201.03545): a ResNet modernised towards a vision transformer.

    pixel_values (B, 3, H, W) ─► patch_embeddings (conv, kernel = stride = patch_size) ─► LayerNorm over C
        ─► stages: [ (LayerNorm ─► 2x2 conv stride 2: downsampling, from the second stage) ─► N × layer ]
        ─► last_hidden_state (B, C, H/32, W/32) ─► mean over H, W ─► layernorm ─► pooler_output ─► classifier

    layer: x + drop_path(gamma * pwconv2(GELU(pwconv1(LayerNorm(dwconv7x7(x))))))

The pointwise convs are Linear layers on (B, H, W, C) (the paper's faster form), ``gamma`` is the layer
scale (``layer_scale_parameter``, none when ``layer_scale_init_value`` is 0), drop path (stochastic
depth, rate growing linearly to ``drop_path_rate``) acts in training only. ``ConvNextBackbone`` returns
the maps of ``config.out_features``, each through its own LayerNorm. Module names equal the checkpoint
keys (``convnext.encoder.stages.1.layers.0.pwconv1.weight``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.conv_norm import ChannelsFirstLayerNorm, DropPath, init_conv_and_batch_norm
from ..nn.losses import sequence_classification_loss
from ..outputs import BackboneOutput, BaseModelOutputWithPoolingAndNoAttention, ImageClassifierOutputWithNoAttention
from .backbones import realign_stage_outputs, set_stage_outputs

BLOCK_NORM_EPS = 1e-6  # every LayerNorm but the final one (which reads config.layer_norm_eps)


class ConvNextConfig(PretrainedConfig):
    """ConvNeXt's config: ``hidden_sizes`` and ``depths`` per stage; ``out_features`` / ``out_indices``
    pick the backbone's outputs among ``stage_names`` ("stem", "stage1", ...)."""

    model_type = "convnext"
    attribute_map = {"num_hidden_layers": "num_stages"}
    defaults = {
        "num_channels": 3, "patch_size": 4, "num_stages": 4, "hidden_sizes": [96, 192, 384, 768], "depths": [3, 3, 9, 3],
        "hidden_act": "gelu", "initializer_range": 0.02, "layer_norm_eps": 1e-12, "layer_scale_init_value": 1e-6,
        "drop_path_rate": 0.0, "image_size": 224, "out_features": None, "out_indices": None,
    }

    def __post_init__(self) -> None:
        set_stage_outputs(self, len(self.depths))

    def update(self, values: dict) -> None:
        super().update(values)
        realign_stage_outputs(self, values)


class ConvNextEmbeddings(nn.Module):
    """Non-overlapping patches, each a vector of hidden_sizes[0] channels: (B, C0, H/p, W/p)."""

    def __init__(self, config: ConvNextConfig) -> None:
        super().__init__()
        self.patch_embeddings = nn.Conv2d(config.num_channels, config.hidden_sizes[0], kernel_size=config.patch_size,
                                          stride=config.patch_size)
        self.layernorm = ChannelsFirstLayerNorm(config.hidden_sizes[0], eps=BLOCK_NORM_EPS)
        self.num_channels = config.num_channels

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.shape[1] != self.num_channels:
            raise ValueError(f"pixel_values have {pixel_values.shape[1]} channels, the config says num_channels="
                             f"{self.num_channels}: pass (B, {self.num_channels}, H, W) images (RGB by default).")
        return self.layernorm(self.patch_embeddings(pixel_values))


class ConvNextLayer(nn.Module):
    """One block: 7x7 depthwise conv, then an inverted-bottleneck MLP (4x wider) on each pixel."""

    def __init__(self, config: ConvNextConfig, dim: int, drop_path: float = 0.0) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.layernorm = nn.LayerNorm(dim, eps=BLOCK_NORM_EPS)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = get_activation(config.hidden_act)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        scale = config.layer_scale_init_value
        self.layer_scale_parameter = nn.Parameter(torch.full((dim,), float(scale))) if scale > 0 else None
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        branch = self.dwconv(features).permute(0, 2, 3, 1)  # (B, C, H, W) -> (B, H, W, C)
        branch = self.pwconv2(self.act(self.pwconv1(self.layernorm(branch))))
        if self.layer_scale_parameter is not None:
            branch = self.layer_scale_parameter * branch
        return features + self.drop_path(branch.permute(0, 3, 1, 2))


class ConvNextStage(nn.Module):
    """``downsampling_layer`` (channels-first LayerNorm, then a strided conv; empty when the stage keeps
    the size and width) followed by one layer per drop-path rate."""

    def __init__(self, config: ConvNextConfig, in_channels: int, out_channels: int, stride: int,
                 drop_path_rates: list[float]) -> None:
        super().__init__()
        self.downsampling_layer = nn.ModuleList()
        if in_channels != out_channels or stride > 1:
            self.downsampling_layer.extend([
                ChannelsFirstLayerNorm(in_channels, eps=BLOCK_NORM_EPS),
                nn.Conv2d(in_channels, out_channels, kernel_size=stride, stride=stride)])
        self.layers = nn.ModuleList(ConvNextLayer(config, out_channels, rate) for rate in drop_path_rates)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        for module in (*self.downsampling_layer, *self.layers):
            features = module(features)
        return features


class ConvNextEncoder(nn.Module):
    """The stages; the first keeps the patches' resolution, each later one halves it."""

    def __init__(self, config: ConvNextConfig) -> None:
        super().__init__()
        # stochastic depth grows linearly over all layers of all stages
        # (on the CPU: models are built on the meta device, whose tensors hold no values)
        rates = torch.linspace(0, config.drop_path_rate, sum(config.depths), device="cpu").split(list(config.depths))
        widths = [config.hidden_sizes[0], *config.hidden_sizes]
        self.stages = nn.ModuleList(
            ConvNextStage(config, widths[i], widths[i + 1], stride=2 if i > 0 else 1,
                          drop_path_rates=rates[i].tolist())
            for i in range(config.num_stages))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The last stage's map, and every map: the embeddings', then each stage's."""
        states = [features]
        for stage in self.stages:
            features = stage(features)
            states.append(features)
        return features, tuple(states)


class ConvNextPreTrainedModel(PreTrainedModel):
    config_class = ConvNextConfig
    base_model_prefix = "convnext"
    main_input_name = "pixel_values"

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, ConvNextLayer) and module.layer_scale_parameter is not None:
            nn.init.constant_(module.layer_scale_parameter, self.config.layer_scale_init_value)
        elif not init_conv_and_batch_norm(module, self.config.initializer_range):
            super()._init_weights(module)

    def _hidden_flag(self, output_hidden_states: bool | None) -> bool:
        return self.config.output_hidden_states if output_hidden_states is None else output_hidden_states


class ConvNextModel(ConvNextPreTrainedModel):
    """Embeddings and stages; ``pooler_output`` is the layer-normed mean of the last map, (B, C)."""

    def __init__(self, config: ConvNextConfig) -> None:
        super().__init__(config)
        self.embeddings = ConvNextEmbeddings(config)
        self.encoder = ConvNextEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_sizes[-1], eps=config.layer_norm_eps)

    def forward(self, pixel_values: torch.Tensor | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **kwargs) -> BaseModelOutputWithPoolingAndNoAttention:
        if pixel_values is None:
            raise ValueError("ConvNextModel needs pixel_values (B, C, H, W): pass pixel_values=...")
        last, states = self.encoder(self.embeddings(pixel_values))
        pooled = self.layernorm(last.mean([-2, -1]))  # global average pool: (B, C, H, W) -> (B, C)
        hidden = states if self._hidden_flag(output_hidden_states) else None
        return self._finish(BaseModelOutputWithPoolingAndNoAttention(last, pooled, hidden), return_dict)


class ConvNextForImageClassification(ConvNextPreTrainedModel):
    """A linear ``classifier`` on the pooled features: (B, num_labels)."""

    def __init__(self, config: ConvNextConfig) -> None:
        super().__init__(config)
        self.convnext = ConvNextModel(config)
        width = config.hidden_sizes[-1]
        self.classifier = nn.Linear(width, config.num_labels) if config.num_labels > 0 else nn.Identity()

    def forward(self, pixel_values: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None,
                **kwargs) -> ImageClassifierOutputWithNoAttention:
        out = self.convnext(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(out.pooler_output)
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return self._finish(ImageClassifierOutputWithNoAttention(loss, logits, out.hidden_states), return_dict)


class ConvNextBackbone(ConvNextPreTrainedModel):
    """Feature maps for detection and segmentation heads: the maps of ``config.out_features`` (of
    "stem", "stage1", ...), each through its own channels-first LayerNorm (``hidden_states_norms``)."""

    def __init__(self, config: ConvNextConfig) -> None:
        super().__init__(config)
        self.embeddings = ConvNextEmbeddings(config)
        self.encoder = ConvNextEncoder(config)
        self.num_features = [config.hidden_sizes[0], *config.hidden_sizes]  # channels of each stage's map
        self.hidden_states_norms = nn.ModuleDict({
            stage: ChannelsFirstLayerNorm(self.num_features[config.stage_names.index(stage)], eps=BLOCK_NORM_EPS)
            for stage in config.out_features})

    @property
    def out_features(self) -> list[str]:
        return list(self.config.out_features)

    @property
    def channels(self) -> list[int]:
        """Channels of each returned feature map."""
        return [self.num_features[self.config.stage_names.index(stage)] for stage in self.out_features]

    def forward(self, pixel_values: torch.Tensor, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **kwargs) -> BackboneOutput:
        _, states = self.encoder(self.embeddings(pixel_values))
        maps = tuple(self.hidden_states_norms[stage](state)
                     for stage, state in zip(self.config.stage_names, states) if stage in self.hidden_states_norms)
        hidden = states if self._hidden_flag(output_hidden_states) else None
        return self._finish(BackboneOutput(feature_maps=maps, hidden_states=hidden), return_dict)
