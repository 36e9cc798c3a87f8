"""Whisper's outputs for the speech-recognition pipeline: overlapping windows merged into one transcript.

The pipeline cuts long audio into windows that overlap by a stride on each side and transcribes
them separately (in batches). Here the windows' tokens become one text:

    window 1: [ ........ text ........ | right stride ]
    window 2:               [ left stride | ........ text ........ ]
                              └─ same speech: the tokens are aligned on their longest common run,
                                 the left window trusted for the first half of it, the right for the rest

With ``return_timestamps=True`` the text is cut into segments at the timestamp tokens (times in
seconds from the start of the audio; a timestamp inside a stride waits for the next window);
with ``"word"``, into words timed by the token timestamps generate() computes from cross-attention.
"""

from __future__ import annotations

import logging

import numpy as np

from .whisper_languages import LANGUAGES

logger = logging.getLogger("workbench")

# punctuation that joins the next word (prepended) or the previous one (appended), as Whisper's word timing does
PREPENDED = "\"'“¡¿([{-"
APPENDED = "\"'.。,，!！?？:：”)]}、"
_NO_SPACES = {"chinese", "japanese", "thai", "lao", "myanmar", "cantonese"}


def decode_asr(tokenizer, model_outputs: list[dict], *, return_timestamps, return_language, time_precision: float,
               segment_size: int = 1500) -> tuple[str, dict]:
    """``(text, {"chunks": [...]} or {})`` from one input's outputs, in order: each a dict with
    ``tokens`` (1, T), optionally ``stride`` = (window, left, right) in seconds and, for
    ``return_timestamps="word"``, ``token_timestamps`` (1, T)."""
    merger = _Merger(tokenizer, return_timestamps, return_language, time_precision, segment_size)
    for output in model_outputs:
        merger.read(output)
    chunks = merger.finish()
    text = "".join(chunk["text"] for chunk in chunks)
    if not (return_timestamps or return_language):
        return text, {}
    for chunk in chunks:
        if return_timestamps:
            chunk["timestamp"] = tuple(chunk["timestamp"])
        else:
            chunk.pop("timestamp")
        if not return_language:
            chunk.pop("language")
    if return_timestamps == "word":
        chunks = [word for chunk in chunks for word in chunk.get("words", [])]
    return text, {"chunks": chunks}


