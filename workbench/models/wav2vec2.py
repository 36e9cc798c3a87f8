"""wav2vec 2.0 (https://arxiv.org/abs/2006.11477): self-supervised speech representations, fine-tuned
with CTC for speech recognition (facebook/wav2vec2-base-960h) or with the audio classification heads.

The encoder and heads are :mod:`workbench.models.speech_encoder`'s and :mod:`~workbench.models.speech_heads`'s;
this file names them for wav2vec2 (checkpoint keys under ``wav2vec2.``). ``do_stable_layer_norm``
selects the pre-norm stack of the large checkpoints (wav2vec2-large-lv60, XLS-R, MMS), with its
``feat_extract_norm="layer"`` front end; ``add_adapter`` appends strided convs, ``adapter_attn_dim``
MMS's per-language adapters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..nn.gumbel_quantizer import GumbelVectorQuantizer
from ..outputs import ModelOutput, Tensor, Tensors
from .speech_encoder import SPEECH_ENCODER_DEFAULTS, SpeechEncoderConfig, SpeechEncoderModel, SpeechPreTrainedModel
from .speech_heads import AudioFrameClassificationHead, CTCHead, SequenceClassificationHead, SpeechHead, XVectorHead


class Wav2Vec2Config(SpeechEncoderConfig):
    model_type = "wav2vec2"
    defaults = {
        **SPEECH_ENCODER_DEFAULTS, "feat_quantizer_dropout": 0.0, "num_codevectors_per_group": 320,
        "num_codevector_groups": 2, "contrastive_logits_temperature": 0.1, "num_negatives": 100,
        "codevector_dim": 256, "proj_codevector_dim": 256, "diversity_loss_weight": 0.1,
        "tdnn_dim": [512, 512, 512, 512, 1500], "tdnn_kernel": [5, 3, 3, 1, 1], "tdnn_dilation": [1, 2, 3, 1, 1],
        "xvector_output_dim": 512, "add_adapter": False, "adapter_kernel_size": 3, "adapter_stride": 2,
        "num_adapter_layers": 3, "output_hidden_size": None, "adapter_attn_dim": None,
    }


class Wav2Vec2PreTrainedModel(SpeechPreTrainedModel):
    config_class = Wav2Vec2Config
    base_model_prefix = "wav2vec2"

    def build_base_model(self, config: Wav2Vec2Config) -> "Wav2Vec2Model":
        return Wav2Vec2Model(config)

    def _init_weights(self, module: nn.Module) -> None:
        """Besides the shared init: the quantizer's logits N(0, 1) with zero bias and its codebook U(0, 1);
        the pre-training projections torch's own Linear init."""
        if isinstance(module, GumbelVectorQuantizer):
            nn.init.normal_(module.weight_proj.weight, std=1.0)
            nn.init.zeros_(module.weight_proj.bias)
            nn.init.uniform_(module.codevectors)
        elif isinstance(module, Wav2Vec2ForPreTraining):
            module.project_hid.reset_parameters()
            module.project_q.reset_parameters()
        else:
            super()._init_weights(module)


class Wav2Vec2Model(SpeechEncoderModel, Wav2Vec2PreTrainedModel):
    """``last_hidden_state`` (B, frames, hidden) and ``extract_features`` (B, frames, conv_dim[-1])
    from 16 kHz ``input_values`` (B, samples) as Wav2Vec2FeatureExtractor normalises them.

    >>> model = Wav2Vec2Model.from_pretrained("facebook/wav2vec2-base-960h")   # doctest: +SKIP
    >>> model(torch.randn(1, 16000)).last_hidden_state.shape                    # doctest: +SKIP
    torch.Size([1, 49, 768])
    """


class Wav2Vec2ForCTC(CTCHead, Wav2Vec2PreTrainedModel):
    """Speech recognition: per-frame character logits; greedy decoding is the argmax per frame with
    repeats and blanks (``pad_token_id``) removed (Wav2Vec2CTCTokenizer.decode)."""


class Wav2Vec2ForSequenceClassification(SequenceClassificationHead, Wav2Vec2PreTrainedModel):
    """Audio classification (keyword spotting, emotion): (B, num_labels)."""


class Wav2Vec2ForAudioFrameClassification(AudioFrameClassificationHead, Wav2Vec2PreTrainedModel):
    """A label per frame (speaker diarization): (B, frames, num_labels)."""


class Wav2Vec2ForXVector(XVectorHead, Wav2Vec2PreTrainedModel):
    """Speaker verification: x-vector ``embeddings`` (B, xvector_output_dim) and logits."""


