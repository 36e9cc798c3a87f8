"""WavLM (https://arxiv.org/abs/2110.13900): wav2vec 2.0's encoder whose self-attention adds a gated
relative position bias (:mod:`workbench.nn.gated_relative_position`), pre-trained on masked speech
denoising; used for speaker verification (x-vectors), diarization and recognition.

The encoder and heads are :mod:`workbench.models.speech_encoder`'s and :mod:`~workbench.models.speech_heads`'s
(checkpoint keys under ``wavlm.``). The first layer holds the bucket table (``rel_attn_embed``,
``num_buckets`` over distances up to ``max_bucket_distance``) that every layer gates, so LayerDrop
never skips it. WavLM's CTC loss averages by default (``ctc_loss_reduction="mean"``).
"""

from __future__ import annotations

from .speech_encoder import SPEECH_ENCODER_DEFAULTS, SpeechEncoderConfig, SpeechEncoderModel, SpeechPreTrainedModel
from .speech_heads import AudioFrameClassificationHead, CTCHead, SequenceClassificationHead, XVectorHead


class WavLMConfig(SpeechEncoderConfig):
    model_type = "wavlm"
    gated_relative_position = True
    defaults = {
        **SPEECH_ENCODER_DEFAULTS, "num_buckets": 320, "max_bucket_distance": 800, "ctc_loss_reduction": "mean",
        "num_codevectors_per_group": 320, "num_codevector_groups": 2, "contrastive_logits_temperature": 0.1,
        "num_negatives": 100, "codevector_dim": 256, "proj_codevector_dim": 256, "diversity_loss_weight": 0.1,
        "tdnn_dim": [512, 512, 512, 512, 1500], "tdnn_kernel": [5, 3, 3, 1, 1], "tdnn_dilation": [1, 2, 3, 1, 1],
        "xvector_output_dim": 512, "num_ctc_classes": 80, "add_adapter": False, "adapter_kernel_size": 3,
        "adapter_stride": 2, "num_adapter_layers": 3, "output_hidden_size": None,
    }


class WavLMPreTrainedModel(SpeechPreTrainedModel):
    config_class = WavLMConfig
    base_model_prefix = "wavlm"

    def build_base_model(self, config: WavLMConfig) -> "WavLMModel":
        return WavLMModel(config)


class WavLMModel(SpeechEncoderModel, WavLMPreTrainedModel):
    """``last_hidden_state`` (B, frames, hidden) and ``extract_features`` from 16 kHz ``input_values``."""


class WavLMForCTC(CTCHead, WavLMPreTrainedModel):
    """Speech recognition: per-frame character logits (B, frames, vocab_size)."""


class WavLMForSequenceClassification(SequenceClassificationHead, WavLMPreTrainedModel):
    """Audio classification: (B, num_labels)."""


class WavLMForAudioFrameClassification(AudioFrameClassificationHead, WavLMPreTrainedModel):
    """A label per frame (speaker diarization): (B, frames, num_labels)."""


class WavLMForXVector(XVectorHead, WavLMPreTrainedModel):
    """Speaker verification: x-vector ``embeddings`` (B, xvector_output_dim) and logits."""
