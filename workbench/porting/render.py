"""HTML views of a :class:`~workbench.porting.report.DiffReport`, in pieces that the report's static
page and the ``ActivationDiff`` widget both use: the verdict (coverage, preset, first divergence),
the legend, a heatmap of the error per (module kind, layer), the error per token position, a
table whose rows open onto the stats of both tensors, and one module's drill-down.

Self-contained: no JavaScript, no plotting library. Colours: every text and background behind
text comes from :mod:`workbench.theme`'s ``--wb-*`` variables (light and dark themes); the data
colours of :func:`~workbench.porting.formatting.error_colour` fill only cells and bars that hold no
text. The static heatmap's cells are links to their table row (hover: module, error, tolerance;
Tab to a cell and Enter to jump to its details).
"""

from __future__ import annotations

import hashlib
from html import escape
from typing import TYPE_CHECKING

from ..theme import VIEW_CSS
from .formatting import (colour_legend, display_name, error_colour, fmt, layer_grid, legend_caption, row_colour,
                         shape_text, unmatched_lines)

if TYPE_CHECKING:  # pragma: no cover
    from .report import DiffReport, DiffRow

CELL = 14  # heatmap cell size, px

STYLE = """
.wb-diff{font-family:system-ui,sans-serif;font-size:12px;color:var(--wb-fg)}
.wb-diff table{border-collapse:collapse;margin-top:6px}
.wb-diff th,.wb-diff td{border:1px solid var(--wb-border);padding:2px 6px;text-align:left;vertical-align:top}
.wb-diff td.num{text-align:right;font-family:monospace;white-space:nowrap}
.wb-diff td.mod{font-family:monospace}
.wb-diff tr.first td{background:var(--wb-warn-bg);color:var(--wb-warn-fg);font-weight:bold}
.wb-diff tr.over td:first-child{color:var(--wb-error-fg);font-weight:bold}
.wb-diff .sw{display:inline-block;width:12px;height:12px;margin:0 4px 0 0;vertical-align:middle;
 border:1px solid var(--wb-border)}
.wb-diff .legend .sw{margin-left:8px}
.wb-diff .muted{color:var(--wb-fg-muted)}
.wb-diff .v-warning{background:var(--wb-warn-bg);color:var(--wb-warn-fg);font-weight:bold;padding:4px 6px;
 border:2px solid var(--wb-error-fg);margin:3px 0}
.wb-diff .v-diverged{color:var(--wb-error-fg);font-weight:bold}
.wb-diff .v-identical,.wb-diff .v-ok{color:var(--wb-ok-fg);font-weight:bold}
.wb-diff table.grid{border-collapse:separate;border-spacing:1px}
.wb-diff table.grid td,.wb-diff table.grid th{border:none;padding:0}
.wb-diff table.grid th{font:10px monospace;color:var(--wb-fg);text-align:center;min-width:14px}
.wb-diff table.grid th.kind{font:11px monospace;text-align:right;padding-right:6px;white-space:nowrap}
.wb-diff a.cell{display:block;width:14px;height:14px;border:1px solid var(--wb-border);box-sizing:border-box}
.wb-diff a.cell.first{outline:3px solid var(--wb-fg);outline-offset:-3px}
.wb-diff .others{display:flex;flex-wrap:wrap;gap:4px 10px;margin-top:4px;font:11px monospace}
.wb-diff .others a{display:inline-flex;align-items:center;gap:3px;color:var(--wb-fg);text-decoration:none}
.wb-diff .others a.cell{display:inline-block}
.wb-diff .toks{display:flex;flex-wrap:wrap;gap:3px;margin:2px 0 6px}
.wb-diff .tok{display:inline-flex;flex-direction:column;align-items:center;font:11px monospace;
 background:var(--wb-bg-alt);color:var(--wb-fg);padding:1px 4px;border:1px solid var(--wb-border)}
.wb-diff .tok.over{border:2px solid var(--wb-error-fg);font-weight:bold}
.wb-diff .tok .bar{display:block;width:100%;height:5px;margin-top:2px}
.wb-diff details table{margin:2px 0}
"""


def view_id(report: "DiffReport") -> str:
    """An id prefix for this report's anchors, so that two reports in one notebook link apart."""
    key = f"{report.reference_type}|{report.candidate_type}|{len(report.rows)}|{report.max_abs_err!r}"
    return "wbd-" + hashlib.sha1(key.encode()).hexdigest()[:8]


