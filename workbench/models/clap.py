"""CLAP, contrastive language-audio pre-training (https://arxiv.org/abs/2211.06687).

    input_ids ─► RoBERTa encoder (workbench/models/roberta.py's embeddings, bert.py's layers) ─► pooler
              ─► text_projection (linear ─► relu ─► linear) ─► L2-normalise ─► text_embeds (T, P)
    input_features ─► HTSAT (workbench/models/clap_audio.py) ─► mean of the final map
              ─► audio_projection ─► L2-normalise ─► audio_embeds (A, P)
    logits_per_audio (A, T) = exp(logit_scale_a) · audio_embeds · text_embedsᵀ
    logits_per_text  (T, A) = exp(logit_scale_t) · text_embeds · audio_embedsᵀ   (its own scale)

The towers are models of their own (``clap_text_model``, ``clap_audio_model``) and the ``text_model``
/ ``audio_model`` of :class:`ClapModel`. Module names equal the checkpoint keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PretrainedConfig
from ..outputs import BaseModelOutputWithPooling, ModelOutput, Tensor, Tensors
from .bert import BertModel
from .clap_audio import (ClapAudioConfig, ClapAudioModel, ClapAudioModelOutput, ClapAudioModelWithProjection,
                         ClapPreTrainedModel, ClapProjectionLayer)
from .roberta import RobertaEmbeddings

__all__ = ["ClapConfig", "ClapTextConfig", "ClapAudioConfig", "ClapModel", "ClapTextModel",
           "ClapTextModelWithProjection", "ClapAudioModel", "ClapAudioModelWithProjection", "ClapAudioModelOutput"]


class ClapTextConfig(PretrainedConfig):
    """The text tower: RoBERTa's settings (a single token type by default) and the projection's."""

    model_type = "clap_text_model"
    base_config_key = "text_config"
    defaults = {
        "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
        "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 514, "type_vocab_size": 1,
        "initializer_factor": 1.0, "layer_norm_eps": 1e-12, "projection_dim": 512, "pad_token_id": 1,
        "bos_token_id": 0, "eos_token_id": 2, "projection_hidden_act": "relu", "is_decoder": False,
    }


class ClapConfig(PretrainedConfig):
    """The joint model. Its ``projection_dim`` and ``projection_hidden_act`` are both towers' (set on
    them here, as the reference does); ``hidden_size`` / ``num_hidden_layers`` (the text tower's width,
    the text layers plus the audio stages) scale the initial weights."""

    model_type = "clap"
    sub_configs = {"text_config": ClapTextConfig, "audio_config": ClapAudioConfig}
    defaults = {"text_config": None, "audio_config": None, "logit_scale_init_value": 1 / 0.07, "projection_dim": 512,
                "projection_hidden_act": "relu", "initializer_factor": 1.0}

    def __post_init__(self) -> None:
        for part in (self.text_config, self.audio_config):
            part.projection_dim, part.projection_hidden_act = self.projection_dim, self.projection_hidden_act
        self.hidden_size = self.text_config.hidden_size
        self.num_hidden_layers = self.text_config.num_hidden_layers + len(self.audio_config.depths)


@dataclass
class ClapTextModelOutput(ModelOutput):
    """``text_embeds`` (B, projection_dim): the projected pooled output (not normalised)."""

    text_embeds: Tensor = None
    last_hidden_state: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class ClapOutput(ModelOutput):
    """``logits_per_audio`` (A, T) and ``logits_per_text`` (T, A), each with its own scale; the
    normalised ``text_embeds`` / ``audio_embeds``; each tower's own output."""

    loss: Tensor = None
    logits_per_audio: Tensor = None
    logits_per_text: Tensor = None
    text_embeds: Tensor = None
    audio_embeds: Tensor = None
    text_model_output: BaseModelOutputWithPooling = None
    audio_model_output: BaseModelOutputWithPooling = None

    def to_tuple(self) -> tuple:
        return tuple(v.to_tuple() if isinstance(v, ModelOutput) else v for v in self.values())


class ClapTextModel(ClapPreTrainedModel, BertModel):
    """RoBERTa's base model (positions after the padding index, BERT's pooler on ``<s>``)."""

    config_class = ClapTextConfig
    base_model_prefix = "text_model"  # the key prefix of the models that hold it: stripped when loading theirs
    embeddings_class = RobertaEmbeddings


