"""The automatic-speech-recognition pipeline, for Whisper-style speech-to-text models.

    audio (a WAV file, an array at the model's rate, or {"raw"/"array": samples, "sampling_rate": rate})
      ─► mono float32 at the feature extractor's rate (resampled with scipy when the rate differs)
      ─► 30-second windows, one chunk each ─► log-mel features ─► generate() ─► text, windows joined

Audio longer than one window is cut into consecutive windows without overlap, so a word spoken
across a boundary can be split or lost; Whisper's own long-form decoding (with timestamps) is not
in workbench yet.
"""

from __future__ import annotations

import os
import wave
from typing import Any

import numpy as np
import torch

from .base import Pipeline


class AutomaticSpeechRecognitionPipeline(Pipeline):
    """``pipe("speech.wav")`` -> ``{"text": " Hello there."}``; generate() settings pass through
    (``max_new_tokens=``, ``num_beams=``, or ``generate_kwargs={...}``)."""

    task = "automatic-speech-recognition"
    sequence_outputs = ()  # generated ids are never cut back to an input length

    def __init__(self, model, tokenizer=None, *, feature_extractor=None, **kwargs: Any) -> None:
        if feature_extractor is None:
            raise ValueError("The automatic-speech-recognition pipeline needs a feature extractor: pass "
                             "feature_extractor= (an instance, or a folder with processor_config.json or preprocessor_config.json).")
        if tokenizer is None:
            raise ValueError("The automatic-speech-recognition pipeline needs the model's tokenizer: pass tokenizer=.")
        self.feature_extractor = feature_extractor
        super().__init__(model, tokenizer, **kwargs)

    def _sanitize_parameters(self, generate_kwargs: dict | None = None, return_timestamps=None, **kwargs):
        if return_timestamps:
            raise NotImplementedError("return_timestamps is not available in workbench yet: drop it.")
        known = {"max_new_tokens", "max_length", "num_beams", "do_sample", "temperature", "top_k", "top_p",
                 "num_return_sequences", "length_penalty", "repetition_penalty", "no_repeat_ngram_size"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(f"The {self.task} pipeline takes no parameter(s) {unknown}; generate() settings go in "
                            "generate_kwargs={...} or as max_new_tokens=, num_beams=, ...")
        return {}, {**(generate_kwargs or {}), **kwargs}, {}

    def check_input(self, item) -> None:
        if isinstance(item, (str, os.PathLike)):
            if not os.path.isfile(item):
                raise FileNotFoundError(f"No audio file at {item}.")
            return
        if isinstance(item, dict):
            if not any(key in item for key in ("raw", "array")) or "sampling_rate" not in item:
                raise ValueError("An audio dict needs the samples under 'raw' (or 'array') and their 'sampling_rate'; "
                                 f"got keys {sorted(item)}.")
            return
        if not isinstance(item, (np.ndarray, torch.Tensor, list)):
            raise TypeError(f"The {self.task} pipeline takes a WAV file path, an array of samples or a dict "
                            f"{{'raw': samples, 'sampling_rate': rate}}, not {type(item).__name__}.")

    def _is_batch(self, inputs) -> bool:
        if isinstance(inputs, (np.ndarray, torch.Tensor)):
            return False
        if isinstance(inputs, list):  # a list of numbers is one waveform; a list of items is a batch
            return not inputs or not isinstance(inputs[0], (int, float, np.floating))
        return super()._is_batch(inputs) and not isinstance(inputs, dict)

    def _collate(self, chunks: list) -> tuple:
        indices, lasts, inputs, metas = zip(*chunks)  # every window is (1, mels, frames): nothing to pad
        batch = {"input_features": torch.cat([x["input_features"] for x in inputs], dim=0)}
        return indices, lasts, batch, metas, [None] * len(inputs)

    def preprocess(self, item):
        rate = self.feature_extractor.sampling_rate
        audio = load_audio(item, rate)
        window = self.feature_extractor.n_samples
        for start in range(0, len(audio), window):
            features = self.feature_extractor(audio[start:start + window], sampling_rate=rate, return_tensors="pt")
            yield {"input_features": features["input_features"].to(self.model.dtype)}, None

    def _forward(self, model_inputs: dict, **generate_kwargs) -> dict:
        return {"sequences": self.model.generate(model_inputs["input_features"], **generate_kwargs)}

    def postprocess(self, chunks, **params):
        texts = [self.tokenizer.decode(outputs["sequences"][0], skip_special_tokens=True) for outputs, _ in chunks]
        return {"text": "".join(texts)}


def load_audio(item, rate: int) -> np.ndarray:
    """Mono float32 samples at ``rate`` from a WAV path, a dict with its rate, or an array (taken
    to be at ``rate`` already)."""
    if isinstance(item, (str, os.PathLike)):
        samples, source_rate = read_wav(item)
    elif isinstance(item, dict):
        samples = item["raw"] if "raw" in item else item["array"]
        source_rate = int(item["sampling_rate"])
    else:
        samples, source_rate = item, rate
    samples = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples)
    if samples.ndim == 2:  # (channels, samples) or (samples, channels): mix down
        samples = samples.mean(axis=0 if samples.shape[0] < samples.shape[1] else 1)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(f"Audio must be a non-empty mono waveform (1-D samples); got shape {samples.shape}.")
    samples = samples.astype(np.float32)
    if source_rate != rate:
        samples = resample(samples, source_rate, rate)
    return samples


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """A PCM WAV file as float32 samples in [-1, 1] (channels mixed down) and its sampling rate."""
    try:
        with wave.open(os.fspath(path), "rb") as recording:
            width, channels, rate = recording.getsampwidth(), recording.getnchannels(), recording.getframerate()
            frames = recording.readframes(recording.getnframes())
    except (wave.Error, EOFError) as error:
        raise ValueError(f"{path} is not a PCM WAV file ({error}). Convert it first, e.g. "
                         f"ffmpeg -i {os.path.basename(str(path))} -ar 16000 -ac 1 out.wav, or pass the samples "
                         "as an array with their sampling_rate.") from None
    if width == 1:
        samples = (np.frombuffer(frames, np.uint8).astype(np.float32) - 128) / 128
    elif width in (2, 4):
        dtype = np.int16 if width == 2 else np.int32
        samples = np.frombuffer(frames, dtype).astype(np.float32) / float(np.iinfo(dtype).max + 1)
    else:
        raise ValueError(f"{path}: {8 * width}-bit WAV samples are not supported; use 8, 16 or 32-bit PCM.")
    return samples.reshape(-1, channels).mean(axis=1), rate


def resample(samples: np.ndarray, source_rate: int, rate: int) -> np.ndarray:
    try:
        from scipy.signal import resample_poly
    except ImportError:
        raise ImportError(f"The audio is at {source_rate} Hz and the model wants {rate} Hz: resampling needs scipy "
                          "(pip install 'workbench[audio]'), or pass audio at the model's rate.") from None
    divisor = np.gcd(source_rate, rate)
    return resample_poly(samples, rate // divisor, source_rate // divisor).astype(np.float32)
