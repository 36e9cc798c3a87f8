"""The task heads of the wav2vec 2.0-style encoders (Wav2Vec2, HuBERT, WavLM), over whichever base
model the family builds (``build_base_model``, held under ``base_model_prefix``: ``wav2vec2``, ...).

    CTC:                   states ─► dropout ─► lm_head ─► per-frame logits (B, frames, vocab); CTC loss
    sequence:              states (or a learned mix of every layer's) ─► projector ─► mean over real frames ─► classifier
    audio frame:           states (or the mix) ─► classifier per frame
    x-vector:              states (or the mix) ─► projector ─► TDNN ─► mean ‖ std ─► embedding ─► classifier; AM-softmax
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..nn.ctc_loss import ctc_loss
from ..nn.xvector import AMSoftmaxLoss, TDNNLayer, statistics_pooling
from ..outputs import SequenceClassifierOutput, TokenClassifierOutput
from .speech_encoder import CausalLMOutput, SpeechPreTrainedModel, XVectorOutput


class SpeechHead(SpeechPreTrainedModel):
    """A base model under ``base_model_prefix``, and ``layer_weights`` when ``use_weighted_layer_sum``."""

    mixes_layers = False  # whether ``use_weighted_layer_sum`` applies to the head

    def __init__(self, config) -> None:
        super().__init__(config)
        setattr(self, self.base_model_prefix, self.build_base_model(config))
        if self.mixes_layers and config.use_weighted_layer_sum:  # the transformer layers and the input
            self.layer_weights = nn.Parameter(torch.full((config.num_hidden_layers + 1,), 1 / (config.num_hidden_layers + 1)))

    def _encode(self, input_values, attention_mask, output_attentions, output_hidden_states):
        """The base model's output, and the states the head reads: the last layer's, or the
        softmax(layer_weights)-weighted sum of every layer's. Hidden states are reported only when asked."""
        mix = self.mixes_layers and self.config.use_weighted_layer_sum
        out = self.speech_model(input_values, attention_mask, output_attentions=output_attentions,
                                output_hidden_states=True if mix else output_hidden_states, return_dict=True)
        states = out.last_hidden_state
        if mix:
            stacked = torch.stack(out.hidden_states, dim=1)  # (B, layers + 1, T, C)
            states = (stacked * F.softmax(self.layer_weights, dim=-1).view(-1, 1, 1)).sum(dim=1)
            if not (self.config.output_hidden_states if output_hidden_states is None else output_hidden_states):
                out.hidden_states = None
                out.pop("hidden_states", None)
        return out, states


class CTCHead(SpeechHead):
    """Per-frame token logits (B, frames, vocab_size). ``labels`` (B, U), padded with -100, give the
    CTC loss (``config.ctc_loss_reduction``, ``ctc_zero_infinity``; the blank is ``pad_token_id``)."""

    def __init__(self, config) -> None:
        super().__init__(config)
        if config.vocab_size is None:
            raise ValueError(f"{type(self).__name__} needs config.vocab_size (the CTC vocabulary): pass vocab_size=.")
        self.dropout = nn.Dropout(config.final_dropout)
        width = config.output_hidden_size if getattr(config, "add_adapter", False) else config.hidden_size
        self.lm_head = nn.Linear(width, config.vocab_size)

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None, **kwargs):
        if labels is not None and labels.max() >= self.config.vocab_size:
            raise ValueError(f"CTC labels must be below vocab_size ({self.config.vocab_size}); got {int(labels.max())}.")
        out, states = self._encode(input_values, attention_mask, output_attentions, output_hidden_states)
        logits = self.lm_head(self.dropout(states))
        loss = None
        if labels is not None:
            mask = attention_mask if attention_mask is not None else torch.ones_like(input_values, dtype=torch.long)
            lengths = self._get_feat_extract_output_lengths(mask.sum(-1)).to(torch.long)
            loss = ctc_loss(logits, labels, lengths, self.config.pad_token_id, self.config.ctc_loss_reduction,
                            self.config.ctc_zero_infinity)
        return self._finish(CausalLMOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class SequenceClassificationHead(SpeechHead):
    """One label per clip: the projected states averaged over the clip's real frames -> (B, num_labels)."""

    mixes_layers = True

    def __init__(self, config) -> None:
        self._no_adapter_config(config)
        super().__init__(config)
        self.projector = nn.Linear(config.hidden_size, config.classifier_proj_size)
        self.classifier = nn.Linear(config.classifier_proj_size, config.num_labels)

    @staticmethod
    def _no_adapter_config(config) -> None:
        if getattr(config, "add_adapter", False):
            raise ValueError("Audio classification heads do not support adapters (config.add_adapter=True): "
                             "set add_adapter=False.")

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None, **kwargs):
        out, states = self._encode(input_values, attention_mask, output_attentions, output_hidden_states)
        states = self.projector(states)
        if attention_mask is None:
            pooled = states.mean(dim=1)
        else:
            valid = self.frame_mask(attention_mask, states.shape[1])[..., None]  # (B, T, 1)
            pooled = states.masked_fill(~valid, 0.0).sum(dim=1) / valid.sum(dim=1)
        logits = self.classifier(pooled)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.config.num_labels), labels.view(-1))
        return self._finish(SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class AudioFrameClassificationHead(SpeechHead):
    """One label per frame (speaker diarization): (B, frames, num_labels). ``labels`` (B, frames,
    num_labels) are one-hot (or scores): the loss is cross-entropy against their argmax."""

    mixes_layers = True

    def __init__(self, config) -> None:
        SequenceClassificationHead._no_adapter_config(config)
        super().__init__(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.num_labels = config.num_labels

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None, **kwargs):
        out, states = self._encode(input_values, attention_mask, output_attentions, output_hidden_states)
        logits = self.classifier(states)
        loss = None
        if labels is not None:
            targets = torch.argmax(labels.view(-1, self.num_labels), dim=1)
            loss = F.cross_entropy(logits.view(-1, self.num_labels), targets)
        return self._finish(TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class XVectorHead(SpeechHead):
    """Speaker embeddings (B, xvector_output_dim) and logits; ``labels`` (B,) give the AM-softmax loss."""

    mixes_layers = True

    def __init__(self, config) -> None:
        super().__init__(config)
        dims, kernels, dilations = list(config.tdnn_dim), list(config.tdnn_kernel), list(config.tdnn_dilation)
        self.projector = nn.Linear(config.hidden_size, dims[0])
        self.tdnn = nn.ModuleList(TDNNLayer(dims[i - 1] if i else dims[0], dims[i], kernels[i], dilations[i])
                                  for i in range(len(dims)))
        self.feature_extractor = nn.Linear(dims[-1] * 2, config.xvector_output_dim)
        self.classifier = nn.Linear(config.xvector_output_dim, config.xvector_output_dim)
        self.objective = AMSoftmaxLoss(config.xvector_output_dim, config.num_labels)

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None, **kwargs):
        out, states = self._encode(input_values, attention_mask, output_attentions, output_hidden_states)
        states = self.projector(states)
        for layer in self.tdnn:
            states = layer(states)
        lengths = None
        if attention_mask is not None:
            lengths = self._get_feat_extract_output_lengths(attention_mask.sum(dim=1))
            for layer in self.tdnn:
                lengths = layer.output_lengths(lengths)
        embeddings = self.feature_extractor(statistics_pooling(states, lengths))
        logits = self.classifier(embeddings)
        loss = self.objective(logits, labels) if labels is not None else None
        return self._finish(XVectorOutput(loss, logits, embeddings, out.hidden_states, out.attentions), return_dict)
