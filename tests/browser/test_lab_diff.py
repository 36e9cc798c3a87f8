"""The extension's activation-diff renderer in JupyterLab (headless chromium, one server start):
the verdict with coverage, a heatmap cell's hover text, click and keyboard (Enter, Space) drill-down
with the error per token position, the legend Python decided, a version-2 payload still drawn; and
the static HTML of a 32-layer diff with its row labels readable (>= 9 px) and none cut off."""

from __future__ import annotations


import pytest

from lab_browser import (KERNEL_IDLE, lab_folders, lab_server, open_page, screenshot_on_failure, skip_unless_ready,
                         write_notebook)
from workbench.porting.formatting import colour_legend

pytestmark = pytest.mark.browser
sync_api = skip_unless_ready()

NOTEBOOK = "diff.ipynb"
SETUP = """\
import copy
import torch
import workbench.models.llama as llama
from workbench.porting import MIME_TYPE, compare
from IPython.display import display

config = llama.LlamaConfig(vocab_size=99, hidden_size=32, intermediate_size=32, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
torch.manual_seed(0)
reference = llama.LlamaForCausalLM.from_config(config).eval()
broken = copy.deepcopy(reference)
with torch.no_grad():
    broken.model.layers[1].self_attn.v_proj.weight.mul_(-1.0)
report = compare(reference, broken, {"input_ids": torch.tensor([[5, 6, 7, 8]])})
report"""
OLD_PAYLOAD = """\
old = report.to_dict()
old = {key: value for key, value in old.items() if key not in ("verdict", "grid", "coverage", "tokens", "token_ids",
                                                                "output_index", "legend_caption", "preset", "preset_reason")}
old["version"] = 2
display({MIME_TYPE: old, "text/plain": "old"}, raw=True)"""


