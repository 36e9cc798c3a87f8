"""``TrainingCurves``: a Trainer callback that draws loss, learning rate, grad norm and eval
metrics as training runs, with a progress bar and ETA.

>>> from workbench.widgets import TrainingCurves
>>> trainer = Trainer(model, args, train_dataset=train, eval_dataset=dev,
...                   callbacks=[TrainingCurves()])                      # doctest: +SKIP
>>> trainer.train()                                                      # doctest: +SKIP

It is duck-typed: it has the callback methods of the reference library's ``TrainerCallback``
(``on_train_begin``, ``on_log``, ``on_evaluate``, ``on_step_end``, ``on_train_end``, ... each
taking ``(args, state, control, **kwargs)`` and returning None) and reads only
``state.global_step``, ``state.max_steps`` and ``state.epoch`` when they exist, so it works with
workbench's Trainer and with the reference's without importing either.

In a Jupyter kernel it shows a progress bar and a matplotlib figure in an ``Output`` widget,
redrawn at most every ``min_interval`` seconds (and at each evaluation); at the end of training
that display is replaced by the final figure as a PNG image, so a saved notebook keeps it.
Elsewhere it prints one line per log event (``log=`` takes another function, e.g.
``logging.getLogger("train").info``).

State: ``.series`` (``{"loss": [(step, value), ...], "eval_loss": [...], ...}``), ``.summary``
(the final ``train_*`` numbers), ``.lines`` (log lines written), ``.to_png()``.
"""

from __future__ import annotations

import datetime
import math
import numbers
import time
from html import escape
from typing import Any, Callable

from ._display import Displayable, figure_png, in_kernel, new_figure, png_img, png_output

_NOT_PLOTTED = ("epoch", "step", "total_flos")
_NOT_PLOTTED_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second", "_flos")


def _number(value: float) -> str:
    return f"{value:.4g}"


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    return str(datetime.timedelta(seconds=round(seconds)))


