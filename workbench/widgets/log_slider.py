"""A slider over powers of ten whose value a screen reader reads in real units.

ipywidgets' ``FloatLogSlider`` moves a noUiSlider handle along the exponent and exposes that
exponent as the handle's ``aria-valuetext`` ("-5.00" for a tolerance of 1e-5). :class:`LogSlider`
is the same control (an anywidget view, log_slider.js beside this file) with the value itself in
its readout and its ``aria-valuetext`` ("atol 1.0e-05").
"""

from __future__ import annotations

import math
from pathlib import Path

import traitlets

from ..theme import VIEW_CSS

try:
    import anywidget
except ImportError:
    raise ImportError("workbench.widgets needs anywidget: pip install 'workbench[widgets]' (or pip install anywidget)") \
        from None

SLIDER_CSS = """
.wb-logslider{display:inline-flex;align-items:center;gap:6px;font-family:system-ui,-apple-system,"Segoe UI",sans-serif;
  font-size:12px;color:var(--wb-fg)}
.wb-logslider input{width:220px;accent-color:var(--wb-accent)}
.wb-logslider output{font-variant-numeric:tabular-nums;min-width:5.5em}
"""


class LogSlider(anywidget.AnyWidget):
    """``value`` > 0, moved in steps of ``step`` along log10 between 10**``min`` and 10**``max``."""

    _esm = Path(__file__).with_suffix(".js").read_text(encoding="utf-8")
    _css = VIEW_CSS + SLIDER_CSS
    value = traitlets.Float(1e-5).tag(sync=True)
    min = traitlets.Float(-12.0).tag(sync=True)  # exponents of ten
    max = traitlets.Float(3.0).tag(sync=True)
    step = traitlets.Float(0.05).tag(sync=True)
    description = traitlets.Unicode("").tag(sync=True)

    @traitlets.validate("value")
    def _positive(self, proposal):
        value = float(proposal["value"])
        if not value > 0 or math.isinf(value):
            raise traitlets.TraitError(f"{self.description or 'LogSlider'} must be a positive number, got {value!r}")
        return value

    @property
    def value_text(self) -> str:
        """What the readout and a screen reader say: ``"atol 1.0e-05"``."""
        return f"{self.description} {self.value:.1e}".strip()
