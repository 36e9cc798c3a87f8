"""The result of an activation diff: rows, the first divergence, and JSON / HTML / text views.

In a notebook a :class:`DiffReport` displays itself through ``_repr_mimebundle_``:
``application/vnd.workbench.activation-diff+json`` (the JSON below, for the diff widget),
``text/html`` (a table and an inline SVG heatmap of log10 error per layer, no JavaScript) and
``text/plain`` (a compact table). The same numbers appear in all three, formatted ``%.3e``.

JSON (``to_json``), schema ``workbench.activation-diff`` version 1::

    {"schema": "workbench.activation-diff", "version": 1,
     "reference": {"type": "LlamaForCausalLM"}, "candidate": {"type": ...},
     "align": "name", "atol": 1e-05, "rtol": 0.0001, "rel_floor": 1e-06,
     "first_divergence": {"index": 3, "reference": "...", "candidate": "..."} | null,
     "summary": {"rows": 35, "exceeding": 4, "max_abs_err": ...},
     "rows": [{"index", "reference", "candidate", "reference_module", "candidate_module",
               "reference_type", "candidate_type", "reference_shape", "candidate_shape",
               "reference_dtype", "candidate_dtype", "status", "max_abs_err", "max_rel_err",
               "mean_abs_err", "cosine", "input_max_abs_err", "input_ref_absmax", "exceeds",
               "truncated", "reference_stats": {numel, mean, std, min, max, norm, nan, inf},
               "candidate_stats": {...}}, ...],
     "unmatched": {"reference": [leaf paths], "candidate": [leaf paths]}}

Numbers that are not finite are the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (so the
JSON parses in a browser); errors are null where shapes differ.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from typing import TYPE_CHECKING, Any, Iterator

from ..io import atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    from .diff import DiffRow

MIME_TYPE = "application/vnd.workbench.activation-diff+json"
SCHEMA = "workbench.activation-diff"
SCHEMA_VERSION = 1


def fmt(value: float | None) -> str:
    """How every view prints a number: ``1.234e-05``; ``-`` for none."""
    if value is None:
        return "-"
    return f"{value:.3e}"


def json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return json_number(value)


class DiffReport:
    """Per-tensor errors between a reference and a candidate model, in the reference's execution
    order (modules as they return: children before their parent).

    ``report.rows`` are :class:`~workbench.porting.diff.DiffRow` dataclasses; ``report["lm_head"]``
    finds one by path; ``report.first_divergence()`` is where the error enters.
    """

    def __init__(self, rows: list["DiffRow"], *, atol: float, rtol: float, rel_floor: float, align: str,
                 reference_type: str, candidate_type: str, unmatched_reference: list[str] | None = None,
                 unmatched_candidate: list[str] | None = None) -> None:
        self.rows = rows
        self.atol, self.rtol, self.rel_floor = atol, rtol, rel_floor
        self.align = align
        self.reference_type, self.candidate_type = reference_type, candidate_type
        self.unmatched_reference = list(unmatched_reference or [])
        self.unmatched_candidate = list(unmatched_candidate or [])
        self.reference_capture = self.candidate_capture = None  # kept by compare(keep_captures=True)

    # --- questions ------------------------------------------------------------------------

    def _tolerances(self, atol: float | None, rtol: float | None) -> tuple[float, float]:
        return (self.atol if atol is None else atol), (self.rtol if rtol is None else rtol)

    def exceeding(self, atol: float | None = None, rtol: float | None = None) -> list["DiffRow"]:
        """Rows whose error is above ``atol + rtol * max|ref|`` (the report's tolerances by default)."""
        atol, rtol = self._tolerances(atol, rtol)
        return [row for row in self.rows if row.exceeds(atol, rtol)]

    def first_divergence(self, atol: float | None = None, rtol: float | None = None) -> "DiffRow | None":
        """The first row, in execution order, whose output exceeds the tolerance while the module's
        first input did not: the module where the error enters. A module whose input already
        differed (``o_proj`` after a wrong rotation inside ``self_attn``) is passed over for the
        first one that was given matching inputs (``self_attn``, which returns after ``o_proj``).
        Falls back to the first exceeding row when every one of them had differing inputs (the
        inputs given to the two models differ). None when nothing exceeds."""
        atol, rtol = self._tolerances(atol, rtol)
        rows = self.exceeding(atol, rtol)
        return next((row for row in rows if not row.input_exceeds(atol, rtol)), rows[0] if rows else None)

    @property
    def max_abs_err(self) -> float:
        errors = [row.max_abs_err for row in self.rows if row.max_abs_err is not None]
        return max(errors, default=0.0)

    def __getitem__(self, path: str) -> "DiffRow":
        for row in self.rows:
            if row.reference == path or row.candidate == path:
                return row
        raise KeyError(f"No row for {path!r}; rows start {[r.reference for r in self.rows[:8]]} ...")

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator["DiffRow"]:
        return iter(self.rows)

    # --- JSON -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        first = self.first_divergence()
        rows = []
        for row in self.rows:
            data = row.to_dict()
            data["exceeds"] = row.exceeds(self.atol, self.rtol)
            rows.append(data)
        return _json_safe({
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "reference": {"type": self.reference_type},
            "candidate": {"type": self.candidate_type},
            "align": self.align,
            "atol": self.atol,
            "rtol": self.rtol,
            "rel_floor": self.rel_floor,
            "first_divergence": None if first is None else
            {"index": first.index, "reference": first.reference, "candidate": first.candidate},
            "summary": {"rows": len(self.rows), "exceeding": len(self.exceeding()), "max_abs_err": self.max_abs_err},
            "rows": rows,
            "unmatched": {"reference": self.unmatched_reference, "candidate": self.unmatched_candidate},
        })

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def save_json(self, path: str | os.PathLike, indent: int | None = 1) -> None:
        """Write the JSON atomically (a temporary file renamed over ``path``)."""
        atomic_write_text(path, self.to_json(indent=indent))

    # --- text -----------------------------------------------------------------------------

    def _header(self) -> list[str]:
        first = self.first_divergence()
        lines = [f"DiffReport: {self.reference_type} (reference) vs {self.candidate_type} (candidate), "
                 f"{len(self.rows)} tensors aligned by {self.align}, atol={self.atol:g} rtol={self.rtol:g}"]
        if first is None:
            lines.append(f"no divergence (max abs err {fmt(self.max_abs_err)})")
        else:
            lines.append(f"first divergence: {first.reference} (max abs err {fmt(first.max_abs_err)}, "
                         f"{len(self.exceeding())} tensors exceed the tolerance)")
        return lines

    def to_text(self, max_rows: int = 60) -> str:
        """A compact table (module, shape, max abs err, max rel err); ``>>`` marks the first
        divergence and ``!`` other rows past the tolerance. Long reports keep the start, the rows
        around the first divergence and the end."""
        first = self.first_divergence()
        shown = _rows_to_show(len(self.rows), first.index if first else None, max_rows)
        names = [_display_name(row) for row in self.rows]
        shapes = [_shape_text(row) for row in self.rows]
        name_width = max([len("module")] + [len(names[i]) for i in shown])
        shape_width = max([len("shape")] + [len(shapes[i]) for i in shown])
        lines = self._header()
        lines.append(f"   {'module':<{name_width}}  {'shape':<{shape_width}}  {'max abs err':>11}  {'max rel err':>11}")
        previous = -1
        for i in shown:
            if i != previous + 1:
                lines.append(f"   ... {i - previous - 1} rows ...")
            row = self.rows[i]
            mark = ">> " if row is first else ("!  " if row.exceeds(self.atol, self.rtol) else "   ")
            lines.append(f"{mark}{names[i]:<{name_width}}  {shapes[i]:<{shape_width}}  "
                         f"{fmt(row.max_abs_err):>11}  {fmt(row.max_rel_err):>11}")
            previous = i
        if previous != len(self.rows) - 1:
            lines.append(f"   ... {len(self.rows) - previous - 1} rows ...")
        lines += _unmatched_lines(self.unmatched_reference, self.unmatched_candidate)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        first = self.first_divergence()
        where = "no divergence" if first is None else f"first divergence {first.reference!r}"
        return (f"<DiffReport {self.reference_type} vs {self.candidate_type}: {len(self.rows)} tensors, {where}, "
                f"max abs err {fmt(self.max_abs_err)}>")

    # --- HTML -----------------------------------------------------------------------------

    def to_html(self) -> str:
        """A self-contained fragment: summary, SVG heatmap, table with per-row stats (no JavaScript)."""
        from .render import report_html  # only when a report is shown as HTML

        return report_html(self)

    def save_html(self, path: str | os.PathLike) -> None:
        """Write a standalone HTML page atomically."""
        page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(self.reference_type)} vs "
                f"{html.escape(self.candidate_type)}</title></head><body>\n{self.to_html()}\n</body></html>\n")
        atomic_write_text(path, page)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle = {MIME_TYPE: self.to_dict(), "text/html": self.to_html(), "text/plain": self.to_text()}
        if include:
            bundle = {key: value for key, value in bundle.items() if key in include}
        if exclude:
            bundle = {key: value for key, value in bundle.items() if key not in exclude}
        return bundle


