"""CLAP's audio features: 48 kHz mono audio as 64 log-mel bins (in dB) every 10 ms, 10 seconds a clip.

    waveform ─► shorter than 10 s: repeated ("repeatpad", "repeat") and/or zero-padded to 10 s
             ─► longer: "fusion": the whole clip's mel, squeezed (bilinear) to 10 s, and 3 random 10 s
                crops of it (front, middle and back thirds), is_longer = True
                "rand_trunc": one random 10 s crop of the waveform
             ─► |STFT|² (1024-sample periodic Hann window, hop 480, centred, reflect-padded)
             ─► mel filters ─► 10 · log10(max(·, 1e-10))  =  input_features (B, C, 1001, 64)

C = 4 with "fusion" (a short clip's mel repeated 4 times) and 1 otherwise. The filters follow the
original implementation: HTK's mel scale without normalisation with "fusion" (torchaudio's defaults),
Slaney's scale and areas otherwise (librosa's). With "fusion" and no clip longer than 10 s, one random
clip of the batch is marked ``is_longer`` anyway (the first and only one of a single clip).

The random choices use numpy's global generator (``np.random.seed``), in the reference's order.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from .base import BatchFeature, FeatureExtractionMixin
from .audio_rows import waveform_rows
from .whisper import hz_to_mel as slaney_hz_to_mel, mel_to_hz as slaney_mel_to_hz

logger = logging.getLogger("workbench")


def mel_filters(frequency_bins: int, mel_bins: int, sampling_rate: int, min_frequency: float, max_frequency: float,
                mel_scale: str = "htk", norm: str | None = None) -> torch.Tensor:
    """(frequency_bins, mel_bins) triangular filters evenly spaced on ``mel_scale`` ("htk":
    ``2595 · log10(1 + f / 700)``; "slaney"), in float64; ``norm="slaney"`` scales each to unit area."""
    if mel_scale == "htk":
        to_mel = lambda hz: 2595.0 * torch.log10(1.0 + hz / 700.0)  # noqa: E731
        to_hz = lambda mel: 700.0 * (10.0 ** (mel / 2595.0) - 1.0)  # noqa: E731
    elif mel_scale == "slaney":
        to_mel, to_hz = slaney_hz_to_mel, slaney_mel_to_hz
    else:
        raise ValueError(f"mel_scale={mel_scale!r}: use 'htk' or 'slaney'.")
    edges = to_mel(torch.tensor([float(min_frequency), float(max_frequency)], dtype=torch.float64))
    centers = to_hz(torch.linspace(float(edges[0]), float(edges[1]), mel_bins + 2, dtype=torch.float64))
    fft_frequencies = torch.linspace(0, sampling_rate // 2, frequency_bins, dtype=torch.float64)
    widths = centers.diff()  # (mel_bins + 1,)
    rising = (fft_frequencies[:, None] - centers[None, :-2]) / widths[None, :-1]
    falling = (centers[None, 2:] - fft_frequencies[:, None]) / widths[None, 1:]
    filters = torch.clamp(torch.minimum(rising, falling), min=0.0)
    if norm == "slaney":
        filters = filters * (2.0 / (centers[2:] - centers[:-2]))[None, :]
    elif norm is not None:
        raise ValueError(f"norm={norm!r}: use 'slaney' or None.")
    return filters


class ClapFeatureExtractor(FeatureExtractionMixin):
    """Raw 48 kHz audio in, CLAP's ``input_features`` and ``is_longer`` out (see the module docstring).

    >>> extractor = ClapFeatureExtractor()
    >>> batch = extractor(np.zeros(48000, dtype=np.float32), sampling_rate=48000, return_tensors="pt")
    >>> tuple(batch.input_features.shape), batch.is_longer.tolist()
    ((1, 4, 1001, 64), [[True]])
    """

    settings = {"feature_size": 64, "sampling_rate": 48000, "hop_length": 480, "max_length_s": 10,
                "fft_window_size": 1024, "padding_value": 0.0, "return_attention_mask": False, "frequency_min": 0,
                "frequency_max": 14000, "top_db": None, "truncation": "fusion", "padding": "repeatpad",
                "padding_side": "right"}
    model_input_names = ["input_features", "is_longer"]

    def __init__(self, **kwargs: Any) -> None:
        for derived in ("nb_frequency_bins", "nb_max_samples", "mel_filters", "mel_filters_slaney"):
            kwargs.pop(derived, None)  # they follow from the settings
        super().__init__(**kwargs)
        self.nb_frequency_bins = (self.fft_window_size >> 1) + 1
        self.nb_max_samples = self.max_length_s * self.sampling_rate
        bank = (self.nb_frequency_bins, self.feature_size, self.sampling_rate, self.frequency_min, self.frequency_max)
        self.mel_filters = mel_filters(*bank, mel_scale="htk", norm=None)
        self.mel_filters_slaney = mel_filters(*bank, mel_scale="slaney", norm="slaney")

    def __call__(self, raw_speech, truncation: str | None = None, padding: bool | str | None = None,
                 max_length: int | None = None, sampling_rate: int | None = None, return_tensors: str | None = None,
                 **kwargs: Any) -> BatchFeature:
        """``raw_speech``: one mono waveform or a batch of them, at ``sampling_rate`` (48 kHz).
        ``truncation``: "fusion" or "rand_trunc"; ``padding``: "repeatpad", "repeat" or "pad" (True: the
        extractor's own); ``max_length``: samples per clip (10 s)."""
        truncation = self.truncation if truncation is None else truncation
        padding = self.padding if padding is None or padding is True else padding
        if truncation not in ("fusion", "rand_trunc"):
            raise ValueError(f"truncation={truncation!r}: use 'fusion' or 'rand_trunc'.")
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise ValueError(f"The audio is sampled at {sampling_rate} Hz but this feature extractor expects "
                             f"{self.sampling_rate} Hz: resample it first (for example with scipy.signal.resample_poly).")
        if sampling_rate is None:
            logger.warning("Pass sampling_rate=%d to the feature extractor: without it a wrong rate goes unnoticed.",
                           self.sampling_rate)
        clips = [self.clip_features(row, max_length or self.nb_max_samples, truncation, padding)
                 for row in _clips(raw_speech)]
        is_longer = [longer for _, longer in clips]
        if truncation == "fusion" and not any(is_longer):
            is_longer[np.random.randint(0, len(clips))] = True  # as the original trains: one fused clip per batch
        out = BatchFeature(input_features=np.stack([mel for mel, _ in clips]),
                           is_longer=np.array([[longer] for longer in is_longer]))
        return out.convert_to_tensors(return_tensors)

    def log_mel(self, waveform: np.ndarray, filters: torch.Tensor) -> np.ndarray:
        """(samples,) -> (frames, feature_size) log-mel spectrogram in dB, float32 (computed in float64)."""
        samples = torch.from_numpy(np.asarray(waveform)).to(torch.float64)
        window = torch.hann_window(self.fft_window_size, periodic=True, dtype=torch.float64)
        spectrum = torch.stft(samples, self.fft_window_size, self.hop_length, window=window, center=True,
                              pad_mode="reflect", return_complex=True)  # (bins, frames)
        mel = filters.T @ spectrum.abs().square()
        return (10.0 * torch.log10(mel.clamp(min=1e-10))).T.to(torch.float32).numpy()

    def clip_features(self, waveform: np.ndarray, max_length: int, truncation: str, padding: str):
        """One clip -> (C, frames, feature_size) features and whether it was longer than ``max_length``."""
        if len(waveform) > max_length:
            if truncation == "rand_trunc":
                start = np.random.randint(0, len(waveform) - max_length + 1)
                return self.log_mel(waveform[start : start + max_length], self.mel_filters_slaney)[None], True
            mel = self.log_mel(waveform, self.mel_filters)
            chunk = max_length // self.hop_length + 1  # frames of max_length samples (the STFT is centred)
            if chunk == len(mel):  # longer by less than a hop: the whole clip fits
                return np.stack([mel] * 4), False
            return self.fused_crops(mel, chunk), True
        if len(waveform) < max_length:
            if padding == "repeat":
                waveform = np.tile(waveform, max_length // len(waveform) + 1)[:max_length]
            elif padding == "repeatpad":
                waveform = np.tile(waveform, max_length // len(waveform))
            waveform = np.pad(waveform, (0, max_length - len(waveform)))
        if truncation == "fusion":
            return np.stack([self.log_mel(waveform, self.mel_filters)] * 4), False
        return self.log_mel(waveform, self.mel_filters_slaney)[None], False

    def fused_crops(self, mel: np.ndarray, chunk: int) -> np.ndarray:
        """(frames, F) -> (4, chunk, F): the whole mel squeezed to ``chunk`` frames (bilinear), then one
        random crop from each third of the start positions (the first crop where a third is empty). (The
        reference squeezes to 64 bins whatever ``feature_size`` is, so it fails for other sizes.)"""
        thirds = np.array_split(list(range(0, len(mel) - chunk + 1)), 3)
        starts = [np.random.choice(part if len(part) else [0]) for part in thirds]
        crops = [mel[start : start + chunk] for start in starts]
        squeezed = F.interpolate(torch.from_numpy(mel)[None, None], size=[chunk, self.feature_size], mode="bilinear",
                                 align_corners=False)[0, 0].numpy()
        return np.stack([squeezed, *crops])

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "nb_frequency_bins": self.nb_frequency_bins,
                "nb_max_samples": self.nb_max_samples}


def _clips(raw_speech) -> list[np.ndarray]:
    """Every input shape Whisper's extractor takes (its checks), as 1-D float64 arrays: float64 audio keeps
    its precision, as in the reference."""
    if isinstance(raw_speech, torch.Tensor):
        raw_speech = raw_speech.detach().cpu().numpy()
    waveform_rows(raw_speech)  # raises for shapes that are not mono waveforms
    if isinstance(raw_speech, np.ndarray):
        rows = list(raw_speech) if raw_speech.ndim == 2 else [raw_speech]
    else:
        rows = list(raw_speech) if isinstance(raw_speech[0], (np.ndarray, list, tuple, torch.Tensor)) else [raw_speech]
    return [np.asarray(row.detach().cpu().numpy() if isinstance(row, torch.Tensor) else row, dtype=np.float64)
            for row in rows]

