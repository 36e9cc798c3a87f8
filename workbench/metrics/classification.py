"""accuracy, precision, recall and f1 on integer class labels, computed by scikit-learn.

Each returns what the ``evaluate`` metric of the same name returns: ``{"f1": float}``, or a numpy
array of per-class scores when ``average=None``. The ``"multilabel"`` config takes one list of 0/1
indicators per example instead of one label.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Metric, MetricError, require


def _label(value, argument: str, metric: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, (list, tuple)):
        raise MetricError(
            f"{metric}: each {argument} must be one integer class label, got a sequence of {len(value)}. "
            "For logits or probabilities of shape (N, num_classes) pass predictions=logits.argmax(-1); "
            f"for multi-label targets use load({metric!r}, 'multilabel')"
        )
    raise MetricError(
        f"{metric}: each {argument} must be an integer class label, got {type(value).__name__} {value!r:.60}"
        + (" (logits or probabilities? take argmax(-1) first)" if isinstance(value, float) else "")
    )


class _ClassificationMetric(Metric):
    config_names = ("default", "multilabel")

    def _prepare_item(self, item, argument):
        if self.config_name != "multilabel":
            return _label(item, argument, self.name)
        if not isinstance(item, (list, tuple)):
            raise MetricError(
                f"{self.name} (multilabel): each {argument} must be a list of 0/1 label indicators, "
                f"got {type(item).__name__} {item!r:.60}"
            )
        return [_label(v, argument, self.name) for v in item]

    def _check_multilabel_widths(self, predictions, references):
        if self.config_name == "multilabel":
            widths = {len(row) for row in predictions} | {len(row) for row in references}
            if len(widths) > 1:
                raise MetricError(f"{self.name} (multilabel): indicator rows have different lengths {sorted(widths)}")

    def _sklearn(self, function: str, predictions, references, **kwargs):
        self._check_multilabel_widths(predictions, references)
        sklearn_metrics = require("sklearn.metrics", "scikit-learn", self.name)
        # scikit-learn takes (y_true, y_pred): references first
        return getattr(sklearn_metrics, function)(references, predictions, **kwargs)


class Accuracy(_ClassificationMetric):
    """Fraction of predictions equal to their reference (``normalize=False``: their weighted count).

    >>> load("accuracy").compute(predictions=[0, 1, 1, 2], references=[0, 1, 2, 2])
    {'accuracy': 0.75}
    """

    name = "accuracy"

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        score = self._sklearn("accuracy_score", predictions, references, normalize=normalize,
                              sample_weight=sample_weight)
        return {"accuracy": float(score)}


class _PrecisionRecallF1(_ClassificationMetric):
    _function = ""

    def _compute(self, predictions, references, labels=None, pos_label=1, average="binary", sample_weight=None,
                 zero_division="warn"):
        score = self._sklearn(self._function, predictions, references, labels=labels, pos_label=pos_label,
                              average=average, sample_weight=sample_weight, zero_division=zero_division)
        # evaluate returns a float for one score and the per-class array for average=None
        # (recent scikit-learn returns a Python float for the former, older a numpy scalar)
        return {self.name: float(score) if np.size(score) == 1 else np.asarray(score)}


class Precision(_PrecisionRecallF1):
    """TP / (TP + FP); ``average`` is "binary" (class ``pos_label``), "micro", "macro", "weighted", "samples" or None.

    >>> load("precision").compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    {'precision': 0.5}
    """

    name = "precision"
    _function = "precision_score"


class Recall(_PrecisionRecallF1):
    """TP / (TP + FN), with the same ``average``/``pos_label``/``labels`` options as precision.

    >>> load("recall").compute(predictions=[0, 1, 1, 0], references=[0, 1, 1, 1])
    {'recall': 0.6666666666666666}
    """

    name = "recall"
    _function = "recall_score"


class F1(_PrecisionRecallF1):
    """Harmonic mean of precision and recall, with the same options as precision.

    >>> load("f1").compute(predictions=[0, 2, 1, 0, 0, 1], references=[0, 1, 2, 0, 1, 2], average="macro")
    {'f1': 0.26666666666666666}
    """

    name = "f1"
    _function = "f1_score"
