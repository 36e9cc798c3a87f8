"""Two small anywidget views for what ipywidgets has no widget for: a table whose rows are chosen by
click or keyboard (:class:`RowTable`), and a button that copies text to the clipboard
(:class:`CopyButton`). Their front ends are row_table.js and copy_button.js beside this file
(plain ES modules, no build); anywidget runs them in JupyterLab, Notebook 7, VS Code and Colab.

Why anywidget: an ipywidgets ``HTML`` table cannot report a click, a ``Select`` list beside it
duplicates the table, and a grid of ``Button`` widgets gives neither arrow keys nor one tab stop
per table. A custom view is the robust way, and anywidget is the one that needs no build step
and no extension of its own.

:func:`table_html` writes the same table as static HTML (the saved view of a notebook).
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import traitlets

from ..theme import VIEW_CSS

try:
    import anywidget
except ImportError:
    raise ImportError("The ModelPicker needs anywidget (clickable table rows, the clipboard): "
                      "pip install 'workbench[widgets]' (or pip install anywidget)") from None

HERE = Path(__file__).parent
# cell rules as ".wb-view.wb-rows table td" (specificity 0,2,2): they must outrank JupyterLab's
# ":not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td" (0,2,1: right-aligned cells, fixed layout)
# where the static view is shown as rendered HTML
TABLE_CSS = """
.wb-rows{max-width:100%;overflow-x:auto;font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:12px}
.wb-view.wb-rows table{border-collapse:collapse;width:100%;table-layout:auto;margin:0}
.wb-view.wb-rows table th,.wb-view.wb-rows table td{border-bottom:1px solid var(--wb-border);padding:3px 6px;
  text-align:left;vertical-align:top;color:inherit;background:transparent}
.wb-view.wb-rows table th{color:var(--wb-fg-muted);font-weight:600;white-space:nowrap}
.wb-view.wb-rows table th[title]{text-decoration:underline dotted;cursor:help}
.wb-view.wb-rows table td{overflow-wrap:anywhere}
.wb-view.wb-rows table .num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.wb-rows tbody tr[data-key]{cursor:pointer}
.wb-rows tbody tr[data-key]:hover td{background:var(--wb-bg-alt)}
.wb-view.wb-rows table tr[aria-selected="true"] td{background:var(--wb-select-bg);color:var(--wb-select-fg);font-weight:600}
.wb-rows tr:focus-visible{outline:2px solid var(--wb-accent);outline-offset:-2px}
.wb-rows .note,.wb-copy-note{color:var(--wb-fg-muted)}
.wb-copy-note{margin-left:8px}
"""


def table_html(columns: list[dict[str, Any]], rows: list[dict[str, Any]], selected: str | None, label: str,
               empty_text: str) -> str:
    """The table :class:`RowTable` shows, as static HTML (selected row marked, nothing clickable)."""
    head = "".join(f'<th scope="col" title="{escape(c.get("title") or "")}"'
                   f'{" class=num" if c.get("numeric") else ""}>{escape(c["label"])}</th>' for c in columns)
    body = []
    for row in rows:
        tds = "".join(f'<td{" class=num" if columns[i].get("numeric") else ""}>{escape(str(text))}</td>'
                      for i, text in enumerate(row["cells"]))
        mark = "true" if row["key"] == selected else "false"
        body.append(f'<tr data-key="{escape(row["key"])}" title="{escape(row.get("title") or "")}" '
                    f'aria-selected="{mark}">{tds}</tr>')
    if not rows:
        body.append(f'<tr><td colspan="{len(columns)}" class="note">{escape(empty_text)}</td></tr>')
    return (f'<div class="wb-view wb-rows"><table aria-label="{escape(label)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


class RowTable(anywidget.AnyWidget):
    """``columns``: ``[{"label", "title", "numeric"}]``; ``rows``: ``[{"key", "cells", "title"}]``;
    ``selected``: the chosen row's key, set by the page (click, Enter, Space) or by code."""

    _esm = (HERE / "row_table.js").read_text(encoding="utf-8")
    _css = VIEW_CSS + TABLE_CSS
    columns = traitlets.List().tag(sync=True)
    rows = traitlets.List().tag(sync=True)
    selected = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)
    empty_text = traitlets.Unicode("nothing to show").tag(sync=True)


class CopyButton(anywidget.AnyWidget):
    """Copies ``text`` in the page; ``on_copy(callback)`` runs ``callback()`` in the kernel on each press."""

    _esm = (HERE / "copy_button.js").read_text(encoding="utf-8")
    label = traitlets.Unicode("Copy").tag(sync=True)
    hint = traitlets.Unicode("").tag(sync=True)  # the title (DOMWidget has its own "tooltip")
    text = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **traits) -> None:
        super().__init__(**traits)
        self.callbacks = []
        self.on_msg(lambda _widget, content, _buffers: self.press() if content.get("event") == "copy" else None)

    def on_copy(self, callback) -> None:
        self.callbacks.append(callback)

    def press(self) -> None:
        """What a press in the page does in the kernel (code and tests call it too)."""
        for callback in self.callbacks:
            callback()
