"""Logits processors: each takes the ids so far and the next-token scores, and returns new scores.

``scores`` are (B, V): raw logits in greedy search and sampling, log-probabilities in beam search.
A processor never changes its input in place. ``generate()`` builds a :class:`LogitsProcessorList`
from the generation config (see ``build_logits_processors`` in ``generation/setup.py``); pass your
own list to ``generate(logits_processor=...)`` to add to it or to replace one of the same class.
The "warpers" (temperature, top-k, top-p, min-p, typical) only run when sampling.
"""

from __future__ import annotations

import inspect
import math
from typing import Iterable

import torch

NEG_INF = -math.inf


def _as_token_tensor(token_ids: int | Iterable[int] | torch.Tensor, device: str | torch.device = "cpu") -> torch.Tensor:
    """One id or several -> a 1-D long tensor."""
    if isinstance(token_ids, torch.Tensor):
        return token_ids.reshape(-1).to(device)
    if isinstance(token_ids, int):
        token_ids = [token_ids]
    return torch.tensor(list(token_ids), dtype=torch.long, device=device)


def _fill_tokens(scores: torch.Tensor, token_ids: torch.Tensor, value: float = NEG_INF) -> torch.Tensor:
    """A copy of (B, V) ``scores`` with the columns ``token_ids`` set to ``value`` (ids outside the
    vocabulary are ignored). Indexes the few ids instead of testing all V columns against them."""
    token_ids = token_ids.to(scores.device)
    valid = token_ids[(token_ids >= 0) & (token_ids < scores.shape[-1])]
    return scores.index_fill(-1, valid, value)


