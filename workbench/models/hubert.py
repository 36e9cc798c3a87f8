"""HuBERT (https://arxiv.org/abs/2106.07447): wav2vec 2.0's encoder trained to predict clustered targets
of masked frames; fine-tuned with CTC (facebook/hubert-large-ls960-ft) or for audio classification.

The encoder and heads are :mod:`workbench.models.speech_encoder`'s and :mod:`~workbench.models.speech_heads`'s
(checkpoint keys under ``hubert.``). What HuBERT fixes differently: the feature projection's
LayerNorm is optional (``feat_proj_layer_norm``), the positional conv may take a batch norm instead of
weight norm (``conv_pos_batch_norm``), the base model returns no ``extract_features``, SpecAugment
ignores the padding, there are no adapters, and convs and the projection start with zero biases.
"""

from __future__ import annotations

import math

from torch import nn

from ..nn.speech_conv import FeatureProjection, PositionalConvEmbedding, WeightNormConv1d
from .speech_encoder import SPEECH_ENCODER_DEFAULTS, SpeechEncoderConfig, SpeechEncoderModel, SpeechPreTrainedModel
from .speech_heads import CTCHead, SequenceClassificationHead


class HubertConfig(SpeechEncoderConfig):
    model_type = "hubert"
    returns_extract_features = False
    spec_augment_reads_padding = False
    defaults = {**SPEECH_ENCODER_DEFAULTS, "feat_proj_layer_norm": True, "conv_pos_batch_norm": False}


class HubertPreTrainedModel(SpeechPreTrainedModel):
    config_class = HubertConfig
    base_model_prefix = "hubert"

    def build_base_model(self, config: HubertConfig) -> "HubertModel":
        return HubertModel(config)

    def _init_weights(self, module: nn.Module) -> None:
        """HuBERT's init: convs Kaiming-normal with zero biases (the positional conv too); Linear layers
        (the feature projection's included) N(0, initializer_range) with zero biases."""
        if isinstance(module, PositionalConvEmbedding) and isinstance(module.conv, WeightNormConv1d):
            fan_in = module.channels // module.conv.groups * module.kernel
            module.conv.parametrizations["weight"].reset_from_direction(math.sqrt(2 / fan_in))
            nn.init.zeros_(module.conv.bias)
        elif isinstance(module, nn.Conv1d):
            nn.init.kaiming_normal_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif not isinstance(module, (FeatureProjection, PositionalConvEmbedding)):
            self._init_common(module)


class HubertModel(SpeechEncoderModel, HubertPreTrainedModel):
    """``last_hidden_state`` (B, frames, hidden) from 16 kHz ``input_values`` (B, samples)."""


class HubertForCTC(CTCHead, HubertPreTrainedModel):
    """Speech recognition: per-frame character logits (B, frames, vocab_size)."""


class HubertForSequenceClassification(SequenceClassificationHead, HubertPreTrainedModel):
    """Audio classification (keyword spotting, emotion): (B, num_labels)."""
