"""Evaluation metrics with evaluate's API, offline: ``load(name)`` needs no Hub download.

``evaluate.load("accuracy")`` fetches the metric's script from the Hub; these metrics ship with
workbench and compute the same values with the same output keys, on the same well-kept libraries
(scikit-learn, rouge_score, sacrebleu, jiwer), each imported only when its metric runs
(``pip install 'workbench[metrics]'`` installs them all).

>>> from workbench import metrics
>>> accuracy = metrics.load("accuracy")
>>> accuracy.compute(predictions=[0, 1, 1], references=[0, 1, 0])
{'accuracy': 0.6666666666666666}
>>> clf = metrics.combine(["accuracy", "f1", "precision", "recall"])
>>> clf.compute(predictions=[0, 1, 1], references=[0, 1, 0])["f1"]
0.6666666666666666

In a Trainer, the model's logits arrive as numpy arrays; take the argmax yourself::

    accuracy = metrics.load("accuracy")

    def compute_metrics(eval_pred):
        logits, labels = eval_pred              # numpy (N, num_labels) and (N,)
        return accuracy.compute(predictions=logits.argmax(-1), references=labels)

Differences from evaluate: ``wer`` and ``cer`` return ``{"wer": x}`` / ``{"cer": x}`` rather than
a bare float; there is no distributed (``num_process``) gathering and nothing is cached on disk.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Iterable, Mapping

from .base import Metric, MetricError

# metric name -> "module:Class", imported on first load so a metric's library loads only when used
_METRICS = {
    "accuracy": "classification:Accuracy",
    "precision": "classification:Precision",
    "recall": "classification:Recall",
    "f1": "classification:F1",
    "exact_match": "text_match:ExactMatch",
    "squad": "text_match:Squad",
    "rouge": "rouge:Rouge",
    "bleu": "translation:Bleu",
    "sacrebleu": "translation:SacreBleu",
    "wer": "speech:WER",
    "cer": "speech:CER",
}

# evaluate.load's loading options: nothing to download or cache here, so they are accepted and unused
_LOADING_OPTIONS = {"module_type", "cache_dir", "experiment_id", "keep_in_memory", "download_config",
                    "download_mode", "revision", "trust_remote_code"}

__all__ = ["load", "combine", "list_metrics", "Metric", "CombinedMetrics", "MetricError"]


def list_metrics() -> list[str]:
    """The names ``load`` accepts."""
    return sorted(_METRICS)


def load(name: str, config_name: str | None = None, **kwargs) -> Metric:
    """The metric called ``name`` (``"accuracy"``, ``"f1"``, ``"rouge"``, ...), like ``evaluate.load``.

    ``config_name="multilabel"`` selects multi-label inputs for accuracy/precision/recall/f1.
    Other keyword arguments are defaults for every ``compute`` call (``load("f1", average="macro")``),
    except evaluate's download and cache options, which are accepted and ignored. A Hub-style name
    such as ``"evaluate-metric/rouge"`` loads ``rouge``.
    """
    if not isinstance(name, str):
        raise MetricError(f"load() takes a metric name as a str, got {type(name).__name__}")
    key = name.removeprefix("evaluate-metric/").strip().lower().replace("-", "_")
    if key not in _METRICS:
        close = difflib.get_close_matches(key, _METRICS, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise MetricError(f"unknown metric {name!r}{hint} workbench.metrics has: {', '.join(list_metrics())}")
    if kwargs.get("num_process", 1) != 1 or kwargs.get("process_id", 0) != 0:
        raise MetricError("workbench.metrics does not gather results across processes (num_process/process_id); "
                          "gather predictions yourself and call compute() on one process")
    defaults = {k: v for k, v in kwargs.items() if k not in _LOADING_OPTIONS | {"num_process", "process_id"}}
    module_name, class_name = _METRICS[key].split(":")
    cls = getattr(importlib.import_module(f".{module_name}", __name__), class_name)
    return cls(config_name, **defaults)


class CombinedMetrics:
    """Several metrics fed and computed together; their result dicts merge into one, like evaluate's combine.

    A score name that two metrics share is prefixed with its metric's name (``precision_...``); with
    ``force_prefix=True`` every score is. Give a dict to choose the prefixes.
    """

    def __init__(self, metrics: Iterable[str | Metric] | Mapping[str, str | Metric], force_prefix: bool = False):
        if isinstance(metrics, Mapping):
            names, metrics = list(metrics), list(metrics.values())
        else:
            metrics, names = list(metrics), None
        if not metrics:
            raise MetricError("combine() needs at least one metric")
        self.metrics = [load(m) if isinstance(m, str) else m for m in metrics]
        for metric in self.metrics:
            if not isinstance(metric, (Metric, CombinedMetrics)):
                raise MetricError(f"combine() takes metric names or loaded metrics, got {type(metric).__name__}")
        self.names = names or [m.name for m in self.metrics]
        self.force_prefix = force_prefix

    @property
    def name(self) -> str:
        return "+".join(self.names)

    def accepted_options(self) -> list[str]:
        return sorted(set().union(*(m.accepted_options() for m in self.metrics)))

    def __repr__(self) -> str:
        return f"CombinedMetrics({self.names})"

    def add(self, *, prediction=None, reference=None) -> None:
        for metric in self.metrics:
            metric.add(prediction=prediction, reference=reference)

    def add_batch(self, *, predictions=None, references=None) -> None:
        for metric in self.metrics:
            metric.add_batch(predictions=predictions, references=references)

    def compute(self, *, predictions=None, references=None, **options) -> dict:
        """Compute every metric; each option goes to the metrics that accept it (``average`` to f1, not accuracy)."""
        accepted = [set(m.accepted_options()) for m in self.metrics]
        unknown = sorted(set(options) - set().union(*accepted))
        if unknown:
            raise MetricError(f"none of {self.names} accepts the option(s) {', '.join(map(repr, unknown))}")
        results = [
            m.compute(predictions=predictions, references=references, **{k: v for k, v in options.items() if k in ok})
            for m, ok in zip(self.metrics, accepted)
        ]
        return self._merge(results)

    def _merge(self, results: list[dict]) -> dict:
        # the same rule as evaluate's CombinedEvaluations._merge_results
        key_counts, name_counts = _counts(k for r in results for k in r), _counts(self.names)
        seen = {name: 0 for name, count in name_counts.items() if count > 1}
        merged = {}
        for name, result in zip(self.names, results):
            for key, value in result.items():
                if key_counts[key] == 1 and not self.force_prefix:
                    merged[key] = value
                elif name in seen:
                    merged[f"{name}_{seen[name]}_{key}"] = value
                else:
                    merged[f"{name}_{key}"] = value
            if name in seen:
                seen[name] += 1
        return merged


def _counts(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def combine(evaluations: Iterable[str | Metric] | Mapping[str, str | Metric],
            force_prefix: bool = False) -> CombinedMetrics:
    """Combine metrics (names or loaded ones) into one object with ``add``/``add_batch``/``compute``.

    >>> combine(["accuracy", "f1"]).compute(predictions=[0, 1], references=[1, 1])
    {'accuracy': 0.5, 'f1': 0.6666666666666666}
    """
    return CombinedMetrics(evaluations, force_prefix=force_prefix)
