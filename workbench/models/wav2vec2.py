"""wav2vec 2.0 (https://arxiv.org/abs/2006.11477): self-supervised speech representations, fine-tuned
with CTC for speech recognition (facebook/wav2vec2-base-960h) or with the audio classification heads.

The encoder and heads are :mod:`workbench.models.speech_encoder`'s and :mod:`~workbench.models.speech_heads`'s;
this file names them for wav2vec2 (checkpoint keys under ``wav2vec2.``). ``do_stable_layer_norm``
selects the pre-norm stack of the large checkpoints (wav2vec2-large-lv60, XLS-R, MMS), with its
``feat_extract_norm="layer"`` front end; ``add_adapter`` appends strided convs, ``adapter_attn_dim``
MMS's per-language adapters.
"""

from __future__ import annotations

from .speech_encoder import SPEECH_ENCODER_DEFAULTS, SpeechEncoderConfig, SpeechEncoderModel, SpeechPreTrainedModel
from .speech_heads import AudioFrameClassificationHead, CTCHead, SequenceClassificationHead, XVectorHead


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
