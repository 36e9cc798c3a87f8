"""Wav2Vec2's audio input: the raw 16 kHz waveform itself, padded into a batch and (by default)
normalized to zero mean and unit variance per row. HuBERT, WavLM and the other CTC speech models
share it.

    waveforms ─► [cut to max_length] ─► pad (right, padding_value) ─► [normalize each row]
              ─► input_values (B, samples) [+ attention_mask (B, samples), 1 on real samples]

A row is normalized over its real samples when the attention mask is computed; without one
(``return_attention_mask=False``, the default of checkpoints whose feature encoder uses group norm)
the padding takes part too, as in the reference.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from .audio_rows import waveform_rows
from .base import BatchFeature, FeatureExtractionMixin

logger = logging.getLogger("workbench")
PADDINGS = {True: "longest", "longest": "longest", "max_length": "max_length", False: None, "do_not_pad": None}


class Wav2Vec2FeatureExtractor(FeatureExtractionMixin):
    """Raw audio in, ``input_values`` out (see the module docstring).

    >>> extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    >>> batch = extractor([np.ones(3), np.arange(5.0)], sampling_rate=16000, padding=True, return_tensors="pt")
    >>> batch.input_values.shape, batch.attention_mask.tolist()
    (torch.Size([2, 5]), [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    """

    settings = {"feature_size": 1, "sampling_rate": 16000, "padding_value": 0.0, "padding_side": "right",
                "return_attention_mask": False, "do_normalize": True}
    model_input_names = ["input_values", "attention_mask"]

    def __call__(self, raw_speech, padding: bool | str = False, max_length: int | None = None, truncation: bool = False,
                 pad_to_multiple_of: int | None = None, return_attention_mask: bool | None = None,
                 return_tensors: str | None = None, sampling_rate: int | None = None) -> BatchFeature:
        """``raw_speech``: one mono waveform (1-D array, tensor or list of floats) or a batch of them (a
        list, or a 2-D array) at ``sampling_rate``. ``padding``: False (rows keep their lengths),
        "longest" / True, or "max_length" (with ``max_length``); ``truncation=True`` cuts rows to
        ``max_length``. Without ``return_tensors``, normalized values and the mask come back as lists of
        arrays (one per row), as in the reference."""
        self._check_rate(sampling_rate)
        padded = self.pad({"input_values": waveform_rows(raw_speech, dtype=None)}, padding, max_length, truncation,
                          pad_to_multiple_of, return_attention_mask)
        if "attention_mask" in padded:
            padded["attention_mask"] = list(padded["attention_mask"])
        if self.do_normalize:
            rows = padded["input_values"]
            masks = padded.get("attention_mask") if PADDINGS.get(padding) else None  # lengths known once padded
            lengths = [int(mask.sum()) for mask in masks] if masks is not None else [None] * len(rows)
            padded["input_values"] = [self._normalized(row, length) for row, length in zip(rows, lengths)]
        return _to_tensors(padded, return_tensors)

    def pad(self, processed_features, padding: bool | str = True, max_length: int | None = None,
            truncation: bool = False, pad_to_multiple_of: int | None = None,
            return_attention_mask: bool | None = None, return_tensors: str | None = None) -> BatchFeature:
        """Pad (and with ``truncation`` cut) ``{"input_values": rows, ["attention_mask": rows]}``, or a list
        of such dicts (what a data collator gets), to one length. Rows come back as float32 arrays."""
        features = _by_key(processed_features)
        if "input_values" not in features:
            raise ValueError(f"pad() needs 'input_values' among the features, got {sorted(features)}: pass the "
                             "feature extractor's output (or a list of its rows).")
        strategy = _strategy(padding, max_length, self.padding_value)
        if truncation and max_length is None:
            raise ValueError("truncation=True needs max_length=<samples>: pass the length to cut the rows to.")
        target = max_length
        if target is not None and pad_to_multiple_of:
            target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        rows = [np.asarray(_numpy(row), dtype=np.float32) for row in features["input_values"]]
        masks = [np.asarray(_numpy(row), dtype=np.int32) for row in features.get("attention_mask") or []]
        wants_mask = self.return_attention_mask if return_attention_mask is None else return_attention_mask
        if wants_mask and not masks:
            masks = [np.ones(len(row), dtype=np.int32) for row in rows]
        if truncation:
            rows, masks = [row[:target] for row in rows], [mask[:target] for mask in masks]
        if strategy == "longest":
            target = max(len(row) for row in rows)
            if pad_to_multiple_of:
                target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
        if strategy is not None:
            rows = [self._pad_row(row, target, self.padding_value) for row in rows]
            masks = [self._pad_row(mask, target, 0) for mask in masks]
        out = BatchFeature(input_values=rows)
        if wants_mask:
            out["attention_mask"] = masks
        if return_tensors is None:  # numpy as the reference gives it: 2-D when the rows line up, else an object array
            return BatchFeature({key: _stack_or_objects(value) for key, value in out.items()})
        return _to_tensors(out, return_tensors)

    def _pad_row(self, row: np.ndarray, length: int, value) -> np.ndarray:
        missing = length - len(row)
        if missing <= 0:
            return row
        if self.padding_side not in ("right", "left"):
            raise ValueError(f"padding_side={self.padding_side!r}: use 'right' or 'left'.")
        widths = (0, missing) if self.padding_side == "right" else (missing, 0)
        return np.pad(row, widths, "constant", constant_values=value)

    def _normalized(self, row: np.ndarray, length: int | None) -> np.ndarray:
        """Zero mean, unit variance over the first ``length`` samples (all when None), in float32 as the
        reference computes it; the padding after them is set back to ``padding_value``."""
        real = row if length is None else row[:length]
        out = (row - real.mean()) / np.sqrt(real.var() + 1e-7)
        if length is not None and length < len(out):
            out[length:] = self.padding_value
        return out

    def _check_rate(self, sampling_rate: int | None) -> None:
        if sampling_rate is None:
            logger.warning("Pass sampling_rate=%d to the feature extractor: without it a wrong rate goes unnoticed.",
                           self.sampling_rate)
        elif sampling_rate != self.sampling_rate:
            raise ValueError(f"The audio is sampled at {sampling_rate} Hz but this feature extractor expects "
                             f"{self.sampling_rate} Hz: resample it first (for example with "
                             "scipy.signal.resample_poly).")


def _numpy(row) -> np.ndarray:
    array = row.detach().cpu().numpy() if isinstance(row, torch.Tensor) else np.asarray(row)
    if array.ndim != 1:
        raise ValueError(f"Each waveform must be a 1-D sequence of samples; got shape {array.shape}.")
    return array


def _by_key(features) -> dict[str, list]:
    """A dict of rows, or a list of per-example dicts -> {name: [row, ...]}."""
    if isinstance(features, (list, tuple)) and features and isinstance(features[0], dict):
        return {key: [example[key] for example in features] for key in features[0]}
    if not isinstance(features, dict):
        raise TypeError(f"pad() takes a dict of features or a list of dicts, not {type(features).__name__}.")
    return {key: (list(value) if not (isinstance(value, np.ndarray) and value.ndim == 1) else [value])
            for key, value in features.items()}


def _strategy(padding, max_length: int | None, padding_value) -> str | None:
    if padding not in PADDINGS:
        raise ValueError(f"padding={padding!r}: use False, True / 'longest', or 'max_length'.")
    strategy = PADDINGS[padding]
    if strategy == "max_length" and max_length is None:
        raise ValueError("padding='max_length' needs max_length=<samples>; or pad to the longest row with "
                         "padding=True.")
    if strategy is not None and padding_value is None:
        raise ValueError("Padding needs a padding_value: set feature_extractor.padding_value = 0.0.")
    return strategy


def _to_tensors(batch: BatchFeature, return_tensors: str | None) -> BatchFeature:
    if return_tensors is None:
        return batch
    for key, rows in batch.items():
        if len({len(row) for row in rows}) > 1:
            raise ValueError(f"The rows of {key} have different lengths ({sorted({len(row) for row in rows})}), so "
                             "they cannot form one tensor: pass padding=True (or padding='max_length', "
                             "max_length=...).")
        batch[key] = np.stack(list(rows))
    return batch.convert_to_tensors(return_tensors)


def _stack_or_objects(rows: list[np.ndarray]) -> np.ndarray:
    if len({len(row) for row in rows}) == 1:
        return np.stack(rows)
    ragged = np.empty(len(rows), dtype=object)
    ragged[:] = rows
    return ragged
