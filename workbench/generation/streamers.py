"""Streamers: show text while ``generate()`` is still running.

``generate(streamer=...)`` calls ``streamer.put(ids)`` once with the prompt (1, T), then with each
new token (1,), and ``streamer.end()`` when it finishes. The tokenizer only needs
``decode(list_of_ids, **decode_kwargs) -> str``.

>>> streamer = TextIteratorStreamer(tokenizer, skip_prompt=True)          # doctest: +SKIP
>>> Thread(target=model.generate, kwargs=dict(inputs, streamer=streamer, max_new_tokens=20)).start()
>>> for piece in streamer:                                                 # doctest: +SKIP
...     print(piece, end="")
"""

from __future__ import annotations

from queue import Queue
from typing import Any

import torch


class BaseStreamer:
    """What ``generate()`` calls: ``put(token_ids)`` for each new chunk, ``end()`` once at the end."""

    def put(self, value: torch.Tensor) -> None:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError


def _is_cjk(character: str) -> bool:
    """CJK ideographs are words by themselves (there are no spaces to wait for)."""
    code = ord(character)
    return any(low <= code <= high for low, high in (
        (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
    ))


class TextStreamer(BaseStreamer):
    """Print text to stdout as soon as whole words are formed (batch size 1 only).

    Tokens are decoded together since the last line break, and text is released up to the last
    space, so a word split over several tokens, or a character over several bytes, is never
    printed half-done. ``skip_prompt=True`` leaves the prompt out; ``decode_kwargs`` go to
    ``tokenizer.decode`` (``skip_special_tokens=True``, say).
    """

    def __init__(self, tokenizer: Any, skip_prompt: bool = False, **decode_kwargs: Any) -> None:
        self.tokenizer = tokenizer
        self.skip_prompt = skip_prompt
        self.decode_kwargs = decode_kwargs
        self.token_cache: list[int] = []
        self.print_len = 0  # characters of the decoded cache already released
        self.next_tokens_are_prompt = True

    def put(self, value: torch.Tensor) -> None:
        if value.dim() > 1 and value.shape[0] > 1:
            raise ValueError(f"{type(self).__name__} streams one sequence, but got a batch of {value.shape[0]}.")
        if value.dim() > 1:
            value = value[0]
        if self.skip_prompt and self.next_tokens_are_prompt:
            self.next_tokens_are_prompt = False
            return
        self.next_tokens_are_prompt = False
        self.token_cache.extend(value.tolist())
        text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
        if text.endswith("\n"):  # a finished line: release it and start afresh
            ready = text[self.print_len:]
            self.token_cache, self.print_len = [], 0
        elif text and _is_cjk(text[-1]):
            ready = text[self.print_len:]
            self.print_len += len(ready)
        else:
            ready = text[self.print_len: text.rfind(" ") + 1]
            self.print_len += len(ready)
        self.on_finalized_text(ready)

    def end(self) -> None:
        """Release whatever is left and finish the line."""
        ready = ""
        if self.token_cache:
            ready = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)[self.print_len:]
        self.token_cache, self.print_len = [], 0
        self.next_tokens_are_prompt = True
        self.on_finalized_text(ready, stream_end=True)

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        """Where released text goes: stdout here; subclasses send it elsewhere."""
        print(text, flush=True, end=None if stream_end else "")


class TextIteratorStreamer(TextStreamer):
    """Like :class:`TextStreamer`, but the text goes into a queue that you iterate over, typically
    while ``generate()`` runs in another thread. ``timeout`` (seconds) bounds each wait for the
    next piece: ``queue.Empty`` is raised if generation stalls or failed."""

    def __init__(self, tokenizer: Any, skip_prompt: bool = False, timeout: float | None = None, **decode_kwargs: Any) -> None:
        super().__init__(tokenizer, skip_prompt, **decode_kwargs)
        self.text_queue: Queue = Queue()
        self.stop_signal = None
        self.timeout = timeout

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        self.text_queue.put(text, timeout=self.timeout)
        if stream_end:
            self.text_queue.put(self.stop_signal, timeout=self.timeout)

    def __iter__(self) -> "TextIteratorStreamer":
        return self

    def __next__(self) -> str:
        value = self.text_queue.get(timeout=self.timeout)
        if value is self.stop_signal:
            raise StopIteration
        return value
