"""``TrainingCurves``: a Trainer callback that draws loss, learning rate, grad norm and eval
metrics as training runs, with one progress readout, smoothing, a log axis, hover values, earlier
runs overlaid and a CSV export.

>>> from workbench.widgets import TrainingCurves
>>> trainer = Trainer(model, args, train_dataset=train, eval_dataset=dev,
...                   callbacks=[TrainingCurves()])                      # doctest: +SKIP
>>> trainer.train()                                                      # doctest: +SKIP

Earlier runs, from the ``trainer_state.json`` in their ``output_dir`` (or latest checkpoint):

>>> TrainingCurves(compare_with=["out/run1"])      # overlaid on the live run     # doctest: +SKIP
>>> TrainingCurves.compare("out/run1", "out/run2")  # two finished runs, no training  # doctest: +SKIP
>>> TrainingCurves.from_checkpoint("out/run1")      # after a kernel restart: the run's own curves  # doctest: +SKIP

**In a notebook** (a Jupyter kernel) it shows a progress bar with the text "step N of M", the
figure (inline SVG that follows the light or dark theme; point at a point for its values), a
table of the last values, a smoothing slider, a log-y checkbox and an "Export CSV" button. While
it is attached, workbench's Trainer mutes its own console readouts (the tqdm bar and the printed
log dicts: they ``step aside``, see ``TrainerCallback.replaces_console_readout``) and runs them
again once training ends. The figure is redrawn at most every ``min_interval`` seconds and at
each evaluation; at the end of training the saved copy of the output is rewritten with the final
curves (:meth:`refresh_saved_view`), so a notebook reopened without its kernel shows them.

**Elsewhere** (a terminal) it prints one line per log event (``log=`` takes another function,
e.g. ``logging.getLogger("train").info``) and leaves the Trainer's console output alone.

It is duck-typed: it has the callback methods of the reference library's ``TrainerCallback`` and
reads only ``state.global_step``, ``state.max_steps`` and ``state.epoch`` when they exist, so it
works with workbench's Trainer and with the reference's without importing either.

**Adapters**: when the model has adapters (``model.adapter_summary()``, read at the start and the
end of training), the view shows them above the curves: each adapter's name, method, whether it
is active, its parameter count, how many train, and the model's trainable share (the same table
the ``ModelPicker`` shows, :mod:`.adapter_table`). Runs read back show the adapter saved in
their checkpoint; in a comparison each run's table and legend title say which adapter it trained.

State: ``.series`` (``{"loss": [(step, value), ...], ...}``), ``.summary`` (the final ``train_*``
numbers), ``.runs`` (this run and the compared ones), ``.lines`` (log lines written),
``.to_csv()``, ``.to_svg()``, ``.to_png()``.
"""

from __future__ import annotations

import base64
import datetime
import math
import numbers
import os
import time
from html import escape
from typing import Any, Callable, Iterable

from ..theme import VIEW_CSS
from .adapter_table import CSS as ADAPTER_CSS
from .adapter_table import AdapterTable
from .curves_figure import FIGURE_CSS, curves_png, curves_svg, number, panels
from .training_runs import Run, load_run, runs_csv
from ._display import Displayable, in_kernel

CSS = (FIGURE_CSS + ADAPTER_CSS + ".wb-curves{font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:12px}"
       ".wb-curves table{border-collapse:collapse;margin-top:4px}"
       ".wb-curves th,.wb-curves td{padding:1px 8px;text-align:left;border-bottom:1px solid var(--wb-border);"
       "color:var(--wb-fg);background:transparent;font-size:inherit}"
       ".wb-curves caption{text-align:left;color:var(--wb-fg-muted)}")


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    return str(datetime.timedelta(seconds=round(seconds)))


def _as_paths(runs) -> list[tuple[str | None, Any]]:
    """``"out/a"``, ``["out/a", ...]`` or ``{"label": "out/a", ...}`` -> [(label or None, path)]."""
    if runs is None:
        return []
    if isinstance(runs, (str, os.PathLike)):
        return [(None, runs)]
    if isinstance(runs, dict):
        return list(runs.items())
    return [(None, path) for path in runs]


