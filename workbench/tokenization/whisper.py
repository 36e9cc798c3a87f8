"""``WhisperTokenizer``: the byte-level BPE tokenizer plus what Whisper's outputs need to be read.

Whisper writes time as tokens: ids above ``<|notimestamps|>`` are ``<|0.00|>``, ``<|0.02|>``, ...
``<|30.00|>`` (one per 20 ms of a 30 s window), outside the vocabulary, so plain decoding drops them.

    <|startoftranscript|><|en|><|transcribe|>  <|0.00|> Hello there.<|1.20|><|1.20|> How are you?<|2.50|>
    └──── prompt: language, task ────────────┘ └──── segment ──────────┘└──── segment ─────────────┘

``decode(..., decode_with_timestamps=True)`` writes them into the text, ``output_offsets=True`` returns
the segments with their times, and ``_decode_asr`` (the speech-recognition pipeline's decoding, in
:mod:`.whisper_asr`) merges the outputs of overlapping windows into one transcript.
"""

from __future__ import annotations

import re

import numpy as np
from tokenizers import processors

from .decoding import to_python
from .tokenizer import PreTrainedTokenizerFast
from .whisper_asr import WindowClock, decode_asr
from .whisper_languages import LANGUAGES, TASKS, TO_LANGUAGE_CODE

_TIMESTAMP_TEXT = re.compile(r"<\|(\d+\.\d+)\|>")