@dataclass
class Wav2Vec2ForPreTrainingOutput(ModelOutput):
    loss: Tensor = None
    projected_states: Tensor = None
    projected_quantized_states: Tensor = None
    codevector_perplexity: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None
    contrastive_loss: Tensor = None
    diversity_loss: Tensor = None


class Wav2Vec2ForPreTraining(SpeechHead, Wav2Vec2PreTrainedModel):
    """Self-supervised pre-training: the context states of masked frames (``mask_time_indices``) must pick
    their frame's quantized target among ``sampled_negative_indices`` (B, T, K) distractors.

        encoder states ─► project_hid ─► projected_states (B, T, P)
        extract_features ─► quantizer ─► project_q ─► projected_quantized_states (B, T, P)
        loss = contrastive (cosine / temperature, cross-entropy summed over masked frames)
               + diversity_loss_weight × (1 - perplexity / codebook size) × masked frames

    :func:`workbench.nn.spec_augment.mask_spans` picks the masked frames and
    :func:`~workbench.nn.spec_augment.sample_negative_indices` their distractors.
    """

    def __init__(self, config: Wav2Vec2Config) -> None:
        super().__init__(config)
        self.dropout_features = nn.Dropout(config.feat_quantizer_dropout)
        self.quantizer = GumbelVectorQuantizer(config.conv_dim[-1], config.num_codevector_groups,
                                               config.num_codevectors_per_group, config.codevector_dim)
        self.project_hid = nn.Linear(config.hidden_size, config.proj_codevector_dim)
        self.project_q = nn.Linear(config.codevector_dim, config.proj_codevector_dim)

    def set_gumbel_temperature(self, temperature: float) -> None:
        """The Gumbel-softmax temperature of the quantizer's training samples."""
        self.quantizer.temperature = temperature

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None,
                mask_time_indices: torch.Tensor | None = None, sampled_negative_indices: torch.Tensor | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **kwargs):
        if mask_time_indices is not None:
            mask_time_indices = mask_time_indices.to(torch.bool)
        out = self.wav2vec2(input_values, attention_mask, mask_time_indices=mask_time_indices,
                            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                            return_dict=True)
        predicted = self.project_hid(out.last_hidden_state)
        quantized, perplexity = self.quantizer(self.dropout_features(out.extract_features), mask_time_indices)
        quantized = self.project_q(quantized.to(self.project_q.weight.dtype))
        loss = contrastive = diversity = None
        if sampled_negative_indices is not None:
            if mask_time_indices is None:
                raise ValueError("Pre-training with sampled_negative_indices needs mask_time_indices (the frames "
                                 "whose targets are predicted).")
            contrastive = self._contrastive_loss(predicted, quantized, sampled_negative_indices, mask_time_indices)
            codebook = self.config.num_codevectors_per_group * self.config.num_codevector_groups
            diversity = (codebook - perplexity) / codebook * mask_time_indices.sum()
            loss = contrastive + self.config.diversity_loss_weight * diversity
        output = Wav2Vec2ForPreTrainingOutput(loss, predicted, quantized, perplexity, out.hidden_states,
                                              out.attentions, contrastive, diversity)
        return self._finish(output, return_dict)

    def _contrastive_loss(self, predicted, quantized, negative_indices, mask_time_indices) -> torch.Tensor:
        """Cross-entropy (summed over masked frames) of picking the true target, index 0, among
        [target, K negatives] by cosine similarity / ``contrastive_logits_temperature``."""
        batch, length, width = quantized.shape
        negatives = quantized.view(-1, width)[negative_indices.long().view(-1)]
        negatives = negatives.view(batch, length, -1, width).permute(2, 0, 1, 3)  # (K, B, T, P)
        candidates = torch.cat([quantized[None], negatives], dim=0)  # (K + 1, B, T, P)
        logits = torch.cosine_similarity(predicted.float(), candidates.float(), dim=-1).type_as(candidates)
        logits = logits / self.config.contrastive_logits_temperature
        same_as_target = (quantized == negatives).all(-1)  # a negative equal to the target cannot count
        if same_as_target.any():
            logits[1:][same_as_target] = float("-inf")
        logits = logits.transpose(0, 2).reshape(-1, logits.size(0))  # (T × B, K + 1)
        target = ((1 - mask_time_indices.long()) * -100).transpose(0, 1).flatten()  # unmasked frames: ignored
        return F.cross_entropy(logits.float(), target, reduction="sum")