class TrainingCurves(Displayable):
    """Live training curves (``notebook=None``: decided by whether a Jupyter kernel runs this);
    ``compare_with`` overlays earlier runs (paths, or ``{label: path}``; see the module docstring)."""

    def __init__(self, notebook: bool | None = None, min_interval: float = 2.0,
                 log: Callable[[str], None] | None = None, panel_size: tuple[float, float] = (3.6, 2.8),
                 compare_with: str | os.PathLike | Iterable | dict | None = None, smoothing: float = 0.0,
                 log_y: bool = False, label: str | None = None) -> None:
        self.notebook = in_kernel() if notebook is None else bool(notebook)
        self.min_interval = min_interval
        self.log = log or (lambda line: print(line, flush=True))
        self.panel_size = panel_size
        self.smoothing, self.log_y = smoothing, log_y
        self.label = label
        self.lines: list[str] = []
        self.draw_count = 0
        self.compared = [load_run(path, label) for label, path in _as_paths(compare_with)]
        self.last_export: str | None = None
        self._reset()

    def _reset(self) -> None:
        self.run = Run(label=self.label or "this run")
        self.step, self.max_steps, self.epoch = 0, 0, None
        self.started = self.finished = None
        self.evaluating: tuple[int, int | None] | None = None  # (batch, batches) while an evaluation runs
        self._training = False
        self._start_step = 0
        self._last_draw = self._last_progress = -math.inf
        self._draw_seconds = 0.0
        self._printed_eval_steps: set[int] = set()
        self._state_has_step = False
        self.svg = ""  # the figure as last drawn

    @property
    def replaces_console_readout(self) -> bool:
        """In a notebook the widget is the progress readout: the Trainer's console ones step aside."""
        return self.notebook

    @property
    def series(self) -> dict[str, list[tuple[int, float]]]:
        return self.run.series

    @property
    def summary(self) -> dict[str, float]:
        return self.run.summary

    @property
    def runs(self) -> list[Run]:
        """This run (once it logged or started) and the compared ones, in drawing order."""
        mine = [self.run] if (self.run.series or self.started is not None) else []
        return mine + self.compared

    # --- building from files ---------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **kwargs) -> "TrainingCurves":
        """The curves of a finished or interrupted run, rebuilt from ``path``: an ``output_dir`` (its
        latest checkpoint's, or its own, ``trainer_state.json``), a ``checkpoint-N`` folder or the
        JSON file itself. The points are the ones the live view drew (``state.log_history``)."""
        curves = cls(**kwargs)
        curves.run = load_run(path, kwargs.get("label"))
        curves.step, curves.max_steps = curves.run.global_step, curves.run.max_steps
        curves.epoch = max(curves.run.epochs.values(), default=None)
        curves.finished = curves.started = 0.0
        return curves

    @classmethod
    def compare(cls, *paths: str | os.PathLike, labels: Iterable[str] | None = None, **kwargs) -> "TrainingCurves":
        """Finished runs overlaid, each labelled (its folder name, or ``labels``):
        ``TrainingCurves.compare("out/run1", "out/run2")``."""
        labels = list(labels) if labels is not None else [None] * len(paths)
        if len(labels) != len(paths):
            raise ValueError(f"compare() got {len(paths)} runs but {len(labels)} labels: give one label per run.")
        curves = cls(**kwargs)
        curves.compared = [load_run(path, label) for label, path in zip(labels, paths)]
        return curves

    def add_run(self, path: str | os.PathLike, label: str | None = None) -> Run:
        """Overlay one more earlier run; returns it."""
        run = load_run(path, label)
        self.compared.append(run)
        if self.widget is not None:
            self._redraw(force=True)
        return run

    # --- the callback events ---------------------------------------------------------------------

    def on_init_end(self, args, state, control, **kwargs) -> None:
        return None

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        self._reset()
        output_dir = getattr(args, "output_dir", None)
        label = self.label or (os.path.basename(os.path.normpath(str(output_dir))) if output_dir else "this run")
        history = getattr(state, "log_history", None)  # resumed from a checkpoint: the curves so far
        self.run = Run.from_log_history(history if isinstance(history, list) else [], label=label,
                                        adapters=AdapterTable.from_model(kwargs.get("model")))
        self._read_state(state)
        self._start_step = self.step
        self.started = time.monotonic()
        self._training = True
        if self.notebook:
            self._show_live()
        else:
            self._emit(f"training: {self.max_steps or '?'} steps")

    def on_step_end(self, args, state, control, **kwargs) -> None:
        self._read_state(state)
        if self.notebook and time.monotonic() - self._last_progress >= 0.2:
            self._update_progress()

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs) -> None:
        batch, total = (self.evaluating or (0, None))[0] + 1, None
        try:
            total = len(eval_dataloader) if eval_dataloader is not None else None
        except TypeError:
            pass
        self.evaluating = (batch, total)
        if self.notebook and time.monotonic() - self._last_progress >= 0.2:
            self._update_progress()

    def on_log(self, args, state, control, logs: dict | None = None, **kwargs) -> None:
        self._read_state(state)
        added = self._record(logs or {})
        if not added:
            return
        if any(key.startswith("eval_") for key in added):
            self._printed_eval_steps.add(self.step)
        if self.notebook:
            self._update_progress()  # a log is rare: the readout is exact at each one, whatever the throttle skipped
            self._redraw(force=False)
        else:
            self._emit(self._line(added))

    def on_evaluate(self, args, state, control, metrics: dict | None = None, **kwargs) -> None:
        self._read_state(state)
        self.evaluating = None
        added = self._record(metrics or {})
        if self.notebook:
            self._redraw(force=True)
            if not self._training:  # trainer.evaluate() on its own: the view settles here
                self.refresh_saved_view()
        elif added and self.step not in self._printed_eval_steps:  # the reference logs them first
            self._printed_eval_steps.add(self.step)
            self._emit(self._line(added, prefix="eval at "))

    def on_train_end(self, args, state, control, **kwargs) -> None:
        self._read_state(state)
        if kwargs.get("model") is not None:  # adapters switched or added during training: the final ones
            self.run.adapters = AdapterTable.from_model(kwargs["model"])
        self.finished = time.monotonic()
        self._training = False
        if self.notebook:
            self._redraw(force=True)
            self.refresh_saved_view()
        else:
            done = "training done"
            if self.started is not None:
                done += f": {self.step} steps in {_duration(self.finished - self.started)}"
            extra = " | ".join(f"{k} {number(v)}" for k, v in self.summary.items())
            self._emit(f"{done}{' | ' + extra if extra else ''}")

    def _nothing(self, args, state, control, **kwargs) -> None:
        return None

    on_epoch_begin = on_epoch_end = on_step_begin = on_substep_end = on_pre_optimizer_step = _nothing
    on_optimizer_step = on_save = on_predict = on_push_begin = _nothing

    # --- recording -------------------------------------------------------------------------------

    def _read_state(self, state) -> None:
        step = getattr(state, "global_step", None)
        self._state_has_step = isinstance(step, numbers.Number)
        if self._state_has_step:
            self.step = int(step)
        max_steps = getattr(state, "max_steps", None)
        if isinstance(max_steps, numbers.Number) and max_steps > 0:
            self.max_steps = int(max_steps)
        epoch = getattr(state, "epoch", None)
        if isinstance(epoch, numbers.Number):
            self.epoch = float(epoch)
        self.run.global_step, self.run.max_steps = self.step, self.max_steps

    def _record(self, values: dict) -> dict[str, float]:
        """Add the numbers of one log event to this run; return those added."""
        if not self._state_has_step and isinstance(values.get("step"), numbers.Number):
            self.step = int(values["step"])  # a trainer whose state has no global_step
        if isinstance(values.get("epoch"), numbers.Number):
            self.epoch = float(values["epoch"])
        return self.run.record(values, self.step)

    # --- text ------------------------------------------------------------------------------------

    def eta(self) -> float | None:
        """Seconds left at the pace since training began (None before a step is done)."""
        done = self.step - self._start_step
        if not self._training or done <= 0 or not self.max_steps:
            return None
        return (time.monotonic() - self.started) / done * (self.max_steps - self.step)

    def progress_text(self) -> str:
        """The one progress readout: ``step 36 of 96 (38%) | epoch 0.75 | elapsed 0:00:12 | ...``."""
        if self.started is None and not self.run.series:
            return f"comparing {len(self.compared)} runs" if self.compared else "not started"
        total = self.max_steps or "?"
        percent = f" ({100 * self.step / self.max_steps:.0f}%)" if self.max_steps else ""
        epoch = f" | epoch {self.epoch:.2f}" if self.epoch is not None else ""
        text = f"step {self.step} of {total}{percent}{epoch}"
        if self.started:  # 0.0: rebuilt from a checkpoint, no clock
            text += f" | elapsed {_duration((self.finished or time.monotonic()) - self.started)}"
        if self._training:
            text += f" | eta {_duration(self.eta())}"
        if self.evaluating is not None:
            batch, batches = self.evaluating
            text += f" | evaluating: batch {batch} of {batches or '?'}"
        return text

    def _line(self, added: dict[str, float], prefix: str = "") -> str:
        values = " | ".join(f"{key} {number(value)}" for key, value in added.items())
        return f"{prefix}{self.progress_text()} | {values}"

    def _emit(self, line: str) -> None:
        self.lines.append(line)
        self.log(line)

    # --- figure, table, CSV ----------------------------------------------------------------------

    def panels(self) -> list[tuple[str, list[str]]]:
        """(title, series names) for each panel that has data."""
        return panels(self.runs)

    def figure_title(self) -> str:
        names = ", ".join(title for title, _ in self.panels())
        runs = self.runs
        if len(runs) > 1:
            labels = [run.label + (f" (adapter {run.adapters.label()})" if run.adapters else "") for run in runs]
            return f"training curves ({names}) of {len(runs)} runs: {', '.join(labels)}"
        adapter = f" of adapter {runs[0].adapters.label()}" if runs and runs[0].adapters else ""
        return f"training curves ({names}){adapter}"

    def to_svg(self) -> str:
        """The figure as themed inline SVG with hover values ("" when nothing was logged)."""
        return curves_svg(self.runs, self.figure_title(), self.smoothing, self.log_y, self.panel_size)

    def to_png(self) -> bytes:
        """The figure as PNG bytes (empty when nothing was logged)."""
        return curves_png(self.runs, self.smoothing, self.log_y, self.panel_size)

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """Every logged point as CSV (``run, step, epoch``, a column per series); written to ``path``
        when given. Returns the text."""
        text = runs_csv(self.runs)
        if path is not None:
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        return text

    def table_html(self) -> str:
        """The last value of each series of each run, as a table the keyboard can reach."""
        rows = []
        for run in self.runs:
            rows += [f"<tr><td>{escape(run.label)}</td><td>{escape(name)}</td><td>{number(value)}</td><td>{step}</td></tr>"
                     for name, step, value in run.last_values()]
            rows += [f"<tr><td>{escape(run.label)}</td><td>{escape(name)}</td><td>{number(value)}</td><td></td></tr>"
                     for name, value in run.summary.items()]
        if not rows:
            return ""
        return ('<table tabindex="0" aria-label="last values"><caption>last values</caption>'
                "<tr><th>run</th><th>series</th><th>last</th><th>at step</th></tr>" + "".join(rows) + "</table>")

    def adapters_html(self) -> str:
        """Each run's adapters (none for runs without): one table a run, captioned with the run
        when several runs are shown."""
        runs = [run for run in self.runs if run.adapters is not None]
        several = len(self.runs) > 1
        return "".join(run.adapters.to_html(f"{run.label}: " if several else "") for run in runs)

    def adapters_text(self) -> str:
        several = len(self.runs) > 1
        return "\n".join((f"{run.label}: " if several else "") + run.adapters.to_text()
                         for run in self.runs if run.adapters is not None)

    def figure_html(self) -> str:
        """The adapters, the figure and the table of last values, each wrapped for the theme."""
        return (f"<style>{VIEW_CSS}{CSS}</style><div class=\"wb-view wb-curves\">{self.adapters_html()}"
                f'<div class="wb-curves-figure">{self.svg}</div>{self.table_html()}</div>')

    # --- notebook display ------------------------------------------------------------------------

    def _build_widget(self) -> None:
        from ._display import import_ipywidgets

        w = import_ipywidgets()
        self.progress_bar = w.IntProgress(min=0, max=max(1, self.max_steps), value=0, bar_style="info",
                                          description="progress", layout=w.Layout(width="40%"))
        self.readout = w.HTML()
        self.progress = w.HBox([self.progress_bar, self.readout])
        self.smoothing_slider = w.FloatSlider(value=self.smoothing, min=0.0, max=0.99, step=0.01, readout_format=".2f",
                                              description="smoothing (EMA)", style={"description_width": "initial"})
        self.log_y_box = w.Checkbox(value=self.log_y, description="log-scale y axis", indent=False)
        self.export_button = w.Button(description="Export CSV", icon="download",
                                      tooltip="write every logged point to a CSV file and offer it for download")
        self.export_status = w.HTML()
        self.figure = w.HTML()
        self.smoothing_slider.observe(self._on_control, names="value")
        self.log_y_box.observe(self._on_control, names="value")
        self.export_button.on_click(lambda _: self.export_csv())
        controls = w.HBox([self.smoothing_slider, self.log_y_box, self.export_button, self.export_status])
        self.widget = w.VBox([self.progress, controls, self.figure])

    def _on_control(self, change) -> None:
        self.smoothing, self.log_y = self.smoothing_slider.value, self.log_y_box.value
        self._redraw(force=True)

    def export_csv(self, path: str | os.PathLike | None = None) -> str:
        """Write :meth:`to_csv` to ``path`` (default ``training_curves.csv`` in the run's folder, or
        here); the widget shows where, with a download link. Returns the path."""
        path = os.fspath(path or os.path.join(os.path.dirname(self.run.source or "") or ".", "training_curves.csv"))
        text = self.to_csv(path)
        self.last_export = path
        if self.widget is not None:
            data = base64.b64encode(text.encode("utf-8")).decode("ascii")
            rows = text.count("\n") - 1
            self.export_status.value = (f'<style>{VIEW_CSS}</style><span class="wb-view">{rows} rows saved to <code>{escape(path)}</code> '
                                        f'<a download="training_curves.csv" href="data:text/csv;base64,{data}">download</a></span>')
        return path

    def _show_live(self) -> None:
        if self.widget is None:
            self._build_widget()
        self.progress_bar.max = max(1, self.max_steps)
        self.progress_bar.bar_style = "info"
        self._update_progress()
        self.figure.value = self.figure_html()
        if _shell_running():
            self._ipython_display_()

    def _update_progress(self) -> None:
        """Bar and text from the same count (the Trainer's global_step of max_steps)."""
        if self.widget is None:
            return
        self._last_progress = time.monotonic()
        self.progress.layout.display = None if (self.started is not None or self.run.series) else "none"
        self.progress_bar.max = max(1, self.max_steps)
        self.progress_bar.value = min(self.step, self.progress_bar.max)
        if self.finished is not None:
            self.progress_bar.bar_style = "success"
        self.readout.value = self.readout_html()

    def readout_html(self) -> str:
        return (f'<style>{VIEW_CSS}</style><span class="wb-view wb-curves-readout">'
                f"{escape(self.progress_text())}</span>")

    def _redraw(self, force: bool) -> None:
        # at least 4 draws' time apart, so drawing (~0.1-1 s on a busy CPU) takes at most a fifth of training
        if not force and time.monotonic() - self._last_draw < max(self.min_interval, 4 * self._draw_seconds):
            return
        started = time.monotonic()
        self.svg = self.to_svg()
        self._last_draw = time.monotonic()
        self._draw_seconds = self._last_draw - started
        self._update_progress()
        if self.widget is not None:
            self.figure.value = self.figure_html()
            self.draw_count += 1

    def _ipython_display_(self) -> None:
        """In a kernel: the live view (built for a comparison or a rebuilt run too), with fallbacks."""
        if self.notebook and self.widget is None:
            self._build_widget()
            self._redraw(force=True)
        super()._ipython_display_()

    # --- static views ----------------------------------------------------------------------------

    def to_html(self) -> str:
        """The saved view: the readout, the figure and the last values, read-only."""
        self.svg = self.to_svg()  # drawn now: the state may have changed since the last redraw
        return (f"<style>{VIEW_CSS}{CSS}</style><div class=\"wb-view wb-curves\">"
                f"<div class=\"wb-curves-readout\">{escape(self.progress_text())}</div>{self.adapters_html()}"
                f'<div class="wb-curves-figure">{self.svg}</div>{self.table_html()}</div>')

    def to_text(self) -> str:
        last = ", ".join(f"{k} {number(points[-1][1])}" for k, points in self.series.items())
        adapters = self.adapters_text()
        return f"TrainingCurves: {self.progress_text()}" + (f" | {last}" if last else "") + \
            (f"\n{adapters}" if adapters else "")


def _shell_running() -> bool:
    """Whether an IPython shell runs (a notebook kernel or IPython): display() has somewhere to go."""
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.initialized()