WIDGET = """\
from workbench.widgets import ActivationDiff
view = ActivationDiff(reference, broken, {"input_ids": torch.tensor([[5, 6, 7, 8]])})
view"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    home, root, cache = lab_folders(tmp_path_factory, "lab-diff")
    write_notebook(root / NOTEBOOK, SETUP, OLD_PAYLOAD, WIDGET)
    with lab_server(home, root, cache) as server:
        with open_page(sync_api, f"{server.url}/lab/tree/{NOTEBOOK}?reset") as page:
            page.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            yield page


def test_verdict_hover_click_and_keyboard(page):
    with screenshot_on_failure(page, "lab-diff"):
        diff = page.locator(".jp-OutputArea-output.jp-WorkbenchDiff").first
        diff.wait_for(timeout=120_000)
        text = diff.inner_text()
        assert "modules aligned (100%) by name" in text and "float32 preset" in text
        assert "First divergence: model.layers.1.self_attn.v_proj (Linear)" in text
        swatches = [s.get_attribute("style") for s in diff.locator(".jp-WorkbenchDiff-legend .jp-WorkbenchDiff-swatch").all()]
        assert swatches == [f"background:{colour}" for colour, _ in colour_legend()]
        cell = diff.locator('.jp-WorkbenchDiff-cell[title^="model.layers.0.mlp.down_proj:"]')
        assert "tolerance" in cell.get_attribute("title") and cell.get_attribute("aria-label") == cell.get_attribute("title")
        cell.click()
        drill = diff.locator(".jp-WorkbenchDiff-details")
        assert "model.layers.0.mlp.down_proj" in drill.inner_text() and "error per position" in drill.inner_text()
        # keyboard: focus a cell, Enter opens it; another, Space
        diff.locator('.jp-WorkbenchDiff-cell[title^="model.layers.1.self_attn.v_proj:"]').focus()
        page.keyboard.press("Enter")
        assert drill.inner_text().startswith("model.layers.1.self_attn.v_proj")
        assert "positions over the tolerance: 0, 1, 2, 3" in drill.inner_text()
        diff.locator('.jp-WorkbenchDiff-cell[title^="model.norm:"]').focus()
        page.keyboard.press("Space")
        assert drill.inner_text().startswith("model.norm")
        assert diff.locator(".jp-WorkbenchDiff-cell.jp-mod-picked").count() == 1
        positions = diff.locator(":scope > .jp-WorkbenchDiff-positions").first.inner_text()
        assert "error per position at the first divergence" in positions
        # the number on its theme background, the colour only around it
        number = diff.locator(".jp-WorkbenchDiff-tensors .jp-WorkbenchDiff-num").first
        assert number.evaluate("n => getComputedStyle(n).backgroundColor") != "rgba(0, 0, 0, 0)"


def test_a_version_2_payload_still_renders(page):
    with screenshot_on_failure(page, "lab-diff-old"):
        old = page.locator(".jp-OutputArea-output.jp-WorkbenchDiff").nth(1)
        old.wait_for(timeout=60_000)
        assert "First divergence: model.layers.1.self_attn.v_proj" in old.inner_text()
        assert old.locator(".jp-WorkbenchDiff-cell").count() == 33  # no grid in version 2: one cell per tensor
        assert old.locator(".jp-WorkbenchDiff-positions").count() == 0


def test_the_widgets_heatmap_buttons_drill_down_in_the_kernel(page):
    """The live ActivationDiff: a click on a heatmap button, and Enter on another, reach Python,
    which rewrites the drill-down."""
    with screenshot_on_failure(page, "lab-diff-widget"):
        widget = page.locator(".jupyter-widgets .wb-adiff").first
        widget.wait_for(timeout=120_000)
        assert "First divergence: model.layers.1.self_attn.v_proj" in widget.inner_text()
        details = page.locator(".jupyter-widgets .wb-adiff", has_text="dtype float32 / float32")
        button = page.locator('.jupyter-widgets button[title^="model.layers.0.mlp.down_proj:"]')
        assert "tolerance" in button.get_attribute("title")
        button.click()
        page.wait_for_function("() => [...document.querySelectorAll('.wb-adiff')].some(n => "
                               "n.textContent.startsWith('model.layers.0.mlp.down_proj (Linear)'))")
        page.locator('.jupyter-widgets button[title^="model.norm:"]').focus()
        page.keyboard.press("Enter")
        page.wait_for_function("() => [...document.querySelectorAll('.wb-adiff')].some(n => "
                               "n.textContent.startsWith('model.norm (RMSNorm)'))")
        assert "error per position" in details.first.inner_text()
        # the tolerance slider tells a screen reader the tolerance, not its exponent; the keyboard moves it
        slider = page.locator(".wb-logslider input[type=range]").first
        assert slider.get_attribute("aria-valuetext") == "atol 1.0e-05"
        slider.press("ArrowRight")
        page.wait_for_function("() => [...document.querySelectorAll('.wb-logslider input')]"
                               ".some(input => input.getAttribute('aria-valuetext') === 'atol 1.1e-05')")


def test_thirty_two_layer_labels_are_readable_and_whole(page):  # last: it replaces the page
    import copy

    import torch

    import workbench.models.llama as llama
    from workbench.porting import compare

    config = llama.LlamaConfig(vocab_size=99, hidden_size=32, intermediate_size=32, num_hidden_layers=32,
                               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    torch.manual_seed(0)
    model = llama.LlamaForCausalLM.from_config(config).eval()
    report = compare(model, copy.deepcopy(model), {"input_ids": torch.tensor([[5, 6, 7]])})
    with screenshot_on_failure(page, "lab-diff-32"):
        page.set_content(f"<!DOCTYPE html><html><body>{report.to_html()}</body></html>")
        labels = page.evaluate("""() => [...document.querySelectorAll('table.grid th')].map(th => {
            const box = th.getBoundingClientRect();
            return {text: th.textContent, size: parseFloat(getComputedStyle(th).fontSize), left: box.left,
                    clipped: th.scrollWidth > th.clientWidth + 1};
        })""")
        assert len(labels) >= 33 + 10  # "layer", 32 layer numbers, the kind labels
        assert min(label["size"] for label in labels) >= 9
        assert all(label["left"] >= 0 and not label["clipped"] for label in labels), labels
