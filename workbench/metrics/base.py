"""The metric object behind ``workbench.metrics.load``: buffering, argument checks, lazy imports.

A metric subclass names itself, lists the config names it accepts and implements
``_compute(predictions, references, **options)``; everything else (``add``/``add_batch``,
defaults given to ``load``, checking lengths and option names) lives here once.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Sequence

from ..errors import WorkbenchError


class MetricError(WorkbenchError, ValueError):
    """Bad input to a metric: an unknown name, option or config, mismatched lengths, wrong types."""


def require(module: str, pip_name: str, metric: str):
    """Import ``module`` for ``metric``, or raise an ImportError that says what to pip install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"the {metric!r} metric needs the {pip_name!r} package: pip install {pip_name} "
            f"(or pip install 'workbench[metrics]' for every metric's library)"
        ) from e


def to_python(value: Any) -> Any:
    """A numpy or torch scalar or array as Python values (torch is never imported here); anything else as is."""
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach().cpu().numpy()
    return value.tolist() if hasattr(value, "tolist") and not isinstance(value, (str, bytes)) else value


def to_list(values: Any, argument: str) -> list:
    """A list from a list, tuple, numpy array or torch tensor (torch is never imported here)."""
    values = to_python(values)
    if isinstance(values, (list, tuple)):
        return list(values)
    raise MetricError(f"{argument} must be a list, tuple or array, got {type(values).__name__}")


class Metric:
    """One evaluation metric, used like an ``evaluate.EvaluationModule``.

    ``compute(predictions=..., references=..., **options)`` scores a whole set at once; or feed it
    piece by piece with ``add(prediction=..., reference=...)`` / ``add_batch(predictions=...,
    references=...)`` and call ``compute(**options)``, which scores everything added and empties
    the buffer. Keyword arguments given to ``load`` are defaults for every ``compute`` call.
    """

    name: str = ""
    config_names: tuple[str, ...] = ("default",)

    def __init__(self, config_name: str | None = None, **defaults):
        config_name = config_name or "default"
        if config_name not in self.config_names:
            raise MetricError(
                f"the {self.name!r} metric has no config {config_name!r} (configs: {', '.join(self.config_names)})"
            )
        self.config_name = config_name
        self._check_options(defaults, where="load")
        self.defaults = defaults
        self._predictions: list = []
        self._references: list = []

    def __repr__(self) -> str:
        config = "" if self.config_name == "default" else f", config_name={self.config_name!r}"
        return f"{type(self).__name__}(name={self.name!r}{config})"

    # -- accumulating -----------------------------------------------------------------------
    def add(self, *, prediction=None, reference=None) -> None:
        """Add one prediction and its reference to the buffer ``compute()`` scores."""
        if prediction is None or reference is None:
            raise MetricError(f"{self.name}.add() needs both prediction= and reference=")
        self._predictions.append(self._prepare_item(to_python(prediction), "prediction"))
        self._references.append(self._prepare_item(to_python(reference), "reference"))

    def add_batch(self, *, predictions=None, references=None) -> None:
        """Add a batch of predictions and their references to the buffer ``compute()`` scores."""
        if predictions is None or references is None:
            raise MetricError(f"{self.name}.add_batch() needs both predictions= and references=")
        predictions, references = to_list(predictions, "predictions"), to_list(references, "references")
        if len(predictions) != len(references):
            raise MetricError(
                f"{self.name}: got {len(predictions)} predictions but {len(references)} references; "
                "each prediction needs exactly one reference entry"
            )
        self._predictions.extend(self._prepare_item(to_python(p), "prediction") for p in predictions)
        self._references.extend(self._prepare_item(to_python(r), "reference") for r in references)

    def compute(self, *, predictions=None, references=None, **options) -> dict:
        """Score ``predictions`` against ``references`` (plus anything added before) and return a dict."""
        if (predictions is None) != (references is None):
            raise MetricError(f"{self.name}.compute() needs predictions= and references= together")
        self._check_options(options, where="compute")
        if predictions is not None:
            self.add_batch(predictions=predictions, references=references)
        if not self._predictions:
            raise MetricError(
                f"{self.name}.compute() has nothing to score: pass predictions= and references=, "
                "or call add()/add_batch() first"
            )
        predictions, references = self._predictions, self._references
        self._predictions, self._references = [], []  # like evaluate, compute() empties the buffer
        return self._compute(predictions, references, **{**self.defaults, **options})

    # -- for subclasses ---------------------------------------------------------------------
    def _prepare_item(self, item, argument: str):
        """Check and convert one prediction or reference; subclasses say what an item must be."""
        return item

    def _compute(self, predictions: list, references: list, **options) -> dict:
        raise NotImplementedError

    def accepted_options(self) -> list[str]:
        """The keyword options ``compute`` (and ``load``) accept for this metric."""
        return [p for p in inspect.signature(self._compute).parameters if p not in ("predictions", "references")]

    def _check_options(self, options: dict, where: str) -> None:
        accepted = self.accepted_options()
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise MetricError(
                f"{self.name}.{where}() got unknown option(s) {', '.join(map(repr, unknown))}; "
                f"the {self.name!r} metric accepts: {', '.join(accepted) or 'none'}"
            )


def check_strings(item, argument: str, metric: str) -> str:
    if not isinstance(item, str):
        raise MetricError(f"{metric}: each {argument} must be a str, got {type(item).__name__}: {item!r:.80}")
    return item


def check_text_references(item, argument: str, metric: str) -> str | list[str]:
    """A reference of a text metric: one string, or a non-empty list of strings (several references)."""
    if isinstance(item, (list, tuple)) and argument == "reference":
        if not item:
            raise MetricError(f"{metric}: a reference list is empty; give at least one reference string")
        return [check_strings(r, argument, metric) for r in item]
    return check_strings(item, argument, metric)


def as_reference_lists(references: Sequence) -> list[list[str]]:
    """Each reference as a list of strings (one string becomes a one-item list)."""
    return [[r] if isinstance(r, str) else list(r) for r in references]
