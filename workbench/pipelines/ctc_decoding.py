"""CTC speech recognition's last step: per-frame model outputs of one audio -> the pipeline's answer.

    chunk logits (1, T, V) ─► argmax ids (T,) ─► [cut each chunk's overlap: frames left : T - right]
        ─► chunks joined ─► tokenizer.decode (repeats grouped, blank dropped) ─► {"text": "HELLO WORLD"}
        ─► with return_timestamps="char" | "word": frame offsets x inputs_to_logits_ratio / sampling_rate
           ─► {"text": ..., "chunks": [{"text": "HELLO", "timestamp": (0.36, 0.62)}, ...]}

Chunked audio overlaps its neighbours by a stride on each side (the reference's ``chunk_length_s`` /
``stride_length_s``); the frames of that overlap are dropped before the chunks are joined, so each
stretch of audio is read once, from the chunk where it had context on both sides.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..tokenization.wav2vec2 import word_offsets_from_chars

Stride = tuple[int, int, int]  # (chunk samples, left overlap samples, right overlap samples)


def decode_ctc(outputs, tokenizer, *, strides: Sequence[Stride | None] | Stride | None = None,
               return_timestamps: str | bool | None = None, inputs_to_logits_ratio: int = 1,
               sampling_rate: int = 16000) -> dict[str, Any]:
    """Decode the CTC model outputs of one audio as the reference's ASR pipeline does.

    ``outputs``: the logits (1, T, V) or (T, V), or argmax ids (1, T) or (T,), of each chunk in order
    (a list), or of the whole audio (one array or tensor). ``tokenizer``: a ``Wav2Vec2CTCTokenizer``.
    ``strides``: one ``(chunk_samples, left_samples, right_samples)`` per chunk (None: nothing to
    cut), in audio samples as the chunks were cut (``chunk_samples`` the chunk's real length); a
    single output takes one stride tuple. ``return_timestamps``: None, "char" or "word".
    ``inputs_to_logits_ratio``: samples per frame (the model config's, the product of its
    ``conv_stride``; 320 for Wav2Vec2), with ``sampling_rate`` turning frames into seconds.

    >>> decode_ctc(model(input_values).logits, tokenizer, return_timestamps="word",   # doctest: +SKIP
    ...            inputs_to_logits_ratio=model.config.inputs_to_logits_ratio)
    {'text': 'HELLO WORLD', 'chunks': [{'text': 'HELLO', 'timestamp': (0.36, 0.62)}, ...]}
    """
    if return_timestamps not in (None, False, "char", "word"):
        raise ValueError(f"return_timestamps={return_timestamps!r}: CTC models give 'char' or 'word' timestamps "
                         "(or None for the text alone).")
    chunks = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    if not chunks:
        raise ValueError("decode_ctc got no model outputs: pass the logits (or ids) of at least one chunk.")
    if strides is None:
        strides = [None] * len(chunks)
    elif len(strides) == 3 and all(isinstance(value, numbers.Integral) for value in strides):
        strides = [strides]  # the stride of a single output
    if len(strides) != len(chunks):
        raise ValueError(f"decode_ctc got {len(chunks)} chunks but {len(strides)} strides: pass one stride per chunk.")
    ids = np.concatenate([_cut(_frame_ids(chunk), stride, inputs_to_logits_ratio)
                          for chunk, stride in zip(chunks, strides)])
    text = tokenizer.decode(ids, skip_special_tokens=False)
    if not return_timestamps:
        return {"text": text}
    offsets = tokenizer.decode(ids, skip_special_tokens=False, output_char_offsets=True)["char_offsets"]
    if return_timestamps == "word":
        offsets = word_offsets_from_chars(offsets, tokenizer.replace_word_delimiter_char)
    chunks = [{"text": item[return_timestamps],
               "timestamp": (item["start_offset"] * inputs_to_logits_ratio / sampling_rate,
                             item["end_offset"] * inputs_to_logits_ratio / sampling_rate)} for item in offsets]
    return {"text": text, "chunks": chunks}


def rescale_stride(stride: Stride, inputs_to_logits_ratio: int) -> Stride:
    """A stride in audio samples -> the same in model frames: (chunk frames, left frames, right frames)."""
    samples, left, right = stride
    frames = int(round(samples * (1 / inputs_to_logits_ratio)))  # as the reference rounds it, at .5 too
    return frames, int(round(left / samples * frames)), int(round(right / samples * frames))


def _frame_ids(chunk) -> np.ndarray:
    """(1, T, V) / (T, V) logits or (1, T) / (T,) ids -> (T,) int ids."""
    if isinstance(chunk, torch.Tensor):  # bf16 / fp16 logits have no numpy dtype: argmax them in float32
        chunk = (chunk.float() if chunk.is_floating_point() else chunk).detach().cpu().numpy()
    array = np.asarray(chunk)
    if np.issubdtype(array.dtype, np.floating):
        if array.ndim == 3:
            array = _one_row(array)
        if array.ndim != 2:
            raise ValueError(f"CTC logits must be (1, frames, vocab) or (frames, vocab), got shape {array.shape}.")
        return array.argmax(-1)
    if array.ndim == 2:
        array = _one_row(array)
    if array.ndim != 1:
        raise ValueError(f"CTC ids must be (1, frames) or (frames,), got shape {array.shape}.")
    return array.astype(np.int64)


def _one_row(array: np.ndarray) -> np.ndarray:
    if array.shape[0] != 1:
        raise ValueError(f"decode_ctc decodes one audio at a time, got a batch of {array.shape[0]} rows: pass each "
                         "row's outputs (its chunks, in order) in its own call.")
    return array[0]


def _cut(ids: np.ndarray, stride: Stride | None, inputs_to_logits_ratio: int) -> np.ndarray:
    """Drop a chunk's overlap frames; the chunk may hold more frames than the stride counts (padding)."""
    if stride is None:
        return ids
    frames, left, right = rescale_stride(stride, inputs_to_logits_ratio)
    return ids[left:frames - right]
