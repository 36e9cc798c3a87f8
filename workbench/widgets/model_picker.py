"""``ModelPicker``: what can be loaded here, with its size and memory needs, and a button to load it.

>>> from workbench.widgets import ModelPicker
>>> picker = ModelPicker(paths=["~/checkpoints"])       # doctest: +SKIP
>>> picker                                                # the table, filters and a "load" button
>>> picker.model, picker.tokenizer, picker.pipeline       # after pressing it
>>> picker.value                                          # the pipeline, else the model

Lists the Hugging Face cache, the folders and GGUF files under ``paths``, and the workbench zoo
(one :func:`workbench.catalog.scan`, the same the lab panel shows; see there how each number is
found); "search Hub" adds the
Hub's most downloaded models for the chosen task when online. Driven from code:
``picker.task_filter.value = "text-generation"``, ``picker.select(name)``,
``picker.mode.value = "pipeline"``, ``picker.load_button.click()`` (or ``picker.load()``).
"""

from __future__ import annotations

import os
import time
from html import escape
from typing import Any, Callable

from .. import catalog
from ..catalog import ModelEntry
from ._display import Displayable, esc, human_bytes, human_count, import_ipywidgets

ALL = "(all)"
MODES = (("model + tokenizer", "model"), ("pipeline", "pipeline"))
DTYPES = ("auto", "float32", "bfloat16", "float16")
STYLE = """
.wb-pick{font-family:system-ui,sans-serif;font-size:12px}
.wb-pick table{border-collapse:collapse}
.wb-pick th,.wb-pick td{border:1px solid #ddd;padding:2px 6px;text-align:left;white-space:nowrap}
.wb-pick td.num{text-align:right;font-family:monospace}
.wb-pick tr.sel td{background:#e3f2fd;font-weight:bold}
.wb-pick .note{color:#777}
"""
COLUMNS = ("name", "source", "task", "architecture", "params", "layers", "dtype", "on disk",
           "fp32", "bf16", "fp16")


def entry_cells(entry: ModelEntry) -> list[str]:
    """One table row's texts (the widget's table and the static HTML use these)."""
    return [entry.name + (f" / {entry.gguf_file}" if entry.gguf_file and entry.gguf_file != entry.name else ""),
            entry.source, entry.task or "-", entry.architecture or "-", human_count(entry.num_parameters),
            "-" if entry.num_layers is None else str(entry.num_layers), entry.dtype or "-",
            human_bytes(entry.size_on_disk), human_bytes(entry.memory("float32")),
            human_bytes(entry.memory("bfloat16")), human_bytes(entry.memory("float16"))]


def entries_table(entries: list[ModelEntry], selected: str | None = None) -> str:
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    rows = []
    for entry in entries:
        cells = entry_cells(entry)
        tds = "".join(f'<td class="num">{esc(c)}</td>' if i >= 4 else f"<td>{esc(c)}</td>" for i, c in enumerate(cells))
        mark = ' class="sel"' if entry.key == selected else ""
        rows.append(f'<tr{mark} title="{esc(entry.path or entry.name)}">{tds}</tr>')
    if not rows:
        rows.append(f'<tr><td colspan="{len(COLUMNS)}" class="note">nothing to show</td></tr>')
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