def verdict_html(report: "DiffReport", atol: float, rtol: float) -> str:
    title = (f"<div><b>{escape(report.reference_type)}</b> (reference) vs <b>{escape(report.candidate_type)}</b> "
             "(candidate)</div>")
    lines = []
    for kind, text in report.verdict(atol, rtol):
        role = ' role="alert"' if kind == "warning" else ""
        mark = "&#9888; " if kind == "warning" else ""
        lines.append(f'<div class="v-{kind}"{role}>{mark}{escape(text)}</div>')
    return title + "".join(lines)


def legend_html(report: "DiffReport", atol: float, rtol: float) -> str:
    swatches = "".join(f'<span class="sw" style="background:{colour}"></span>{escape(label)}'
                       for colour, label in colour_legend())
    return (f'<div class="legend">{swatches}</div>'
            f'<div class="muted">{escape(legend_caption(report.rows, atol, rtol))}</div>')


def cell_title(row: "DiffRow", atol: float, rtol: float) -> str:
    """A heatmap cell's hover text: module, error, tolerance and the verdict on it."""
    bound = row.bound(atol, rtol)
    verdict = "exceeds" if row.exceeds(atol, rtol) else "within"
    return f"{display_name(row)}: max abs err {fmt(row.max_abs_err)}, tolerance {fmt(bound)} ({verdict})"


def _cell(row: "DiffRow", report: "DiffReport", atol: float, rtol: float, uid: str, first) -> str:
    title = escape(cell_title(row, atol, rtol), quote=True)
    mark = " first" if row is first else ""
    return (f'<a class="cell{mark}" href="#{uid}-row-{row.index}" title="{title}" aria-label="{title}" '
            f'style="background:{row_colour(row, atol, rtol)}"></a>')


def heatmap_html(report: "DiffReport", atol: float, rtol: float, uid: str) -> str:
    """Max abs error against the tolerance per (module kind, layer), and the modules outside the
    layers below; the first divergence framed."""
    labels, layers, cells = layer_grid(report.rows)
    first = report.first_divergence(atol, rtol)
    head = "".join(f"<th>{layer}</th>" for layer in layers)
    lines = [f'<table class="grid" role="grid" aria-label="error per module and layer"><tr><th class="kind">layer'
             f"</th>{head}</tr>"]
    for label in labels:
        tds = "".join(f"<td>{_cell(cells[(label, layer)], report, atol, rtol, uid, first)}</td>"
                      if (label, layer) in cells else "<td></td>" for layer in layers)
        lines.append(f'<tr><th class="kind" scope="row">{escape(label)}</th>{tds}</tr>')
    lines.append("</table>")
    in_grid = {id(row) for row in cells.values()}
    others = [row for row in report.rows if id(row) not in in_grid]
    if others:
        items = "".join(f"<span>{_cell(row, report, atol, rtol, uid, first)} {escape(display_name(row))}</span>"
                        for row in others)
        lines.append(f'<div class="muted">outside the layers:</div><div class="others">{items}</div>')
    return "".join(lines)


def token_labels(report: "DiffReport") -> list[list[str]] | None:
    """What each position is called: the tokenizer's tokens when given, else the ids."""
    if report.tokens is not None:
        return report.tokens
    return None if report.token_ids is None else [[str(i) for i in seq] for seq in report.token_ids]


def positions_html(report: "DiffReport", row: "DiffRow | None", atol: float, rtol: float, title: str) -> str:
    """The row's max abs error at each token position, on the input tokens: a bar in the colour
    rule under each token, a frame on the positions past the tolerance."""
    labels = token_labels(report)
    if row is None or row.position_errors is None or labels is None:
        return ""
    bound = row.bound(atol, rtol)
    sequences = []
    for batch, (errors, tokens) in enumerate(zip(row.position_errors, labels)):
        over = [p for p, error in enumerate(errors) if not error <= bound]
        chips = "".join(
            f'<span class="tok{" over" if not error <= bound else ""}" tabindex="0" '
            f'title="{escape(f"position {p} ({token}): max abs err {fmt(error)}, tolerance {fmt(bound)}", quote=True)}">'
            f'{escape(token)}<span class="bar" style="background:{error_colour(error, bound)}"></span></span>'
            for p, (token, error) in enumerate(zip(tokens, errors)))
        where = f"positions over the tolerance: {', '.join(map(str, over))}" if over else "every position within"
        prefix = f"sequence {batch}: " if len(labels) > 1 else ""
        sequences.append(f'<div class="muted">{prefix}{where}</div><div class="toks">{chips}</div>')
    return f"<div><b>{escape(title)}</b>: {escape(display_name(row))}</div>{''.join(sequences)}"