def _display_name(row: "DiffRow") -> str:
    name = row.reference or "(model)"
    return name if row.candidate == row.reference else f"{name} -> {row.candidate or '(model)'}"


def _shape_text(row: "DiffRow") -> str:
    ref = "x".join(map(str, row.reference_shape)) or "scalar"
    if row.candidate_shape == row.reference_shape:
        return ref
    return f"{ref} vs {'x'.join(map(str, row.candidate_shape)) or 'scalar'}"


def _rows_to_show(count: int, focus: int | None, max_rows: int) -> list[int]:
    if count <= max_rows:
        return list(range(count))
    quarter = max(1, max_rows // 4)
    shown = set(range(min(count, 2 * quarter))) | set(range(count - quarter, count))
    if focus is not None:
        shown |= set(range(max(0, focus - quarter // 2), min(count, focus + quarter // 2 + 1)))
    return sorted(shown)


def _unmatched_lines(reference: list[str], candidate: list[str], show: int = 5) -> list[str]:
    lines = []
    for side, paths in (("reference", reference), ("candidate", candidate)):
        if paths:
            more = f", ... ({len(paths) - show} more)" if len(paths) > show else ""
            lines.append(f"unmatched in {side}: {', '.join(p or '(model)' for p in paths[:show])}{more}")
    return lines


_NUMBERED = re.compile(r"^(.*?)\.(\d+)(?=$|[.\[#<])(.*)$")


def layer_grid(rows: list["DiffRow"]) -> tuple[list[str], list[int], dict[tuple[str, int], "DiffRow"]]:
    """Rows whose path has a layer number (``model.layers.3.mlp``), as a grid: row labels
    (``mlp``, with the part before the number when there are several stacks), layer numbers, and
    ``(label, layer) -> row``. Without numbered paths, one strip of all rows in order."""
    parsed = [(row, _NUMBERED.match(row.reference)) for row in rows]
    parsed = [(row, match) for row, match in parsed if match]
    if not parsed:
        cells = {("modules", i): row for i, row in enumerate(rows)}
        return ["modules"], list(range(len(rows))), cells
    stacks = {match.group(1) for _, match in parsed}
    labels: list[str] = []
    cells = {}
    for row, match in parsed:
        stack, layer, rest = match.group(1), int(match.group(2)), match.group(3).lstrip(".")
        label = rest or "(layer output)"
        if len(stacks) > 1:
            label = f"{stack}.*.{rest}" if rest else f"{stack}.*"
        if label not in labels:
            labels.append(label)
        cells.setdefault((label, layer), row)
    return labels, sorted({layer for _, layer in cells}), cells
