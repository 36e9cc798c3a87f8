"""``ModelPicker``: what can be loaded here, with its size and weight memory, its model card, the
code that loads it, and a button to load it.

>>> from workbench.widgets import ModelPicker
>>> picker = ModelPicker(paths=["~/checkpoints"])       # doctest: +SKIP
>>> picker                                                # the table, filters, card and "load"
>>> picker.model, picker.tokenizer, picker.pipeline       # after pressing it
>>> picker.value                                          # the pipeline, else the model

Lists the Hugging Face cache, the folders, adapter folders and GGUF files under ``paths``, and the workbench zoo
(one :func:`workbench.catalog.scan`, the same the lab panel shows; see there how each number is
found; a repeat scan reads only what changed). One table: click a row, or focus it and press
Enter or Space, to select it (arrow keys move between rows). "search Hub" adds the Hub's most
downloaded models for the chosen task when online. Driven from code:
``picker.task_filter.value = "text-generation"``, ``picker.select(name)``,
``picker.copy_load_code()``, ``picker.mode.value = "pipeline"``, ``picker.load_button.click()``
(or ``picker.load()``).

An adapter folder (``adapter_config.json``, no ``config.json``) is a row of its own: its card
names the base model (or says plainly that it is missing), the peft method, r, alpha, targets
and the adapter's parameter count; "load" loads the base and the adapter on it. The card of a
loaded model that has adapters lists them (loaded, active, parameters; :mod:`.adapter_table`).
"""

from __future__ import annotations

import os
import time
from html import escape
from typing import Any, Callable

from .. import catalog
from ..catalog import ModelEntry
from ..catalog_load import load_code, load_entry
from ..theme import VIEW_CSS
from ._display import Displayable, esc, human_bytes, human_count, import_ipywidgets
from .adapter_table import CSS as ADAPTER_CSS
from .adapter_table import AdapterTable
from .row_table import TABLE_CSS, CopyButton, RowTable, table_html

ALL = "(all)"
MODES = (("model + tokenizer", "model"), ("pipeline", "pipeline"))
DTYPES = ("auto", "float32", "bfloat16", "float16")
STYLE = """
.wb-pick{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:12px}
.wb-pick .note,.wb-pick .status{color:var(--wb-fg-muted)}
.wb-pick .status.error{color:var(--wb-error-fg)}
.wb-pick .card table{border-collapse:collapse;margin:2px 0;table-layout:auto}
.wb-pick .card table th{font-weight:600;text-align:left;padding:0 8px 0 0;vertical-align:top;white-space:nowrap}
.wb-pick .card table td{padding:0;overflow-wrap:anywhere;text-align:left}
.wb-pick .card p{margin:4px 0}
.wb-pick .tag{display:inline-block;border:1px solid var(--wb-border);border-radius:8px;padding:0 6px;margin:0 3px 2px 0}
.wb-pick pre{background:var(--wb-bg-alt);color:var(--wb-fg);padding:4px 6px;overflow-x:auto}
""" + ADAPTER_CSS
MEMORY_TITLE = ("Memory the weights alone take once loaded: parameters x 4 bytes in float32, x 2 bytes in "
                "bfloat16 or float16. Activations, the KV cache and optimizer state come on top.")
COLUMNS = [
    {"label": "model", "title": "repo id, folder or GGUF file; below it, where it was found"},
    {"label": "task", "title": "the pipeline task its architecture serves"},
    {"label": "architecture", "title": "the model class named in config.json (or read from the GGUF header)"},
    {"label": "params", "title": "parameter count (tied weights counted once)", "numeric": True},
    {"label": "layers", "title": "hidden layers", "numeric": True},
    {"label": "stored", "title": "the dtype or GGUF quantization of the files", "numeric": True},
    {"label": "on disk", "title": "bytes the files take on disk", "numeric": True},
    {"label": "weight memory fp32 / 16-bit", "title": MEMORY_TITLE, "numeric": True},
]


