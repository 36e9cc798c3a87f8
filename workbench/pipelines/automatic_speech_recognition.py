"""The automatic-speech-recognition pipeline, for Whisper-style speech-to-text models.

    audio (a WAV file, an array at the model's rate, or {"raw"/"array": samples, "sampling_rate": rate})
      ─► mono float32 at the feature extractor's rate (resampled with scipy when the rate differs)
      ─► 30-second windows, one chunk each ─► log-mel features ─► generate() ─► text, windows joined

Audio longer than one window is cut into consecutive windows without overlap, so a word spoken
across a boundary can be split or lost; Whisper's own long-form decoding (with timestamps) is not
in workbench yet.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..audio import check_audio, load_audio, resample  # noqa: F401  (resample: importable from here, as before)
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
        check_audio(item)  # every input kind workbench.audio.load_audio decodes; errors name the fix

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