class ClapTextModelWithProjection(ClapPreTrainedModel):
    """The text tower and its projection: ``text_embeds`` (B, projection_dim), not normalised."""

    config_class = ClapTextConfig
    base_model_prefix = "text_model"

    def __init__(self, config: ClapTextConfig) -> None:
        super().__init__(config)
        self.text_model = ClapTextModel(config)
        self.text_projection = ClapProjectionLayer(config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.text_model.get_input_embeddings()

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.text_model.set_input_embeddings(embeddings)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, token_type_ids=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        out = self.text_model(input_ids, attention_mask, token_type_ids, position_ids,
                              output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                              return_dict=True)
        embeds = self.text_projection(out.pooler_output)
        return self._finish(ClapTextModelOutput(embeds, out.last_hidden_state, out.hidden_states, out.attentions),
                            return_dict)


class ClapModel(ClapPreTrainedModel):
    """Both towers, their projections and two logit scales. ``model(input_ids=, input_features=)`` scores
    every audio against every text; softmax over a row of ``logits_per_audio`` gives zero-shot label
    probabilities (``pipeline("zero-shot-audio-classification")`` does this).

    >>> out = model(**processor(text=["a dog", "rain"], audio=wave, sampling_rate=48000, return_tensors="pt",
    ...                         padding=True))                                                    # doctest: +SKIP
    >>> out.logits_per_audio.softmax(dim=-1)                                                       # doctest: +SKIP
    """

    config_class = ClapConfig

    def __init__(self, config: ClapConfig) -> None:
        super().__init__(config)
        initial = torch.tensor(config.logit_scale_init_value).log()
        self.logit_scale_a = nn.Parameter(initial.clone())
        self.logit_scale_t = nn.Parameter(initial.clone())
        self.projection_dim = config.projection_dim
        self.text_model = ClapTextModel(config.text_config)
        self.text_projection = ClapProjectionLayer(config.text_config)
        self.audio_model = ClapAudioModel(config.audio_config)
        self.audio_projection = ClapProjectionLayer(config.audio_config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.text_model.get_input_embeddings()

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.text_model.set_input_embeddings(embeddings)

    def get_text_features(self, input_ids=None, attention_mask=None, position_ids=None, output_attentions=None,
                          output_hidden_states=None, return_dict=None, **kwargs):
        """The text tower's output, its ``pooler_output`` projected and L2-normalised (B, projection_dim)."""
        out = self.text_model(input_ids, attention_mask, position_ids=position_ids, output_attentions=output_attentions,
                              output_hidden_states=output_hidden_states, return_dict=True)
        out.pooler_output = F.normalize(self.text_projection(out.pooler_output), dim=-1)
        return self._finish(out, return_dict)

    def get_audio_features(self, input_features=None, is_longer=None, attention_mask=None, output_attentions=None,
                           output_hidden_states=None, return_dict=None, **kwargs):
        """The audio tower's output, its ``pooler_output`` projected and L2-normalised (B, projection_dim)."""
        out = self.audio_model(input_features, is_longer, output_attentions, output_hidden_states, return_dict=True)
        out.pooler_output = F.normalize(self.audio_projection(out.pooler_output), dim=-1)
        return self._finish(out, return_dict)

    def forward(self, input_ids=None, input_features=None, is_longer=None, attention_mask=None, position_ids=None,
                return_loss=None, output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        """``return_loss=True`` adds the contrastive loss (the i-th text describes the i-th audio)."""
        audio = self.audio_model(input_features, is_longer, output_attentions, output_hidden_states, return_dict=True)
        text = self.text_model(input_ids, attention_mask, position_ids=position_ids,
                               output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                               return_dict=True)
        audio_embeds = self.audio_projection(audio.pooler_output)
        audio_embeds = audio_embeds / audio_embeds.norm(p=2, dim=-1, keepdim=True)
        text_embeds = self.text_projection(text.pooler_output)
        text_embeds = text_embeds / text_embeds.norm(p=2, dim=-1, keepdim=True)
        logits_per_text = text_embeds @ audio_embeds.t() * self.logit_scale_t.exp()
        logits_per_audio = audio_embeds @ text_embeds.t() * self.logit_scale_a.exp()
        loss = None
        if return_loss:
            targets = torch.arange(logits_per_text.shape[0], device=logits_per_text.device)
            loss = (F.cross_entropy(logits_per_text, targets) + F.cross_entropy(logits_per_audio.t(), targets)) / 2
        out = ClapOutput(loss, logits_per_audio, logits_per_text, text_embeds, audio_embeds, text, audio)
        return self._finish(out, return_dict)