class LogitsProcessor:
    """Base class: subclasses implement ``__call__(input_ids (B, T), scores (B, V)) -> scores (B, V)``."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(input_ids, scores).")


_EXTRA_ARGUMENTS: dict[type, list[str]] = {}


def _extra_arguments(processor) -> list[str]:
    """The parameters of ``processor.__call__`` after (input_ids, scores); looked up once per class."""
    kind = type(processor)
    if kind not in _EXTRA_ARGUMENTS:
        extra = list(inspect.signature(processor.__call__).parameters)[2:]
        if not inspect.isfunction(getattr(kind, "__call__", None)):
            return extra  # a function or builtin: its own signature, not one shared by a class
        _EXTRA_ARGUMENTS[kind] = extra
    return _EXTRA_ARGUMENTS[kind]


class LogitsProcessorList(list):
    """A list of processors applied in order. Processors whose ``__call__`` takes more than
    ``(input_ids, scores)`` receive the extra keyword arguments given to the list.

    ``observer``, when set, is called after each processor as ``observer(processor, input_ids,
    before, after)`` with that processor's input and output scores (B, V): how a tool sees what
    each processor changed (``generate(logits_observer=...)`` sets it on the list it builds).
    It must not modify the tensors. Unset (None), the list costs one attribute test per processor.
    """

    observer = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        for processor in self:
            extra = _extra_arguments(processor)
            if extra:
                missing = [name for name in extra if name not in kwargs]
                if missing:
                    raise ValueError(f"{type(processor).__name__} needs the arguments {missing}: pass them to the list call.")
                processed = processor(input_ids, scores, **kwargs)
            else:
                processed = processor(input_ids, scores)
            if self.observer is not None:
                self.observer(processor, input_ids, scores, processed)
            scores = processed
        return scores


# ---------------------------------------------------------------------------------------------
# length and special tokens


class MinLengthLogitsProcessor(LogitsProcessor):
    """Forbid the end-of-sequence token(s) while the sequence (prompt included) is shorter than ``min_length``."""

    def __init__(self, min_length: int, eos_token_id: int | list[int] | torch.Tensor, device: str = "cpu"):
        if not isinstance(min_length, int) or min_length < 0:
            raise ValueError(f"`min_length` must be a non-negative integer, but is {min_length!r}.")
        self.min_length = min_length
        self.eos_token_id = _as_token_tensor(eos_token_id, device)

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] >= self.min_length:
            return scores.clone()
        return _fill_tokens(scores, self.eos_token_id)


class MinNewTokensLengthLogitsProcessor(LogitsProcessor):
    """Forbid the end-of-sequence token(s) until ``min_new_tokens`` tokens follow the first
    ``prompt_length_to_skip`` (the prompt)."""

    def __init__(self, prompt_length_to_skip: int, min_new_tokens: int, eos_token_id: int | list[int] | torch.Tensor,
                 device: str = "cpu"):
        for name, value in (("prompt_length_to_skip", prompt_length_to_skip), ("min_new_tokens", min_new_tokens)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"`{name}` must be a non-negative integer, but is {value!r}.")
        self.prompt_length_to_skip = prompt_length_to_skip
        self.min_new_tokens = min_new_tokens
        self.eos_token_id = _as_token_tensor(eos_token_id, device)

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] - self.prompt_length_to_skip >= self.min_new_tokens:
            return scores.clone()
        return _fill_tokens(scores, self.eos_token_id)


class ForcedBOSTokenLogitsProcessor(LogitsProcessor):
    """Make ``bos_token_id`` the only choice for the first generated token (after a 1-token start)."""

    def __init__(self, bos_token_id: int):
        self.bos_token_id = bos_token_id

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != 1:
            return scores
        forced = torch.full_like(scores, NEG_INF)
        forced[:, self.bos_token_id] = 0
        return forced


class ForcedEOSTokenLogitsProcessor(LogitsProcessor):
    """Make the end-of-sequence token(s) the only choice when the next token is the last one ``max_length`` allows."""

    def __init__(self, max_length: int, eos_token_id: int | list[int] | torch.Tensor, device: str = "cpu"):
        self.max_length = max_length
        self.eos_token_id = _as_token_tensor(eos_token_id, device)
        if torch.is_floating_point(self.eos_token_id) or bool((self.eos_token_id < 0).any()):
            raise ValueError(f"`eos_token_id` must be non-negative token ids, but is {eos_token_id!r}.")

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != self.max_length - 1:
            return scores
        forced = torch.full_like(scores, NEG_INF)
        forced[:, self.eos_token_id.to(scores.device)] = 0
        return forced


class SuppressTokensLogitsProcessor(LogitsProcessor):
    """Never generate ``suppress_tokens``."""

    def __init__(self, suppress_tokens: Iterable[int], device: str = "cpu"):
        self.suppress_tokens = _as_token_tensor(list(suppress_tokens), device)

    def __call__(self, input_ids, scores):
        return _fill_tokens(scores, self.suppress_tokens)


class SuppressTokensAtBeginLogitsProcessor(LogitsProcessor):
    """Do not generate ``begin_suppress_tokens`` as the first new token (when the sequence has
    ``begin_index`` tokens)."""

    def __init__(self, begin_suppress_tokens: Iterable[int], begin_index: int, device: str = "cpu"):
        self.begin_suppress_tokens = _as_token_tensor(list(begin_suppress_tokens), device)
        self.begin_index = begin_index

    def set_begin_index(self, begin_index: int) -> None:
        self.begin_index = begin_index

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != self.begin_index:
            return scores
        return _fill_tokens(scores, self.begin_suppress_tokens)


# ---------------------------------------------------------------------------------------------
# repetition


class RepetitionPenaltyLogitsProcessor(LogitsProcessor):
    """Make tokens already in the sequence less likely (CTRL, https://arxiv.org/abs/1909.05858):
    a positive score is divided by ``penalty``, a negative one multiplied by it.

    ``prompt_ignore_length`` leaves the first tokens of each row out: an int for all rows, or a
    (B,) tensor per row (generate() passes each row's count of left padding).
    """

    def __init__(self, penalty: float, prompt_ignore_length: int | torch.Tensor | None = None):
        if not isinstance(penalty, float) or not penalty > 0:
            raise ValueError(f"`penalty` must be a strictly positive float, but is {penalty!r}.")
        if isinstance(prompt_ignore_length, int) and prompt_ignore_length < 0:
            raise ValueError(f"`prompt_ignore_length` must be non-negative, but is {prompt_ignore_length}.")
        if isinstance(prompt_ignore_length, torch.Tensor) and prompt_ignore_length.dim() != 1:
            raise ValueError("`prompt_ignore_length` must be an int or a 1-D tensor with one count per row.")
        self.penalty = penalty
        self.prompt_ignore_length = prompt_ignore_length

    def __call__(self, input_ids, scores):
        vocab = scores.shape[-1]
        ignore = self.prompt_ignore_length
        if isinstance(ignore, int):
            input_ids = input_ids[:, ignore:]
        elif isinstance(ignore, torch.Tensor):
            if ignore.shape[0] != input_ids.shape[0]:
                raise ValueError(f"`prompt_ignore_length` has {ignore.shape[0]} rows but the batch has {input_ids.shape[0]}.")
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            # ignored positions point at an extra column that is cut off again below
            input_ids = input_ids.masked_fill(positions[None] < ignore.to(input_ids.device)[:, None], vocab)
        padded = torch.nn.functional.pad(scores, (0, 1))  # (B, V + 1)
        ids = input_ids.clamp(max=vocab)
        seen = padded.gather(1, ids)
        penalised = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return padded.scatter(1, ids, penalised)[:, :vocab]


class NoRepeatNGramLogitsProcessor(LogitsProcessor):
    """Forbid any token that would repeat an n-gram of size ``ngram_size`` already in the sequence."""

    def __init__(self, ngram_size: int):
        if not isinstance(ngram_size, int) or ngram_size <= 0:
            raise ValueError(f"`ngram_size` must be a strictly positive integer, but is {ngram_size!r}.")
        self.ngram_size = ngram_size

    def __call__(self, input_ids, scores):
        n, length = self.ngram_size, input_ids.shape[-1]
        if length < n:
            return scores
        ngrams = input_ids.unfold(1, n, 1)  # (B, length - n + 1, n)
        context = input_ids[:, length - n + 1:]  # (B, n - 1): what the next token would extend
        follows = (ngrams[..., :-1] == context[:, None]).all(-1)  # (B, windows)
        vocab = scores.shape[-1]
        banned = torch.zeros(scores.shape[0], vocab + 1, dtype=torch.bool, device=scores.device)
        banned.scatter_(1, torch.where(follows, ngrams[..., -1].clamp(max=vocab), vocab), True)
        return scores.masked_fill(banned[:, :vocab], NEG_INF)


class NoBadWordsLogitsProcessor(LogitsProcessor):
    """Never complete any of ``bad_words_ids`` (lists of token ids). A one-token entry is always
    forbidden; a longer one forbids its last token when the sequence ends with the rest.
    End-of-sequence tokens listed alone are left allowed (so generation can still stop)."""

    def __init__(self, bad_words_ids: list[list[int]], eos_token_id: int | list[int] | torch.Tensor | None = None):
        if not isinstance(bad_words_ids, list) or not bad_words_ids:
            raise ValueError(f"`bad_words_ids` must be a non-empty list of lists of token ids, but is {bad_words_ids!r}.")
        if not all(isinstance(w, list) and w and all(isinstance(t, int) and t >= 0 for t in w) for w in bad_words_ids):
            raise ValueError(f"Each entry of `bad_words_ids` must be a non-empty list of token ids, but got {bad_words_ids!r}.")
        eos = set(_as_token_tensor(eos_token_id).tolist()) if eos_token_id is not None else set()
        self.bad_words_ids = [w for w in bad_words_ids if not (len(w) == 1 and w[0] in eos)]

    def __call__(self, input_ids, scores):
        vocab = scores.shape[-1]
        too_big = [t for word in self.bad_words_ids for t in word if t >= vocab]
        if too_big:
            raise ValueError(f"`bad_words_ids` holds token ids {too_big} but the vocabulary has {vocab} tokens.")
        banned = torch.zeros_like(scores, dtype=torch.bool)
        for word in self.bad_words_ids:
            prefix = word[:-1]
            if not prefix:
                banned[:, word[-1]] = True
            elif len(prefix) <= input_ids.shape[1]:
                ends_with = (input_ids[:, -len(prefix):] == torch.tensor(prefix, device=input_ids.device)).all(-1)
                banned[:, word[-1]] |= ends_with
        return scores.masked_fill(banned, NEG_INF)


# ---------------------------------------------------------------------------------------------
# warpers (sampling)


def _check_min_tokens(min_tokens_to_keep: int) -> None:
    if not isinstance(min_tokens_to_keep, int) or min_tokens_to_keep < 1:
        raise ValueError(f"`min_tokens_to_keep` must be a positive integer, but is {min_tokens_to_keep!r}.")


class TemperatureLogitsWarper(LogitsProcessor):
    """Divide the scores by ``temperature``: below 1 sharpens the distribution, above 1 flattens it."""

    def __init__(self, temperature: float):
        if not isinstance(temperature, float) or not temperature > 0:
            hint = " For greedy decoding set do_sample=False instead." if temperature == 0 else ""
            raise ValueError(f"`temperature` must be a strictly positive float, but is {temperature!r}.{hint}")
        self.temperature = temperature

    def __call__(self, input_ids, scores):
        return scores / self.temperature


class TopKLogitsWarper(LogitsProcessor):
    """Keep the ``top_k`` highest scores (at least ``min_tokens_to_keep``); the rest get ``filter_value``."""

    def __init__(self, top_k: int, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1):
        if not isinstance(top_k, int) or top_k <= 0:
            raise ValueError(f"`top_k` must be a strictly positive integer, but is {top_k!r}.")
        self.top_k = max(top_k, min_tokens_to_keep)
        self.filter_value = filter_value

    def __call__(self, input_ids, scores):
        k = min(self.top_k, scores.shape[-1])
        kth_best = torch.topk(scores, k).values[..., -1:]
        return scores.masked_fill(scores < kth_best, self.filter_value)


class TopPLogitsWarper(LogitsProcessor):
    """Nucleus sampling (https://arxiv.org/abs/1904.09751): keep the smallest set of tokens whose
    probabilities add up to ``top_p`` (at least ``min_tokens_to_keep``)."""

    def __init__(self, top_p: float, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1):
        top_p = float(top_p)
        if not 0 <= top_p <= 1:
            raise ValueError(f"`top_p` must be in [0, 1], but is {top_p!r}.")
        _check_min_tokens(min_tokens_to_keep)
        self.top_p = top_p
        self.filter_value = filter_value
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids, scores):
        ascending, order = torch.sort(scores, descending=False)
        mass_below = ascending.softmax(-1).cumsum(-1)  # probability of this token and all less likely ones
        drop = mass_below <= 1 - self.top_p
        drop[..., -self.min_tokens_to_keep:] = False
        return scores.masked_fill(drop.scatter(1, order, drop), self.filter_value)


class MinPLogitsWarper(LogitsProcessor):
    """Min-p sampling (https://arxiv.org/abs/2407.01082): drop tokens less likely than ``min_p``
    times the most likely token's probability."""

    def __init__(self, min_p: float, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1):
        if not 0 <= min_p <= 1:
            raise ValueError(f"`min_p` must be in [0, 1], but is {min_p!r}.")
        _check_min_tokens(min_tokens_to_keep)
        self.min_p = min_p
        self.filter_value = filter_value
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids, scores):
        probs = scores.softmax(-1)
        drop = probs < self.min_p * probs.amax(-1, keepdim=True)
        best = torch.topk(probs, min(self.min_tokens_to_keep, probs.shape[-1]), dim=-1).indices
        drop.scatter_(-1, best, False)
        return scores.masked_fill(drop, self.filter_value)


class TypicalLogitsWarper(LogitsProcessor):
    """Locally typical sampling (https://arxiv.org/abs/2202.00666): keep the tokens whose surprisal is
    closest to the distribution's entropy, up to probability mass ``mass``."""

    def __init__(self, mass: float = 0.9, filter_value: float = NEG_INF, min_tokens_to_keep: int = 1):
        mass = float(mass)
        if not 0 < mass < 1:
            raise ValueError(f"`typical_p` must be in (0, 1), but is {mass!r}.")
        _check_min_tokens(min_tokens_to_keep)
        self.mass = mass
        self.filter_value = filter_value
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids, scores):
        log_probs = scores.log_softmax(-1)
        entropy = -(log_probs * log_probs.exp()).nansum(-1, keepdim=True)
        distance, order = torch.sort((-log_probs - entropy).abs(), descending=False)  # most typical first
        mass = scores.gather(-1, order).softmax(-1).cumsum(-1)
        last = (mass < self.mass).sum(1).clamp(max=distance.shape[-1] - 1)
        drop = distance > distance.gather(1, last[:, None])
        drop[..., :self.min_tokens_to_keep] = False
        return scores.masked_fill(drop.scatter(1, order, drop), self.filter_value)


# ---------------------------------------------------------------------------------------------
# numerics


class InfNanRemoveLogitsProcessor(LogitsProcessor):
    """Replace NaN by 0 and +/-inf by the dtype's largest/smallest value, so sampling cannot fail."""

    def __call__(self, input_ids, scores):
        scores = torch.where(scores != scores, 0.0, scores)
        finfo = torch.finfo(scores.dtype)
        scores = torch.where(scores == math.inf, finfo.max, scores)
        return torch.where(scores == -math.inf, finfo.min, scores)


class LogitNormalization(LogitsProcessor):
    """Turn the processed scores into log-probabilities again (``renormalize_logits=True``)."""

    def __call__(self, input_ids, scores):
        return scores.log_softmax(-1)