def position_views(report: "DiffReport", atol: float, rtol: float) -> str:
    """Per-position errors of the first divergence and of the model's output."""
    first, output = report.first_divergence(atol, rtol), report.output_row()
    parts = [positions_html(report, first, atol, rtol, "error per position at the first divergence")]
    if output is not None and output is not first:
        parts.append(positions_html(report, output, atol, rtol, "error per position at the output"))
    return "".join(parts)


def stats_table(row: "DiffRow") -> str:
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
    return f"<table><tr><th></th>{head}</tr>{body}</table>{extra}"


def details_html(report: "DiffReport", row: "DiffRow | None", atol: float, rtol: float) -> str:
    """One module's drill-down: its tensors' errors against the tolerance, both sides' stats, and
    its error per token position."""
    if row is None:
        return ""
    rows = [r for r in report.rows if r.reference_module == row.reference_module]
    tensors = "".join(f"<li>{escape(cell_title(r, atol, rtol))}; max rel err {fmt(r.max_rel_err)}, "
                      f"cosine {fmt(r.cosine)}, shape {escape(shape_text(r))}</li>" for r in rows)
    return (f"<div><b>{escape(display_name(row))}</b> ({escape(row.reference_type)}"
            f"{'' if row.candidate_type == row.reference_type else ' / ' + escape(row.candidate_type)}), "
            f"dtype {escape(row.reference_dtype)} / {escape(row.candidate_dtype)}</div><ul>{tensors}</ul>"
            f"{stats_table(row)}{positions_html(report, row, atol, rtol, 'error per position')}")


def table_html(report: "DiffReport", atol: float, rtol: float, uid: str) -> str:
    first = report.first_divergence(atol, rtol)
    head = ("<tr><th>#</th><th>module</th><th>type</th><th>shape</th><th>dtype</th><th>max abs err</th>"
            "<th>tolerance</th><th>max rel err</th><th>mean abs err</th><th>cosine</th><th></th></tr>")
    lines = [f"<table>{head}"]
    for row in report.rows:
        over = row.exceeds(atol, rtol)
        mark = ' class="first"' if row is first else (' class="over"' if over else "")
        note = " &#9664; first divergence" if row is first else ""
        types = row.reference_type if row.candidate_type == row.reference_type else \
            f"{row.reference_type} / {row.candidate_type}"
        dtypes = row.reference_dtype if row.candidate_dtype == row.reference_dtype else \
            f"{row.reference_dtype} / {row.candidate_dtype}"
        lines.append(
            f'<tr id="{uid}-row-{row.index}"{mark}><td class="num">{row.index}{" !" if over else ""}</td>'
            f'<td class="mod">{escape(display_name(row))}{note}</td><td>{escape(types)}</td>'
            f"<td>{escape(shape_text(row))}</td><td>{escape(dtypes)}</td>"
            f'<td class="num"><span class="sw" style="background:{row_colour(row, atol, rtol)}"></span>'
            f'{fmt(row.max_abs_err)}</td><td class="num">{fmt(row.bound(atol, rtol))}</td>'
            f'<td class="num">{fmt(row.max_rel_err)}</td><td class="num">{fmt(row.mean_abs_err)}</td>'
            f'<td class="num">{fmt(row.cosine)}</td><td><details><summary>stats</summary>{stats_table(row)}'
            "</details></td></tr>")
    lines.append("</table>")
    return "".join(lines)


def report_html(report: "DiffReport", atol: float | None = None, rtol: float | None = None,
                selected: "DiffRow | None" = None) -> str:
    """The whole static view at these tolerances (the report's own by default), with ``selected``'s
    drill-down when given."""
    atol = report.atol if atol is None else atol
    rtol = report.rtol if rtol is None else rtol
    uid = view_id(report)
    unmatched = "<br>".join(escape(line) for line in unmatched_lines(report.unmatched_reference,
                                                                      report.unmatched_candidate))
    drill = f'<div class="drill">{details_html(report, selected, atol, rtol)}</div>' if selected is not None else ""
    return (f'<div class="wb-view wb-diff"><style>{VIEW_CSS}{STYLE}</style>{verdict_html(report, atol, rtol)}'
            f"{legend_html(report, atol, rtol)}{heatmap_html(report, atol, rtol, uid)}"
            f"{position_views(report, atol, rtol)}{drill}{table_html(report, atol, rtol, uid)}"
            f'<div class="muted">{unmatched}</div></div>')


def standalone_page(title: str, body: str) -> str:
    """A whole HTML page around a view, its background the theme's (light or dark, by the reader's
    ``prefers-color-scheme``)."""
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{VIEW_CSS}</style></head><body style=\"margin:0\">\n<div class=\"wb-view\" "
            f'style="background:var(--wb-bg);padding:8px;min-height:100vh">{body}</div>\n</body></html>\n')
