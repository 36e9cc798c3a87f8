"""The result of an activation diff: :class:`DiffRow` per tensor pair, :class:`DiffReport` over
them (the first divergence, and JSON / HTML / text views).

In a notebook a :class:`DiffReport` displays itself through ``_repr_mimebundle_``:
``application/vnd.workbench.activation-diff+json`` (the JSON below, for the diff widget),
``text/html`` (a table and an inline SVG heatmap of the error per layer, no JavaScript) and
``text/plain`` (a compact table). The same numbers appear in all three, formatted ``%.3e``, and
every heatmap colours a row by :func:`~workbench.porting.formatting.error_colour`; the JSON carries
those colours so the JupyterLab renderer paints them as they are.

JSON (``to_json``), schema ``workbench.activation-diff`` version 3 (version 1 had no colours;
version 2 no coverage, preset, verdict, tokens, per-position errors or grid; the JupyterLab
renderer reads all three)::

    {"schema": "workbench.activation-diff", "version": 3,
     "reference": {"type": "LlamaForCausalLM"}, "candidate": {"type": ...},
     "align": "name", "atol": 1e-05, "rtol": 0.0001, "rel_floor": 0.01,
     "preset": "float32", "preset_reason": "both models' parameters are float32",
     "coverage": {"aligned": 33, "reference_modules": 33, "candidate_modules": 35, "fraction": 0.94,
                  "low": false},
     "verdict": [{"kind": "coverage" | "warning" | "identical" | "ok" | "diverged", "text": "..."}, ...],
     "first_divergence": {"index": 3, "reference": "...", "candidate": "..."} | null,
     "output_index": 34,                       # the row of the model's own output (logits) or null
     "summary": {"rows": 35, "exceeding": 4, "max_abs_err": ...},
     "token_ids": [[...], ...] | null, "tokens": [["The", ...], ...] | null,   # [batch][position]
     "rows": [{"index", "reference", "candidate", "reference_module", "candidate_module",
               "reference_type", "candidate_type", "reference_shape", "candidate_shape",
               "reference_dtype", "candidate_dtype", "status", "max_abs_err", "max_rel_err",
               "mean_abs_err", "cosine", "input_max_abs_err", "input_ref_absmax", "exceeds",
               "truncated", "reference_stats": {numel, mean, std, min, max, norm, nan, inf},
               "candidate_stats": {...}, "position_errors": [[...]] | null,
               "bound": atol + rtol * max|ref|, "tolerance_ratio": max_abs_err / bound,
               "colour": "#rrggbb", "position_colours": [["#rrggbb", ...]] | null}, ...],
     "grid": {"labels": ["input_layernorm", ...], "layers": [0, 1], "cells": [[label, layer, row], ...],
              "others": [row indices outside the layers]},
     "quantized": {"candidate": {"layers": {name: class name}, "kept_float": [names]}},  # sides with any
     "unmatched": {"reference": [leaf paths], "candidate": [leaf paths]},
     "colour_legend": [{"colour": "#eeeeee", "label": "identical (0)", "ratio": 0}, ...],
     "legend_caption": "colour: max abs err / tolerance, tolerance = ..."}

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
from .quantized import QuantizedLayers, quantized_lines
from .formatting import (colour_legend, display_name, error_colour, fmt, layer_grid, legend_caption, json_safe,
                         row_colour, rows_to_show, shape_text, tolerance_ratio, unmatched_lines)
from .render import report_html, standalone_page
from .tolerance import PRESETS

MIME_TYPE = "application/vnd.workbench.activation-diff+json"
SCHEMA = "workbench.activation-diff"
SCHEMA_VERSION = 3
DEFAULT_ATOL, DEFAULT_RTOL = PRESETS["float32"]
DEFAULT_REL_FLOOR = 1e-2  # relative errors measure values under 1% of max|ref| against that 1%
# Under half of the larger model's modules aligned: most of the pair was never compared, and a
# clean result says little. The verdict and every view say so, and compare() warns.
LOW_COVERAGE = 0.5


class LowCoverageWarning(UserWarning):
    """Fewer than ``LOW_COVERAGE`` of the modules found a partner: the diff covers little of the models."""


@dataclass
class Coverage:
    """How much of the two models the diff compared: modules (module calls that returned tensors)
    on each side, and how many of them were paired with at least one pair of tensors compared."""

    aligned: int
    reference_modules: int
    candidate_modules: int

    @property
    def fraction(self) -> float:
        """Aligned modules over the larger model's module count (1.0 for two empty captures)."""
        total = max(self.reference_modules, self.candidate_modules)
        return self.aligned / total if total else 1.0

    @property
    def low(self) -> bool:
        return self.fraction < LOW_COVERAGE

    def describe(self) -> str:
        """``"31 of 33 modules aligned (94%)"``; both sides' counts when they differ."""
        total = max(self.reference_modules, self.candidate_modules)
        sides = ("" if self.reference_modules == self.candidate_modules else
                 f"; reference {self.reference_modules}, candidate {self.candidate_modules} modules")
        return f"{self.aligned} of {total} modules aligned ({self.fraction:.0%}{sides})"

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "fraction": self.fraction, "low": self.low}


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
    position_errors: list[list[float]] | None = None  # max abs err per [batch][token position], where laid out so

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
                 unmatched_candidate: list[str] | None = None, coverage: Coverage | None = None,
                 preset: str | None = None, preset_reason: str = "given", token_ids: list[list[int]] | None = None,
                 tokens: list[list[str]] | None = None, quantized: dict[str, QuantizedLayers] | None = None) -> None:
        self.rows = rows
        self.atol, self.rtol, self.rel_floor = atol, rtol, rel_floor
        self.align = align
        self.reference_type, self.candidate_type = reference_type, candidate_type
        self.unmatched_reference = list(unmatched_reference or [])
        self.unmatched_candidate = list(unmatched_candidate or [])
        if coverage is None:  # rows made elsewhere: every module they name counts as aligned
            modules = len({(row.reference_module, row.candidate_module) for row in rows})
            coverage = Coverage(modules, modules, modules)
        self.coverage = coverage
        self.preset, self.preset_reason = preset, preset_reason
        self.token_ids, self.tokens = token_ids, tokens  # [batch][position]; tokens when a tokenizer was given
        self.quantized = {side: found for side, found in (quantized or {}).items() if found.layers}
        self.reference_capture = self.candidate_capture = None  # kept by compare(keep_captures=True)

    def at(self, atol: float | None = None, rtol: float | None = None, preset: str | None = None) -> "DiffReport":
        """The same rows judged at other tolerances: ``preset``'s (a name in
        :data:`~workbench.porting.tolerance.PRESETS`) or ``atol`` / ``rtol`` (what a view with a
        tolerance slider shows and exports)."""
        if preset is not None:
            atol, rtol = PRESETS[preset]
        atol, rtol = self._tolerances(atol, rtol)
        copy = object.__new__(DiffReport)
        copy.__dict__.update(self.__dict__)
        if preset is not None:
            copy.preset, copy.preset_reason = preset, "chosen in the view"
        elif (atol, rtol) != (self.atol, self.rtol):
            copy.preset, copy.preset_reason = None, "set in the view"
        copy.atol, copy.rtol = atol, rtol
        return copy

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

    def output_row(self) -> DiffRow | None:
        """The row of the model's own output (its first tensor: ``logits``, ``last_hidden_state``),
        else the last row."""
        return next((row for row in self.rows if row.reference_module == ""), self.rows[-1] if self.rows else None)

    def coverage_warning(self) -> str:
        fix = ("pass a mapping {reference regex: candidate name} for the modules order could not pair"
               if self.align == "order" else 'try align="order" (pairs modules by execution order and output '
                                             "shape) or a mapping {reference regex: candidate name}")
        return (f"Only {self.coverage.describe()}: most of {self.reference_type} and {self.candidate_type} was "
                f"not compared, so this diff says little about them; {fix}.")

    def verdict(self, atol: float | None = None, rtol: float | None = None) -> list[tuple[str, str]]:
        """The summary every view prints, as ``(kind, text)`` lines: ``"coverage"`` (what was compared,
        at which tolerance), ``"warning"`` (low coverage), ``"quantized"`` (which layers are quantized and
        where their error enters, :mod:`~workbench.porting.quantized`), then one of ``"identical"`` (every
        compared tensor exactly equal), ``"ok"`` (all within the tolerance) or ``"diverged"``; a
        warning instead of those two when a model's quantized layers were not compared."""
        atol, rtol = self._tolerances(atol, rtol)
        preset = f" ({self.preset} preset: {self.preset_reason})" if self.preset else \
            ("" if self.preset_reason == "given" else f" ({self.preset_reason})")
        lines = [("coverage", f"{self.coverage.describe()} by {self.align}, {len(self.rows)} tensors compared; "
                              f"tolerance atol={atol:.1e} rtol={rtol:.1e}{preset}")]
        scope = ""
        if self.coverage.low:
            lines.append(("warning", self.coverage_warning()))
            scope = f" in the {self.coverage.aligned} aligned modules only"
        quantized = quantized_lines(self)
        lines += quantized
        first = self.first_divergence(atol, rtol)
        if first is not None:
            lines.append(("diverged", f"First divergence: {display_name(first)} ({first.reference_type}), "
                                      f"max abs err {fmt(first.max_abs_err)} against a tolerance of "
                                      f"{fmt(first.bound(atol, rtol))}; {len(self.exceeding(atol, rtol))} of "
                                      f"{len(self.rows)} tensors exceed it"))
        elif any(kind == "warning" for kind, _ in quantized):
            pass  # the quantized layers were not compared: no "clean" verdict about what was not looked at
        elif self.max_abs_err == 0.0 and all(row.max_abs_err is not None for row in self.rows):
            lines.append(("identical", f"Identical{scope}: every compared tensor is exactly equal"))
        else:
            worst = max(tolerance_ratio(row.max_abs_err, row.bound(atol, rtol)) for row in self.rows)
            lines.append(("ok", f"No divergence{scope}: all {len(self.rows)} tensors within the tolerance "
                                f"(max abs err {fmt(self.max_abs_err)}, at most {worst:.2g} x the tolerance)"))
        return lines

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
            bound = row.bound(self.atol, self.rtol)
            data["exceeds"] = row.exceeds(self.atol, self.rtol)
            data["bound"] = bound
            data["tolerance_ratio"] = tolerance_ratio(row.max_abs_err, bound)
            data["colour"] = row_colour(row, self.atol, self.rtol)  # formatting.error_colour: one rule for every view
            data["position_colours"] = None if row.position_errors is None else \
                [[error_colour(error, bound) for error in seq] for seq in row.position_errors]
            rows.append(data)
        output = self.output_row()
        labels, layers, cells = layer_grid(self.rows)
        in_grid = {id(row) for row in cells.values()}
        return json_safe({
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "reference": {"type": self.reference_type},
            "candidate": {"type": self.candidate_type},
            "align": self.align,
            "atol": self.atol,
            "rtol": self.rtol,
            "rel_floor": self.rel_floor,
            "preset": self.preset,
            "preset_reason": self.preset_reason,
            "coverage": self.coverage.to_dict(),
            "verdict": [{"kind": kind, "text": text} for kind, text in self.verdict()],
            "first_divergence": None if first is None else
            {"index": first.index, "reference": first.reference, "candidate": first.candidate},
            "output_index": None if output is None else output.index,
            "summary": {"rows": len(self.rows), "exceeding": len(self.exceeding()), "max_abs_err": self.max_abs_err},
            "token_ids": self.token_ids,
            "tokens": self.tokens,
            "rows": rows,
            "grid": {"labels": labels, "layers": layers,
                     "cells": [[labels.index(label), layers.index(layer), row.index]
                               for (label, layer), row in cells.items()],
                     "others": [row.index for row in self.rows if id(row) not in in_grid]},
            "quantized": {side: found.to_dict() for side, found in self.quantized.items()},
            "unmatched": {"reference": self.unmatched_reference, "candidate": self.unmatched_candidate},
            "colour_legend": [{"colour": colour, "label": label, "ratio": ratio}
                              for colour, label, ratio in colour_legend(with_ratios=True)],
            "legend_caption": legend_caption(self.rows, self.atol, self.rtol),
        })

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def save_json(self, path: str | os.PathLike, indent: int | None = 1) -> None:
        """Write the JSON atomically (a temporary file renamed over ``path``)."""
        atomic_write_text(path, self.to_json(indent=indent))

    # --- text -----------------------------------------------------------------------------

    def _header(self) -> list[str]:
        return [f"DiffReport: {self.reference_type} (reference) vs {self.candidate_type} (candidate)"] + \
            [("WARNING: " if kind == "warning" else "") + text for kind, text in self.verdict()]

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
        kind, text = self.verdict()[-1]
        return (f"<DiffReport {self.reference_type} vs {self.candidate_type}: {self.coverage.describe()}, "
                f"{len(self.rows)} tensors; {text}>")

    # --- HTML -----------------------------------------------------------------------------

    def to_html(self) -> str:
        """A self-contained fragment: summary, SVG heatmap, table with per-row stats (no JavaScript)."""
        return report_html(self)

    def save_html(self, path: str | os.PathLike) -> None:
        """Write a standalone HTML page atomically."""
        page = standalone_page(f"{self.reference_type} vs {self.candidate_type}", self.to_html())
        atomic_write_text(path, page)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle = {MIME_TYPE: self.to_dict(), "text/html": self.to_html(), "text/plain": self.to_text()}
        if include:
            bundle = {key: value for key, value in bundle.items() if key in include}
        if exclude:
            bundle = {key: value for key, value in bundle.items() if key not in exclude}
        return bundle
