"""TrainingCurves in JupyterLab, attached to a real (tiny) Trainer run: one progress readout (no tqdm
bar, no printed log dicts), the bar and its "step N of M" text at the Trainer's count, hover values
on the figure, the table of last values reachable by keyboard, the smoothing slider moved with the
keyboard, and every text in the view at WCAG AA contrast (4.5:1) in the light and the dark theme."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
import pytest

from lab_browser import lab_server, open_page, screenshot_on_failure, skip_unless_ready

pytestmark = pytest.mark.browser
sync_api = skip_unless_ready()

TRAIN = """\
import torch
from workbench import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
from workbench.widgets import TrainingCurves

torch.manual_seed(0)
config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                    max_position_embeddings=64, num_labels=2)
rows = [{"input_ids": [1] + [(7 * i + j) % 90 + 6 for j in range(7)], "attention_mask": [1] * 8, "label": i % 2}
        for i in range(16)]
args = TrainingArguments(output_dir="run1", per_device_train_batch_size=4, max_steps=6, logging_steps=1,
                         eval_strategy="steps", eval_steps=3, save_strategy="no", use_cpu=True, report_to="none")
curves = TrainingCurves(min_interval=0)
trainer = Trainer(model=BertForSequenceClassification.from_config(config), args=args, train_dataset=rows,
                  eval_dataset=rows[:8], callbacks=[curves])
trainer.train()
print("trained", trainer.state.global_step, "of", trainer.state.max_steps)"""

RUN_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel?.content?.widgets?.filter(cell => cell.model.type === 'code');
  if (!cells) return false;
  for (const cell of cells) {
    const error = cell.model.outputs.toJSON().find(output => output.output_type === 'error');
    if (error) return `error: ${error.ename}: ${error.evalue}`;
  }
  const kernel = panel.sessionContext.session?.kernel;
  return cells.every(cell => cell.model.executionCount !== null) && kernel?.status === 'idle' ? 'done' : false;
}"""
KERNEL_READY = """() => {
  const kernel = window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""
# the lowest contrast ratio (WCAG 2) of any text in the view against the colour behind it
MIN_CONTRAST = """(root) => {
  const rgb = text => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const channel = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const behind = element => {
    for (let node = element; node; node = node.parentElement) {
      const colour = rgb(getComputedStyle(node).backgroundColor);
      if (colour.length >= 3 && (colour.length === 3 || colour[3] > 0)) return colour;
    }
    return [255, 255, 255];
  };
  let worst = {ratio: Infinity};
  const texts = [...root.querySelectorAll('*')].filter(element =>
    [...element.childNodes].some(node => node.nodeType === 3 && node.textContent.trim()) &&
    element.closest('title') === null && element.getClientRects().length);
  for (const element of texts) {
    const style = getComputedStyle(element);
    const fg = rgb(element instanceof SVGElement ? style.fill : style.color);
    const [a, b] = [luminance(fg), luminance(behind(element))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < worst.ratio) worst = {ratio, text: element.textContent.trim().slice(0, 40), fg, bg: behind(element)};
  }
  return worst;
}"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    home = tmp_path_factory.mktemp("curves")
    root, cache = home / "root", home / "hub"
    root.mkdir()
    cache.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(TRAIN)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / "curves.ipynb")
    with lab_server(home, root, cache) as server:
        with open_page(sync_api, f"{server.url}/lab/tree/curves.ipynb", ready=".jp-NotebookPanel") as page:
            with screenshot_on_failure(page, "curves-run"):
                page.wait_for_function(KERNEL_READY, timeout=120_000)
                page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
                state = page.wait_for_function(RUN_STATE, timeout=300_000, polling=500).json_value()
                assert state == "done", state
            yield page


def test_one_progress_readout_at_the_trainers_count(page):
    with screenshot_on_failure(page, "curves-readout"):
        cell = page.locator(".jp-Notebook .jp-CodeCell").first
        assert "trained 6 of 6" in cell.inner_text()
        assert cell.locator(".widget-hprogress").count() == 1  # ours; no tqdm bar
        text = cell.locator(".jp-OutputArea").inner_text()
        assert "{'loss'" not in text and "it/s" not in text
        assert "step 6 of 6 (100%)" in cell.locator(".wb-curves-readout").inner_text()
        assert cell.locator(".widget-hprogress .progress-bar").evaluate("bar => bar.style.width") == "100%"


def test_hover_values_and_keyboard(page):
    with screenshot_on_failure(page, "curves-keyboard"):
        cell = page.locator(".jp-Notebook .jp-CodeCell").first
        titles = cell.locator(".wb-curves-figure svg .wb-point title").all_text_contents()
        assert titles[0].startswith("loss at step 1 (epoch ") and len(titles) >= 6 + 2
        table = cell.locator('.wb-curves table[tabindex="0"]')
        table.focus()
        assert table.evaluate("table => document.activeElement === table")
        assert "eval_loss" in table.inner_text()
        handle = cell.locator(".widget-slider .noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")
        page.wait_for_function("() => document.querySelector('.wb-curves-figure title')?.textContent"
                               ".includes('smoothed')", timeout=60_000)
        labels = cell.locator(".widget-label").all_text_contents() + cell.locator("label").all_text_contents()
        assert "smoothing (EMA)" in labels and "log-scale y axis" in " ".join(labels)


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_text_contrast_in_both_themes(page, theme):
    with screenshot_on_failure(page, f"curves-contrast-{theme.split()[-1].lower()}"):
        page.evaluate(f"window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{theme}'}})")
        light = "true" if theme.endswith("Light") else "false"
        page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'", timeout=60_000)
        page.wait_for_timeout(500)  # the theme's stylesheet applied
        cell = page.locator(".jp-Notebook .jp-CodeCell").first
        for selector in (".wb-curves-readout", ".wb-curves"):
            worst = cell.locator(selector).first.evaluate(MIN_CONTRAST)
            assert worst["ratio"] >= 4.5, (selector, worst)
        # for the record (the before/after): the view as the test saw it
        folder = Path(os.environ.get("WORKBENCH_SCREENSHOTS") or Path(tempfile.gettempdir()) / "workbench-lab-screenshots")
        folder.mkdir(parents=True, exist_ok=True)
        cell.screenshot(path=str(folder / f"curves-{theme.split()[-1].lower()}.png"))
