"""What ``generate(..., return_dict_in_generate=True)`` returns.

Per-step fields are tuples with one entry per generated token: ``scores`` (processed, (B, V)),
``logits`` (raw, (B, V)), ``attentions`` and ``hidden_states`` (each a per-layer tuple from the
model's forward at that step). Beam search returns rows for ``batch * num_beams`` in the per-step
fields and ``batch * num_return_sequences`` in ``sequences``.
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


class StepRecord:
    """Collects what ``return_dict_in_generate`` asks for, one step at a time."""

    def __init__(self, config) -> None:
        wanted = bool(config.return_dict_in_generate)
        self.scores = () if wanted and config.output_scores else None
        self.logits = () if wanted and config.output_logits else None
        self.attentions = () if wanted and config.output_attentions else None
        self.hidden_states = () if wanted and config.output_hidden_states else None

    def add(self, outputs, logits: torch.Tensor, scores: torch.Tensor) -> None:
        if self.scores is not None:
            self.scores += (scores,)
        if self.logits is not None:
            self.logits += (logits,)
        if self.attentions is not None:
            self.attentions += (outputs.attentions,)
        if self.hidden_states is not None:
            self.hidden_states += (outputs.hidden_states,)