class _Merger:
    """The state carried from window to window: the open chunk, the tokens (and token times) read
    since its start, one list per window, and the time where the current window starts."""

    def __init__(self, tokenizer, return_timestamps, return_language, time_precision: float, segment_size: int) -> None:
        self.tokenizer, self.words, self.return_language = tokenizer, return_timestamps == "word", return_language
        self.return_timestamps, self.precision, self.segment_size = return_timestamps, time_precision, segment_size
        self.begin = tokenizer.timestamp_begin
        self.special = set(tokenizer.all_special_ids)
        self.language = None
        self.chunks: list[dict] = []
        self.chunk = self._new_chunk()
        self.offset = 0.0
        self.previous: list[list[int]] = []  # the open chunk's tokens, one list per window
        self.previous_times: list[list[tuple]] = []
        self.skip = False

    def _new_chunk(self) -> dict:
        return {"language": self.language, "timestamp": [None, None], "text": ""}

    def read(self, output: dict) -> None:
        ids = self.tokenizer._strip_prompt(output["tokens"][0].tolist())
        times = output["token_timestamps"][0].tolist() if self.words else None
        # timestamps inside the strides are not split on: those before ``first`` (left stride, already
        # covered by the previous window) and from ``last`` on (right stride, the next window's)
        self.last, self.first = None, self.begin
        stride = output.get("stride")
        if stride is not None:
            window, left, right = stride
            self.offset -= left
            if left:
                self.first = left / self.precision + self.begin
            if right:
                for token in reversed(ids):
                    if token >= self.begin:
                        if self.last is not None and (token - self.begin) * self.precision < window - right:
                            break
                        self.last = token
        self.current, self.current_times = [], []
        clock = WindowClock(self.begin, self.precision, self.segment_size)
        for index, token in enumerate(ids):
            if token in self.special:
                self._special(token)
            elif token >= self.begin:
                clock.step(ids, index)
                self._timestamp(token, round((token - self.begin) * self.precision + self.offset + clock.shift, 2))
            else:
                self.current.append(token)
                if self.words:
                    start = self.offset if index == 0 else times[index - 1] + self.offset
                    self.current_times.append((round(start, 2), round(times[index] + self.offset, 2)))
        if stride is not None:
            self.offset += window - right
        if self.current:
            self.previous.append(self.current)
            if self.words:
                self.previous_times.append(self.current_times)
        elif not any(self.previous):
            self.chunk = self._new_chunk()
            self.previous, self.previous_times = [], []

    def _special(self, token: int) -> None:
        """A language token opens the chunk's language (a change of language without timestamps closes
        the chunk); other special tokens are skipped."""
        language = LANGUAGES.get(self.tokenizer.decode([token])[2:-2])
        if language is None:
            return
        if self.language and language != self.language and not self.return_timestamps:
            self.previous.append(self.current)
            tokens, _ = longest_common_sequence(self.previous)
            self.chunk["text"] = self.tokenizer.decode(tokens)
            self.chunks.append(self.chunk)
            self.previous, self.current = [], []
            self.chunk = self._new_chunk()
        self.chunk["language"] = self.language = language

    def _timestamp(self, token: int, time: float) -> None:
        """A timestamp starts the open chunk or ends it; in a stride it waits (with its pair) for later."""
        if self.last and token >= self.last:
            self.skip = True  # timestamps come in pairs: the next one (a start) is skipped too
        elif self.skip or (self.previous and token < self.first):
            self.skip = False
        elif self.chunk["timestamp"][0] is None:
            self.chunk["timestamp"][0] = time
        elif time != self.chunk["timestamp"][0]:  # an end equal to the start is the model repeating a start
            self.chunk["timestamp"][1] = time
            self.previous.append(self.current)
            if self.words:
                self.previous_times.append(self.current_times)
            self._close()
            self.current, self.current_times = [], []

    def _close(self) -> None:
        tokens, times = longest_common_sequence(self.previous, self.previous_times)
        self.chunk["text"] = self.tokenizer.decode(tokens)
        if self.words:
            self.chunk["words"] = timed_words(self.tokenizer, tokens, times, self.language, self.return_language)
        self.chunks.append(self.chunk)
        self.previous, self.previous_times = [], []
        self.chunk = self._new_chunk()

    def finish(self) -> list[dict]:
        if self.previous:
            if self.return_timestamps:
                logger.warning("Whisper did not predict an ending timestamp (the audio may end mid-word, or "
                               "generate() ran without Whisper's timestamp logits processor).")
            self._close()
        return self.chunks


def longest_common_sequence(sequences: list[list[int]], times: list[list[tuple]] | None = None) -> tuple[list, list]:
    """One token list from the token lists of overlapping windows, and the token times alike.

    Each next window is slid along the end of the merged tokens; the alignment kept has the highest
    share of equal tokens (more than one; with times, equal tokens whose times do not go backwards),
    ties going to the longer overlap. The left window's tokens are kept up to the middle of the
    overlap and the right window's after it."""
    left, merged = sequences[0], []
    left_times, merged_times = (times[0], []) if times else (None, None)
    for position, right in enumerate(sequences[1:], start=1):
        best, cut = 0.0, (len(left), len(left), 0, 0)
        for shift in range(1, len(left) + len(right)):
            left_start, left_stop = max(0, len(left) - shift), min(len(left), len(left) + len(right) - shift)
            right_start, right_stop = max(0, shift - len(left)), min(len(right), shift)
            if times:
                matches = sum(1 for k in range(left_stop - left_start)
                              if left[left_start + k] == right[right_start + k]
                              and left_times[left_start + k] <= times[position][right_start + k])
            else:
                matches = int(np.sum(np.array(left[left_start:left_stop]) == np.array(right[right_start:right_stop])))
            score = matches / shift + shift / 10000.0  # the small term favours longer overlaps
            if matches > 1 and score > best:
                best, cut = score, (left_start, left_stop, right_start, right_stop)
        left_middle, right_middle = (cut[0] + cut[1]) // 2, (cut[2] + cut[3]) // 2
        merged.extend(left[:left_middle])
        left = right[right_middle:]
        if times:
            merged_times.extend(left_times[:left_middle])
            left_times = times[position][right_middle:]
    merged.extend(left)
    if times:
        merged_times.extend(left_times)
    return merged, merged_times or []


