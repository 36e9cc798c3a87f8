"""JupyterLab with the workbench extension, driven in headless chromium (Debian's, at
/usr/bin/chromium, through Python playwright; scripts/setup-system.sh installs it).

One JupyterLab (no token, 127.0.0.1) serves a folder holding the tutorial notebooks, a notebook
showing a ModelPicker, the committed build of the extension and a fake Hugging Face cache holding
a BERT checkpoint and a GGUF-only repo. The tests run the notebook views and look for the MIME
renderers' output; choose picker rows by click and keyboard (the kernel sees the choice); use the
Workbench side panel: the GGUF repo described from its header, "Picker" inserting a cell, the
delete dialog with Cancel focused (Enter keeps the model; confirming removes it from the panel and
from disk), the hint once the cache is empty, numbered tutorial tiles with a description and a
duration, and a tutorial opened from a tile that is not marked modified. Screenshots of failures
go to $WORKBENCH_SCREENSHOTS (default: a folder under the system temp dir, printed in the failure).
"""

from __future__ import annotations

import json
import shutil

import pytest

from lab_browser import KERNEL_IDLE, lab_server, open_page, screenshot_on_failure, skip_unless_ready
from lab_server import ROOT, write_cached_model
from test_lab_server import write_gguf
from workbench.porting.formatting import colour_legend

pytestmark = pytest.mark.browser
sync_api = skip_unless_ready()

REPO = "org/tiny-bert"
GGUF_REPO = "org/tiny-GGUF"
COMMIT = "a" * 40
NOTEBOOK = "notebooks/lab_views.ipynb"
PICKER = "picker.ipynb"
TUTORIALS = sorted(path.name for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CURRENT = "#jp-main-dock-panel .jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in front
PICKER_CELL = "from workbench.widgets import ModelPicker\n\npicker = ModelPicker(include_zoo=False)\npicker"


def notebook(*sources: str) -> str:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
              "source": source} for i, source in enumerate(sources)]
    kernel = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    return json.dumps({"cells": cells, "metadata": kernel, "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("lab-ui")
    root, cache = home / "root", home / "hub"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / NOTEBOOK, root / NOTEBOOK)
    for name in TUTORIALS:  # the checkout's tutorials, metadata and all
        shutil.copy(ROOT / "notebooks" / name, root / "notebooks" / name)
    (root / PICKER).write_text(notebook(PICKER_CELL))
    config = json.dumps({"architectures": ["BertForMaskedLM"], "model_type": "bert"}).encode()
    write_cached_model(cache, REPO, COMMIT, {"config.json": config, "model.safetensors": b"w" * 4096}, refs=("main",))
    gguf = write_gguf(home / "tiny.gguf").read_bytes()
    write_cached_model(cache, GGUF_REPO, COMMIT, {"tiny.Q.gguf": gguf}, refs=("main",))
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


def open_notebook(page, path: str) -> None:
    page.evaluate(f"window.jupyterapp.commands.execute('docmanager:open', {{path: {json.dumps(path)}}}).then(() => null)")
    page.wait_for_function(f"window.jupyterapp.shell.currentWidget?.context?.path === {json.dumps(path)}")
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)


def show_panel(page) -> None:
    """The side panel, once its scan (started when it is shown) has been drawn."""
    if not page.is_visible(".jp-WorkbenchPanel-tutorials"):
        page.click('.jp-SideBar [data-id="workbench-panel"]')
    page.wait_for_selector(".jp-WorkbenchPanel-models .jp-WorkbenchPanel-model, .jp-WorkbenchPanel-empty")
    page.wait_for_selector(".jp-WorkbenchPanel-tiles")


