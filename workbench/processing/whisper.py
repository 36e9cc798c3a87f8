"""Whisper's audio features: 30-second windows of 16 kHz mono audio as 80 (or 128) log-mel bins
every 10 ms, computed with ``torch.stft``.

    waveform (B, samples) ─► pad or cut to 30 s ─► [zero mean, unit variance] ─► |STFT|² (400-sample
    Hann window, hop 160, the last frame dropped) ─► Slaney mel filters ─► log10 (floor 1e-10)
    ─► clipped to 8 below each row's maximum ─► (x + 4) / 4  =  input_features (B, mels, 3000)
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch

from .audio_rows import waveform_rows
from .base import BatchFeature, FeatureExtractionMixin

logger = logging.getLogger("workbench")


def hz_to_mel(frequencies: torch.Tensor) -> torch.Tensor:
    """Slaney's mel scale: linear (3 mels per 200 Hz) below 1 kHz, logarithmic above."""
    linear = frequencies * 3.0 / 200.0
    logarithmic = 15.0 + torch.log(frequencies.clamp(min=1e-10) / 1000.0) * (27.0 / math.log(6.4))
    return torch.where(frequencies >= 1000.0, logarithmic, linear)


def mel_to_hz(mels: torch.Tensor) -> torch.Tensor:
    linear = mels * 200.0 / 3.0
    logarithmic = 1000.0 * torch.exp((mels - 15.0) * (math.log(6.4) / 27.0))
    return torch.where(mels >= 15.0, logarithmic, linear)


def mel_filter_bank(frequency_bins: int, mel_bins: int, sampling_rate: int, min_frequency: float = 0.0,
                    max_frequency: float | None = None) -> torch.Tensor:
    """(frequency_bins, mel_bins) triangular filters evenly spaced on Slaney's mel scale, each
    scaled to unit area (Slaney normalisation), in float64."""
    max_frequency = sampling_rate / 2 if max_frequency is None else max_frequency
    fft_frequencies = torch.linspace(0, sampling_rate / 2, frequency_bins, dtype=torch.float64)
    edges = torch.tensor([min_frequency, max_frequency], dtype=torch.float64)
    mel_edges = hz_to_mel(edges)
    centers = mel_to_hz(torch.linspace(float(mel_edges[0]), float(mel_edges[1]), mel_bins + 2, dtype=torch.float64))
    widths = centers.diff()  # (mel_bins + 1,)
    rising = (fft_frequencies[:, None] - centers[None, :-2]) / widths[None, :-1]
    falling = (centers[None, 2:] - fft_frequencies[:, None]) / widths[None, 1:]
    filters = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return filters * (2.0 / (centers[2:] - centers[:-2]))[None, :]


