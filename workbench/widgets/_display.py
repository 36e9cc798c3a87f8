"""What every widget shares: the ipywidgets import, kernel detection, PNG figures, the mime bundle.

A widget here is a plain Python object holding its state and an ipywidgets tree (``.widget``).
Displayed in a notebook it sends the live view *and* a ``text/html`` fallback plus
``text/plain``, so nbconvert, GitHub and a notebook saved without widget state still show the
numbers (nbconvert drops the widget view when the notebook holds no widget state).
Figures are drawn with matplotlib's object API (``Figure`` + Agg canvas): no pyplot, no global
backend, and the result is PNG bytes that go into an ``Image`` widget and, base64, into the HTML.
"""

from __future__ import annotations

import base64
import html
import io
import sys
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def import_ipywidgets():
    """ipywidgets, or an ImportError that says how to install it."""
    try:
        import ipywidgets
    except ImportError:
        raise ImportError(
            "workbench.widgets needs ipywidgets (and matplotlib for the figures): "
            "pip install 'workbench[widgets]'"
        ) from None
    return ipywidgets


def import_matplotlib():
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("Drawing this figure needs matplotlib: pip install 'workbench[widgets]'") from None
    return Figure, FigureCanvasAgg


def in_kernel() -> bool:
    """Whether this code runs inside a Jupyter kernel (checked without importing IPython)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def new_figure(width: float, height: float, layout: str | None = "constrained"):
    """A figure with an Agg canvas (``layout=None`` skips the layout engine: twice as fast to draw)."""
    Figure, FigureCanvasAgg = import_matplotlib()
    figure = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def figure_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def png_img(png: bytes | None, alt: str = "figure") -> str:
    if not png:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"/>'


def png_output(png: bytes, text: str = "<figure>") -> dict:
    """One ``display_data`` output holding a PNG, for an ``Output`` widget's ``outputs``."""
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": text}}


def human_bytes(count: float | None) -> str:
    if count is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"  # pragma: no cover


def human_count(count: int | None) -> str:
    """``134515008`` -> ``134.5M``."""
    if count is None:
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)


def esc(value: Any) -> str:
    return html.escape(str(value))


class Displayable:
    """Mixin: ``_repr_mimebundle_`` = the live widget view + ``mime_data()`` + ``to_html()`` + ``to_text()``.

    JupyterLab shows the live widget while the kernel runs; the workbench extension renders the
    ``mime_data()`` JSON when the widget state is gone; elsewhere the HTML fallback shows."""

    widget = None  # the ipywidgets tree, where one was built
    _display_handles: list | None = None  # where this object was displayed (IPython DisplayHandles)

    def to_html(self) -> str:  # pragma: no cover - every widget defines it
        raise NotImplementedError

    def to_text(self) -> str:  # pragma: no cover
        raise NotImplementedError

    def mime_data(self) -> dict[str, Any]:
        """Extra entries of the bundle (a widget's own JSON for the JupyterLab renderer)."""
        return {}

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs) -> dict[str, Any]:
        bundle: dict[str, Any] = {}
        if self.widget is not None:
            bundle.update(self.widget._repr_mimebundle_(**kwargs))
        bundle.update(self.mime_data())
        bundle["text/html"] = self.to_html()
        bundle["text/plain"] = self.to_text()
        if include:
            bundle = {key: value for key, value in bundle.items() if key in include}
        if exclude:
            bundle = {key: value for key, value in bundle.items() if key not in exclude}
        return bundle

    def _ipython_display_(self) -> None:
        """Displayed with a display id, so :meth:`refresh_saved_view` can rewrite the saved copy."""
        from IPython.display import display

        handle = display(self._repr_mimebundle_(), raw=True, display_id=True)
        if handle is not None:
            self._display_handles = [*(self._display_handles or []), handle]

    def refresh_saved_view(self) -> None:
        """Rewrite every displayed copy's fallbacks (``text/html``, the extension's JSON) with the
        current state, so a notebook saved now and reopened without its kernel shows the last state,
        not the first. The live view is rebuilt from the same widget model (state kept); call this
        when a view settles (training ends, a diff is computed, a selection is made), not per step."""
        if not self._display_handles:
            return
        bundle = self._repr_mimebundle_()
        for handle in self._display_handles:
            handle.update(bundle, raw=True)

    def __repr__(self) -> str:
        return self.to_text()