def test_picker_rows_are_chosen_by_click_and_by_keyboard(page):
    with screenshot_on_failure(page, "picker-rows"):
        open_notebook(page, PICKER)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells').then(() => null)")
        rows = f"{CURRENT} .wb-rows tbody tr[data-key]"
        page.wait_for_function(f"document.querySelectorAll({json.dumps(rows)}).length === 2", timeout=120_000)
        table = page.query_selector(f"{CURRENT} .wb-rows")
        assert table.evaluate("node => node.querySelector('table').getAttribute('role')") == "grid"
        # fits its width: no column pushed past the output's edge at a 1400 px window
        assert table.evaluate("node => node.scrollWidth <= node.clientWidth + 1")
        header = page.query_selector(f"{CURRENT} .wb-rows th:last-child")
        assert header.inner_text() == "weight memory fp32 / 16-bit" and "weights alone" in header.get_attribute("title")
        card = f"{CURRENT} .wb-pick .card"
        page.wait_for_selector(f"{CURRENT} button.wb-copy")  # the whole view is drawn: rows stay put

        def chosen(act, repo: str) -> None:
            """Do ``act``; the kernel selects ``repo``, writes its card and re-creates the output
            (refresh_saved_view): wait for all three before the next step."""
            view = page.query_selector(f"{CURRENT} .wb-rows")
            act()
            view.wait_for_element_state("hidden")  # the saved view rewritten: a new view of the same model
            page.wait_for_selector(f'{rows}[aria-selected="true"]:has-text("{repo}")')
            page.wait_for_function(f"document.querySelector({json.dumps(card)})?.innerText.includes('{repo} ')")

        chosen(lambda: page.click(f'{rows}:has-text("{REPO}")'), REPO)  # a click selects
        chosen(lambda: page.click(f'{rows}:has-text("{GGUF_REPO}")'), GGUF_REPO)
        assert "llama · F16" in page.inner_text(card)

        selected_row = page.query_selector(f'{rows}[aria-selected="true"]')
        assert selected_row.get_attribute("tabindex") == "0" and selected_row.evaluate("node => node === document.activeElement")
        index = selected_row.evaluate("node => [...node.parentNode.children].indexOf(node)")
        page.keyboard.press("ArrowUp" if index else "ArrowDown")  # moves the focus, not the choice
        other = page.wait_for_selector(f'{rows}[tabindex="0"]:not([aria-selected="true"])')
        assert other.evaluate("node => node === document.activeElement") and REPO in other.inner_text()
        chosen(lambda: page.keyboard.press("Enter"), REPO)
        # the re-created view gave the focus back to the chosen row: the keyboard carries on
        page.wait_for_function(f"document.activeElement?.matches({json.dumps(rows)}) && "
                               f"document.activeElement.innerText.includes('{REPO}')")
        back = "ArrowDown" if index else "ArrowUp"  # to the GGUF row again
        chosen(lambda: (page.keyboard.press(back), page.keyboard.press(" ")), GGUF_REPO)

        page.click(f"{CURRENT} button.wb-copy")
        code = page.wait_for_selector(f"{CURRENT} textarea")
        page.wait_for_function("node => node.value.includes('from_pretrained')", arg=code)
        assert f"'{GGUF_REPO}', gguf_file='tiny.Q.gguf'" in code.input_value()


def test_side_panel_reads_the_gguf_header_and_opens_a_model_in_the_picker(page):
    model = f'.jp-WorkbenchPanel-model[data-repo-id="{GGUF_REPO}"]'
    with screenshot_on_failure(page, "side-panel-gguf"):
        open_notebook(page, PICKER)
        show_panel(page)
        entry = page.wait_for_selector(model)
        assert "llama · F16 GGUF" in entry.inner_text() and "no config.json" not in entry.inner_text()
        assert "tiny.Q.gguf · llama · F16 · 2.4K params" in entry.inner_text()
        cells = "window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells"
        before = page.evaluate(f"{cells}.length")
        page.click(f"{model} .jp-WorkbenchPanel-picker")
        page.wait_for_function(f"{cells}.length === {before + 1}")
        inserted = page.evaluate("(() => { const nb = window.jupyterapp.shell.currentWidget.content;"
                                 " return nb.activeCell.model.sharedModel.getSource(); })()")
        assert inserted == f'from workbench.widgets import ModelPicker\n\nModelPicker(selected="{GGUF_REPO}")'


