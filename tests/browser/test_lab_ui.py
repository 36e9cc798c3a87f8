"""JupyterLab with the workbench extension, driven in headless chromium (Debian's, at
/usr/bin/chromium, through Python playwright; scripts/setup-system.sh installs it).

One JupyterLab (no token, 127.0.0.1) serves a folder holding the tutorial notebook, with the
committed build of the extension and a fake Hugging Face cache holding one model. The tests run
the notebook and look for the MIME renderers' output, then use the Workbench side panel: the
model listed, its delete button asking first (cancel keeps it, confirm removes it from the
panel and from disk). Screenshots of failures go to $WORKBENCH_SCREENSHOTS (default: a folder
under the system temp dir, printed in the failure).
"""

from __future__ import annotations

import json
import shutil

import pytest

from lab_browser import KERNEL_IDLE, lab_server, open_page, screenshot_on_failure, skip_unless_ready
from lab_server import ROOT, write_cached_model
from workbench.porting.formatting import colour_legend

pytestmark = pytest.mark.browser
sync_api = skip_unless_ready()

REPO = "org/tiny-bert"
COMMIT = "a" * 40
NOTEBOOK = "notebooks/lab_views.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("lab-ui")
    root, cache = home / "root", home / "hub"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / NOTEBOOK, root / NOTEBOOK)
    config = json.dumps({"architectures": ["BertForMaskedLM"], "model_type": "bert"}).encode()
    write_cached_model(cache, REPO, COMMIT, {"config.json": config, "model.safetensors": b"w" * 4096}, refs=("main",))
    with lab_server(home, root, cache) as server:
        yield server


@pytest.fixture(scope="module")
def page(lab):
    with open_page(sync_api, f"{lab.url}/lab/tree/{NOTEBOOK}?reset") as page:
        page.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
        yield page


def test_notebook_outputs_use_the_workbench_renderers(page):
    with screenshot_on_failure(page, "renderers"):
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)  # a run sent earlier may be dropped
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        diff = page.wait_for_selector(".jp-OutputArea-output.jp-WorkbenchDiff", timeout=60_000)
        assert "First divergence: layers.2.0" in diff.inner_text()
        first = diff.query_selector_all("tbody tr.jp-WorkbenchDiff-first")
        assert [row.get_attribute("data-layer") for row in first][:1] == ["layers.2"]
        strip = diff.query_selector_all(".jp-WorkbenchDiff-cell")
        assert len(strip) == 15  # a heatmap button per tensor: embed, 4 x (linear, gelu, block), head, model
        # colours as Python decided them (workbench.porting.formatting.error_colour), carried in the bundle
        swatches = [swatch.get_attribute("style") for swatch in diff.query_selector_all(".jp-WorkbenchDiff-swatch")]
        assert swatches == [f"background:{colour}" for colour, _ in colour_legend()]
        painted = {td.get_attribute("style") for td in diff.query_selector_all(".jp-WorkbenchDiff-tensors td[style]")}
        assert len(painted) > 1 and {cell.get_attribute("style") for cell in strip} <= painted
        assert len(diff.query_selector_all(".jp-WorkbenchDiff-cell.jp-mod-first")) == 1
        tokens = page.wait_for_selector(".jp-OutputArea-output.jp-WorkbenchTokens", timeout=60_000)
        spans = tokens.query_selector_all(".jp-WorkbenchTokens-token")
        assert spans and all(span.query_selector("sub").inner_text().isdigit() for span in spans)
        assert "tiny-bpe" in tokens.inner_text()


def test_side_panel_lists_the_cached_model_and_deletes_it_after_asking(page, lab):
    snapshot = lab.cache / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT
    model = f'.jp-WorkbenchPanel-model[data-repo-id="{REPO}"]'
    with screenshot_on_failure(page, "side-panel"):
        page.click('.jp-SideBar [data-id="workbench-panel"]')
        entry = page.wait_for_selector(model)
        assert "BertForMaskedLM" in entry.inner_text() and COMMIT[:10] in entry.inner_text()
        tutorial = page.wait_for_selector('.jp-WorkbenchPanel-tutorial[data-name="lab_views.ipynb"]')
        assert tutorial.inner_text() == "Workbench views in JupyterLab"

        page.click(f"{model} .jp-WorkbenchPanel-delete")
        dialog = page.wait_for_selector(".jp-Dialog")
        assert f"Delete {REPO}" in dialog.inner_text()
        page.click(".jp-Dialog button.jp-mod-reject")
        page.wait_for_selector(".jp-Dialog", state="detached")
        assert page.query_selector(model) is not None and snapshot.is_dir()

        page.click(f"{model} .jp-WorkbenchPanel-delete")
        page.wait_for_selector(".jp-Dialog")
        page.click(".jp-Dialog button.jp-mod-accept")
        page.wait_for_selector(model, state="detached")
        assert not snapshot.parent.parent.exists()
        page.wait_for_selector('.jp-WorkbenchPanel-models :text("No models cached.")')


def test_launcher_offers_the_tutorials(page):
    with screenshot_on_failure(page, "launcher"):
        page.evaluate("window.jupyterapp.commands.execute('launcher:create')")
        section = page.wait_for_selector('.jp-Launcher-section:has(.jp-Launcher-sectionTitle:text-is("Workbench"))')
        card = section.wait_for_selector('.jp-LauncherCard:has-text("Workbench views in JupyterLab")')
        card.click()  # the tutorial is already open: its tab becomes the current one
        page.wait_for_function("window.jupyterapp.shell.currentWidget?.context?.path === 'notebooks/lab_views.ipynb'")
