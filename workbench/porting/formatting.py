"""How every view of an activation diff prints and colours a row: the JSON, text and HTML of
:class:`~workbench.porting.report.DiffReport`, the ``ActivationDiff`` widget and, through the
colours the JSON carries, the JupyterLab renderer.

Numbers are ``%.3e`` (:func:`fmt`); a module is named by :func:`display_name`; rows with a layer
number form a grid (:func:`layer_grid`); and one rule, :func:`error_colour`, colours an error
against its tolerance in all three heatmaps, with one legend (:func:`colour_legend`: stops in
multiples of the tolerance, and :func:`legend_caption`: what the tolerance is in real numbers).
The colours fill cells, swatches and bars only; text stays on the theme's background.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .report import DiffRow


def fmt(value: float | None) -> str:
    """How every view prints a number: ``1.234e-05``; ``-`` for none."""
    if value is None:
        return "-"
    return f"{value:.3e}"


def json_number(value: Any) -> Any:
    """Non-finite floats as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (JSON has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float inside dicts and lists made a string (:func:`json_number`)."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return json_number(value)


def display_name(row: "DiffRow") -> str:
    """The row's path, ``reference -> candidate`` when the two differ; ``(model)`` for the root."""
    name = row.reference or "(model)"
    return name if row.candidate == row.reference else f"{name} -> {row.candidate or '(model)'}"


def shape_text(row: "DiffRow") -> str:
    """``2x7x32``, or ``2x7x32 vs 14x32`` when the shapes differ."""
    ref = "x".join(map(str, row.reference_shape)) or "scalar"
    if row.candidate_shape == row.reference_shape:
        return ref
    return f"{ref} vs {'x'.join(map(str, row.candidate_shape)) or 'scalar'}"


def rows_to_show(count: int, focus: int | None, max_rows: int) -> list[int]:
    """Indices a table of at most ~``max_rows`` keeps: the start, the rows around ``focus``, the end."""
    if count <= max_rows:
        return list(range(count))
    quarter = max(1, max_rows // 4)
    shown = set(range(min(count, 2 * quarter))) | set(range(count - quarter, count))
    if focus is not None:
        shown |= set(range(max(0, focus - quarter // 2), min(count, focus + quarter // 2 + 1)))
    return sorted(shown)


def unmatched_lines(reference: list[str], candidate: list[str], show: int = 5) -> list[str]:
    """``unmatched in reference: a, b, ... (3 more)``, one line per side that has any."""
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


# --- the colour rule ----------------------------------------------------------------------------

EQUAL, BROKEN = "#eeeeee", "#6a1b9a"
WITHIN, WITHIN_DECADES = ((232, 245, 233), (67, 160, 71)), 8  # pale -> darker green, bound/1e8 -> bound
ABOVE, ABOVE_DECADES = ((255, 235, 59), (183, 28, 28)), 6  # yellow -> dark red, bound -> bound*1e6


def _mix(low: tuple, high: tuple, t: float) -> str:
    t = min(1.0, max(0.0, t))
    return "#" + "".join(f"{round(a + (b - a) * t):02x}" for a, b in zip(low, high))


def tolerance_ratio(error: float | None, bound: float) -> float:
    """``error / bound``: 0 when equal, infinite when there is no finite error or the bound is 0."""
    if error is None or not math.isfinite(error):
        return math.inf
    if error == 0.0:
        return 0.0
    return error / bound if bound > 0 else math.inf


def error_colour(error: float | None, bound: float) -> str:
    """The one colour rule of the activation-diff heatmaps: the static HTML
    (:mod:`workbench.porting.render`), the ``ActivationDiff`` widget and the JupyterLab renderer
    (which paints the ``colour`` each JSON row carries and decides nothing itself).

    A tensor's colour says how its max abs error compares with its tolerance ``bound = atol +
    rtol * max|ref|``, the bound :meth:`DiffRow.exceeds` tests, on a log scale:

    - error exactly 0: light grey (``EQUAL``);
    - 0 < error <= bound: green, from pale at ``bound * 1e-8`` or below to darkest at the bound;
    - error > bound: yellow just above the bound to dark red at ``bound * 1e6`` or more (with a
      bound of 0 any error is that far above);
    - no finite error (NaN or inf on one side only, or shapes that differ): purple (``BROKEN``).

    :func:`colour_legend` names these stops for a legend.
    """
    if error is None or not math.isfinite(error):
        return BROKEN
    if error == 0.0:
        return EQUAL
    if bound <= 0:
        return _mix(*ABOVE, 1.0)
    decades = math.log10(error) - math.log10(bound)
    if error <= bound:
        return _mix(*WITHIN, (decades + WITHIN_DECADES) / WITHIN_DECADES)
    return _mix(*ABOVE, decades / ABOVE_DECADES)


def row_colour(row: "DiffRow", atol: float, rtol: float) -> str:
    """:func:`error_colour` of a row's max abs error at these tolerances."""
    return error_colour(row.max_abs_err, row.bound(atol, rtol))


LEGEND_STOPS = (  # (ratio error / tolerance, label) of the legend's swatches between EQUAL and BROKEN
    (10.0 ** -WITHIN_DECADES, f"<=1e-{WITHIN_DECADES} x tol"), (10.0 ** (-WITHIN_DECADES // 2), f"1e-{WITHIN_DECADES // 2} x tol"),
    (1.0, "= tol"), (1.0 + 1e-9, "just above tol"), (10.0 ** (ABOVE_DECADES // 2), f"1e{ABOVE_DECADES // 2} x tol"),
    (10.0 ** ABOVE_DECADES, f">=1e{ABOVE_DECADES} x tol"),
)


def colour_legend(with_ratios: bool = False) -> list[tuple]:
    """``(colour, label)`` for each stop of :func:`error_colour`, lowest first (``(colour, label,
    ratio)`` with ``with_ratios``: error / tolerance at that stop, 0 for identical, None for broken)."""
    stops = [(EQUAL, "identical (0)", 0.0)]
    stops += [(error_colour(ratio, 1.0), label, ratio) for ratio, label in LEGEND_STOPS]
    stops.append((BROKEN, "NaN/inf or shapes differ", None))
    return stops if with_ratios else [(colour, label) for colour, label, _ in stops]


def legend_caption(rows: list["DiffRow"], atol: float, rtol: float) -> str:
    """What the legend's ``x tol`` means in real numbers: the tolerance formula at these settings and
    the range of tolerances it gives the tensors shown."""
    bounds = [row.bound(atol, rtol) for row in rows]
    span = f", {fmt(min(bounds))} to {fmt(max(bounds))} across these tensors" if bounds else ""
    return (f"colour: max abs err / tolerance; tolerance = atol + rtol * max|ref| = {atol:.1e} + {rtol:.1e} * "
            f"max|ref|{span}")