class ModelPicker(Displayable):
    """Models loadable here, filterable by task and architecture, loaded by a button.

    ``paths``: checkpoint folders, .gguf files, or folders holding them. ``cache_dir``: the Hugging
    Face cache to list (default: the usual one); ``include_cache`` / ``include_zoo`` turn sources
    off; ``zoo_dir`` overrides the zoo folder. ``mode`` ("model" or "pipeline") and ``dtype`` set
    the load controls; ``hub_timeout`` bounds a Hub search.
    """

    def __init__(self, paths=(), *, cache_dir: str | os.PathLike | None = None, include_cache: bool = True,
                 include_zoo: bool = True, zoo_dir: str | os.PathLike | None = None, task: str | None = None,
                 mode: str = "model", dtype: str = "auto", device=None, hub_timeout: float = 5.0,
                 hub_limit: int = 20) -> None:
        self.paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths or ())
        self.cache_dir, self.zoo_dir = cache_dir, zoo_dir
        self.include_cache, self.include_zoo = include_cache, include_zoo
        self.device, self.hub_timeout, self.hub_limit = device, hub_timeout, hub_limit
        self.entries: list[ModelEntry] = []
        self.hub_entries: list[ModelEntry] = []
        self.model = self.tokenizer = self.pipeline = self.value = None
        self.status = ""
        self.messages: list[str] = []  # every status line, oldest first
        self._callbacks: list[Callable[[Any], None]] = []
        self._build_widget(mode, dtype)
        self.refresh()
        if task:
            self.task_filter.value = task if task in self.task_filter.options else ALL

    # --- scanning and filtering ----------------------------------------------------------------

    def refresh(self) -> None:
        """Scan every source again."""
        started = time.monotonic()
        found = catalog.scan(self.paths, cache_dir=self.cache_dir, zoo_dir=self.zoo_dir,
                             include_cache=self.include_cache, include_zoo=self.include_zoo)
        entries = self.entries = [entry for entry in found.entries if entry.loadable]
        self._update_filters()
        self._set_status(f"{len(entries)} local models ({time.monotonic() - started:.1f} s to scan).")

    def search_hub(self, task: str | None = None, search: str | None = None) -> list[ModelEntry]:
        """Add the Hub's most downloaded models for ``task`` (the task filter by default)."""
        if task is None and self.task_filter.value != ALL:
            task = self.task_filter.value
        self.hub_entries, message = catalog.search_hub(task, search or self.search_box.value or None,
                                                       self.hub_limit, self.hub_timeout)
        self._update_filters()
        self._set_status(message)
        return self.hub_entries

    @property
    def all_entries(self) -> list[ModelEntry]:
        return self.entries + self.hub_entries

    @property
    def filtered(self) -> list[ModelEntry]:
        task, arch, words = self.task_filter.value, self.arch_filter.value, self.search_box.value.lower().split()
        return [e for e in self.all_entries
                if (task == ALL or e.task == task) and (arch == ALL or e.architecture == arch)
                and all(w in f"{e.name} {e.gguf_file or ''} {e.path or ''}".lower() for w in words)]

    @property
    def selected(self) -> ModelEntry | None:
        return next((e for e in self.all_entries if e.key == self.chooser.value), None)

    def select(self, name_or_key: str) -> ModelEntry:
        """Choose an entry by key, name, or .gguf file name."""
        for entry in self.filtered:
            if name_or_key in (entry.key, entry.name, entry.gguf_file, entry.path):
                self.chooser.value = entry.key
                return entry
        shown = ", ".join(e.name for e in self.filtered) or "none"
        raise KeyError(f"No model {name_or_key!r} among the ones shown ({shown}); check the filters.")

    # --- loading -------------------------------------------------------------------------------

    def load(self, mode: str | None = None, dtype: str | None = None):
        """Load the selected entry (as the mode control says) and return ``picker.value``."""
        entry = self.selected
        if entry is None:
            self._set_status("Select a model first.")
            return None
        if mode is not None:
            self.mode.value = mode
        if dtype is not None:
            self.dtype.value = dtype
        self.progress.layout.visibility = "visible"
        self.load_button.disabled = True
        started = time.monotonic()
        try:
            loaded = catalog.load_entry(entry, self.mode.value, self.dtype.value, self.device, self._progress)
        except Exception as error:
            self.progress.bar_style = "danger"
            self._set_status(f"Loading {entry.name} failed: {type(error).__name__}: {error}", error=True)
            return None
        finally:
            self.load_button.disabled = False
        self.model, self.tokenizer, self.pipeline = loaded.model, loaded.tokenizer, loaded.pipeline
        self.value = loaded.value
        self.progress.bar_style = "success"
        what = f"a {self.pipeline.task} pipeline" if self.pipeline is not None else type(self.model).__name__
        names = "picker.value, picker.model, picker.tokenizer" + (", picker.pipeline" if self.pipeline else "")
        missing = " The folder has no tokenizer: picker.tokenizer is None." if self.tokenizer is None else ""
        self._set_status(f"Loaded {entry.name} as {what} in {time.monotonic() - started:.1f} s: {names}.{missing}")
        for callback in self._callbacks:
            callback(self.value)
        return self.value

    def on_load(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(picker.value)`` after each successful load."""
        self._callbacks.append(callback)

    def _progress(self, step: int, total: int, message: str) -> None:
        self.progress.max, self.progress.value = total, step
        self.progress.bar_style = "info"
        self._set_status(f"[{step}/{total}] {message}" + ("" if step == total else " ..."))

    # --- widget --------------------------------------------------------------------------------

    def _build_widget(self, mode: str, dtype: str) -> None:
        w = import_ipywidgets()
        self.task_filter = w.Dropdown(options=[ALL], value=ALL, description="task")
        self.arch_filter = w.Dropdown(options=[ALL], value=ALL, description="architecture")
        self.search_box = w.Text(placeholder="name contains ...", description="search", continuous_update=False)
        self.refresh_button = w.Button(description="rescan", icon="refresh")
        self.hub_button = w.Button(description="search Hub", icon="search", tooltip="the Hub's models for this task")
        self.table = w.HTML()
        self.chooser = w.Select(options=[], rows=6, description="model", layout=w.Layout(width="95%"))
        self.details = w.HTML()
        self.mode = w.ToggleButtons(options=list(MODES), value=mode)
        self.dtype = w.Dropdown(options=list(DTYPES), value=dtype, description="dtype", layout=w.Layout(width="180px"))
        self.load_button = w.Button(description="load", button_style="primary", icon="download")
        self.progress = w.IntProgress(min=0, max=3, value=0, layout=w.Layout(visibility="hidden", width="160px"))
        self.status_line = w.HTML()
        for control in (self.task_filter, self.arch_filter, self.search_box):
            control.observe(self._on_filter, names="value")
        self.chooser.observe(self._on_choose, names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.hub_button.on_click(lambda _: self.search_hub())
        self.load_button.on_click(lambda _: self.load())
        self.widget = w.VBox([
            w.HBox([self.task_filter, self.arch_filter, self.search_box, self.refresh_button, self.hub_button]),
            w.Box([self.table], layout=w.Layout(overflow="auto", max_height="260px")),
            self.chooser, self.details,
            w.HBox([self.mode, self.dtype, self.load_button, self.progress]),
            self.status_line,
        ])

    def _update_filters(self) -> None:
        entries = self.all_entries
        for control, values in ((self.task_filter, {e.task for e in entries if e.task}),
                                (self.arch_filter, {e.architecture for e in entries if e.architecture})):
            current = control.value
            control.options = [ALL] + sorted(values)
            control.value = current if current in control.options else ALL
        self._on_filter()

    def _on_filter(self, change=None) -> None:
        shown = self.filtered
        current = self.chooser.value
        self.chooser.options = [(e.label, e.key) for e in shown]
        keys = [e.key for e in shown]
        self.chooser.value = current if current in keys else (keys[0] if keys else None)
        self._redraw()

    def _on_choose(self, change=None) -> None:
        self._redraw()

    def _redraw(self) -> None:
        table = entries_table(self.filtered, self.chooser.value)
        self.table.value = f'<div class="wb-pick"><style>{STYLE}</style>{table}</div>'
        self.details.value = self._details_html(self.selected)

    def _details_html(self, entry: ModelEntry | None) -> str:
        if entry is None:
            return '<div class="wb-pick note">No model selected.</div>'
        facts = [("location", entry.path or entry.name), ("revision", entry.revision), ("model type", entry.model_type),
                 ("parameters", f"{entry.num_parameters:,}" if entry.num_parameters is not None else None),
                 ("tokenizer", "yes" if entry.has_tokenizer else "no"), ("note", entry.error)]
        items = "".join(f"<b>{escape(k)}</b>: {esc(v)}<br>" for k, v in facts if v)
        return f'<div class="wb-pick">{items}</div>'

    def _set_status(self, message: str, error: bool = False) -> None:
        self.status = message
        self.messages.append(message)
        colour = "#b71c1c" if error else "#333"
        self.status_line.value = f'<span style="color:{colour}">{escape(message)}</span>'

    # --- static views --------------------------------------------------------------------------

    def to_html(self) -> str:
        selected = self.selected
        chosen = f"<div>selected: <b>{esc(selected.label)}</b></div>" if selected else ""
        return (f'<div class="wb-pick"><style>{STYLE}</style><div>ModelPicker: {len(self.filtered)} of '
                f"{len(self.all_entries)} models shown</div>{entries_table(self.filtered, self.chooser.value)}{chosen}"
                f'<div class="note">{escape(self.status)}</div></div>')

    def to_text(self) -> str:
        shown = self.filtered
        lines = [f"ModelPicker: {len(shown)} of {len(self.all_entries)} models"]
        lines += ["  " + " | ".join(entry_cells(e)) for e in shown]
        if self.status:
            lines.append(self.status)
        return "\n".join(lines)