def test_side_panel_deletes_only_after_asking_with_cancel_focused(page, lab):
    snapshot = lab.cache / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT
    model = f'.jp-WorkbenchPanel-model[data-repo-id="{REPO}"]'
    with screenshot_on_failure(page, "side-panel"):
        show_panel(page)
        entry = page.wait_for_selector(model)
        assert "BertForMaskedLM" in entry.inner_text() and COMMIT[:10] in entry.inner_text()

        page.click(f"{model} .jp-WorkbenchPanel-delete")
        dialog = page.wait_for_selector(".jp-Dialog")
        assert f"Delete {REPO}" in dialog.inner_text()
        focused = page.wait_for_function("document.activeElement?.closest('.jp-Dialog') && document.activeElement")
        assert focused.evaluate("node => node.classList.contains('jp-mod-reject')"), focused.evaluate("n => n.outerHTML")
        page.keyboard.press("Enter")  # Enter answers the focused button: Cancel
        page.wait_for_selector(".jp-Dialog", state="detached")
        assert page.query_selector(model) is not None and snapshot.is_dir()

        for repo in (REPO, GGUF_REPO):
            page.click(f'.jp-WorkbenchPanel-model[data-repo-id="{repo}"] .jp-WorkbenchPanel-delete')
            page.wait_for_selector(".jp-Dialog")
            page.click(".jp-Dialog button.jp-mod-accept")
            page.wait_for_selector(f'.jp-WorkbenchPanel-model[data-repo-id="{repo}"]', state="detached")
        assert not snapshot.parent.parent.exists()
        hint = page.wait_for_selector(".jp-WorkbenchPanel-models .jp-WorkbenchPanel-empty")
        assert "No models cached yet" in hint.inner_text() and "from_pretrained" in hint.inner_text()


def test_tutorial_tiles_are_numbered_and_open_unmodified(page):
    with screenshot_on_failure(page, "tutorial-tiles"):
        show_panel(page)
        page.wait_for_selector(".jp-WorkbenchPanel-tiles")
        tiles = page.query_selector_all(".jp-WorkbenchPanel-tiles .jp-WorkbenchPanel-tutorial")
        names = [tile.get_attribute("data-name") for tile in tiles]
        assert names[:len(TUTORIALS)] == TUTORIALS  # numbered ones first, in order
        for tile, name in zip(tiles, TUTORIALS):
            metadata = json.loads((ROOT / "notebooks" / name).read_text())["metadata"].get("workbench")
            assert tile.query_selector(".jp-WorkbenchPanel-number").inner_text() == str(int(name.split("_")[0]))
            if metadata is None:  # a tutorial without metadata.workbench: its title alone
                assert tile.query_selector(".jp-WorkbenchPanel-description") is None
                continue
            assert tile.query_selector(".jp-WorkbenchPanel-description").inner_text() == metadata["description"]
            assert tile.query_selector(".jp-WorkbenchPanel-minutes").inner_text() == f"about {metadata['minutes']} min"
        lab_views = page.query_selector('.jp-WorkbenchPanel-tutorial[data-name="lab_views.ipynb"]')
        assert lab_views.query_selector(".jp-WorkbenchPanel-tileTitle").inner_text() == "Workbench views in JupyterLab"

        name = TUTORIALS[-1]
        page.click(f'.jp-WorkbenchPanel-tutorial[data-name="{name}"]')
        page.wait_for_function(f"window.jupyterapp.shell.currentWidget?.context?.path === 'notebooks/{name}'")
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        # the kernel's language_info (its Python version) has been written into the notebook ...
        page.wait_for_function("!!window.jupyterapp.shell.currentWidget.context.model.getMetadata('language_info')"
                               "?.version")
        # ... and the notebook is not marked modified: no dirty flag, no dot on its tab
        assert page.evaluate("window.jupyterapp.shell.currentWidget.context.model.dirty") is False
        tab = page.query_selector(f'.lm-TabBar-tab.jp-mod-current:has-text("{name}")')
        assert tab is not None and "jp-mod-dirty" not in (tab.get_attribute("class") or "")
        # a real change still marks it modified
        page.evaluate("window.jupyterapp.shell.currentWidget.content.model.sharedModel"
                      ".insertCell(0, {cell_type: 'markdown', source: 'mine'}) && null")
        page.wait_for_function("window.jupyterapp.shell.currentWidget.context.model.dirty === true")


def test_launcher_offers_the_tutorials(page):
    with screenshot_on_failure(page, "launcher"):
        page.evaluate("window.jupyterapp.commands.execute('launcher:create').then(() => null)")
        section = page.wait_for_selector('.jp-Launcher-section:has(.jp-Launcher-sectionTitle:text-is("Workbench"))')
        card = section.wait_for_selector('.jp-LauncherCard:has-text("Workbench views in JupyterLab")')
        card.click()  # the tutorial is already open: its tab becomes the current one
        page.wait_for_function("window.jupyterapp.shell.currentWidget?.context?.path === 'notebooks/lab_views.ipynb'")
