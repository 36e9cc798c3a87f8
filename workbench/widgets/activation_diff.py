"""``ActivationDiff``: where two models' activations part, as a table, a heatmap and a drill-down.

>>> from workbench.widgets import ActivationDiff
>>> ActivationDiff(hf_model, my_port, {"input_ids": ids})          # doctest: +SKIP
>>> ActivationDiff(report)                                           # a DiffReport computed before

It runs :func:`workbench.porting.compare` once; the tolerance controls then only re-ask the
report (``report.first_divergence(atol, rtol)``), so moving them is instant. The heatmap (max abs
error per layer against the tolerance, matplotlib) is a PNG: an ``Image`` in the live view and an
inline ``<img>`` in the static HTML, so a saved notebook keeps it. Numbers are printed as the
porting report prints them (``%.3e``) and cells coloured by its rule
(:func:`workbench.porting.formatting.error_colour`), so the widget, the report's static HTML and
the JupyterLab renderer agree.

State: ``.report``, ``.atol`` / ``.rtol`` (settable; or move ``.atol_slider``), ``.first``,
``.exceeding``, ``.selected`` (the drilled-down row; or set ``.module_menu.value`` to a row index),
``.heatmap_png``, ``.cell_colours()``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from ..porting import DiffReport, DiffRow, compare
from ..porting.formatting import colour_legend, display_name, fmt, layer_grid, row_colour, shape_text
from ..porting.report import DEFAULT_ATOL, DEFAULT_RTOL
from ._display import Displayable, esc, figure_png, import_ipywidgets, new_figure, png_img

STYLE = """
.wb-adiff{font-family:system-ui,sans-serif;font-size:12px}
.wb-adiff table{border-collapse:collapse}
.wb-adiff th,.wb-adiff td{border:1px solid #ddd;padding:1px 6px;text-align:left;white-space:nowrap}
.wb-adiff td.num{text-align:right;font-family:monospace}
.wb-adiff td.mod{font-family:monospace;text-align:left !important}
.wb-adiff tr.over td{background:#ffebee}
.wb-adiff tr.first td{background:#ffcc80;font-weight:bold}
.wb-adiff .scroll{max-height:360px;overflow:auto}
"""
TABLE_COLUMNS = ("#", "module", "type", "shape", "dtype", "max abs err", "max rel err", "mean abs err", "cosine",
                 "input abs err", "exceeds")


class ActivationDiff(Displayable):
    """Per-layer errors between a reference and a candidate model, with a live tolerance.

    ``reference`` and ``candidate`` are models run on ``inputs`` (see
    :func:`workbench.porting.compare`, which gets ``align`` and any other keyword argument), or
    ``reference`` is a :class:`~workbench.porting.DiffReport` and the rest is left out.
    ``atol`` / ``rtol`` start the tolerance controls (default: the report's).
    """

    def __init__(self, reference, candidate=None, inputs: Any = None, align: Any = "name", atol: float | None = None,
                 rtol: float | None = None, **compare_kwargs: Any) -> None:
        if isinstance(reference, DiffReport):
            self.report = reference
        else:
            if candidate is None or inputs is None:
                raise TypeError("ActivationDiff(reference, candidate, inputs) needs both models and the inputs to run "
                                "them on, or a DiffReport as its only argument.")
            self.report = compare(reference, candidate, inputs, align=align,
                                  atol=DEFAULT_ATOL if atol is None else atol,
                                  rtol=DEFAULT_RTOL if rtol is None else rtol, **compare_kwargs)
        self._atol = self.report.atol if atol is None else float(atol)
        self._rtol = self.report.rtol if rtol is None else float(rtol)
        self.heatmap_png = b""
        self._build_widget()
        self._update()

    # --- state ---------------------------------------------------------------------------------

    @property
    def atol(self) -> float:
        return self._atol

    @atol.setter
    def atol(self, value: float) -> None:
        if self.atol_slider.value != float(value):
            self.atol_slider.value = float(value)  # its observer updates the views
        else:
            self._atol = float(value)
            self._update()

    @property
    def rtol(self) -> float:
        return self._rtol

    @rtol.setter
    def rtol(self, value: float) -> None:
        if self.rtol_box.value != float(value):
            self.rtol_box.value = float(value)  # its observer updates the views
        else:
            self._rtol = float(value)
            self._update()

    @property
    def first(self) -> DiffRow | None:
        """The first diverging row at the current tolerance (None: nothing exceeds it)."""
        return self.report.first_divergence(self._atol, self._rtol)

    @property
    def exceeding(self) -> list[DiffRow]:
        return self.report.exceeding(self._atol, self._rtol)

    @property
    def selected(self) -> DiffRow | None:
        index = self.module_menu.value
        return None if index is None else self.report.rows[index]

    def select(self, path: str) -> DiffRow:
        """Drill down into the row of a module or leaf path (``"model.layers.1.mlp"``)."""
        row = self.report[path]
        self.module_menu.value = row.index
        return row

    def table_rows(self) -> list[dict[str, str]]:
        """The table as shown: one dict of formatted cells per row."""
        return [dict(zip(TABLE_COLUMNS, (
            str(row.index), display_name(row), _pair(row.reference_type, row.candidate_type), shape_text(row),
            _pair(row.reference_dtype, row.candidate_dtype), fmt(row.max_abs_err), fmt(row.max_rel_err),
            fmt(row.mean_abs_err), fmt(row.cosine), fmt(row.input_max_abs_err),
            "yes" if row.exceeds(self._atol, self._rtol) else "",
        ))) for row in self.report.rows]

    # --- widget --------------------------------------------------------------------------------

    def _build_widget(self) -> None:
        w = import_ipywidgets()
        self.header = w.HTML()
        self.atol_slider = w.FloatLogSlider(value=self._atol, base=10, min=-12, max=3, step=0.05, description="atol",
                                            readout_format=".1e", continuous_update=False,
                                            layout=w.Layout(width="420px"))
        self.rtol_box = w.FloatText(value=self._rtol, description="rtol", layout=w.Layout(width="180px"))
        self.heatmap = w.Image(format="png")
        self.table = w.HTML()
        options = [(f"{row.index}: {display_name(row)}", row.index) for row in self.report.rows]
        first = self.first
        self.module_menu = w.Dropdown(options=options, value=first.index if first else (0 if options else None),
                                      description="module", layout=w.Layout(width="95%"))
        self.details = w.HTML()
        self.atol_slider.observe(self._on_atol, names="value")
        self.rtol_box.observe(self._on_rtol, names="value")
        self.module_menu.observe(lambda change: self._draw_details(), names="value")
        self.widget = w.VBox([
            self.header, w.HBox([self.atol_slider, self.rtol_box]), self.heatmap,
            w.Accordion(children=[w.Box([self.table], layout=w.Layout(max_height="380px", overflow="auto"))],
                        titles=("per-module table",), selected_index=0),
            self.module_menu, self.details,
        ])

    def _on_atol(self, change) -> None:
        self._atol = float(change["new"])
        self._update()

    def _on_rtol(self, change) -> None:
        self._rtol = max(0.0, float(change["new"]))
        self._update()

    def _update(self) -> None:
        self.heatmap_png = self._draw_heatmap()
        self.heatmap.value = self.heatmap_png
        self.header.value = f'<div class="wb-adiff"><style>{STYLE}</style>{self._header_html()}</div>'
        self.table.value = f'<div class="wb-adiff">{self._table_html()}</div>'
        self._draw_details()

    def _draw_details(self) -> None:
        self.details.value = f'<div class="wb-adiff">{self._details_html(self.selected)}</div>'

    # --- pieces of HTML ------------------------------------------------------------------------

    def _header_html(self) -> str:
        report, first = self.report, self.first
        title = (f"<b>{esc(report.reference_type)}</b> (reference) vs <b>{esc(report.candidate_type)}</b> (candidate): "
                 f"{len(report.rows)} tensors aligned by {esc(report.align)}")
        tolerance = f"atol={self._atol:.1e}, rtol={self._rtol:.1e}"
        if first is None:
            verdict = f"no divergence at {tolerance} (max abs err {fmt(report.max_abs_err)})"
        else:
            verdict = (f"first divergence: <b>{esc(display_name(first))}</b> ({esc(first.reference_type)}), "
                       f"max abs err {fmt(first.max_abs_err)}, max rel err {fmt(first.max_rel_err)}; "
                       f"{len(self.exceeding)} tensors exceed {tolerance}")
        return f"<div>{title}</div><div>{verdict}</div>"

    def _table_html(self) -> str:
        first = self.first
        head = "".join(f"<th>{c}</th>" for c in TABLE_COLUMNS)
        lines = [f"<table><tr>{head}</tr>"]
        for row, cells in zip(self.report.rows, self.table_rows()):
            mark = ' class="first"' if row is first else (' class="over"' if cells["exceeds"] else "")
            tds = "".join(f'<td class="{_CELL_CLASSES.get(c, "")}">{esc(v)}</td>' for c, v in cells.items())
            lines.append(f"<tr{mark}>{tds}</tr>")
        lines.append("</table>")
        return "".join(lines)

    def _details_html(self, row: DiffRow | None) -> str:
        if row is None:
            return ""
        ref, cand = row.reference_stats.to_dict(), row.candidate_stats.to_dict()
        facts = [("path", row.reference, row.candidate),
                 ("module", row.reference_module or "(model)", row.candidate_module or "(model)"),
                 ("type", row.reference_type, row.candidate_type), ("shape", row.reference_shape, row.candidate_shape),
                 ("dtype", row.reference_dtype, row.candidate_dtype)]
        facts += [(key, fmt(ref[key]) if isinstance(ref[key], float) else ref[key],
                   fmt(cand[key]) if isinstance(cand[key], float) else cand[key])
                  for key in ("numel", "mean", "std", "min", "max", "norm", "nan", "inf")]
        body = "".join(f"<tr><th>{escape(k)}</th><td class=\"num\">{esc(a)}</td><td class=\"num\">{esc(b)}</td></tr>"
                       for k, a, b in facts)
        bound = self._atol + self._rtol * row.reference_stats.absmax
        verdict = "exceeds" if row.exceeds(self._atol, self._rtol) else "within"
        errors = (f"max abs err {fmt(row.max_abs_err)} ({verdict} atol + rtol*max|ref| = {fmt(bound)}), "
                  f"max rel err {fmt(row.max_rel_err)}, mean abs err {fmt(row.mean_abs_err)}, "
                  f"cosine {fmt(row.cosine)}, "
                  f"input max abs err {fmt(row.input_max_abs_err)}, status {esc(row.status)}"
                  + ("; errors over the first max_elements values only" if row.truncated else ""))
        return (f"<div><b>{esc(display_name(row))}</b></div>"
                "<table><tr><th></th><th>reference</th><th>candidate</th></tr>"
                f"{body}</table><div>{errors}</div>")

    # --- heatmap -------------------------------------------------------------------------------

    def cell_colours(self) -> dict[int, str]:
        """Row index -> its heatmap colour at the current tolerance: the porting report's rule
        (:func:`~workbench.porting.formatting.error_colour`), as in its HTML and JSON."""
        return {row.index: row_colour(row, self._atol, self._rtol) for row in self.report.rows}

    def _draw_heatmap(self) -> bytes:
        """Max abs error against the tolerance per (module kind, layer), and below it a strip of
        the modules outside the layers (embeddings, final norm, head), in the colours of
        :meth:`cell_colours` with their legend; a black box on the first divergence."""
        labels, layers, cells = layer_grid(self.report.rows)
        in_grid = {id(row) for row in cells.values()}
        others = [row for row in self.report.rows if id(row) not in in_grid]
        if not cells and not others:
            return b""
        panels = []  # (rows of cells, y labels, x labels, whether it is the layer grid)
        if cells:
            grid = [[cells.get((label, layer)) for layer in layers] for label in labels]
            panels.append((grid, labels, [str(layer) for layer in layers], True))
        if others:
            panels.append(([others], [""], [display_name(row) for row in others], False))
        width = max(4.0 + 0.3 * len(layers), 3.0 + 0.3 * len(others))
        height = 1.6 + 0.28 * len(labels) + (1.6 if others else 0.0)
        figure = new_figure(min(20.0, width), height)
        ratios = [max(1, len(rows)) + (0 if is_grid else 0.6) for rows, _, _, is_grid in panels]
        axes = figure.subplots(len(panels), 1, squeeze=False, height_ratios=ratios)[:, 0]
        colours = self.cell_colours()
        for ax, (rows, ylabels, xlabels, is_grid) in zip(axes, panels):
            self._draw_cells(ax, rows, colours)
            ax.set_yticks(range(len(ylabels)), ylabels, fontsize=7)
            if is_grid:
                ax.set_xticks(range(len(xlabels)), xlabels, fontsize=7)
                ax.set_xlabel("layer", fontsize=8)
            else:
                ax.set_xticks(range(len(xlabels)), xlabels, fontsize=7, rotation=60, ha="right")
                ax.set_title("other modules" if cells else "", fontsize=8)
        axes[0].set_title("max abs err against atol + rtol*max|ref|", fontsize=9)
        figure.legend(handles=_legend_patches(), loc="outside lower center", ncol=3, fontsize=7, frameon=False)
        if self.report.max_abs_err == 0.0:
            figure.suptitle("every compared tensor is exactly equal", fontsize=9)
        return figure_png(figure)

    def _draw_cells(self, ax, rows: list[list[DiffRow | None]], colours: dict[int, str]) -> None:
        from matplotlib.colors import to_rgb

        blank = (1.0, 1.0, 1.0)  # no tensor at this (kind, layer)
        image = [[blank if row is None else to_rgb(colours[row.index]) for row in line] for line in rows]
        ax.imshow(image, aspect="auto", interpolation="nearest")
        first = self.first
        for y, line in enumerate(rows):
            for x, row in enumerate(line):
                if row is not None and row is first:
                    ax.add_patch(_box(x, y))

    # --- static views --------------------------------------------------------------------------

    def to_html(self) -> str:
        return (f'<div class="wb-adiff"><style>{STYLE}</style>{self._header_html()}'
                f"<div>{png_img(self.heatmap_png, 'activation error heatmap')}</div>"
                f'<div class="scroll">{self._table_html()}</div>{self._details_html(self.selected)}</div>')

    def to_text(self) -> str:
        first = self.first
        where = "no divergence" if first is None else f"first divergence {display_name(first)}"
        report = self.report
        return (f"ActivationDiff({report.reference_type} vs {report.candidate_type}): {len(report.rows)} "
                f"tensors, atol={self._atol:.1e} rtol={self._rtol:.1e}, {where}, {len(self.exceeding)} exceeding")


_CELL_CLASSES = {"#": "num", "module": "mod", **{c: "num" for c in TABLE_COLUMNS[5:10]}}


def _pair(reference: str, candidate: str) -> str:
    return reference if candidate == reference else f"{reference} / {candidate}"


def _legend_patches() -> list:
    from matplotlib.patches import Patch

    return [Patch(facecolor=colour, edgecolor="#999999", label=label) for colour, label in colour_legend()]


def _box(x: int, y: int):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2)