def entry_cells(entry: ModelEntry) -> list[str]:
    """One table row's texts (the live table and the static HTML use these)."""
    name = entry.name + (f" / {entry.gguf_file}" if entry.gguf_file and entry.gguf_file != entry.name else "")
    if entry.kind == "adapter" and entry.adapter is not None:  # params: the adapter's; memory: base + adapter
        name += f" · {entry.adapter.method or 'peft'} adapter on {entry.adapter.base_model or '?'}"
    memory = f"{human_bytes(entry.memory('float32'))} / {human_bytes(entry.memory('bfloat16'))}"
    return [f"{name} · {entry.source}", entry.task or "-", entry.architecture or "-",
            human_count(entry.num_parameters), "-" if entry.num_layers is None else str(entry.num_layers),
            entry.dtype or "-", human_bytes(entry.size_on_disk),
            memory if entry.memory("float32") is not None else "-"]


def entry_row(entry: ModelEntry) -> dict[str, Any]:
    return {"key": entry.key, "cells": entry_cells(entry), "title": entry.path or entry.name}


class ModelPicker(Displayable):
    """Models loadable here, filterable by task and architecture, loaded by a button.

    ``paths``: checkpoint folders, .gguf files, or folders holding them. ``cache_dir``: the Hugging
    Face cache to list (default: the usual one); ``include_cache`` / ``include_zoo`` turn sources
    off; ``zoo_dir`` overrides the zoo folder. ``selected``: the entry to select first (a repo id,
    name, .gguf file name or path). ``mode`` ("model" or "pipeline") and ``dtype`` set the load
    controls; ``hub_timeout`` bounds a Hub search.
    """

    def __init__(self, paths=(), *, cache_dir: str | os.PathLike | None = None, include_cache: bool = True,
                 include_zoo: bool = True, zoo_dir: str | os.PathLike | None = None, task: str | None = None,
                 selected: str | None = None, mode: str = "model", dtype: str = "auto", device=None,
                 hub_timeout: float = 5.0, hub_limit: int = 20) -> None:
        self.paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths or ())
        self.cache_dir, self.zoo_dir = cache_dir, zoo_dir
        self.include_cache, self.include_zoo = include_cache, include_zoo
        self.device, self.hub_timeout, self.hub_limit = device, hub_timeout, hub_limit
        self.entries: list[ModelEntry] = []
        self.hub_entries: list[ModelEntry] = []
        self.model = self.tokenizer = self.pipeline = self.value = None
        self.loaded_key: str | None = None  # the entry picker.model was loaded from
        self.status, self.status_is_error = "", False
        self.messages: list[str] = []  # every status line, oldest first
        self._callbacks: list[Callable[[Any], None]] = []
        self._build_widget(mode, dtype)
        self.refresh()
        if task:
            self.task_filter.value = task if task in self.task_filter.options else ALL
        if selected:
            self.select(selected)

    # --- scanning and filtering ----------------------------------------------------------------

    def refresh(self) -> None:
        """Scan every source again (folders unchanged since the last scan are not read again)."""
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
        return next((e for e in self.all_entries if e.key == self.table.selected), None)

    def select(self, name_or_key: str) -> ModelEntry:
        """Choose an entry by key, name, .gguf file name or path (what a click on its row does)."""
        for entry in self.filtered:
            if name_or_key in (entry.key, entry.name, entry.gguf_file, entry.path):
                self.table.selected = entry.key
                return entry
        shown = ", ".join(e.name for e in self.filtered) or "none"
        raise KeyError(f"No model {name_or_key!r} among the ones shown ({shown}); check the filters.")

    # --- the card, the code, loading -----------------------------------------------------------

    @property
    def load_code(self) -> str:
        """The lines that load the selected entry as the mode and dtype controls say ("" with none)."""
        entry = self.selected
        return "" if entry is None else load_code(entry, self.mode.value, self.dtype.value)

    def copy_load_code(self) -> str:
        """Show the selected entry's load code in the text box (the "copy load code" button also
        puts it on the clipboard, in the page) and return it."""
        code = self.load_code
        self.code_box.value = code
        self.code_box.layout.display = "" if code else "none"
        return code

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
            loaded = load_entry(entry, self.mode.value, self.dtype.value, self.device, self._progress)
        except Exception as error:
            self.progress.bar_style = "danger"
            self._set_status(f"Loading {entry.name} failed: {type(error).__name__}: {error}", error=True)
            return None
        finally:
            self.load_button.disabled = False
        self.model, self.tokenizer, self.pipeline = loaded.model, loaded.tokenizer, loaded.pipeline
        self.value, self.loaded_key = loaded.value, entry.key
        self.progress.bar_style = "success"
        what = f"a {self.pipeline.task} pipeline" if self.pipeline is not None else type(self.model).__name__
        names = "picker.value, picker.model, picker.tokenizer" + (", picker.pipeline" if self.pipeline else "")
        missing = " The folder has no tokenizer: picker.tokenizer is None." if self.tokenizer is None else ""
        self._set_status(f"Loaded {entry.name} as {what} in {time.monotonic() - started:.1f} s: {names}.{missing}")
        self.update_card()
        self.refresh_saved_view()
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
        self.table = RowTable(columns=COLUMNS, label="Models loadable here", empty_text="no model matches the filters")
        self.details = w.HTML()
        self.copy_button = CopyButton(label="Copy load code",
                                      hint="the lines that load the selected model, to paste into a cell")
        self.code_box = w.Textarea(layout=w.Layout(width="95%", height="6em", display="none"))
        self.mode = w.ToggleButtons(options=list(MODES), value=mode)
        self.dtype = w.Dropdown(options=list(DTYPES), value=dtype, description="dtype", layout=w.Layout(width="180px"))
        self.load_button = w.Button(description="load", button_style="primary", icon="download")
        self.progress = w.IntProgress(min=0, max=3, value=0, layout=w.Layout(visibility="hidden", width="160px"))
        self.status_line = w.HTML()
        for control in (self.task_filter, self.arch_filter, self.search_box):
            control.observe(self._on_filter, names="value")
        self.table.observe(self._on_select, names="selected")
        for control in (self.mode, self.dtype):
            control.observe(self._on_load_options, names="value")
        self.copy_button.on_copy(self.copy_load_code)
        self.refresh_button.on_click(lambda _: self.refresh())
        self.hub_button.on_click(lambda _: self.search_hub())
        self.load_button.on_click(lambda _: self.load())
        self.widget = w.VBox([
            w.HBox([self.task_filter, self.arch_filter, self.search_box, self.refresh_button, self.hub_button],
                   layout=w.Layout(flex_flow="row wrap")),
            w.Box([self.table], layout=w.Layout(overflow="auto", max_height="300px")),
            self.details, self.copy_button, self.code_box,
            w.HBox([self.mode, self.dtype, self.load_button, self.progress], layout=w.Layout(flex_flow="row wrap")),
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
        keys = [e.key for e in shown]
        current = self.table.selected
        self.table.rows = [entry_row(e) for e in shown]
        self.table.selected = current if current in keys else (keys[0] if keys else None)
        self._redraw()

    def _on_select(self, change=None) -> None:
        self._redraw()
        self.refresh_saved_view()  # a selection is a settled state: the saved view shows it

    def _on_load_options(self, change=None) -> None:
        self.copy_button.text = self.load_code
        if self.code_box.value:
            self.copy_load_code()

    def update_card(self) -> None:
        """Redraw the selected entry's card (after adding or switching adapters on ``picker.model``, say)."""
        self.details.value = f'<div class="wb-view wb-pick"><style>{STYLE}</style>{self._card_html(self.selected)}</div>'

    def _redraw(self) -> None:
        self.update_card()
        self.copy_button.text = self.load_code
        self.code_box.value, self.code_box.layout.display = "", "none"

    def _card_html(self, entry: ModelEntry | None) -> str:
        """The selected entry's facts and model card (README text, license, tags)."""
        if entry is None:
            return '<div class="note">No model selected: click a row (or focus it and press Enter).</div>'
        card = catalog.model_card(entry)
        gguf = entry.gguf_overview or {}
        adapter = entry.adapter if entry.kind == "adapter" else None
        facts = [("location", entry.path or entry.name), ("revision", entry.revision),
                 ("architecture", entry.architecture), ("task", entry.task), ("model type", entry.model_type),
                 ("GGUF", " · ".join(str(v) for v in (gguf.get("architecture"), gguf.get("quantization"),
                                                      gguf.get("name")) if v) or None),
                 ("parameters", f"{entry.num_parameters:,}" if entry.num_parameters is not None else None),
                 *(_adapter_facts(adapter) if adapter else []),
                 ("tokenizer", "yes" if entry.has_tokenizer else "no"), ("note", entry.error),
                 ("license", card.license if card else None)]
        items = "".join(f'<tr><th scope="row">{escape(k)}</th><td>{esc(v)}</td></tr>' for k, v in facts if v)
        tags = "".join(f'<span class="tag">{esc(tag)}</span>' for tag in (card.tags if card else []))
        text = (f"<p>{esc(card.description)}</p>" if card and card.description
                else '<p class="note">No model card (README.md) with text.</p>')
        return (f'<div class="card" aria-label="model card"><b>{esc(entry.label)}</b><table>{items}</table>'
                f'{self._adapters_html(entry)}{f"<div>tags: {tags}</div>" if tags else ""}{text}</div>')

    def _adapters_html(self, entry: ModelEntry) -> str:
        """The loaded model's adapters when it came from this entry, else an adapter entry's own."""
        table = AdapterTable.from_model(self.model) if self.model is not None and self.loaded_key == entry.key else None
        if table is None and entry.kind == "adapter":
            table = AdapterTable.from_facts(entry.adapter)
        return "" if table is None else table.to_html()

    def _set_status(self, message: str, error: bool = False) -> None:
        self.status, self.status_is_error = message, error
        self.messages.append(message)
        kind = "status error" if error else "status"
        self.status_line.value = f'<div class="wb-view wb-pick"><span class="{kind}">{escape(message)}</span></div>'

    # --- static views --------------------------------------------------------------------------

    def to_html(self) -> str:
        """The view as it stands, read-only: the table (selected row marked), the card, the load code."""
        selected = self.selected
        table = table_html(COLUMNS, [entry_row(e) for e in self.filtered], self.table.selected,
                           "Models loadable here", "no model matches the filters")
        code = f"<pre>{escape(self.load_code)}</pre>" if selected else ""
        kind = "status error" if self.status_is_error else "status"
        return (f'<div class="wb-view wb-pick"><style>{VIEW_CSS}{TABLE_CSS}{STYLE}</style>'
                f"<div>ModelPicker: {len(self.filtered)} of {len(self.all_entries)} models shown</div>{table}"
                f'{self._card_html(selected)}{code}<div class="{kind}">{escape(self.status)}</div></div>')

    def to_text(self) -> str:
        shown = self.filtered
        lines = [f"ModelPicker: {len(shown)} of {len(self.all_entries)} models"]
        lines += [("* " if e.key == self.table.selected else "  ") + " | ".join(entry_cells(e)) for e in shown]
        if self.status:
            lines.append(self.status)
        return "\n".join(lines)


def _adapter_facts(adapter) -> list[tuple[str, Any]]:
    """An adapter entry's card rows: what it is and its base (where it is, or why it cannot load)."""
    base = adapter.base_model or "(none named)"
    where = adapter.base_path and (f"{base} (found at {adapter.base_path})" if adapter.base_path != base else base)
    return [("kind", f"{adapter.method or 'peft'} adapter (loading it loads the base model, then the adapter)"),
            ("base model", where or base),
            ("adapter config", adapter.details() or None),
            ("saved with it", f"{adapter.base_values:,} values of base layers (embeddings or modules_to_save), "
                              "which replace the base's on load" if adapter.base_values else None),
            ("base parameters", f"{adapter.base_parameters:,}" if adapter.base_parameters is not None else None)]
