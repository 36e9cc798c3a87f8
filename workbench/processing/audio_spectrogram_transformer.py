"""The Audio Spectrogram Transformer's features: Kaldi-style log-mel filterbanks of 16 kHz mono
audio, one frame every 10 ms, padded or cut to a fixed number of frames.

    waveform ─► 25 ms frames (400 samples), 10 ms apart (160), none past the end
      ─► each frame: its mean removed ─► pre-emphasis x[t] - 0.97·x[t-1] ─► symmetric Hann window
      ─► |FFT|² over 512 points (257 bins) ─► triangular mel filters (Kaldi's mel scale, 20 Hz to
         Nyquist, triangles in mel space) ─► log (floor 2^-23) ─► (frames, num_mel_bins)
      ─► zero-padded or cut to max_length frames ─► (x - mean) / (2·std)  =  input_values

This is the reference's numpy path (taken when torchaudio is absent); with torchaudio installed the
reference calls ``torchaudio.compliance.kaldi.fbank`` instead, whose features differ slightly (it
drops the Nyquist bin and rounds differently). ``mean`` and ``std`` default to AudioSet's statistics.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from .base import BatchFeature, FeatureExtractionMixin
from .audio_rows import waveform_rows

logger = logging.getLogger("workbench")

FRAME_LENGTH, HOP_LENGTH, FFT_LENGTH = 400, 160, 512  # 25 ms, 10 ms, the next power of two
PREEMPHASIS = 0.97
MEL_FLOOR = 1.192092955078125e-07  # float32's machine epsilon, 2^-23
LOWEST_FREQUENCY = 20.0  # Hz


def kaldi_mel(frequencies: torch.Tensor) -> torch.Tensor:
    """Hz -> mels on Kaldi's scale, 1127 ln(1 + f / 700)."""
    return 1127.0 * torch.log1p(frequencies / 700.0)


def kaldi_mel_filter_bank(frequency_bins: int, mel_bins: int, sampling_rate: int, min_frequency: float,
                          max_frequency: float) -> torch.Tensor:
    """(frequency_bins, mel_bins) triangular filters, float64: centers evenly spaced on Kaldi's mel scale
    between ``min_frequency`` and ``max_frequency``, each triangle linear in mels (not in Hz), unnormalised."""
    edges = torch.tensor([min_frequency, max_frequency], dtype=torch.float64)
    low, high = kaldi_mel(edges).tolist()
    centers = torch.linspace(low, high, mel_bins + 2, dtype=torch.float64)  # with the outer edges
    bin_width = sampling_rate / ((frequency_bins - 1) * 2)
    bins = kaldi_mel(bin_width * torch.arange(frequency_bins, dtype=torch.float64))[:, None]  # (bins, 1)
    rising = (bins - centers[:-2]) / (centers[1:-1] - centers[:-2])
    falling = (centers[2:] - bins) / (centers[2:] - centers[1:-1])
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


class ASTFeatureExtractor(FeatureExtractionMixin):
    """Raw 16 kHz audio in, the Audio Spectrogram Transformer's ``input_values`` (B, max_length,
    num_mel_bins) out (see the module docstring).

    >>> extractor = ASTFeatureExtractor()
    >>> extractor(torch.zeros(16000), sampling_rate=16000, return_tensors="pt").input_values.shape
    torch.Size([1, 1024, 128])

    ``return_attention_mask`` is kept as a setting (the reference saves it) but, as in the reference,
    no mask is returned: every clip is padded to the same length, which the model always attends to.
    """

    settings = {"feature_size": 1, "sampling_rate": 16000, "num_mel_bins": 128, "max_length": 1024,
                "padding_value": 0.0, "do_normalize": True, "mean": -4.2677393, "std": 4.5689974,
                "return_attention_mask": False, "padding_side": "right"}
    model_input_names = ["input_values", "attention_mask"]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mel_filters = kaldi_mel_filter_bank(1 + FFT_LENGTH // 2, self.num_mel_bins, self.sampling_rate,
                                                 LOWEST_FREQUENCY, float(self.sampling_rate // 2))
        self.window = torch.hann_window(FRAME_LENGTH, periodic=False, dtype=torch.float64)

    def __call__(self, raw_speech, sampling_rate: int | None = None, return_tensors: str | None = None,
                 **kwargs: Any) -> BatchFeature:
        """``raw_speech``: one mono waveform (a 1-D array, tensor or list of floats) or a batch of them
        (a list, or a 2-D array) at ``sampling_rate`` (16 kHz). Clips of any length: each is padded or
        cut to ``max_length`` frames. Other keyword arguments (``padding=``, ...) are accepted and have
        no effect, as in the reference."""
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise ValueError(f"The audio is sampled at {sampling_rate} Hz but this feature extractor expects "
                             f"{self.sampling_rate} Hz: resample it first (scipy.signal.resample_poly does).")
        if sampling_rate is None:
            logger.warning("Pass sampling_rate=%d to the feature extractor: without it a wrong rate goes unnoticed.",
                           self.sampling_rate)
        features = [self.fit_to_length(self.log_mel(torch.from_numpy(row))) for row in waveform_rows(raw_speech)]
        if self.do_normalize:
            features = [self.normalize(feature) for feature in features]
        out = BatchFeature(input_values=[feature.numpy() for feature in features])
        return out.convert_to_tensors(return_tensors)

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """(samples,) -> (frames, num_mel_bins) float32 log-mel filterbank energies, computed in float64."""
        samples = waveform.to(torch.float64)
        if samples.numel() < FRAME_LENGTH:  # not one whole frame
            return torch.zeros(0, self.num_mel_bins)
        frames = samples.unfold(0, FRAME_LENGTH, HOP_LENGTH)  # (frames, 400)
        frames = frames - frames.mean(dim=-1, keepdim=True)
        # pre-emphasis within each frame; its first sample is scaled by 1 - 0.97 (Kaldi's convention)
        frames = torch.cat([frames[:, :1] * (1.0 - PREEMPHASIS), frames[:, 1:] - PREEMPHASIS * frames[:, :-1]], dim=-1)
        spectrum = torch.fft.rfft(frames * self.window, n=FFT_LENGTH)  # (frames, 257)
        # the reference holds the spectrum in complex64 before squaring it in float64
        power = spectrum.to(torch.complex64).to(torch.complex128).abs() ** 2
        mel = torch.clamp(power @ self.mel_filters, min=MEL_FLOOR)  # (frames, num_mel_bins)
        return mel.log().to(torch.float32)

    def fit_to_length(self, features: torch.Tensor) -> torch.Tensor:
        """(frames, bins) -> (max_length, bins): cut, or padded with zero frames at the end."""
        missing = self.max_length - features.shape[0]
        if missing <= 0:
            return features[: self.max_length]
        return torch.cat([features, features.new_zeros(missing, features.shape[1])])

    def normalize(self, features: torch.Tensor) -> torch.Tensor:
        """Towards mean 0 and standard deviation 1/2 with the dataset statistics ``mean`` and ``std``."""
        return (features - self.mean) / (self.std * 2)


__all__ = ["ASTFeatureExtractor", "kaldi_mel_filter_bank"]
