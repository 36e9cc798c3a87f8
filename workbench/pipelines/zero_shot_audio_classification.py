"""``zero-shot-audio-classification``: how well each candidate label describes a sound, with a joint
audio-text model (CLAP).

    audio ─► mono at the feature extractor's rate ─► input_features (1, C, frames, mels), is_longer ┐
    labels ─► hypothesis_template.format(label) ─► tokenizer (padded to the longest) ─────────────────┴► model
          ─► logits_per_audio (1, n_labels) ─► softmax over the labels ─► [{"score", "label"}, ...] best first

>>> classifier = pipeline("zero-shot-audio-classification", model="laion/clap-htsat-unfused")  # doctest: +SKIP
>>> classifier("dog.wav", candidate_labels=["a dog barking", "rain"])                         # doctest: +SKIP
[{'score': 0.99, 'label': 'a dog barking'}, {'score': 0.01, 'label': 'rain'}]

As the reference (5.23): the template defaults to "This is a sound of {}."; the audio is a file path, an
array at the feature extractor's rate, or ``{"raw"/"array": samples, "sampling_rate": rate}`` (resampled).
A clip longer than the extractor's ``max_length_s`` is cropped at random (numpy's global generator:
``np.random.seed`` makes it repeatable). The labels are the same for every clip of a call, so a batch
encodes them once.
"""

from __future__ import annotations

from typing import Any

import torch

from ..audio import load_audio
from .audio_inputs import AudioInputs
from .base import Pipeline, zero_shot_options

TEXT_KEYS = ("input_ids", "attention_mask")


class ZeroShotAudioClassificationPipeline(AudioInputs, Pipeline):
    task = "zero-shot-audio-classification"
    sequence_outputs = ()  # the logits run over labels, not tokens

    def __init__(self, model, tokenizer=None, *, feature_extractor=None, **kwargs: Any) -> None:
        if feature_extractor is None:
            raise ValueError("The zero-shot-audio-classification pipeline needs a feature extractor: pass "
                             "feature_extractor= (an instance, or a folder with processor_config.json or "
                             "preprocessor_config.json).")
        if tokenizer is None:
            raise ValueError("The zero-shot-audio-classification pipeline needs the model's tokenizer: pass tokenizer=.")
        self.feature_extractor = feature_extractor
        super().__init__(model, tokenizer, **kwargs)

    def _sanitize_parameters(self, candidate_labels=None, hypothesis_template=None):
        return zero_shot_options(candidate_labels, hypothesis_template, ("dog", "rain"), "This is a sound of {}."), {}, {}

    def _check_parameters(self, pre: dict, fwd: dict, post: dict) -> None:
        if "candidate_labels" not in pre:
            raise ValueError("The zero-shot-audio-classification pipeline needs candidate_labels=[...] (the labels "
                             "to choose from), given to the call or to pipeline().")

    def __call__(self, audios=None, candidate_labels=None, **kwargs):
        if candidate_labels is not None:
            kwargs["candidate_labels"] = candidate_labels
        return super().__call__(audios, **kwargs)



    def preprocess(self, item, candidate_labels=(), hypothesis_template="This is a sound of {}."):
        rate = self.feature_extractor.sampling_rate
        features = self.feature_extractor([load_audio(item, rate)], sampling_rate=rate, return_tensors="pt")
        inputs = {"input_features": features["input_features"].to(self.model.dtype), "is_longer": features["is_longer"]}
        texts = self.tokenizer([hypothesis_template.format(label) for label in candidate_labels], return_tensors="pt",
                               padding=True)
        inputs.update({f"text_{key}": texts[key] for key in TEXT_KEYS if key in texts})  # (n_labels, T)
        yield inputs, candidate_labels

    def _collate(self, chunks: list) -> tuple:
        # every clip's features have one shape; the label texts are the call's, so the batch keeps one copy
        indices, lasts, inputs, metas = zip(*chunks)
        batch = {key: torch.cat([x[key] for x in inputs]) if not key.startswith("text_") else value
                 for key, value in inputs[0].items()}
        return indices, lasts, batch, metas, [None] * len(inputs)

    def _forward(self, model_inputs: dict) -> dict:
        texts = {key.removeprefix("text_"): model_inputs.pop(key) for key in list(model_inputs) if key.startswith("text_")}
        return {"logits": self.model(**model_inputs, **texts).logits_per_audio}  # (B, n_labels)

    def postprocess(self, chunks):
        (outputs, labels), = chunks
        scores = outputs["logits"][0].float().softmax(-1)  # (n_labels,)
        ranked = sorted(zip(scores.tolist(), labels), key=lambda pair: -pair[0])
        return [{"score": score, "label": label} for score, label in ranked]