class TrainingCurves(Displayable):
    """Live training curves (``notebook=None``: decided by whether a Jupyter kernel runs this)."""

    def __init__(self, notebook: bool | None = None, min_interval: float = 2.0,
                 log: Callable[[str], None] | None = None, panel_size: tuple[float, float] = (3.6, 2.8)) -> None:
        self.notebook = in_kernel() if notebook is None else bool(notebook)
        self.min_interval = min_interval
        self.log = log or (lambda line: print(line, flush=True))
        self.panel_size = panel_size
        self.lines: list[str] = []
        self.draw_count = 0
        self._handle = None
        self._reset()

    def _reset(self) -> None:
        self.series: dict[str, list[tuple[int, float]]] = {}
        self.summary: dict[str, float] = {}
        self.step, self.max_steps, self.epoch = 0, 0, None
        self.started = self.finished = None
        self._start_step = 0
        self._last_draw = self._last_progress = -math.inf
        self._printed_eval_steps: set[int] = set()
        self._state_has_step = False
        self.png = b""

    # --- the callback events ---------------------------------------------------------------------

    def on_init_end(self, args, state, control, **kwargs) -> None:
        return None

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        self._reset()
        self._read_state(state)
        self._start_step = self.step
        self.started = time.monotonic()
        if self.notebook:
            self._show_live()
        else:
            self._emit(f"training: {self.max_steps or '?'} steps")

    def on_step_end(self, args, state, control, **kwargs) -> None:
        self._read_state(state)
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
            self._redraw(force=False)
        else:
            self._emit(self._line(added))

    def on_evaluate(self, args, state, control, metrics: dict | None = None, **kwargs) -> None:
        self._read_state(state)
        added = self._record(metrics or {})
        if self.notebook:
            self._redraw(force=True)
        elif added and self.step not in self._printed_eval_steps:  # the reference logs them first
            self._printed_eval_steps.add(self.step)
            self._emit(self._line(added, prefix="eval at "))

    def on_train_end(self, args, state, control, **kwargs) -> None:
        self._read_state(state)
        self.finished = time.monotonic()
        if self.notebook:
            self._redraw(force=True)
            self._show_final()
        else:
            done = "training done"
            if self.started is not None:
                done += f": {self.step} steps in {_duration(self.finished - self.started)}"
            extra = " | ".join(f"{k} {_number(v)}" for k, v in self.summary.items())
            self._emit(f"{done}{' | ' + extra if extra else ''}")

    def _nothing(self, args, state, control, **kwargs) -> None:
        return None

    on_epoch_begin = on_epoch_end = on_step_begin = on_substep_end = on_pre_optimizer_step = _nothing
    on_optimizer_step = on_save = on_predict = on_prediction_step = on_push_begin = _nothing

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

    def _record(self, values: dict) -> dict[str, float]:
        """Add the numbers of one log event to the series; return those added."""
        added = {}
        step = self.step
        if not self._state_has_step and isinstance(values.get("step"), numbers.Number):
            step = self.step = int(values["step"])  # a trainer whose state has no global_step
        if isinstance(values.get("epoch"), numbers.Number):
            self.epoch = float(values["epoch"])
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Number):
                continue
            value = float(value)
            if key.startswith("train_") or key == "total_flos":
                self.summary[key] = value
                continue
            if key in _NOT_PLOTTED or key.endswith(_NOT_PLOTTED_SUFFIXES):
                continue
            points = self.series.setdefault(key, [])
            if points and points[-1][0] == step:
                points[-1] = (step, value)  # the same event seen twice (on_log then on_evaluate)
            else:
                points.append((step, value))
            added[key] = value
        return added

    # --- text ------------------------------------------------------------------------------------

    def eta(self) -> float | None:
        """Seconds left at the pace since training began (None before a step is done)."""
        done = self.step - self._start_step
        if self.started is None or done <= 0 or not self.max_steps:
            return None
        return (time.monotonic() - self.started) / done * (self.max_steps - self.step)

    def _progress_text(self) -> str:
        total = self.max_steps or "?"
        percent = f" ({100 * self.step / self.max_steps:.0f}%)" if self.max_steps else ""
        epoch = f" | epoch {self.epoch:.2f}" if self.epoch is not None else ""
        elapsed = None if self.started is None else (self.finished or time.monotonic()) - self.started
        timing = f" | elapsed {_duration(elapsed)}"
        if self.finished is None:
            timing += f" | eta {_duration(self.eta())}"
        return f"step {self.step}/{total}{percent}{epoch}{timing}"

    def _line(self, added: dict[str, float], prefix: str = "") -> str:
        values = " | ".join(f"{key} {_number(value)}" for key, value in added.items())
        return f"{prefix}{self._progress_text()} | {values}"

    def _emit(self, line: str) -> None:
        self.lines.append(line)
        self.log(line)

    # --- figure ----------------------------------------------------------------------------------

    def panels(self) -> list[tuple[str, list[str]]]:
        """(title, series names) for each panel that has data."""
        keys = list(self.series)
        groups = [("loss", [k for k in ("loss", "eval_loss") if k in keys]),
                  ("learning rate", [k for k in ("learning_rate",) if k in keys]),
                  ("grad norm", [k for k in ("grad_norm",) if k in keys]),
                  ("metrics", [k for k in keys if k not in ("loss", "eval_loss", "learning_rate", "grad_norm")])]
        return [(title, names) for title, names in groups if names]

    def to_png(self) -> bytes:
        """The curves so far as PNG bytes (empty when nothing was logged)."""
        panels = self.panels()
        if not panels:
            return b""
        from matplotlib.ticker import FuncFormatter

        width, height = self.panel_size
        figure = new_figure(width * len(panels), height, layout=None)  # redrawn often: fixed margins
        figure.subplots_adjust(left=0.22 / len(panels), right=0.98, bottom=0.17, top=0.8, wspace=0.35)
        axes = figure.subplots(1, len(panels), squeeze=False)[0]
        for ax, (title, names) in zip(axes, panels):
            for name in names:
                steps, values = zip(*self.series[name])
                style = dict(marker="o", markersize=3) if name.startswith("eval_") or len(steps) == 1 else {}
                ax.plot(steps, values, label=name, **style)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            if title == "learning rate":  # 5e-05 on the ticks, not an offset text over the title
                ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.1e}"))
            if len(names) > 1 or title == "metrics":
                ax.legend(fontsize=7)
        figure.suptitle(self._progress_text(), fontsize=9)
        return figure_png(figure)

    # --- notebook display ------------------------------------------------------------------------

    def _build_widget(self) -> None:
        from ._display import import_ipywidgets

        w = import_ipywidgets()
        self.progress_bar = w.IntProgress(min=0, max=max(1, self.max_steps), value=0, bar_style="info",
                                          layout=w.Layout(width="60%"))
        self.progress_text = w.HTML()
        self.output = w.Output()
        self.widget = w.VBox([w.HBox([self.progress_bar, self.progress_text]), self.output])

    def _show_live(self) -> None:
        if self.widget is None:
            self._build_widget()
        self.progress_bar.max = max(1, self.max_steps)
        self.output.outputs = ()
        self._update_progress()
        self._handle = _display(self, display_id=True)

    def _update_progress(self) -> None:
        if self.widget is None:
            return
        self._last_progress = time.monotonic()
        self.progress_bar.value = min(self.step, self.progress_bar.max)
        if self.finished is not None:
            self.progress_bar.bar_style = "success"
        self.progress_text.value = f"<code>{escape(self._progress_text())}</code>"

    def _redraw(self, force: bool) -> None:
        if not force and time.monotonic() - self._last_draw < self.min_interval:
            return
        self._last_draw = time.monotonic()
        self.png = self.to_png()
        self._update_progress()
        if self.png and self.widget is not None:
            self.output.outputs = (png_output(self.png, "training curves"),)
            self.draw_count += 1

    def _show_final(self) -> None:
        """Replace the live view with the final figure as an image (kept in a saved notebook)."""
        self._update_progress()
        bundle = {"text/html": self.to_html(), "text/plain": self.to_text()}
        if self.png:
            bundle["image/png"] = self.png
        if self._handle is not None:
            self._handle.update(bundle, raw=True)
        else:
            _display(bundle, raw=True)

    # --- static views ----------------------------------------------------------------------------

    def to_html(self) -> str:
        png = self.png or self.to_png()
        last = "".join(f"<tr><td>{escape(k)}</td><td>{_number(points[-1][1])}</td><td>{points[-1][0]}</td></tr>"
                       for k, points in self.series.items())
        summary = "".join(f"<tr><td>{escape(k)}</td><td>{_number(v)}</td><td></td></tr>"
                          for k, v in self.summary.items())
        table = ""
        if last or summary:
            table = f"<table><tr><th>series</th><th>last</th><th>at step</th></tr>{last}{summary}</table>"
        figure = png_img(png, "training curves")
        return (f'<div style="font-family:system-ui,sans-serif;font-size:12px">'
                f"<div><code>{escape(self._progress_text())}</code></div>{figure}{table}</div>")

    def to_text(self) -> str:
        last = ", ".join(f"{k} {_number(points[-1][1])}" for k, points in self.series.items())
        return f"TrainingCurves: {self._progress_text()}" + (f" | {last}" if last else "")


def _display(obj: Any, **kwargs: Any):
    """IPython's display where an IPython shell runs; nothing elsewhere (returns the handle)."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display

    if not InteractiveShell.initialized():
        return None
    return display(obj, **kwargs)
