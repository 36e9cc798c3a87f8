"""``ActivationDiff``: where two models' activations part, as a verdict, a heatmap you can click, the
error per token position and a drill-down into one module.

>>> from workbench.widgets import ActivationDiff
>>> ActivationDiff(hf_model, my_port, {"input_ids": ids}, tokenizer=tok)   # doctest: +SKIP
>>> ActivationDiff(report)                                                  # a DiffReport computed before

It runs :func:`workbench.porting.compare` once (which picks the tolerance preset from the two
models' dtypes, and raises when nothing aligns); the tolerance controls then only re-judge the
report (``report.at(atol, rtol)``), so moving them is instant. Every piece of HTML comes from
:mod:`workbench.porting.render`, so the live view, its static fallback (``to_html()``, what a saved
notebook shows without its kernel) and the report's own page read the same; the JupyterLab
renderer paints the colours the report's JSON carries, from the same rule
(:func:`workbench.porting.formatting.error_colour`).

The heatmap is a grid of buttons, one per (module kind, layer): hover for the module, its error and
its tolerance; click, or Tab to it and press Enter or Space, to drill down (that module's tensors,
their stats and the error per token position). ``export()`` (the "export" button) writes the
static view as an HTML page and the report as JSON next to the notebook.

State: ``.report``, ``.view_report`` (the report at the view's tolerance), ``.atol`` / ``.rtol``
(settable; or move ``.atol_slider``, pick ``.preset_menu``), ``.first``, ``.exceeding``,
``.selected`` (the drilled-down row; ``.select(path)`` or ``.module_menu.value = index``),
``.cells`` (row index -> its heatmap button), ``.cell_colours()``.
"""

from __future__ import annotations

import os
import re
from html import escape
from typing import Any

from ..porting import PRESETS, DiffReport, DiffRow, compare
from ..porting.formatting import display_name, layer_grid, row_colour
from ..porting.render import (STYLE, cell_title, details_html, legend_html, position_views, report_html, standalone_page,
                              table_html, verdict_html, view_id)
from ..theme import VIEW_CSS
from ._display import Displayable, import_ipywidgets

CELL_PX = 16  # heatmap button size
LABEL_STYLE = "font:11px monospace;white-space:nowrap"  # row labels: >= 9 px, never cut (the column fits them)
FIRST_BORDER = "3px solid var(--jp-ui-font-color1, currentColor)"
SELECTED_BORDER = "3px dotted var(--jp-brand-color1, currentColor)"


def _wrap(body: str, css: bool = False) -> str:
    style = f"<style>{VIEW_CSS}{STYLE}</style>" if css else ""
    return f'<div class="wb-view wb-diff wb-adiff">{style}{body}</div>'  # wb-adiff: the widget's own parts