def timed_words(tokenizer, tokens: list[int], times: list[tuple], language, return_language) -> list[dict]:
    """``[{"text": word, "timestamp": (start, end)}, ...]``: tokens grouped into words, each timed from
    its first token's start to its last token's end."""
    words, indices = split_words(tokenizer, tokens, language)
    extra = {"language": language} if return_language else {}
    return [{"text": word, "timestamp": (times[group[0]][0], times[group[-1]][1]), **extra}
            for word, group in zip(words, indices)]


def split_words(tokenizer, tokens: list[int], language: str | None = None) -> tuple[list[str], list[list[int]]]:
    """Words and the positions of their tokens: split at spaces (or at every whole character for
    languages written without spaces), punctuation joined to its neighbour."""
    language = language or getattr(tokenizer, "language", None) or "english"
    words, indices = _split_on_characters(tokenizer, tokens)
    if language not in _NO_SPACES:
        words, indices = _join_until_spaces(tokenizer, tokens, words, indices)
    return _merge_punctuation(words, indices)


def _split_on_characters(tokenizer, tokens: list[int]) -> tuple[list[str], list[list[int]]]:
    """Runs of tokens that decode to whole characters (a character's UTF-8 bytes may span tokens)."""
    full = tokenizer.decode(tokens, decode_with_timestamps=True)
    words, indices, pending, position = [], [], [], 0
    for index in range(len(tokens)):
        pending.append(index)
        text = tokenizer.decode([tokens[k] for k in pending], decode_with_timestamps=True)
        broken = text.find("\ufffd")
        if broken < 0 or position + broken >= len(full) or full[position + broken] == "\ufffd":
            words.append(text)
            indices.append(pending)
            pending, position = [], position + len(text)
    return words, indices


def _join_until_spaces(tokenizer, tokens, pieces, indices) -> tuple[list[str], list[list[int]]]:
    words, groups = [], []
    for piece, group in zip(pieces, indices):
        special = tokens[group[0]] >= tokenizer.eos_token_id
        if special or piece.startswith(" ") or piece.strip() in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~" or not words:
            words.append(piece)
            groups.append(list(group))
        else:
            words[-1] += piece
            groups[-1].extend(group)
    return words, groups


def _merge_punctuation(words: list[str], groups: list[list[int]]) -> tuple[list[str], list[list[int]]]:
    """Opening punctuation joins the word after it, closing punctuation the word before it."""
    words, groups = list(words), [list(group) for group in groups]
    target = len(words) - 1
    for index in range(len(words) - 2, -1, -1):
        if words[index].startswith(" ") and words[index].strip() in PREPENDED:
            words[target], groups[target] = words[index] + words[target], groups[index] + groups[target]
            words[index], groups[index] = "", []
        else:
            target = index
    target = 0
    for index in range(1, len(words)):
        if not words[target].endswith(" ") and words[index] in APPENDED:
            words[target] += words[index]
            groups[target] += groups[index]
            words[index], groups[index] = "", []
        else:
            target = index
    return [word for word in words if word], [group for group in groups if group]


class WindowClock:
    """Seconds of timestamp tokens across the 30 s windows of a long-form output, where each window's
    timestamps restart at 0: a drop in time means a new window, whose start is added to what follows."""

    def __init__(self, begin: int, precision: float, window: int) -> None:
        self.begin, self.precision, self.window = begin, precision, window
        self.latest = self.before_latest = self.shift = 0.0

    def step(self, ids: list[int], index: int) -> bool:
        """Read the timestamp at ``ids[index]``; True when the previous window ended on a pair of
        timestamps, whose last one is then not an ending (the caller drops it)."""
        time = float((ids[index] - self.begin) * self.precision)
        dropped = False
        if time < self.latest:
            single_ending = index >= 2 and not (ids[index - 1] >= self.begin and ids[index - 2] >= self.begin)
            if single_ending:
                self.shift += self.precision * self.window
            else:
                self.latest = self.before_latest
                self.shift += self.before_latest
                dropped = True
        self.before_latest, self.latest = self.latest, time
        return dropped
