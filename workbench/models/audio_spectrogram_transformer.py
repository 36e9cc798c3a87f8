"""Audio Spectrogram Transformer (AST, https://arxiv.org/abs/2104.01778): DeiT (``deit.py``) over a
log-mel spectrogram cut into overlapping patches.

    input_values (B, T, F) = (frames, mel bins) ─► (B, 1, F, T), a one-channel image
        ─► patches: conv(kernel = patch_size, stride = (frequency_stride, time_stride)) ─► (B, N, D),
           N = ((F - p) // frequency_stride + 1) · ((T - p) // time_stride + 1)          (nn/patches.py)
        ─► [CLS, DIST, patches] + positions ─► ViT's encoder ─► LayerNorm ─► (B, 2 + N, D)
        ─► pooler_output = (h[:, 0] + h[:, 1]) / 2                                       (no weights)
        ─► classifier: LayerNorm ─► Linear ─► logits (B, num_labels)

The spectrogram's size is fixed by the config (``max_length`` frames, ``num_mel_bins`` bins): the
feature extractor (``ASTFeatureExtractor``) pads or cuts every clip to it. Module names equal the
checkpoint keys (``audio_spectrogram_transformer.encoder.layer.0.attention.attention.query``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import PretrainedConfig
from ..nn.attention import padding_mask
from ..nn.layers import output_flags
from ..nn.patches import PatchTokenEmbeddings
from ..outputs import BaseModelOutputWithPooling, SequenceClassifierOutput
from .vit import ViTEncoder, ViTPreTrainedModel, classification_loss


class ASTConfig(PretrainedConfig):
    model_type = "audio-spectrogram-transformer"
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
        "patch_size": 16,
        "qkv_bias": True,
        "frequency_stride": 10,  # patches overlap by patch_size - stride along each axis
        "time_stride": 10,
        "max_length": 1024,  # frames (10 ms apart): the spectrogram's time extent
        "num_mel_bins": 128,
    }


class ASTEmbeddings(PatchTokenEmbeddings):
    """(B, T, F) spectrograms -> (B, 2 + N, D) tokens: the CLS and distillation tokens, then the patches
    (frequency-major: all time steps of the lowest band of patches first), plus the position table."""

    def __init__(self, config: ASTConfig) -> None:
        super().__init__((config.num_mel_bins, config.max_length), config.patch_size, 1, config.hidden_size,
                         dropout=config.hidden_dropout_prob, prefix=("cls_token", "distillation_token"),
                         stride=(config.frequency_stride, config.time_stride))

    def positions(self, height: int, width: int, interpolate: bool) -> torch.Tensor:
        bins, frames = self.patch_embeddings.image_size
        if (height, width) != (bins, frames):
            raise ValueError(f"input_values are {width} frames x {height} mel bins, the model takes {frames} x {bins} "
                             "(config.max_length x config.num_mel_bins): extract them with the model's "
                             "ASTFeatureExtractor, which pads or cuts every clip to max_length frames.")
        return self.position_embeddings

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        if input_values.dim() != 3:
            raise ValueError(f"input_values must be (batch, frames, mel bins), got shape {tuple(input_values.shape)}.")
        return super().forward(input_values.unsqueeze(1).transpose(2, 3))  # (B, 1, F, T): frequency as height


class ASTPreTrainedModel(ViTPreTrainedModel):
    config_class = ASTConfig
    base_model_prefix = "audio_spectrogram_transformer"
    main_input_name = "input_values"
    zero_embeddings_init = True  # the CLS and distillation tokens and the positions start at zero


class ASTModel(ASTPreTrainedModel):
    """embeddings ─► encoder ─► layernorm; ``pooler_output`` is the mean of the two prefix tokens."""

    def __init__(self, config: ASTConfig) -> None:
        super().__init__(config)
        self.embeddings = ASTEmbeddings(config)
        self.encoder = ViTEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings.patch_embeddings

    def forward(self, input_values=None, attention_mask=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        """(B, max_length, num_mel_bins) spectrograms -> ``last_hidden_state`` (B, 2 + N, D) and
        ``pooler_output`` (B, D)."""
        if input_values is None:
            raise ValueError("input_values are required: pass the ASTFeatureExtractor's output.")
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions,
                                                                      output_hidden_states)
        hidden = self.embeddings(input_values)
        stack = self.encoder(hidden, padding_mask(attention_mask, hidden.dtype), eager, output_hidden_states,
                             output_attentions)
        sequence = self.layernorm(stack.last_hidden_state)
        return self._finish(BaseModelOutputWithPooling(
            last_hidden_state=sequence, pooler_output=(sequence[:, 0] + sequence[:, 1]) / 2,
            hidden_states=stack.hidden_states, attentions=stack.attentions), return_dict)


class ASTMLPHead(nn.Module):
    def __init__(self, config: ASTConfig) -> None:
        super().__init__()
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dense = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.dense(self.layernorm(pooled))


class ASTForAudioClassification(ASTPreTrainedModel):
    """A LayerNorm and a linear layer on the pooled prefix tokens: ``logits`` (B, num_labels); ``labels``
    (B,) give the loss the config's ``problem_type`` implies (as sequence classification's)."""

    def __init__(self, config: ASTConfig) -> None:
        super().__init__(config)
        self.audio_spectrogram_transformer = ASTModel(config)
        self.classifier = ASTMLPHead(config)

    def forward(self, input_values=None, labels=None, attention_mask=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        out = self.audio_spectrogram_transformer(input_values, attention_mask=attention_mask,
                                                 output_attentions=output_attentions,
                                                 output_hidden_states=output_hidden_states)
        logits = self.classifier(out.pooler_output)
        return self._finish(SequenceClassifierOutput(
            loss=classification_loss(logits, labels, self.config), logits=logits,
            hidden_states=out.hidden_states, attentions=out.attentions), return_dict)
