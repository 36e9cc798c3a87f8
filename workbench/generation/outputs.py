"""What ``generate(..., return_dict_in_generate=True)`` returns.

Per-step fields are tuples with one entry per generated token: ``scores`` (processed, (B, V)),
``logits`` (raw, (B, V)), ``attentions`` and ``hidden_states`` (each a per-layer tuple from the
model's forward at that step). Beam search returns rows for ``batch * num_beams`` in the per-step
fields and ``batch * num_return_sequences`` in ``sequences``.

Encoder-decoders return the ``EncoderDecoder`` classes: the decoder's per-step fields carry the
``decoder_`` prefix, ``cross_attentions`` are added per step, and ``encoder_attentions`` /
``encoder_hidden_states`` come once, from the single encoder pass (one row per prompt).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from ..outputs import ModelOutput

Steps = Optional[tuple]


@dataclass
class GenerateDecoderOnlyOutput(ModelOutput):
    """Greedy search and sampling."""

    sequences: Optional[torch.LongTensor] = None
    scores: Steps = None
    logits: Steps = None
    attentions: Steps = None
    hidden_states: Steps = None
    past_key_values: Any = None


@dataclass
class GenerateBeamDecoderOnlyOutput(ModelOutput):
    """Beam search: also the final score of each returned sequence (``sequences_scores``, with
    ``output_scores=True``) and, per generated token, the flat beam row it came from
    (``beam_indices``, -1 after the sequence ended)."""

    sequences: Optional[torch.LongTensor] = None
    sequences_scores: Optional[torch.Tensor] = None
    scores: Steps = None
    logits: Steps = None
    beam_indices: Optional[torch.Tensor] = None
    attentions: Steps = None
    hidden_states: Steps = None
    past_key_values: Any = None


@dataclass
class GenerateEncoderDecoderOutput(ModelOutput):
    """Greedy search and sampling with an encoder-decoder."""

    sequences: Optional[torch.LongTensor] = None
    scores: Steps = None
    logits: Steps = None
    encoder_attentions: Optional[tuple] = None
    encoder_hidden_states: Optional[tuple] = None
    decoder_attentions: Steps = None
    cross_attentions: Steps = None
    decoder_hidden_states: Steps = None
    past_key_values: Any = None


@dataclass
class GenerateBeamEncoderDecoderOutput(ModelOutput):
    """Beam search with an encoder-decoder (see :class:`GenerateBeamDecoderOnlyOutput`)."""

    sequences: Optional[torch.LongTensor] = None
    sequences_scores: Optional[torch.Tensor] = None
    scores: Steps = None
    logits: Steps = None
    beam_indices: Optional[torch.Tensor] = None
    encoder_attentions: Optional[tuple] = None
    encoder_hidden_states: Optional[tuple] = None
    decoder_attentions: Steps = None
    cross_attentions: Steps = None
    decoder_hidden_states: Steps = None
    past_key_values: Any = None


class StepRecord:
    """Collects what ``return_dict_in_generate`` asks for, one step at a time."""

    def __init__(self, config) -> None:
        wanted = bool(config.return_dict_in_generate)
        self.scores = () if wanted and config.output_scores else None
        self.logits = () if wanted and config.output_logits else None
        self.attentions = () if wanted and config.output_attentions else None
        self.cross_attentions = () if wanted and config.output_attentions else None
        self.hidden_states = () if wanted and config.output_hidden_states else None

    def add(self, outputs, logits: torch.Tensor, scores: torch.Tensor) -> None:
        if self.scores is not None:
            self.scores += (scores,)
        if self.logits is not None:
            self.logits += (logits,)
        seq2seq = hasattr(outputs, "decoder_attentions")  # an encoder-decoder's output names its decoder's fields
        if self.attentions is not None:
            self.attentions += (outputs.decoder_attentions if seq2seq else outputs.attentions,)
            if seq2seq:
                self.cross_attentions += (outputs.cross_attentions,)
        if self.hidden_states is not None:
            self.hidden_states += (outputs.decoder_hidden_states if seq2seq else outputs.hidden_states,)

    def output(self, model_kwargs: dict, beam: bool = False, **values):
        """The output class for the model kind and strategy, with the recorded steps and ``values``
        (``sequences``, and for beams ``sequences_scores`` and ``beam_indices``)."""
        values.update(scores=self.scores, logits=self.logits, past_key_values=model_kwargs.get("past_key_values"))
        encoder = model_kwargs.get("encoder_outputs")
        if encoder is None:
            kind = GenerateBeamDecoderOnlyOutput if beam else GenerateDecoderOnlyOutput
            return kind(attentions=self.attentions, hidden_states=self.hidden_states, **values)
        kind = GenerateBeamEncoderDecoderOutput if beam else GenerateEncoderDecoderOutput
        return kind(
            encoder_attentions=encoder.attentions if self.attentions is not None else None,
            encoder_hidden_states=encoder.hidden_states if self.hidden_states is not None else None,
            decoder_attentions=self.attentions, cross_attentions=self.cross_attentions,
            decoder_hidden_states=self.hidden_states, **values,
        )