class WhisperFeatureExtractor(FeatureExtractionMixin):
    """Raw audio in, Whisper's ``input_features`` out (see the module docstring).

    >>> extractor = WhisperFeatureExtractor()
    >>> extractor(np.zeros(16000, dtype=np.float32), sampling_rate=16000, return_tensors="pt").input_features.shape
    torch.Size([1, 80, 3000])
    """

    settings = {"feature_size": 80, "sampling_rate": 16000, "hop_length": 160, "chunk_length": 30, "n_fft": 400,
                "padding_value": 0.0, "dither": 0.0, "return_attention_mask": False, "padding_side": "right"}
    model_input_names = ["input_features"]

    def __init__(self, **kwargs: Any) -> None:
        for derived in ("mel_filters", "window"):  # older saves wrote them; they follow from the settings
            kwargs.pop(derived, None)
        super().__init__(**kwargs)
        self.n_samples = self.chunk_length * self.sampling_rate
        self.nb_max_frames = self.n_samples // self.hop_length
        self.mel_filters = mel_filter_bank(1 + self.n_fft // 2, self.feature_size, self.sampling_rate, 0.0, 8000.0)

    def __call__(self, raw_speech, truncation: bool = True, pad_to_multiple_of: int | None = None,
                 return_tensors: str | None = None, return_attention_mask: bool | None = None,
                 padding: bool | str = "max_length", max_length: int | None = None, sampling_rate: int | None = None,
                 do_normalize: bool | None = None, device: str | torch.device = "cpu") -> BatchFeature:
        """``raw_speech``: one mono waveform (a 1-D array or list of floats) or a batch of them
        (a list, or a 2-D array), at ``sampling_rate`` (16 kHz). ``padding``: "max_length" (30 s,
        the default, what the model expects), "longest" / True, or False for equal lengths."""
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise ValueError(f"The audio is sampled at {sampling_rate} Hz but this feature extractor expects "
                             f"{self.sampling_rate} Hz: resample it first (for example with torchaudio or scipy).")
        if sampling_rate is None:
            logger.warning("Pass sampling_rate=%d to the feature extractor: without it a wrong rate goes unnoticed.",
                           self.sampling_rate)
        rows = waveform_rows(raw_speech)
        cap = max_length or self.n_samples
        if truncation:
            rows = [row[:cap] for row in rows]
        length = self._padded_length(rows, padding, cap, pad_to_multiple_of)
        mask = torch.zeros(len(rows), length, dtype=torch.int32)
        waveform = torch.full((len(rows), length), float(self.padding_value), dtype=torch.float32)
        for i, row in enumerate(rows):
            waveform[i, :len(row)] = torch.from_numpy(row)
            mask[i, :len(row)] = 1
        if do_normalize:  # each row over its own samples (float32, as the reference sums), padding kept
            for i, row in enumerate(rows):
                waveform[i, :len(row)] = torch.from_numpy((row - row.mean()) / np.sqrt(row.var() + 1e-7))
        features = self.log_mel(waveform, device)
        out = BatchFeature(input_features=features.numpy())
        if self.return_attention_mask if return_attention_mask is None else return_attention_mask:
            frames = mask[:, ::self.hop_length]
            if length % self.hop_length:  # the STFT's last frame is dropped
                frames = frames[:, :-1]
            out["attention_mask"] = frames.numpy()
        return out.convert_to_tensors(return_tensors)

    def log_mel(self, waveform: torch.Tensor, device: str | torch.device = "cpu") -> torch.Tensor:
        """(B, samples) float32 -> (B, feature_size, samples // hop_length) log-mel features."""
        waveform = waveform.to(device)
        if self.dither:
            waveform = waveform + self.dither * torch.randn_like(waveform)
        window = torch.hann_window(self.n_fft, device=waveform.device)
        spectrum = torch.stft(waveform, self.n_fft, self.hop_length, window=window, return_complex=True)
        power = (spectrum[..., :-1].abs() ** 2).contiguous()  # (B, bins, frames)
        mel = self.mel_filters.to(waveform.device, torch.float32).T @ power
        log = torch.clamp(mel, min=1e-10).log10()
        log = torch.maximum(log, log.amax(dim=(1, 2), keepdim=True) - 8.0)
        return ((log + 4.0) / 4.0).cpu()

    def _padded_length(self, rows: list[np.ndarray], padding, cap: int, multiple: int | None) -> int:
        longest = max(len(row) for row in rows)
        if padding == "max_length":
            length = cap
        elif padding in (True, "longest"):
            length = longest
        elif padding in (False, "do_not_pad"):
            if len({len(row) for row in rows}) > 1:
                raise ValueError("The waveforms have different lengths and padding=False: pass padding='longest' "
                                 "or 'max_length' (the default) to batch them.")
            length = longest
        else:
            raise ValueError(f"padding={padding!r}: use 'max_length', 'longest' (or True), or False.")
        if multiple:
            length = -(-length // multiple) * multiple
        return max(length, longest)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "nb_max_frames": self.nb_max_frames, "n_samples": self.n_samples}

