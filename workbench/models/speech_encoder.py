"""The wav2vec 2.0 speech encoder (https://arxiv.org/abs/2006.11477), shared by Wav2Vec2, HuBERT and WavLM.

    input_values (B, samples) ─► conv feature encoder ─► (B, frames, conv_dim[-1]) ─► [LayerNorm] ─► projection
        ─► SpecAugment (training) ─► padded frames zeroed ─► + positional conv
        ─► post-norm:  LayerNorm ─► N × [ attention ─► add & LayerNorm ─► feed-forward ─► add & LayerNorm ]
           pre-norm (do_stable_layer_norm): N × [ LayerNorm ─► attention ─► add ─► LayerNorm ─► feed-forward ─► add ]
                                             ─► LayerNorm
        ─► (adapter: strided convs) ─► last_hidden_state (B, frames', C)

The attention mask of the samples becomes one of the frames through the convs' lengths
(:func:`workbench.nn.speech_conv.conv_output_lengths`). What the families fix differently is read
from their config classes in one place each: ``returns_extract_features`` (HuBERT: no),
``spec_augment_reads_padding`` (HuBERT's SpecAugment ignores the padding), ``gated_relative_position``
(WavLM's attention, whose first layer is never dropped), ``feat_proj_layer_norm`` and
``conv_pos_batch_norm`` (HuBERT's keys). Module names equal the checkpoint keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.attention import MultiHeadAttention, padding_mask
from ..nn.gated_relative_position import GatedRelativePositionAttention
from ..nn.layers import StackOutput, output_flags
from ..nn.spec_augment import spec_augment
from ..nn.speech_conv import (ConvFeatureEncoder, FeatureProjection, PositionalConvEmbedding, conv_output_lengths,
                              frame_mask)
from ..nn.xvector import AMSoftmaxLoss
from ..outputs import BaseModelOutput, ModelOutput, Tensor, Tensors


@dataclass
class Wav2Vec2BaseModelOutput(ModelOutput):
    """The encoder's states, and ``extract_features`` (B, frames, conv_dim[-1]): the normed conv features."""

    last_hidden_state: Tensor = None
    extract_features: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class CausalLMOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class XVectorOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None
    embeddings: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


# wav2vec2-base's config (facebook/wav2vec2-base-960h)
SPEECH_ENCODER_DEFAULTS = {
    "vocab_size": 32, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
    "hidden_act": "gelu", "hidden_dropout": 0.1, "activation_dropout": 0.1, "attention_dropout": 0.1,
    "feat_proj_dropout": 0.0, "final_dropout": 0.1, "layerdrop": 0.1, "initializer_range": 0.02, "layer_norm_eps": 1e-5,
    "feat_extract_norm": "group", "feat_extract_activation": "gelu", "conv_dim": [512] * 7,
    "conv_stride": [5, 2, 2, 2, 2, 2, 2], "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_bias": False,
    "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16, "do_stable_layer_norm": False,
    "apply_spec_augment": True, "mask_time_prob": 0.05, "mask_time_length": 10, "mask_time_min_masks": 2,
    "mask_feature_prob": 0.0, "mask_feature_length": 10, "mask_feature_min_masks": 0, "ctc_loss_reduction": "sum",
    "ctc_zero_infinity": False, "use_weighted_layer_sum": False, "classifier_proj_size": 256,
    "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": False,
}


class SpeechEncoderConfig(PretrainedConfig):
    """Base of the families' configs; the class attributes are the facts a family fixes."""

    returns_extract_features = True
    spec_augment_reads_padding = True
    gated_relative_position = False
    feat_proj_layer_norm = True
    conv_pos_batch_norm = False
    add_adapter = False
    adapter_attn_dim = None

    def __post_init__(self) -> None:
        self.num_feat_extract_layers = len(self.conv_dim)
        if "output_hidden_size" in self.defaults:
            self.output_hidden_size = self.output_hidden_size or self.hidden_size

    @property
    def inputs_to_logits_ratio(self) -> int:
        """Samples per output frame (320 for wav2vec2-base: 20 ms at 16 kHz)."""
        ratio = 1
        for stride in self.conv_stride:
            ratio *= stride
        return ratio