class WhisperTokenizer(PreTrainedTokenizerFast):
    """Whisper's tokenizer: ``PreTrainedTokenizerFast`` plus timestamp decoding and the prompt tokens.

    >>> tokenizer = AutoTokenizer.from_pretrained("openai/whisper-tiny.en")     # doctest: +SKIP
    >>> tokenizer.decode([50363, 1770, 13, 50400], decode_with_timestamps=True)  # doctest: +SKIP
    '<|0.00|> Mr.<|0.74|>'

    ``language=``, ``task=`` and ``predict_timestamps=`` (settings, or ``set_prefix_tokens``) choose
    the prefix that encoding puts before the text: ``<|startoftranscript|><|fr|><|transcribe|><|notimestamps|>``.
    """

    def __init__(self, tokenizer_object=None, *, language=None, task=None, predict_timestamps=False, **settings):
        super().__init__(tokenizer_object, language=language, task=task, predict_timestamps=predict_timestamps,
                         **settings)
        self.language, self.task, self.predict_timestamps = language, task, predict_timestamps
        if language is not None or task is not None or predict_timestamps:
            self.set_prefix_tokens()  # else tokenizer.json's own template already holds the plain prefix

    @property
    def timestamp_begin(self) -> int:
        """The id of ``<|0.00|>``: the first id after ``<|notimestamps|>``."""
        return self.convert_tokens_to_ids("<|notimestamps|>") + 1

    # --- decoding -------------------------------------------------------------------------------

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None,
               output_offsets: bool = False, time_precision: float = 0.02, decode_with_timestamps: bool = False,
               **kwargs):
        """Ids -> text, as ``PreTrainedTokenizerFast.decode``; timestamp tokens are dropped unless
        ``decode_with_timestamps`` writes them as ``<|1.08|>``. ``skip_special_tokens`` also drops a
        ``<|startofprev|>`` prompt. ``output_offsets=True`` returns ``{"text", "offsets"}``, the offsets
        being one ``{"text", "timestamp": (start, end)}`` per timestamped segment (seconds:
        ``time_precision`` per timestamp step)."""
        if kwargs.get("normalize") or kwargs.get("basic_normalize"):
            raise NotImplementedError("Whisper's text normalizers are not in workbench: decode without normalize= "
                                      "and basic_normalize=, then normalize the text yourself.")
        ids = self._strip_prompt(to_python(token_ids)) if skip_special_tokens else to_python(token_ids)
        if isinstance(ids, int):
            ids = [ids]
        batch = bool(ids) and isinstance(ids[0], (list, tuple))
        if decode_with_timestamps:
            rows = [self._decode_with_timestamps(row, skip_special_tokens, time_precision) for row in (ids if batch else [ids])]
            text = rows if batch else rows[0]
        else:
            text = super().decode(ids, skip_special_tokens, clean_up_tokenization_spaces)
            text = [_TIMESTAMP_TEXT.sub("", t) for t in text] if batch else _TIMESTAMP_TEXT.sub("", text)
        if output_offsets:
            return {"text": text, "offsets": self._compute_offsets(to_python(token_ids), time_precision)}
        return text

    def batch_decode(self, sequences, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None,
                     **kwargs) -> list:
        """``decode`` of each row, with the same options (``decode_with_timestamps``, ``output_offsets``, ...)."""
        return [self.decode(row, skip_special_tokens, clean_up_tokenization_spaces, **kwargs)
                for row in to_python(sequences)]

    def _decode_with_timestamps(self, ids: list[int], skip_special_tokens: bool, time_precision: float,
                                segment_size: int = 1500) -> str:
        """The text with ``<|t|>`` written where timestamp tokens are. Times restart at 0 in each
        30 s window that long-form generation concatenates; the windows' lengths are added back."""
        begin = self.timestamp_begin
        pieces: list = [[]]
        clock = WindowClock(begin, time_precision, segment_size)
        for index, token in enumerate(ids):
            if token < begin:
                pieces[-1].append(token)
                continue
            dropped = clock.step(ids, index)
            if dropped:  # a window ended on two timestamps: its last "<|t|>" and text were a window's end
                pieces = pieces[:-2]
            pieces += [f"<|{clock.latest + clock.shift:.2f}|>", []]
        return "".join(piece if isinstance(piece, str) else
                       super(WhisperTokenizer, self).decode(piece, skip_special_tokens) if piece else "" for piece in pieces)

    def _compute_offsets(self, ids, time_precision: float = 0.02, segment_size: int = 1500) -> list[dict]:
        """One ``{"text", "timestamp": (start, end)}`` per run of text between timestamp tokens."""
        if ids and isinstance(ids[0], (list, tuple)):
            if len(ids) > 1:
                raise ValueError("output_offsets=True decodes one sequence at a time: pass one row of ids.")
            ids = ids[0]
        begin = self.timestamp_begin
        stamps = [index for index, token in enumerate(ids) if token >= begin]
        # a segment ends after two timestamps in a row (end, next start), or at the last timestamp
        cuts = [index + 1 for index in stamps[:-1] if ids[index + 1] >= begin]
        if not cuts and len(stamps) <= 1:
            return []
        if stamps[-1] + 1 not in cuts:
            cuts.append(stamps[-1] + 1)
        offsets, start, latest, shift = [], stamps[0], 0, 0
        for cut in cuts:
            piece = ids[start:cut]
            if len(piece) > 1:
                first, last = piece[0] - begin, piece[-1] - begin
                if first < latest:  # a new 30 s window began: shift by the window (or by where the last one ended)
                    single_ending = start >= 2 and not (ids[start - 2] >= begin and ids[start - 1] >= begin)
                    shift += segment_size if single_ending else latest
                latest = last
                text = _TIMESTAMP_TEXT.sub("", super().decode(piece))
                offsets.append({"text": text, "timestamp": (first * time_precision + shift * time_precision,
                                                            last * time_precision + shift * time_precision)})
            start = cut
        return offsets

    def _strip_prompt(self, ids):
        """Ids without a leading ``<|startofprev|>`` previous-text prompt (up to ``<|startoftranscript|>``)."""
        if not ids or not isinstance(ids, list) or ids[0] != self.convert_tokens_to_ids("<|startofprev|>"):
            return ids
        start = self.convert_tokens_to_ids("<|startoftranscript|>")
        return ids[ids.index(start):] if start in ids else []

    def _decode_asr(self, model_outputs, *, return_timestamps, return_language, time_precision):
        """The ASR pipeline's decoding of one input's generated windows: see :mod:`.whisper_asr`."""
        return decode_asr(self, model_outputs, return_timestamps=return_timestamps, return_language=return_language,
                          time_precision=time_precision)

    # --- the prompt -------------------------------------------------------------------------------

    @property
    def prefix_tokens(self) -> list[int]:
        """``<|startoftranscript|>``, then the language, task and ``<|notimestamps|>`` tokens as set."""
        start = self.convert_tokens_to_ids("<|startoftranscript|>")
        prefix = [start]
        if self.language is not None:
            prefix.append(start + 1 + list(LANGUAGES).index(language_code(self.language)))
        if self.task is not None:
            if self.task not in TASKS:
                raise ValueError(f"Unsupported task {self.task!r}: Whisper's tasks are {list(TASKS)}.")
            prefix.append(self.convert_tokens_to_ids(f"<|{self.task}|>"))
        if not self.predict_timestamps:
            prefix.append(self.convert_tokens_to_ids("<|notimestamps|>"))
        return prefix

    def set_prefix_tokens(self, language: str | None = None, task: str | None = None,
                          predict_timestamps: bool | None = None) -> None:
        """Change what encoding puts before the text (for fine-tuning labels): the arguments given
        replace the current ones, e.g. ``set_prefix_tokens(language="french")``."""
        self.language = language.lower() if language is not None else self.language
        self.task = task if task is not None else self.task
        self.predict_timestamps = predict_timestamps if predict_timestamps is not None else self.predict_timestamps
        ids = self.prefix_tokens
        names = self.convert_ids_to_tokens(ids)
        head = " ".join(f"{name}:0" for name in names)
        eos = self.eos_token
        self._tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{head} $A:0 {eos}:0", pair=f"{head} $A:0 $B:1 {eos}:1",
            special_tokens=[(eos, self.eos_token_id), *zip(names, ids)])

    def get_decoder_prompt_ids(self, task=None, language=None, no_timestamps: bool = True) -> list[tuple[int, int]]:
        """The forced decoder ids after ``<|startoftranscript|>``: ``[(1, <|fr|>), (2, <|transcribe|>), ...]``.
        Sets the tokenizer's prefix as ``set_prefix_tokens`` does."""
        self.set_prefix_tokens(task=task, language=language, predict_timestamps=not no_timestamps)
        return [(position, token) for position, token in enumerate(self.prefix_tokens[1:], start=1)]

    def get_prompt_ids(self, text: str, return_tensors: str | None = "np"):
        """``<|startofprev|>`` and the text's ids: the previous-text prompt ``generate(prompt_ids=...)`` takes."""
        ids = self("<|startofprev|>", " " + text.strip(), add_special_tokens=False)["input_ids"]
        special = next((token for token in ids[1:] if token >= self.all_special_ids[0]), None)
        if special is not None:
            raise ValueError(f"The prompt text holds the special token {self.convert_ids_to_tokens(special)}: "
                             "remove it from the text.")
        if return_tensors == "pt":
            import torch

            return torch.tensor(ids)
        return np.asarray(ids) if return_tensors == "np" else ids


def language_code(language: str) -> str:
    """``"French"`` or ``"fr"`` -> ``"fr"``; an unknown language raises, listing the known ones."""
    language = language.lower()
    if language in TO_LANGUAGE_CODE:
        return TO_LANGUAGE_CODE[language]
    if language in LANGUAGES:
        return language
    known = list(LANGUAGES) if len(language) == 2 else list(TO_LANGUAGE_CODE)
    raise ValueError(f"Unsupported language {language!r}: Whisper knows {known}.")
