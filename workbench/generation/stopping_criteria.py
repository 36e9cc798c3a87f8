"""Stopping criteria: after each step, which rows are done.

A criterion takes the ids so far (B, T) and the processed scores of every step (a tuple, or
``None`` unless ``output_scores=True``), and returns a (B,) bool tensor, True where a row should
stop. ``generate()`` builds a :class:`StoppingCriteriaList` from the generation config; pass your
own to ``generate(stopping_criteria=...)`` to add to it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

logger = logging.getLogger(__name__)


class StoppingCriteria:
    """Base class: subclasses implement ``__call__(input_ids, scores, **kwargs) -> (B,) bool tensor``."""

    def __call__(self, input_ids: torch.LongTensor, scores: tuple[torch.Tensor] | None, **kwargs: Any) -> torch.BoolTensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(input_ids, scores).")


def _every_row(input_ids: torch.Tensor, done: bool) -> torch.BoolTensor:
    return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class MaxLengthCriteria(StoppingCriteria):
    """Stop when the sequence (prompt included) has ``max_length`` tokens. Passing the model's
    ``max_position_embeddings`` adds a warning when generation runs past what the model was trained on."""

    def __init__(self, max_length: int, max_position_embeddings: int | None = None):
        self.max_length = max_length
        self.max_position_embeddings = max_position_embeddings
        self._warned = False

    def __call__(self, input_ids, scores, **kwargs):
        length = input_ids.shape[1]
        done = length >= self.max_length
        limit = self.max_position_embeddings
        if limit is not None and not done and length > limit and not self._warned:
            self._warned = True
            logger.warning("Generation is past the model's max_position_embeddings (%d): expect degraded outputs "
                           "or errors. Lower max_new_tokens to stay within it.", limit)
        return _every_row(input_ids, done)


class MaxTimeCriteria(StoppingCriteria):
    """Stop every row once ``max_time`` seconds have passed since ``initial_timestamp``
    (by default, since this criterion was made)."""

    def __init__(self, max_time: float, initial_timestamp: float | None = None):
        self.max_time = max_time
        self.initial_timestamp = time.time() if initial_timestamp is None else initial_timestamp

    def __call__(self, input_ids, scores, **kwargs):
        return _every_row(input_ids, time.time() - self.initial_timestamp > self.max_time)


class EosTokenCriteria(StoppingCriteria):
    """Stop a row when its last token is one of ``eos_token_id``."""

    def __init__(self, eos_token_id: int | list[int] | torch.Tensor):
        if not isinstance(eos_token_id, torch.Tensor):
            eos_token_id = torch.tensor([eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id))
        self.eos_token_id = eos_token_id.reshape(-1)

    def __call__(self, input_ids, scores, new_token_length: int = 1, **kwargs):
        self.eos_token_id = self.eos_token_id.to(input_ids.device)
        return torch.isin(input_ids[:, -new_token_length:], self.eos_token_id).any(-1)


class StopStringCriteria(StoppingCriteria):
    """Stop a row when the text it ends with contains one of ``stop_strings`` *and* that
    occurrence reaches into the last token. So tokens "st" + "op", "stop", or "st" + "opera"
    all stop on "stop", but "stop" + "at" does not (it would have stopped a step earlier).

    The tokenizer only needs ``decode(list_of_ids) -> str``: each step decodes the last few tokens
    of each row with and without the newest one, and looks for a stop string that ends after the
    shorter text.
    """

    def __init__(self, tokenizer: Any, stop_strings: str | list[str]):
        if isinstance(stop_strings, str):
            stop_strings = [stop_strings]
        if not stop_strings or not all(isinstance(s, str) and s for s in stop_strings):
            raise ValueError(f"`stop_strings` must be non-empty strings, but is {stop_strings!r}.")
        if not callable(getattr(tokenizer, "decode", None)):
            raise TypeError(f"StopStringCriteria needs a tokenizer with a decode() method, got {type(tokenizer).__name__}.")
        self.tokenizer = tokenizer
        self.stop_strings = tuple(stop_strings)
        # a token decodes to at least one byte: 4 tokens per character covers any UTF-8 text
        self.lookback = 4 * max(len(s) for s in self.stop_strings) + 1

    def __call__(self, input_ids, scores, **kwargs):
        rows = input_ids[:, -self.lookback:].tolist()
        return torch.tensor([self._stops(row) for row in rows], dtype=torch.bool, device=input_ids.device)

    def _stops(self, ids: list[int]) -> bool:
        text = self.tokenizer.decode(ids)
        before = len(self.tokenizer.decode(ids[:-1]))
        # an occurrence starting here or later ends inside the last token's text
        return any(text.find(s, max(0, before - len(s) + 1)) != -1 for s in self.stop_strings)


class StoppingCriteriaList(list):
    """Criteria combined: a row stops when any of them says so."""

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        done = _every_row(input_ids, False)
        for criterion in self:
            done = done | criterion(input_ids, scores, **kwargs)
        return done

    @property
    def max_length(self) -> int | None:
        return next((c.max_length for c in self if isinstance(c, MaxLengthCriteria)), None)
