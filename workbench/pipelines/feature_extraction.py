"""``feature-extraction``: the model's last hidden states for a text, (1, T, H) as nested lists.

``pool="mean"`` (a workbench extra) gives one sentence embedding per text instead: the mean of
the token vectors under the attention mask, L2-normalised with ``normalize=True``, as
sentence-transformers models (MiniLM) are meant to be used.
"""

from __future__ import annotations

import torch

from .base import Pipeline


class FeatureExtractionPipeline(Pipeline):
    task = "feature-extraction"
    sequence_outputs = ("hidden", "attention_mask")

    def _sanitize_parameters(self, truncation=None, tokenize_kwargs=None, return_tensors=None, pool=None,
                             normalize=None):
        tokenize_kwargs = dict(tokenize_kwargs or {})
        if truncation is not None:
            if "truncation" in tokenize_kwargs:
                raise ValueError("truncation is given twice: as truncation= and inside tokenize_kwargs. Keep one.")
            tokenize_kwargs["truncation"] = truncation
        if pool not in (None, "mean", "cls"):
            raise ValueError(f"pool={pool!r} is not supported: use 'mean', 'cls' or None (token vectors).")
        post = {k: v for k, v in (("return_tensors", return_tensors), ("pool", pool), ("normalize", normalize)) if v is not None}
        return tokenize_kwargs, {}, post

    def preprocess(self, text, **tokenize_kwargs):
        if not isinstance(text, str):
            raise ValueError(f"feature-extraction takes strings, got {type(text).__name__}: {text!r:.60}")
        yield self.tokenizer(text, return_tensors="pt", **tokenize_kwargs), None

    def _forward(self, model_inputs: dict) -> dict:
        hidden = self.model(**model_inputs)[0]
        return {"hidden": hidden, "attention_mask": model_inputs["attention_mask"]}

    def postprocess(self, chunks, return_tensors=False, pool=None, normalize=False):
        (outputs, _), = chunks
        features = outputs["hidden"]  # (1, T, H)
        if pool == "mean":
            mask = outputs["attention_mask"][..., None].to(features.dtype)
            features = (features * mask).sum(1) / mask.sum(1)  # (1, H)
        elif pool == "cls":
            features = features[:, 0]
        if normalize:
            features = torch.nn.functional.normalize(features, dim=-1)
        return features if return_tensors else features.tolist()
