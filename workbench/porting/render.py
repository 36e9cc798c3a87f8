"""HTML view of a :class:`~workbench.porting.report.DiffReport`: summary, an inline SVG heatmap
of max abs error per layer (coloured by :func:`~workbench.porting.formatting.error_colour`), and
a table whose rows open onto the stats of both tensors.
Self-contained: inline styles, no JavaScript, no plotting library."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from .formatting import colour_legend, display_name, fmt, layer_grid, row_colour, shape_text, unmatched_lines

if TYPE_CHECKING:  # pragma: no cover
    from .report import DiffReport, DiffRow

CELL = 14  # heatmap cell size, px

STYLE = """
.wb-diff{font-family:system-ui,sans-serif;font-size:12px}
.wb-diff table{border-collapse:collapse;margin-top:6px}
.wb-diff th,.wb-diff td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
.wb-diff td.num{text-align:right;font-family:monospace}
.wb-diff td.mod{font-family:monospace}
.wb-diff tr.first td{background:#fff3e0;font-weight:bold}
.wb-diff .sw{display:inline-block;width:12px;height:12px;margin:0 3px 0 8px;vertical-align:middle}
.wb-diff details table{margin:2px 0}
"""


def heatmap_svg(report: "DiffReport") -> str:
    labels, layers, cells = layer_grid(report.rows)
    if not cells:
        return ""
    label_width = 7 * max(len(label) for label in labels) + 10
    width, height = label_width + CELL * len(layers) + 4, 16 + CELL * len(labels) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="monospace" font-size="10">']
    step = max(1, len(layers) // 16)  # column numbers, thinned out when there are many layers
    for column, layer in enumerate(layers):
        if column % step == 0:
            parts.append(f'<text x="{label_width + column * CELL + CELL / 2}" y="11" text-anchor="middle">{layer}</text>')
    for line, label in enumerate(labels):
        y = 16 + line * CELL
        parts.append(f'<text x="{label_width - 6}" y="{y + CELL - 3}" text-anchor="end">{escape(label)}</text>')
        for column, layer in enumerate(layers):
            row = cells.get((label, layer))
            if row is None:
                continue
            tip = f"{row.reference}: max abs err {fmt(row.max_abs_err)}, max rel err {fmt(row.max_rel_err)}"
            parts.append(f'<rect x="{label_width + column * CELL}" y="{y}" width="{CELL - 1}" height="{CELL - 1}" '
                         f'fill="{row_colour(row, report.atol, report.rtol)}"><title>{escape(tip)}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _legend() -> str:
    return "".join(f'<span class="sw" style="background:{colour}"></span>{escape(text)}'
                   for colour, text in colour_legend())


def _stats_table(row: "DiffRow") -> str:
    keys = ("mean", "std", "min", "max", "norm", "nan", "inf", "numel")
    head = "".join(f"<th>{key}</th>" for key in keys)
    body = ""
    for side, stats in (("reference", row.reference_stats), ("candidate", row.candidate_stats)):
        values = stats.to_dict()
        cells = "".join(f'<td class="num">{fmt(values[k]) if isinstance(values[k], float) else values[k]}</td>'
                        for k in keys)
        body += f"<tr><th>{side}</th>{cells}</tr>"
    extra = f"input max abs err {fmt(row.input_max_abs_err)}; status {escape(row.status)}"
    if row.truncated:
        extra += "; errors over the first max_elements values only"
    return f"<details><summary>stats</summary><table><tr><th></th>{head}</tr>{body}</table>{extra}</details>"


def _table(report: "DiffReport") -> str:
    first = report.first_divergence()
    head = ("<tr><th>#</th><th>module</th><th>type</th><th>shape</th><th>dtype</th><th>max abs err</th>"
            "<th>max rel err</th><th>mean abs err</th><th>cosine</th><th></th></tr>")
    lines = [f"<table>{head}"]
    for row in report.rows:
        mark = ' class="first"' if row is first else ""
        note = " &#9664; first divergence" if row is first else ""
        types = row.reference_type if row.candidate_type == row.reference_type else \
            f"{row.reference_type} / {row.candidate_type}"
        dtypes = row.reference_dtype if row.candidate_dtype == row.reference_dtype else \
            f"{row.reference_dtype} / {row.candidate_dtype}"
        colour = row_colour(row, report.atol, report.rtol)
        lines.append(
            f"<tr{mark}><td class=\"num\">{row.index}</td><td class=\"mod\">{escape(display_name(row))}{note}</td>"
            f"<td>{escape(types)}</td><td>{escape(shape_text(row))}</td><td>{escape(dtypes)}</td>"
            f'<td class="num" style="background:{colour}">{fmt(row.max_abs_err)}</td>'
            f'<td class="num">{fmt(row.max_rel_err)}</td><td class="num">{fmt(row.mean_abs_err)}</td>'
            f'<td class="num">{fmt(row.cosine)}</td><td>{_stats_table(row)}</td></tr>')
    lines.append("</table>")
    return "".join(lines)


def report_html(report: "DiffReport") -> str:
    header = "<br>".join(escape(line) for line in report._header())
    unmatched = "<br>".join(escape(line) for line in unmatched_lines(report.unmatched_reference,
                                                                      report.unmatched_candidate))
    return (f'<div class="wb-diff"><style>{STYLE}</style><div>{header}</div>'
            f"<div>{heatmap_svg(report)}</div><div>{_legend()}</div>"
            f"{_table(report)}<div>{unmatched}</div></div>")
