"""``audio-classification``: the labels an audio classifier gives a clip, best first.

    audio (a file path, samples at the model's rate, or {"raw"/"array": samples, "sampling_rate": rate})
      ─► mono float32 at the feature extractor's rate (resampled with scipy when the rate differs)
      ─► feature extractor ─► model ─► logits (1, num_labels) ─► softmax | sigmoid | none
      ─► [{"score": ..., "label": config.id2label[i]}, ...]  (the top_k best, 5 unless told)

>>> classifier = pipeline("audio-classification", model="MIT/ast-finetuned-audioset-10-10-0.4593")  # doctest: +SKIP
>>> classifier("dog.wav", top_k=2)                                                                  # doctest: +SKIP
[{'score': 0.83, 'label': 'Dog'}, {'score': 0.11, 'label': 'Bark'}]

Any ``AutoModelForAudioClassification`` model serves, with its feature extractor. As the reference
(5.23): ``top_k`` is cut to the label count and ``top_k=None`` gives every label; ``function_to_apply``
defaults to none for a regression config, sigmoid for a multi-label one, softmax otherwise. Unlike the
reference, whose calls without ``top_k`` return every label, a call without it returns the pipeline's
``top_k`` (5 unless the pipeline was built with another), as the reference documents. One clip gives a
list of dicts, a list of clips a list of such lists.
"""

from __future__ import annotations

from typing import Any

import torch

from ..atomic_folder import staged_save
from ..audio import load_audio
from .audio_inputs import AudioInputs
from .base import Pipeline, _pad
from .text_classification import apply_function, function_name

_UNSET = object()  # top_k not given (None means every label)


class AudioClassificationPipeline(AudioInputs, Pipeline):
    """``pipe("clip.wav")`` -> ``[{"score": 0.9, "label": "Speech"}, ...]``; ``top_k=`` and
    ``function_to_apply=`` as the module docstring says."""

    task = "audio-classification"
    sequence_outputs = ()  # per-clip logits: nothing is cut after a padded batch

    def __init__(self, model, tokenizer=None, *, feature_extractor=None, top_k=5, **kwargs: Any) -> None:
        if feature_extractor is None:
            raise ValueError("The audio-classification pipeline needs the model's feature extractor: pass "
                             "feature_extractor= (an instance, or a folder with preprocessor_config.json).")
        self.feature_extractor = feature_extractor
        super().__init__(model, tokenizer, top_k=top_k, **kwargs)

    def _sanitize_parameters(self, top_k=_UNSET, function_to_apply=None):
        post = {}
        if top_k is not _UNSET:
            labels = self.model.config.num_labels
            if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
                raise ValueError(f"top_k must be a positive int (or None for every label), got {top_k!r}.")
            post["top_k"] = labels if top_k is None else min(top_k, labels)
        if function_to_apply is not None:
            post["function_to_apply"] = function_name(function_to_apply)
        return {}, {}, post



    def preprocess(self, item):
        rate = self.feature_extractor.sampling_rate
        features = self.feature_extractor(load_audio(item, rate), sampling_rate=rate, return_tensors="pt")
        yield {key: value.to(self.model.dtype) if value.is_floating_point() else value
               for key, value in features.items() if isinstance(value, torch.Tensor)}, None

    def _collate(self, chunks: list) -> tuple:
        """Features of one shape (a spectrogram model's, padded to its max_length) stack as they are;
        raw samples (B, T) and their attention_mask are padded with zeros on the right to the longest."""
        indices, lasts, inputs, metas = zip(*chunks)
        batch = {}
        for key in inputs[0]:
            values = [x[key] for x in inputs]
            if values[0].dim() == 2:
                longest = max(value.shape[1] for value in values)
                values = [_pad(value, longest, 0, "right") for value in values]
            batch[key] = torch.cat(values, dim=0)
        return indices, lasts, batch, metas, [None] * len(inputs)

    def _forward(self, model_inputs: dict) -> dict:
        return {"logits": self.model(**model_inputs).logits}

    def postprocess(self, chunks, top_k: int = 5, function_to_apply: str | None = None):
        (outputs, _), = chunks
        scores = apply_function(function_to_apply or self._default_function(), outputs["logits"][0].float())
        best, ids = scores.topk(min(top_k, scores.numel()))  # the reference's order, ties included
        names = self.model.config.id2label
        return [{"score": score, "label": names.get(i, f"LABEL_{i}")} for score, i in zip(best.tolist(), ids.tolist())]

    def _default_function(self) -> str:
        problem = getattr(self.model.config, "problem_type", None)
        return {"regression": "none", "multi_label_classification": "sigmoid"}.get(problem, "softmax")

    def save_pretrained(self, folder: str) -> None:
        with staged_save(folder) as stage:  # one swap of the folder for the three parts
            super().save_pretrained(stage)
            self.feature_extractor.save_pretrained(stage)
