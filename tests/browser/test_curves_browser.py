"""TrainingCurves in JupyterLab, attached to a real (tiny) Trainer run: one progress readout (no tqdm
bar, no printed log dicts), the bar and its "step N of M" text at the Trainer's count, hover values
on the figure, the table of last values reachable by keyboard, the smoothing slider moved with the
keyboard, and every text in the view at WCAG AA contrast (4.5:1) in the light and the dark theme."""

from __future__ import annotations


import pytest

from contrast import assert_readable
from lab_browser import (lab_folders, lab_server, open_page, run_all_cells, screenshot, screenshot_on_failure, set_theme,
                         skip_unless_ready, write_notebook)

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

@pytest.fixture(scope="module")
def page(tmp_path_factory):
    home, root, cache = lab_folders(tmp_path_factory, "curves")
    write_notebook(root / "curves.ipynb", TRAIN)
    with lab_server(home, root, cache) as server:
        with open_page(sync_api, f"{server.url}/lab/tree/curves.ipynb", ready=".jp-NotebookPanel") as page:
            with screenshot_on_failure(page, "curves-run"):
                run_all_cells(page)
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
        set_theme(page, theme)
        cell = page.locator(".jp-Notebook .jp-CodeCell").first
        for selector in (".wb-curves-readout", ".wb-curves"):
            assert_readable(cell.locator(selector).first, f"curves {selector}")
        # for the record (the before/after): the view as the test saw it
        screenshot(page, f"curves-{theme.split()[-1].lower()}", cell)
