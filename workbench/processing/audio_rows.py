"""The waveform inputs every audio feature extractor takes, as one list of 1-D rows."""

from __future__ import annotations

import numpy as np
import torch


def waveform_rows(raw_speech, dtype=np.float32) -> list[np.ndarray]:
    """One mono waveform (a 1-D array, tensor or list of floats) or a batch of them (a list of
    those, or a 2-D array / tensor) as a list of non-empty 1-D arrays, cast to ``dtype`` (None:
    each row keeps its own)."""
    if isinstance(raw_speech, torch.Tensor):
        raw_speech = raw_speech.detach().cpu().numpy()
    if isinstance(raw_speech, np.ndarray):
        if raw_speech.ndim > 2:
            raise ValueError(f"Audio of shape {raw_speech.shape}: only mono audio is supported, as (samples,) or "
                             "(batch, samples). Mix the channels down first (for example audio.mean(axis=0)).")
        rows = list(raw_speech) if raw_speech.ndim == 2 else [raw_speech]
    elif isinstance(raw_speech, (list, tuple)):
        if not raw_speech:
            raise ValueError("No audio: raw_speech is an empty list.")
        batched = isinstance(raw_speech[0], (np.ndarray, list, tuple, torch.Tensor))
        rows = list(raw_speech) if batched else [raw_speech]
    else:
        raise TypeError(f"raw_speech must be a waveform (a numpy array, tensor or list of floats) or a list of them, "
                        f"not {type(raw_speech).__name__}.")
    out = []
    for row in rows:
        array = np.asarray(row.detach().cpu().numpy() if isinstance(row, torch.Tensor) else row, dtype=dtype)
        if array.ndim != 1 or array.size == 0:
            raise ValueError(f"Each waveform must be a non-empty 1-D sequence of samples; got shape {array.shape}.")
        out.append(array)
    return out
