"""One look for every HTML view workbench writes (widgets, static fallbacks, porting reports),
in light and dark themes, inside JupyterLab and out.

A view wraps its HTML in ``<div class="wb-view">`` and puts :data:`VIEW_CSS` (once per view) in a
``<style>``; its own rules then use only the ``--wb-*`` variables, never a literal colour for text
or a background behind text:

    --wb-fg, --wb-fg-muted       text, secondary text (both >= 4.5:1 on --wb-bg and --wb-bg-alt)
    --wb-bg, --wb-bg-alt         page, alternate rows / panels
    --wb-border                  rules and outlines
    --wb-accent, --wb-on-accent  buttons and links; text on an accent background
    --wb-select-bg, --wb-select-fg   the selected row
    --wb-warn-bg, --wb-warn-fg   a flagged row; --wb-error-fg, --wb-ok-fg: verdict text
    --wb-chip-0 .. --wb-chip-7, --wb-chip-fg   token chips (their text is --wb-chip-fg)

Which theme: inside JupyterLab (and nbconvert's HTML) the ``body[data-jp-theme-light]``
attribute, and the ``--jp-*`` variables for text and page colours; VS Code's ``body.vscode-dark``
and Colab's ``html[theme=dark]``; elsewhere the reader's ``prefers-color-scheme``.

Figures follow the theme too: draw inside :func:`figure_theme` and write them with
:func:`figure_svg`, which gives inline SVG whose text, axes and legend use the same variables
and whose background is transparent (no white slab in a dark notebook).
"""

from __future__ import annotations

import contextlib
import io
import re
from html import escape

LIGHT = {
    "fg": "#1f1f1f", "fg-muted": "#595959", "bg": "#ffffff", "bg-alt": "#f2f2f2", "border": "#b0b0b0",
    "accent": "#1558b0", "on-accent": "#ffffff", "select-bg": "#d4e4fa", "select-fg": "#0b2547",
    "warn-bg": "#fff0c2", "warn-fg": "#4d3800", "error-fg": "#a8201a", "ok-fg": "#1b5e20",
    "chip-fg": "#1f1f1f",
}
DARK = {
    "fg": "#e8e8e8", "fg-muted": "#b3b3b3", "bg": "#1e1e1e", "bg-alt": "#2a2a2a", "border": "#5c5c5c",
    "accent": "#8ab4f8", "on-accent": "#10213d", "select-bg": "#23406b", "select-fg": "#f0f6ff",
    "warn-bg": "#4a3a10", "warn-fg": "#ffe7a3", "error-fg": "#ff9a92", "ok-fg": "#8fd19e",
    "chip-fg": "#f2f2f2",
}
# token chips: pastel behind dark text in light themes, deep tones behind light text in dark ones
CHIPS_LIGHT = ("#fde2e4", "#dfe7fd", "#dcebe5", "#fff1c1", "#e8dff5", "#d2f5ec", "#fce1c8", "#dcecfb")
CHIPS_DARK = ("#5a2a31", "#2b3a63", "#27473b", "#56481a", "#44335e", "#1f4a42", "#5a3a1c", "#24425e")

# where text and page colours come from when the host defines them (JupyterLab, VS Code, Colab)
HOST_VARIABLES = {
    "fg": ("--jp-ui-font-color1", "--vscode-editor-foreground", "--colab-primary-text-color"),
    "bg": ("--jp-layout-color0", "--vscode-editor-background", "--colab-primary-surface-color"),
    "border": ("--jp-border-color1", "--vscode-panel-border", "--colab-border-color"),
}
DARK_SCOPES = ('body[data-jp-theme-light="false"]', "body.vscode-dark", "body.vscode-high-contrast",
               'html[theme="dark"]')
NO_HOST_THEME = "body:not([data-jp-theme-light]):not(.vscode-light):not(.vscode-dark)"


def _declarations(palette: dict[str, str], chips: tuple[str, ...]) -> str:
    parts = []
    for name, value in palette.items():
        for variable in reversed(HOST_VARIABLES.get(name, ())):
            value = f"var({variable}, {value})"
        parts.append(f"--wb-{name}:{value}")
    parts += [f"--wb-chip-{index}:{colour}" for index, colour in enumerate(chips)]
    return ";".join(parts)


def _view_css() -> str:
    light, dark = _declarations(LIGHT, CHIPS_LIGHT), _declarations(DARK, CHIPS_DARK)
    dark_scopes = ",".join(f"{scope} .wb-view" for scope in DARK_SCOPES)
    return (f".wb-view{{{light};color:var(--wb-fg);background:transparent}}"
            f"{dark_scopes}{{{dark}}}"
            f"@media (prefers-color-scheme: dark){{{NO_HOST_THEME} .wb-view{{{dark}}}}}"
            ".wb-view :focus-visible{outline:2px solid var(--wb-accent);outline-offset:1px}"
            ".wb-view svg text{fill:var(--wb-fg)}")


VIEW_CSS = _view_css()


def chip_colour(index: int) -> str:
    """The background of the ``index``-th token chip, as a CSS value that follows the theme."""
    return f"var(--wb-chip-{index % len(CHIPS_LIGHT)})"


# --- figures --------------------------------------------------------------------------------------
# Artists are drawn with sentinel colours that no figure uses for data; figure_svg swaps them for
# the theme variables. matplotlib writes colours as lowercase "#rrggbb" in style attributes, where
# CSS variables work.
SENTINELS = {"#0a0b0c": "var(--wb-fg)", "#0d0e0f": "var(--wb-fg-muted)", "#0c0b0a": "var(--wb-border)",
             "#fdfcfb": "var(--wb-bg)"}
FIGURE_RC = {
    "text.color": "#0a0b0c", "axes.labelcolor": "#0a0b0c", "axes.titlecolor": "#0a0b0c",
    "xtick.color": "#0d0e0f", "ytick.color": "#0d0e0f", "xtick.labelcolor": "#0a0b0c",
    "ytick.labelcolor": "#0a0b0c", "axes.edgecolor": "#0d0e0f", "grid.color": "#0c0b0a",
    "legend.facecolor": "#fdfcfb", "legend.edgecolor": "#0c0b0a", "legend.labelcolor": "#0a0b0c",
    "figure.facecolor": "none", "axes.facecolor": "none", "savefig.facecolor": "none",
    "savefig.edgecolor": "none", "svg.fonttype": "none", "font.size": 10,
}
_SENTINEL = re.compile("|".join(SENTINELS), re.IGNORECASE)


@contextlib.contextmanager
def figure_theme():
    """Draw a figure inside this block for :func:`figure_svg` to theme (matplotlib's rc context)."""
    import matplotlib

    with matplotlib.rc_context(FIGURE_RC):
        yield


def figure_svg(figure, title: str) -> str:
    """``figure`` (drawn inside :func:`figure_theme`) as inline SVG that follows the page's theme:
    text as text (selectable, read by screen readers), ``title`` as its accessible name."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(FIGURE_RC):
        figure.savefig(buffer, format="svg", transparent=True)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and doctype: this goes inside HTML
    svg = _SENTINEL.sub(lambda match: SENTINELS[match.group(0).lower()], svg)
    label = escape(title, quote=True)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)
