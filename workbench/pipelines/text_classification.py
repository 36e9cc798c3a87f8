"""``text-classification`` (alias ``sentiment-analysis``): a label and a score for a text or a text pair.

    "I love it" ─► tokenizer ─► model ─► logits (1, num_labels) ─► softmax | sigmoid | none
                ─► {"label": config.id2label[i], "score": ...}

>>> classifier = pipeline("sentiment-analysis", model=path)                     # doctest: +SKIP
>>> classifier("We are very happy to show you the 🤗 Transformers library.")     # doctest: +SKIP
[{'label': 'POSITIVE', 'score': 0.9998}]

What comes back, as in the reference:

* ``top_k`` not given: the best label as a dict. One text in gives a list holding that dict
  (the reference's shape); a pair ``{"text": ..., "text_pair": ...}`` gives the dict; a list
  gives one dict per item.
* ``top_k=k``: the ``k`` best labels, best first (all of them when ``k`` exceeds the label
  count); ``top_k=None``: every label, best first. A ``top_k`` given to ``pipeline()`` works
  the same (the reference nests the answer one list deeper in that case).

``function_to_apply`` defaults from the config: none for ``problem_type="regression"``, sigmoid
for multi-label models or a single label, softmax otherwise. Other keyword arguments
(``truncation=True``, ``max_length=``) go to the tokenizer. An empty text is classified like any
other (the model sees ``[CLS] [SEP]``); anything but a str or a pair dict is an error.
"""

from __future__ import annotations

import torch

from .base import Pipeline, check_tokenizer_kwargs

FUNCTIONS = ("softmax", "sigmoid", "none")
_BEST = "best"  # postprocess's top_k when none was given: the single best label, as a dict


class TextClassificationPipeline(Pipeline):
    task = "text-classification"
    sequence_outputs = ()  # logits are (B, num_labels): nothing to cut after padding

    def _sanitize_parameters(self, top_k=_BEST, function_to_apply=None, **tokenizer_kwargs):
        check_tokenizer_kwargs(self.tokenizer, tokenizer_kwargs, self.task)
        post = {}
        if top_k != _BEST:
            if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
                raise ValueError(f"top_k must be a positive int or None (every label), got {top_k!r}.")
            post["top_k"] = top_k
        if function_to_apply is not None:
            post["function_to_apply"] = function_name(function_to_apply)
        return tokenizer_kwargs, {}, post

    def __call__(self, inputs, **kwargs):
        result = super().__call__(inputs, **kwargs)
        ranked = "top_k" in kwargs or "top_k" in self._defaults[2]
        return [result] if isinstance(inputs, str) and not ranked else result

    def check_input(self, item) -> None:
        if isinstance(item, dict):
            if "text" not in item or set(item) - {"text", "text_pair"}:
                raise ValueError(f"A text pair is a dict with keys 'text' and 'text_pair', got keys {sorted(item)}.")
            for key, value in item.items():
                if not isinstance(value, str):
                    raise ValueError(f"{key!r} must be a str, got {type(value).__name__}: {value!r:.60}")
        elif isinstance(item, (list, tuple)):
            raise ValueError(
                f"{self.task} takes a str, or a pair as a dict {{'text': ..., 'text_pair': ...}}; got a "
                f"{type(item).__name__} inside the inputs: {item!r:.60}"
            )
        elif not isinstance(item, str):
            raise ValueError(f"{self.task} takes strings (or text-pair dicts), got {type(item).__name__}: {item!r:.60}")

    def preprocess(self, item, **tokenizer_kwargs):
        text, pair = (item["text"], item.get("text_pair")) if isinstance(item, dict) else (item, None)
        yield self.tokenizer(text, pair, return_tensors="pt", **tokenizer_kwargs), None

    def _forward(self, model_inputs: dict) -> dict:
        return {"logits": self.model(**model_inputs).logits}

    def postprocess(self, chunks, top_k=_BEST, function_to_apply=None):
        (outputs, _), = chunks
        logits = outputs["logits"][0].float()  # (num_labels,)
        scores = apply_function(function_to_apply or self._default_function(), logits).tolist()
        names = self.model.config.id2label
        labels = [{"label": names.get(i, f"LABEL_{i}"), "score": score} for i, score in enumerate(scores)]
        if top_k == _BEST:
            return max(labels, key=lambda label: label["score"])  # the first of equal maxima, like argmax
        labels.sort(key=lambda label: label["score"], reverse=True)  # stable: ties keep label order
        return labels if top_k is None else labels[:top_k]

    def _default_function(self) -> str:
        return default_function(self.model.config)


def function_name(function_to_apply) -> str:
    """``function_to_apply`` (a name, or an enum whose value is one) as one of ``FUNCTIONS``, checked."""
    name = str(getattr(function_to_apply, "value", function_to_apply)).lower()
    if name not in FUNCTIONS:
        raise ValueError(f"function_to_apply={function_to_apply!r} is not one of {FUNCTIONS}.")
    return name


def default_function(config) -> str:
    """The score function a classifier's config implies: none for regression, sigmoid for multi-label
    or a single label, softmax otherwise (the image classifier reads it too)."""
    problem = getattr(config, "problem_type", None)
    if problem == "regression":
        return "none"
    if problem == "multi_label_classification" or config.num_labels == 1:
        return "sigmoid"
    if problem == "single_label_classification" or config.num_labels > 1:
        return "softmax"
    return str(getattr(config, "function_to_apply", "none")).lower()


def apply_function(function: str, logits: torch.Tensor) -> torch.Tensor:
    if function == "softmax":
        return logits.softmax(-1)
    if function == "sigmoid":
        return logits.sigmoid()
    return logits