class ActivationDiff(Displayable):
    """Per-module errors between a reference and a candidate model, with a live tolerance.

    ``reference`` and ``candidate`` are models run on ``inputs`` (see
    :func:`workbench.porting.compare`, which gets ``align``, ``preset``, ``tokenizer`` and any other
    keyword argument), or ``reference`` is a :class:`~workbench.porting.DiffReport` and the rest is
    left out. ``atol`` / ``rtol`` start the tolerance controls (default: the report's preset).
    """

    def __init__(self, reference, candidate=None, inputs: Any = None, align: Any = "name", atol: float | None = None,
                 rtol: float | None = None, **compare_kwargs: Any) -> None:
        if isinstance(reference, DiffReport):
            self.report = reference
        else:
            if candidate is None or inputs is None:
                raise TypeError("ActivationDiff(reference, candidate, inputs) needs both models and the inputs to run "
                                "them on, or a DiffReport as its only argument.")
            self.report = compare(reference, candidate, inputs, align=align, atol=atol, rtol=rtol, **compare_kwargs)
        self.view_report = self.report.at(atol, rtol)
        self.export_dir = "."
        self._build_widget()
        self._update(refresh=False)

    # --- state ---------------------------------------------------------------------------------

    @property
    def atol(self) -> float:
        return self.view_report.atol

    @atol.setter
    def atol(self, value: float) -> None:
        if self.atol_slider.value != float(value):
            self.atol_slider.value = float(value)  # its observer updates the views
        else:
            self._retolerance(atol=float(value))

    @property
    def rtol(self) -> float:
        return self.view_report.rtol

    @rtol.setter
    def rtol(self, value: float) -> None:
        if self.rtol_box.value != float(value):
            self.rtol_box.value = float(value)  # its observer updates the views
        else:
            self._retolerance(rtol=float(value))

    @property
    def first(self) -> DiffRow | None:
        """The first diverging row at the current tolerance (None: nothing exceeds it)."""
        return self.view_report.first_divergence()

    @property
    def exceeding(self) -> list[DiffRow]:
        return self.view_report.exceeding()

    @property
    def selected(self) -> DiffRow | None:
        index = self.module_menu.value
        return None if index is None else self.report.rows[index]

    def select(self, path: str) -> DiffRow:
        """Drill down into the row of a module or leaf path (``"model.layers.1.mlp"``)."""
        row = self.report[path]
        self.module_menu.value = row.index
        return row

    def cell_colours(self) -> dict[int, str]:
        """Row index -> its heatmap colour at the current tolerance: the porting report's rule
        (:func:`~workbench.porting.formatting.error_colour`), as in its HTML and JSON."""
        return {row.index: row_colour(row, self.atol, self.rtol) for row in self.report.rows}

    # --- widget --------------------------------------------------------------------------------

    def _build_widget(self) -> None:
        w = import_ipywidgets()
        from .log_slider import LogSlider
        self.header = w.HTML()
        presets = [(f"{name} (atol {atol:g}, rtol {rtol:g})", name) for name, (atol, rtol) in PRESETS.items()]
        self.preset_menu = w.Dropdown(options=[("custom", None)] + presets, value=self.view_report.preset,
                                      description="preset", layout=w.Layout(width="300px"))
        # not ipywidgets' FloatLogSlider: its handle tells a screen reader the exponent, not the tolerance
        self.atol_slider = LogSlider(value=self.atol, min=-12, max=3, step=0.05, description="atol")
        self.rtol_box = w.FloatText(value=self.rtol, description="rtol", layout=w.Layout(width="180px"))
        self.legend = w.HTML()
        self.heatmap = self._build_heatmap(w)
        self.positions = w.HTML()
        options = [(f"{row.index}: {display_name(row)}", row.index) for row in self.report.rows]
        first = self.first
        self.module_menu = w.Dropdown(options=options, value=first.index if first else (0 if options else None),
                                      description="module", layout=w.Layout(width="95%"))
        self.details = w.HTML()
        self.table = w.HTML()
        self.export_button = w.Button(description="export", icon="download",
                                      tooltip="write this view as an HTML page and the report as JSON next to the "
                                              "notebook")
        self.export_status = w.HTML()
        self.preset_menu.observe(self._on_preset, names="value")
        self.atol_slider.observe(lambda change: self._retolerance(atol=float(change["new"])), names="value")
        self.rtol_box.observe(lambda change: self._retolerance(rtol=max(0.0, float(change["new"]))), names="value")
        self.module_menu.observe(lambda change: self._on_select(), names="value")
        self.export_button.on_click(lambda button: self.export())
        self.widget = w.VBox([
            self.header, w.HBox([self.preset_menu, self.atol_slider, self.rtol_box]), self.legend, self.heatmap,
            self.positions, self.module_menu, self.details,
            self.table,
            w.HBox([self.export_button, self.export_status]),
        ])

    def _build_heatmap(self, w):
        """A GridBox: a column of kind labels, a row of layer numbers, one button per cell; then
        the modules outside the layers, each a button with its name."""
        labels, layers, cells = layer_grid(self.report.rows)
        self.cells: dict[int, Any] = {}

        def text(html: str):  # one grid row high: ipywidgets' HTML is an input's height by default
            return w.HTML(f'<span style="{LABEL_STYLE};display:block;line-height:{CELL_PX}px">{html}</span>',
                          layout=w.Layout(height=f"{CELL_PX}px", min_height="0", margin="0"))

        items = [text("layer")] + [text(f'<span style="font-size:10px">{layer}</span>') for layer in layers]
        for label in labels:
            items.append(text(escape(label)))
            items += [self._cell(w, cells[(label, layer)]) if (label, layer) in cells else w.Box()
                      for layer in layers]
        grid = w.GridBox(items, layout=w.Layout(
            grid_template_columns=f"max-content repeat({len(layers)}, {CELL_PX}px)", grid_gap="1px",
            align_items="center", overflow="auto"))
        in_grid = {id(row) for row in cells.values()}
        others = [w.HBox([self._cell(w, row), text(escape(display_name(row)))], layout=w.Layout(align_items="center"))
                  for row in self.report.rows if id(row) not in in_grid]
        if not others:
            return grid
        strip = w.HBox(others, layout=w.Layout(flex_flow="row wrap", grid_gap="2px 10px"))
        return w.VBox([grid, w.HTML('<span style="font:11px sans-serif">outside the layers:</span>'), strip])

    def _cell(self, w, row: DiffRow):
        size = f"{CELL_PX}px"
        button = w.Button(description="", layout=w.Layout(width=size, height=size, min_width=size, padding="0",
                                                          margin="0"))
        button.on_click(lambda _, index=row.index: setattr(self.module_menu, "value", index))
        self.cells[row.index] = button
        return button

    # --- events --------------------------------------------------------------------------------

    def _on_preset(self, change) -> None:
        if change["new"] is None:
            return
        atol, rtol = PRESETS[change["new"]]
        self.view_report = self.report.at(preset=change["new"])
        self._syncing = True  # the controls follow the preset; their observers stand aside
        try:
            self.atol_slider.value, self.rtol_box.value = atol, rtol
        finally:
            self._syncing = False
        self._update()

    def _retolerance(self, atol: float | None = None, rtol: float | None = None) -> None:
        if getattr(self, "_syncing", False):
            return
        self.view_report = self.report.at(self.atol if atol is None else atol, self.rtol if rtol is None else rtol)
        if self.preset_menu.value is not None and self.view_report.preset is None:
            self._syncing = True
            self.preset_menu.value = None  # moved off the preset
            self._syncing = False
        self._update()

    def _on_select(self) -> None:
        self._paint_cells()
        self.details.value = _wrap(details_html(self.view_report, self.selected, self.atol, self.rtol))
        self.refresh_saved_view()

    def _update(self, refresh: bool = True) -> None:
        report, atol, rtol = self.view_report, self.atol, self.rtol
        self.header.value = _wrap(verdict_html(report, atol, rtol), css=True)
        self.legend.value = _wrap(legend_html(report, atol, rtol))
        self.positions.value = _wrap(position_views(report, atol, rtol))
        # a <details> of our own, not ipywidgets' Accordion: its header's grey fails 4.5:1 in both themes
        self.table.value = _wrap('<details><summary>every tensor</summary><div style="max-height:380px;overflow:auto">'
                                 f"{table_html(report, atol, rtol, view_id(report))}</div></details>")
        self.details.value = _wrap(details_html(report, self.selected, atol, rtol))
        self._paint_cells()
        if refresh:
            self.refresh_saved_view()

    def _paint_cells(self) -> None:
        first, selected = self.first, self.selected
        for row in self.report.rows:
            button = self.cells.get(row.index)
            if button is None:
                continue
            button.style.button_color = row_colour(row, self.atol, self.rtol)
            button.tooltip = cell_title(row, self.atol, self.rtol)
            button.layout.border = SELECTED_BORDER if row is selected else (FIRST_BORDER if row is first else "")

    # --- static views and export ---------------------------------------------------------------

    def to_html(self) -> str:
        return report_html(self.view_report, selected=self.selected)

    def to_text(self) -> str:
        report = self.view_report
        lines = [("WARNING: " if kind == "warning" else "") + text for kind, text in report.verdict()]
        return f"ActivationDiff({report.reference_type} vs {report.candidate_type}): " + " | ".join(lines)

    def export(self, directory: str | os.PathLike | None = None, stem: str | None = None) -> tuple[str, str]:
        """Write the view as a standalone HTML page and the report (at the view's tolerance) as
        JSON into ``directory`` (``.export_dir``, the notebook's folder by default); returns the two
        paths and shows them under the button."""
        from ..io import atomic_write_text

        report = self.view_report
        directory = os.fspath(self.export_dir if directory is None else directory)
        stem = stem or re.sub(r"[^A-Za-z0-9_.-]+", "-", f"activation-diff-{report.reference_type}-vs-"
                                                       f"{report.candidate_type}")
        html_path, json_path = os.path.join(directory, f"{stem}.html"), os.path.join(directory, f"{stem}.json")
        atomic_write_text(html_path, standalone_page(stem, self.to_html()))
        report.save_json(json_path)
        self.export_status.value = _wrap(f"wrote {html_path} and {json_path}")
        return html_path, json_path
