"""Whisper's timestamp rules as a logits processor (https://arxiv.org/abs/2212.04356, section 4.5).

Whisper's vocabulary ends with timestamp tokens ``<|0.00|> <|0.02|> ... <|30.00|>``, the first one
right after ``<|notimestamps|>``. A transcript with timestamps reads

    <|0.00|> text <|2.40|><|2.40|> more text <|5.12|><|endoftext|>

so after the prompt (``begin_index`` tokens) the scores are masked to keep that shape:

* ``<|notimestamps|>`` is never generated;
* the first token is a timestamp, at most ``max_initial_timestamp_index`` steps after ``<|0.00|>``;
* timestamps come in pairs (end of one segment, start of the next), except right before eos: after
  a lone timestamp only another timestamp or eos may follow, after a pair only text;
* timestamps never go back in time (and a pair's second timestamp may repeat the first);
* when the probability mass of all timestamps together beats every single text token, a timestamp
  is taken.
"""

from __future__ import annotations

import torch

from .logits_process import NEG_INF, LogitsProcessor


class WhisperTimeStampLogitsProcessor(LogitsProcessor):
    """Mask scores (B, V) so that generated Whisper timestamps follow the rules above.

    ``generate_config`` gives ``no_timestamps_token_id`` (timestamps start one id later),
    ``eos_token_id`` (or ``bos_token_id``) and the optional ``max_initial_timestamp_index``;
    ``begin_index`` is the position of the first generated token (the prompt's length).
    ``_detect_timestamp_from_logprob=False`` turns off the probability-mass rule (the reference's
    testing switch, kept under the same name)."""

    def __init__(self, generate_config, begin_index: int, _detect_timestamp_from_logprob: bool | None = None):
        if begin_index is None:
            raise ValueError("WhisperTimeStampLogitsProcessor needs begin_index: the length of the decoder prompt "
                             "(the position of the first generated token).")
        self.no_timestamps_token_id = generate_config.no_timestamps_token_id
        self.timestamp_begin = self.no_timestamps_token_id + 1
        eos = generate_config.eos_token_id if generate_config.eos_token_id is not None else generate_config.bos_token_id
        self.eos_token_id = eos[0] if isinstance(eos, (list, tuple)) else eos
        if _detect_timestamp_from_logprob is None:
            _detect_timestamp_from_logprob = getattr(generate_config, "_detect_timestamp_from_logprob", True)
        self._detect_timestamp_from_logprob = _detect_timestamp_from_logprob
        self.begin_index = begin_index
        self.max_initial_timestamp_index = getattr(generate_config, "max_initial_timestamp_index", None)

    def set_begin_index(self, begin_index: int) -> None:
        self.begin_index = begin_index

    def _row_rules(self, seq: list[int]) -> tuple[bool, bool, int]:
        """For one row's generated tokens: (last was a timestamp, the one before too, lowest allowed timestamp)."""
        last = len(seq) >= 1 and seq[-1] >= self.timestamp_begin
        penultimate = len(seq) < 2 or seq[-2] >= self.timestamp_begin  # the prompt's edge counts as a timestamp
        stamps = [token for token in seq if token >= self.timestamp_begin]
        if not stamps:
            return last, penultimate, self.timestamp_begin
        # a lone timestamp may be repeated (closing a segment), otherwise time moves forward
        return last, penultimate, stamps[-1] if last and not penultimate else stamps[-1] + 1

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.clone()
        scores[:, self.no_timestamps_token_id] = NEG_INF
        lowest = []
        for row, seq in enumerate(input_ids.tolist()):
            last, penultimate, allowed_from = self._row_rules(seq[self.begin_index:])
            if last and penultimate:
                scores[row, self.timestamp_begin:] = NEG_INF  # after a pair: text
            elif last:
                scores[row, :self.eos_token_id] = NEG_INF  # after a lone timestamp: a timestamp or eos
            lowest.append(allowed_from)
        vocab = torch.arange(scores.shape[-1], device=scores.device)
        lowest = torch.tensor(lowest, device=scores.device)[:, None]  # (B, 1)
        scores.masked_fill_((vocab >= self.timestamp_begin) & (vocab < lowest), NEG_INF)
        if input_ids.shape[1] == self.begin_index:  # the first generated token is a timestamp
            scores[:, :self.timestamp_begin] = NEG_INF
            if self.max_initial_timestamp_index is not None:
                scores[:, self.timestamp_begin + self.max_initial_timestamp_index + 1:] = NEG_INF
        if self._detect_timestamp_from_logprob:
            logprobs = torch.log_softmax(scores.float(), dim=-1)
            timestamp_mass = logprobs[:, self.timestamp_begin:].logsumexp(dim=-1)
            best_text = logprobs[:, :self.timestamp_begin].max(dim=-1).values
            take_timestamp = (timestamp_mass > best_text)[:, None]  # (B, 1)
            scores[:, :self.timestamp_begin].masked_fill_(take_timestamp, NEG_INF)
        return scores
