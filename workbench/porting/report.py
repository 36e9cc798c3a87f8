"""The result of an activation diff: :class:`DiffRow` per tensor pair, :class:`DiffReport` over
them (the first divergence, and JSON / HTML / text views).

In a notebook a :class:`DiffReport` displays itself through ``_repr_mimebundle_``:
``application/vnd.workbench.activation-diff+json`` (the JSON below, for the diff widget),
``text/html`` (a table and an inline SVG heatmap of the error per layer, no JavaScript) and
``text/plain`` (a compact table). The same numbers appear in all three, formatted ``%.3e``, and
every heatmap colours a row by :func:`~workbench.porting.formatting.error_colour`; the JSON carries
those colours so the JupyterLab renderer paints them as they are.

JSON (``to_json``), schema ``workbench.activation-diff`` version 2 (version 1 had no colours)::

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
               "candidate_stats": {...},
               "tolerance_ratio": max_abs_err / (atol + rtol * max|ref|), "colour": "#rrggbb"}, ...],
     "unmatched": {"reference": [leaf paths], "candidate": [leaf paths]},
     "colour_legend": [{"colour": "#eeeeee", "label": "equal"}, ...]}

Numbers that are not finite are the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (so the
JSON parses in a browser); errors are null where shapes differ.
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
from dataclasses import dataclass
from typing import Any, Iterator

from ..io import atomic_write_text
from .capture import TensorStats
from .formatting import (colour_legend, display_name, fmt, json_safe, row_colour, rows_to_show, shape_text,
                         tolerance_ratio, unmatched_lines)
from .render import report_html

MIME_TYPE = "application/vnd.workbench.activation-diff+json"
SCHEMA = "workbench.activation-diff"
SCHEMA_VERSION = 2
DEFAULT_ATOL, DEFAULT_RTOL, DEFAULT_REL_FLOOR = 1e-5, 1e-4, 1e-6


@dataclass
class DiffRow:
    """One reference tensor and its candidate counterpart."""

    index: int  # position in the reference's execution order
    reference: str  # leaf path in the reference ("model.layers.3.self_attn[0]")
    candidate: str  # leaf path in the candidate
    reference_module: str  # module call key in the reference ("model.layers.3.self_attn")
    candidate_module: str
    reference_type: str  # class names
    candidate_type: str
    reference_shape: list[int]
    candidate_shape: list[int]
    reference_dtype: str
    candidate_dtype: str
    status: str  # "ok", "reshaped" (same number of values, compared flat) or "shape_mismatch"
    max_abs_err: float | None
    max_rel_err: float | None
    mean_abs_err: float | None
    cosine: float | None
    input_max_abs_err: float | None  # error of the first tensor argument, None when not comparable
    input_ref_absmax: float | None
    reference_stats: TensorStats
    candidate_stats: TensorStats
    truncated: bool = False  # errors cover only the first max_elements values

    @property
    def name(self) -> str:
        return self.reference

    def bound(self, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL) -> float:
        """The tolerance this row's max abs error is held to: ``atol + rtol * max|ref|``."""
        return atol + rtol * self.reference_stats.absmax

    def exceeds(self, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL) -> bool:
        """Whether the error is above :meth:`bound` (a shape mismatch always is)."""
        if self.max_abs_err is None:
            return True
        return not self.max_abs_err <= self.bound(atol, rtol)  # NaN exceeds too

    def input_exceeds(self, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL) -> bool:
        """Whether the module's first input already differed (False when unknown)."""
        if self.input_max_abs_err is None:
            return False
        return not self.input_max_abs_err <= atol + rtol * (self.input_ref_absmax or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class DiffReport:
    """Per-tensor errors between a reference and a candidate model, in the reference's execution
    order (modules as they return: children before their parent).

    ``report.rows`` are :class:`DiffRow` dataclasses; ``report["lm_head"]``
    finds one by path; ``report.first_divergence()`` is where the error enters.
    """

    def __init__(self, rows: list[DiffRow], *, atol: float, rtol: float, rel_floor: float, align: str,
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

    def exceeding(self, atol: float | None = None, rtol: float | None = None) -> list[DiffRow]:
        """Rows whose error is above ``atol + rtol * max|ref|`` (the report's tolerances by default)."""
        atol, rtol = self._tolerances(atol, rtol)
        return [row for row in self.rows if row.exceeds(atol, rtol)]

    def first_divergence(self, atol: float | None = None, rtol: float | None = None) -> DiffRow | None:
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

    def __getitem__(self, path: str) -> DiffRow:
        for row in self.rows:
            if row.reference == path or row.candidate == path:
                return row
        raise KeyError(f"No row for {path!r}; rows start {[r.reference for r in self.rows[:8]]} ...")

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[DiffRow]:
        return iter(self.rows)

    # --- JSON -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        first = self.first_divergence()
        rows = []
        for row in self.rows:
            data = row.to_dict()
            data["exceeds"] = row.exceeds(self.atol, self.rtol)
            data["tolerance_ratio"] = tolerance_ratio(row.max_abs_err, row.bound(self.atol, self.rtol))
            data["colour"] = row_colour(row, self.atol, self.rtol)  # formatting.error_colour: one rule for every view
            rows.append(data)
        return json_safe({
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
            "colour_legend": [{"colour": colour, "label": label} for colour, label in colour_legend()],
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
        shown = rows_to_show(len(self.rows), first.index if first else None, max_rows)
        names = [display_name(row) for row in self.rows]
        shapes = [shape_text(row) for row in self.rows]
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
        lines += unmatched_lines(self.unmatched_reference, self.unmatched_candidate)
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