class FeedForward(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.intermediate_dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = get_activation(config.hidden_act)
        self.intermediate_dropout = nn.Dropout(config.activation_dropout)
        self.output_dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.output_dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.intermediate_dropout(self.intermediate_act_fn(self.intermediate_dense(hidden)))
        return self.output_dropout(self.output_dense(hidden))


class AttnAdapterLayer(nn.Module):
    """MMS's per-language adapter after each pre-norm layer: LayerNorm ─► down ─► ReLU ─► up (added)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(config.hidden_size)
        self.linear_1 = nn.Linear(config.hidden_size, config.adapter_attn_dim)
        self.linear_2 = nn.Linear(config.adapter_attn_dim, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear_2(torch.relu(self.linear_1(self.norm(hidden))))


class EncoderLayer(nn.Module):
    """One transformer layer, post-norm or pre-norm (``config.do_stable_layer_norm``)."""

    def __init__(self, config: PretrainedConfig, index: int) -> None:
        super().__init__()
        if config.gated_relative_position:
            self.attention = GatedRelativePositionAttention(
                config.hidden_size, config.num_attention_heads, config.num_buckets, config.max_bucket_distance,
                has_table=index == 0, dropout=config.attention_dropout)
        else:
            self.attention = MultiHeadAttention(config.hidden_size, config.num_attention_heads, index,
                                                dropout=config.attention_dropout)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = FeedForward(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pre_norm = config.do_stable_layer_norm
        if self.pre_norm and config.adapter_attn_dim is not None:
            self.adapter_layer = AttnAdapterLayer(config)
        else:
            self.adapter_layer = None

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None, eager: bool, **attention_inputs):
        """(B, T, C) -> (B, T, C), attention weights (B, H, T, T) when ``eager``."""
        residual = hidden
        if self.pre_norm:
            hidden = self.layer_norm(hidden)
        hidden, weights = self.attention(hidden, mask, eager=eager, **attention_inputs)
        hidden = residual + self.dropout(hidden)
        if not self.pre_norm:
            hidden = self.layer_norm(hidden)
            return self.final_layer_norm(hidden + self.feed_forward(hidden)), weights
        hidden = hidden + self.feed_forward(self.final_layer_norm(hidden))
        if self.adapter_layer is not None:
            hidden = hidden + self.adapter_layer(hidden)
        return hidden, weights


class SpeechEncoder(nn.Module):
    """Projected frames (B, T, C) and their (B, T) bool mask -> the transformer stack's states.

    ``hidden_states`` are the input of layer 0 and each layer's output (the pre-norm stack's last
    one before its final LayerNorm, which only ``last_hidden_state`` passes), as the reference reports them.
    """

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.config = config
        self.pos_conv_embed = PositionalConvEmbedding(config.hidden_size, config.num_conv_pos_embeddings,
                                                      config.num_conv_pos_embedding_groups,
                                                      config.feat_extract_activation, config.conv_pos_batch_norm)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(EncoderLayer(config, i) for i in range(config.num_hidden_layers))

    def _dropped(self, index: int) -> bool:
        """LayerDrop (https://arxiv.org/abs/1909.11556) while training; WavLM's first layer, which
        holds the relative position table, always runs."""
        if not self.training or self.config.layerdrop <= 0 or (index == 0 and self.config.gated_relative_position):
            return False
        return bool(torch.rand([]) < self.config.layerdrop)

    def forward(self, hidden: torch.Tensor, frames: torch.Tensor | None, *, eager: bool = False,
                output_attentions: bool = False, output_hidden_states: bool = False) -> StackOutput:
        if frames is not None:  # padded frames enter the positional conv as zeros
            hidden = hidden.masked_fill(~frames[..., None], 0.0)
        mask = padding_mask(frames, hidden.dtype)
        hidden = hidden + self.pos_conv_embed(hidden)
        pre_norm = self.config.do_stable_layer_norm
        if not pre_norm:
            hidden = self.layer_norm(hidden)
        hidden = self.dropout(hidden)
        inputs = {}
        if self.config.gated_relative_position:  # one bias table (layer 0's), gated by every layer
            inputs["position_bias"] = self.layers[0].attention.relative_bias(hidden.shape[1])
        all_hidden = (hidden,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for index, layer in enumerate(self.layers):
            if self._dropped(index):
                continue
            hidden, weights = layer(hidden, mask, eager, **inputs)
            if output_hidden_states:
                all_hidden += (hidden,)
            if output_attentions:
                all_attentions += (weights,)
        last = self.layer_norm(hidden) if pre_norm else hidden
        return StackOutput(last, all_hidden, all_attentions)


class Adapter(nn.Module):
    """Strided GLU convs after the encoder (wav2vec2 feeding a text decoder), optionally projected
    first to ``output_hidden_size``: (B, T, C) -> (B, T / adapter_stride ** layers, output_hidden_size)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        width = config.output_hidden_size
        if width != config.hidden_size:
            self.proj = nn.Linear(config.hidden_size, width)
            self.proj_layer_norm = nn.LayerNorm(width)
        else:
            self.proj = self.proj_layer_norm = None
        self.layers = nn.ModuleList(AdapterLayer(config) for _ in range(config.num_adapter_layers))
        self.layerdrop = config.layerdrop

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.proj is not None:
            hidden = self.proj_layer_norm(self.proj(hidden))
        hidden = hidden.transpose(1, 2)
        for layer in self.layers:
            if not self.training or float(torch.rand([])) > self.layerdrop:
                hidden = layer(hidden)
        return hidden.transpose(1, 2)


class AdapterLayer(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        width = config.output_hidden_size
        self.conv = nn.Conv1d(width, 2 * width, config.adapter_kernel_size, stride=config.adapter_stride, padding=1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return nn.functional.glu(self.conv(hidden), dim=1)


class SpeechPreTrainedModel(PreTrainedModel):
    """Base of the families' models: frame lengths and the families' shared init."""

    main_input_name = "input_values"
    # checkpoints from before torch's parametrizations name the weight-norm factors weight_g and weight_v
    _checkpoint_renames = ((r"\.weight_g$", ".parametrizations.weight.original0"),
                           (r"\.weight_v$", ".parametrizations.weight.original1"))

    def build_base_model(self, config: PretrainedConfig) -> nn.Module:
        raise NotImplementedError

    @property
    def speech_model(self) -> nn.Module:
        return getattr(self, self.base_model_prefix)

    def _get_feat_extract_output_lengths(self, input_lengths, add_adapter: bool | None = None):
        """Samples -> frames through the feature encoder (and the adapter's strided convs)."""
        config = self.config
        lengths = conv_output_lengths(input_lengths, config.conv_kernel, config.conv_stride)
        if config.add_adapter if add_adapter is None else add_adapter:
            lengths = conv_output_lengths(lengths, [1] * config.num_adapter_layers,
                                          [config.adapter_stride] * config.num_adapter_layers)
        return lengths

    def frame_mask(self, attention_mask: torch.Tensor, frames: int, add_adapter: bool | None = None) -> torch.Tensor:
        """The (B, samples) attention mask -> (B, frames) bool mask of the frames they give."""
        return frame_mask(self._get_feat_extract_output_lengths(attention_mask.sum(-1), add_adapter), frames)

    def freeze_feature_encoder(self) -> None:
        """Stop training the conv feature encoder (fine-tuning on little data usually does)."""
        self.speech_model.feature_extractor.requires_grad_(False)

    def freeze_base_model(self) -> None:
        """Train the head only."""
        self.speech_model.requires_grad_(False)

    def _init_weights(self, module: nn.Module) -> None:
        """wav2vec 2.0's init: Linear N(0, initializer_range); the feature projection U(±1/sqrt(in));
        convs Kaiming-normal with U(±sqrt(groups / fan_in)) biases; the positional conv its own."""
        if isinstance(module, FeatureProjection):
            bound = module.projection.in_features ** -0.5
            nn.init.uniform_(module.projection.weight, -bound, bound)
            nn.init.uniform_(module.projection.bias, -bound, bound)
        elif isinstance(module, PositionalConvEmbedding):
            module.reset_parameters()
        elif isinstance(module, nn.Conv1d):
            nn.init.kaiming_normal_(module.weight)
            if module.bias is not None:
                bound = (module.groups / (module.in_channels * module.kernel_size[0])) ** 0.5
                nn.init.uniform_(module.bias, -bound, bound)
        else:
            self._init_common(module)

    def _init_common(self, module: nn.Module) -> None:
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_parameters()
        elif isinstance(module, SpeechEncoderModel) and getattr(module, "masked_spec_embed", None) is not None:
            nn.init.uniform_(module.masked_spec_embed)
        elif isinstance(module, GatedRelativePositionAttention):
            nn.init.ones_(module.gru_rel_pos_const)
        elif isinstance(module, AMSoftmaxLoss):
            nn.init.normal_(module.weight)
        elif getattr(module, "layer_weights", None) is not None:
            nn.init.constant_(module.layer_weights, 1 / module.layer_weights.numel())
        else:
            super()._init_weights(module)


class SpeechEncoderModel(SpeechPreTrainedModel):
    """The bare encoder: ``last_hidden_state`` (B, frames, hidden) from ``input_values`` (B, samples)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.feature_extractor = ConvFeatureEncoder(config)
        self.feature_projection = FeatureProjection(config.conv_dim[-1], config.hidden_size, config.layer_norm_eps,
                                                    config.feat_proj_dropout, config.feat_proj_layer_norm)
        if config.mask_time_prob > 0 or config.mask_feature_prob > 0:
            self.masked_spec_embed = nn.Parameter(torch.empty(config.hidden_size).uniform_())
        self.encoder = SpeechEncoder(config)
        if config.add_adapter:
            self.adapter = Adapter(config)

    @property
    def speech_model(self) -> nn.Module:
        return self

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None,
                mask_time_indices: torch.Tensor | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None, **kwargs):
        """``attention_mask`` (B, samples): 1 on real samples, 0 on padding. ``mask_time_indices``
        (B, frames) bool: frames to replace by ``masked_spec_embed`` (pre-training's choice)."""
        config = self.config
        output_attentions, output_hidden_states, eager = output_flags(config, output_attentions, output_hidden_states)
        features = self.feature_extractor(input_values).transpose(1, 2)  # (B, frames, conv_dim[-1])
        frames = lengths = None
        if attention_mask is not None:
            lengths = self._get_feat_extract_output_lengths(attention_mask.sum(-1), add_adapter=False)
            frames = frame_mask(lengths, features.shape[1])
        hidden, normed = self.feature_projection(features)
        hidden = spec_augment(hidden, config, getattr(self, "masked_spec_embed", None), training=self.training,
                              mask_time_indices=mask_time_indices,
                              lengths=lengths if config.spec_augment_reads_padding else None)
        stack = self.encoder(hidden, frames, eager=eager, output_attentions=output_attentions,
                             output_hidden_states=output_hidden_states)
        last = stack.last_hidden_state
        if config.add_adapter:
            last = self.adapter(last)
        if config.returns_extract_features:
            out = Wav2Vec2BaseModelOutput(last, normed, stack.hidden_states, stack.attentions)
        else:
            out = BaseModelOutput(last, stack.hidden_states, stack.attentions)
        return self._finish(out, return_dict)
