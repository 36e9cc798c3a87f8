"""The numbers behind ``TrainingCurves``: one run's series, recorded from a Trainer's log events or
read back from a ``trainer_state.json``; EMA smoothing; CSV export.

A run's ``series`` maps a logged name to its ``(step, value)`` points, ``epochs`` maps a step to
the epoch logged with it, and ``summary`` holds the end-of-training ``train_*`` numbers. Both
sources go through :meth:`Run.record`, so curves rebuilt from a checkpoint are the ones the live
run drew: ``state.log_history`` is the list of the dicts the Trainer logged, each with its step.
A run's ``adapters`` (an :class:`~.adapter_table.AdapterTable`, None for a model without) come from
the model while it trains, or, for a run read back, from the adapter files saved beside its
``trainer_state.json`` (a checkpoint of a model with an adapter holds ``adapter_config.json``).

>>> run = load_run("out/run1")          # output_dir or a checkpoint-N folder   # doctest: +SKIP
>>> run.series["loss"][:2]                                                       # doctest: +SKIP
[(10, 0.69), (20, 0.61)]
"""

from __future__ import annotations

import csv
import io
import json
import numbers
import os
from dataclasses import dataclass, field

from .adapter_table import AdapterTable

NOT_PLOTTED = ("epoch", "step", "total_flos")
NOT_PLOTTED_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second", "_flos")
# smoothing a schedule only blurs it: the learning rate is always drawn as logged
NOT_SMOOTHED = ("learning_rate",)


@dataclass
class Run:
    """One training run's logged numbers (see the module docstring)."""

    label: str = "this run"
    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    epochs: dict[int, float] = field(default_factory=dict)
    summary: dict[str, float] = field(default_factory=dict)
    global_step: int = 0
    max_steps: int = 0
    source: str | None = None  # the trainer_state.json it was read from
    adapters: AdapterTable | None = None  # what the run trained, when the model had adapters

    def record(self, values: dict, step: int) -> dict[str, float]:
        """Add the numbers of one log event at ``step``; return those added to the series."""
        added = {}
        if isinstance(values.get("epoch"), numbers.Number):
            self.epochs[step] = float(values["epoch"])
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Number):
                continue
            value = float(value)
            if key.startswith("train_") or key == "total_flos":
                self.summary[key] = value
                continue
            if key in NOT_PLOTTED or key.endswith(NOT_PLOTTED_SUFFIXES):
                continue
            points = self.series.setdefault(key, [])
            if points and points[-1][0] == step:
                points[-1] = (step, value)  # the same event seen twice (on_log then on_evaluate)
            else:
                points.append((step, value))
            added[key] = value
        return added

    @classmethod
    def from_log_history(cls, history: list[dict], label: str = "this run", **kwargs) -> "Run":
        """A run from ``TrainerState.log_history`` (each entry a logged dict with its ``step``)."""
        run = cls(label=label, **kwargs)
        for entry in history:
            step = entry.get("step")
            if isinstance(step, numbers.Number):
                run.record(entry, int(step))
        return run

    def last_values(self) -> list[tuple[str, int, float]]:
        """(name, step, value) of each series' last point."""
        return [(name, points[-1][0], points[-1][1]) for name, points in self.series.items() if points]


def trainer_state_file(path: str | os.PathLike) -> str:
    """The ``trainer_state.json`` that holds the fullest history of the run in ``path``: the file
    itself, a folder holding one (``output_dir`` after ``save_state()``, a ``checkpoint-N``), or an
    ``output_dir``'s latest checkpoint when that one has gone further."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path} does not exist: give a Trainer's output_dir, a checkpoint-N folder in it, "
                                "or a trainer_state.json file.")
    from ..training.checkpoints import TRAINER_STATE_NAME, get_last_checkpoint

    found = [os.path.join(path, TRAINER_STATE_NAME)] if os.path.isfile(os.path.join(path, TRAINER_STATE_NAME)) else []
    last = get_last_checkpoint(path)
    if last is not None:
        found.append(os.path.join(last, TRAINER_STATE_NAME))
    if not found:
        raise FileNotFoundError(f"{path} has no {TRAINER_STATE_NAME} and no checkpoint-N folder with one: train with "
                                "save_strategy='steps' or 'epoch' (checkpoints), or call trainer.save_state() at the end.")
    # the furthest run wins; on a tie the output_dir's own file, which also holds the final train_* summary
    return max(found, key=lambda file: (_read_json(file).get("global_step", 0), file == found[0]))


def _read_json(file: str) -> dict:
    with open(file, encoding="utf-8") as handle:
        return json.load(handle)


def default_label(path: str | os.PathLike) -> str:
    """``out/run1`` -> ``run1``; ``out/run1/checkpoint-30`` -> ``run1``."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isfile(path):
        path = os.path.dirname(path)
    name = os.path.basename(path)
    return os.path.basename(os.path.dirname(path)) if name.startswith("checkpoint-") else name


def load_run(path: str | os.PathLike, label: str | None = None) -> Run:
    """A run read from ``path``'s ``trainer_state.json`` (see :func:`trainer_state_file`)."""
    file = trainer_state_file(path)
    state = _read_json(file)
    history = state.get("log_history")
    if not isinstance(history, list):
        raise ValueError(f"{file} has no log_history list: is it a Trainer's trainer_state.json?")
    return Run.from_log_history(history, label=label or default_label(path), global_step=int(state.get("global_step") or 0),
                                max_steps=int(state.get("max_steps") or 0), source=file,
                                adapters=saved_adapters(path, file))


def saved_adapters(path: str | os.PathLike, state_file: str) -> AdapterTable | None:
    """The adapter a run saved: in the folder of its ``trainer_state.json``, else in ``path`` (an
    ``output_dir`` after ``save_model()``) or its latest checkpoint. None when the run has none."""
    from ..catalog import describe_folder
    from ..catalog_adapters import is_adapter_folder
    from ..training.checkpoints import get_last_checkpoint

    path = os.fspath(path)
    folders = [os.path.dirname(os.path.abspath(state_file))]
    if os.path.isdir(path):
        folders += [path, get_last_checkpoint(path)]
    for folder in filter(None, folders):
        if is_adapter_folder(folder):
            return AdapterTable.from_facts(describe_folder(folder).adapter)
    return None


def ema(values: list[float], weight: float) -> list[float]:
    """Exponential moving average with weight ``weight`` on the past (0: the values unchanged),
    debiased so the first points are not pulled towards zero (as TensorBoard smooths)."""
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight {weight} is outside [0, 1): 0 is no smoothing, 0.9 strong smoothing.")
    smoothed, average, norm = [], 0.0, 0.0
    for value in values:
        average = weight * average + (1 - weight) * value
        norm = weight * norm + (1 - weight)
        smoothed.append(average / norm)
    return smoothed


def runs_csv(runs: list[Run]) -> str:
    """One row per run and logged step: ``run, step, epoch`` and a column per series (empty where
    that series has no point at that step)."""
    names: list[str] = []
    for run in runs:
        names += [name for name in run.series if name not in names]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["run", "step", "epoch", *names])
    for run in runs:
        values = {name: dict(points) for name, points in run.series.items()}
        steps = sorted({step for points in run.series.values() for step, _ in points})
        for step in steps:
            epoch = run.epochs.get(step)
            row = [run.label, step, "" if epoch is None else repr(epoch)]
            row += [repr(values[name][step]) if step in values.get(name, {}) else "" for name in names]
            writer.writerow(row)
    return buffer.getvalue()
