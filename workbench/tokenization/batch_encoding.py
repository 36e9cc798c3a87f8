"""``BatchEncoding``: what a tokenizer call returns.

A dict of model inputs (``input_ids``, ``attention_mask``, ...) that also keeps the
``tokenizers.Encoding`` of every row, so tokens can be mapped back to words and characters.
torch is imported only when tensors are asked for.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .options import check_return_tensors


class CharSpan(NamedTuple):
    """Characters ``[start, end)`` of the original string."""

    start: int
    end: int


class TokenSpan(NamedTuple):
    """Tokens ``[start, end)`` of an encoded sequence."""

    start: int
    end: int


class BatchEncoding(dict):
    """Model inputs by name, with key and attribute access, plus the alignment maps of a fast tokenizer.

    >>> batch = tokenizer(["Hello world", "Hi"], padding=True, return_tensors="pt")
    >>> batch.input_ids.shape, batch.word_ids(0)        # doctest: +SKIP
    (torch.Size([2, 4]), [None, 0, 1, None])

    ``batch[i]`` with an int gives the ``tokenizers.Encoding`` of row ``i``; ``batch["input_ids"]``
    gives the values.
    """

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        encoding=None,
        tensor_type: str | None = None,
        prepend_batch_axis: bool = False,
        n_sequences: int | None = None,
    ):
        super().__init__(data or {})
        if encoding is not None and not isinstance(encoding, (list, tuple)):
            encoding = [encoding]
        self._encodings = list(encoding) if encoding is not None else None
        if n_sequences is None and self._encodings:
            n_sequences = self._encodings[0].n_sequences
        self._n_sequences = n_sequences
        self.convert_to_tensors(tensor_type, prepend_batch_axis=prepend_batch_axis)

    def __getitem__(self, item):
        if isinstance(item, str):
            return super().__getitem__(item)
        if self._encodings is not None and isinstance(item, (int, slice)):
            return self._encodings[item]
        if isinstance(item, slice):
            return {key: value[item] for key, value in self.items()}
        raise KeyError(
            f"BatchEncoding keys are str (like 'input_ids'), int (the tokenizers.Encoding of one row) or "
            f"slices; got {item!r}."
        )

    def __getattr__(self, name: str):
        try:
            return super().__getitem__(name)
        except KeyError:
            raise AttributeError(f"BatchEncoding has no key or attribute {name!r} (keys: {list(self)})") from None

    @property
    def data(self) -> dict:
        """The inputs themselves (a ``BatchEncoding`` is already a dict)."""
        return self

    @property
    def n_sequences(self) -> int | None:
        """1 for single sequences, 2 for pairs, None when unknown."""
        return self._n_sequences

    @property
    def is_fast(self) -> bool:
        return self._encodings is not None

    @property
    def encodings(self) -> list | None:
        """The ``tokenizers.Encoding`` of each row (one per overflow window), or None after ``pad``."""
        return self._encodings

    # --- alignment between tokens, words and characters (rows come from self._encodings) ---

    def _encoding(self, method: str, batch_index: int):
        if not self._encodings:
            raise ValueError(
                f"{method}() needs the encodings of a tokenizer call; this BatchEncoding has none "
                "(it was built by pad() or by hand)."
            )
        return self._encodings[batch_index]

    def _split_index(self, method: str, batch_or_index: int, index: int | None) -> tuple[Any, int]:
        batch_index, index = (0, batch_or_index) if index is None else (batch_or_index, index)
        encoding = self._encoding(method, batch_index)
        return encoding, index

    def tokens(self, batch_index: int = 0) -> list[str]:
        return self._encoding("tokens", batch_index).tokens

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """The word each token comes from; None for special tokens and padding."""
        return self._encoding("word_ids", batch_index).word_ids

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """0 or 1 for tokens of the first or second sequence; None for special tokens and padding."""
        return self._encoding("sequence_ids", batch_index).sequence_ids

    def token_to_sequence(self, batch_or_token_index: int, token_index: int | None = None) -> int:
        encoding, index = self._split_index("token_to_sequence", batch_or_token_index, token_index)
        return encoding.token_to_sequence(index if index >= 0 else len(encoding) + index)

    def token_to_word(self, batch_or_token_index: int, token_index: int | None = None) -> int:
        encoding, index = self._split_index("token_to_word", batch_or_token_index, token_index)
        return encoding.token_to_word(index if index >= 0 else len(encoding) + index)

    def token_to_chars(self, batch_or_token_index: int, token_index: int | None = None) -> CharSpan | None:
        encoding, index = self._split_index("token_to_chars", batch_or_token_index, token_index)
        span = encoding.token_to_chars(index if index >= 0 else len(encoding) + index)
        return CharSpan(*span) if span is not None else None

    def char_to_token(
        self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0
    ) -> int | None:
        encoding, index = self._split_index("char_to_token", batch_or_char_index, char_index)
        return encoding.char_to_token(index, sequence_index)

    def word_to_tokens(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> TokenSpan | None:
        encoding, index = self._split_index("word_to_tokens", batch_or_word_index, word_index)
        span = encoding.word_to_tokens(index, sequence_index)
        return TokenSpan(*span) if span is not None else None

    def word_to_chars(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> CharSpan | None:
        encoding, index = self._split_index("word_to_chars", batch_or_word_index, word_index)
        span = encoding.word_to_chars(index, sequence_index)
        return CharSpan(*span) if span is not None else None

    def char_to_word(self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0) -> int:
        encoding, index = self._split_index("char_to_word", batch_or_char_index, char_index)
        return encoding.char_to_word(index, sequence_index)

    # --- tensors ---

    def convert_to_tensors(self, tensor_type: str | None = None, prepend_batch_axis: bool = False) -> "BatchEncoding":
        """Turn every list value into a ``torch.Tensor`` ('pt') or ``numpy.ndarray`` ('np'), in place."""
        tensor_type = check_return_tensors(tensor_type)
        if tensor_type is None:
            return self
        convert = _to_torch if tensor_type == "pt" else _to_numpy
        for key, value in self.items():
            if prepend_batch_axis:
                value = [value]
            try:
                self[key] = convert(value)
            except (ValueError, TypeError, RuntimeError) as error:
                raise ValueError(
                    f"Cannot make a {tensor_type!r} tensor of {key!r}: its rows have different lengths or it "
                    f"nests too deeply ({error}). Pass padding=True (and truncation=True for long texts) so "
                    "every row has the same length, or leave return_tensors=None to get lists."
                ) from None
        return self

    def to(self, device, *, non_blocking: bool = False) -> "BatchEncoding":
        """Move every tensor to ``device`` (in place; returns self). Non-tensor values are left alone."""
        for key, value in self.items():
            if callable(getattr(value, "to", None)) and not isinstance(value, np.ndarray):
                self[key] = value.to(device=device, non_blocking=non_blocking)
        return self


def _is_empty(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_empty(item) for item in value)
    return False


def _to_torch(value):
    import torch

    if torch.is_tensor(value):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
        return torch.from_numpy(np.array(value))
    return torch.tensor(value, dtype=torch.int64 if _is_empty(value) else None)


def _to_numpy(value):
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "numpy") and hasattr(value, "detach"):  # a torch tensor
        return value.detach().cpu().numpy()
    if _is_empty(value):
        return np.asarray(value, dtype=np.int64)
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, np.ndarray)):
        if len({len(row) for row in value}) > 1:
            # ragged rows: an object array of 1-D arrays, as the reference gives
            rows = np.empty(len(value), dtype=object)
            rows[:] = [np.asarray(row) for row in value]
            return rows
    return np.asarray(value)
