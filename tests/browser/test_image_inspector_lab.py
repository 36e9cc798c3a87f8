"""ImageProcessorInspector in JupyterLab, in headless chromium: a card per step with its picture
decoded, the patch grid and the class bars drawn, and every text of the view at WCAG AA contrast
(4.5:1) against what is behind it in the light and the dark theme. Screenshots of both themes go to
$WORKBENCH_SCREENSHOTS (image-inspector-light.png, image-inspector-dark.png)."""

from __future__ import annotations

import pytest

from contrast import assert_readable
from lab_browser import (lab_folders, lab_server, open_page, run_all_cells, screenshot, screenshot_on_failure, set_theme,
                         skip_unless_ready, write_notebook)

pytestmark = pytest.mark.browser
sync_api = skip_unless_ready()
pytest.importorskip("skimage")

SETUP = """\
import torch
from skimage import data
from workbench import ViTConfig, ViTForImageClassification, ViTImageProcessor
from workbench.widgets import ImageProcessorInspector

torch.manual_seed(0)
config = ViTConfig(image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=37, num_labels=3, id2label={0: "cat", 1: "dog", 2: "teapot"})
model = ViTForImageClassification(config).eval()
ImageProcessorInspector(ViTImageProcessor(size={"height": 64, "width": 64}), data.chelsea(), model=model)"""


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    home, root, cache = lab_folders(tmp_path_factory, "image-inspector")
    write_notebook(root / "inspector.ipynb", SETUP)
    with lab_server(home, root, cache) as server:
        with open_page(sync_api, f"{server.url}/lab/tree/inspector.ipynb?reset", ready=".jp-NotebookPanel",
                       viewport=(1400, 1300)) as page:
            with screenshot_on_failure(page, "image-inspector-run"):
                run_all_cells(page)
                page.wait_for_selector(".wb-imgp li.step", timeout=60_000)
            yield page


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_the_steps_and_classes_render_readably_in_both_themes(view, theme):
    name = theme.split()[-1].lower()
    with screenshot_on_failure(view, f"image-inspector-{name}-failed"):
        set_theme(view, theme)
        widget = view.locator(".jp-Notebook .jp-CodeCell").first.locator(".wb-imgp").first
        steps = widget.locator("li.step")
        assert [steps.nth(i).get_attribute("data-step") for i in range(steps.count())] == [
            "input", "to_tensor", "resize", "rescale", "normalize", "patches"]
        decoded = widget.locator("li.step img").evaluate_all("images => images.map(i => i.complete && i.naturalWidth)")
        assert len(decoded) == 6 and all(decoded), decoded  # every picture is a PNG the browser decoded
        assert widget.locator("ol.bars li").count() == 3
        assert_readable(widget.element_handle(), f"image inspector ({name})", at_least=30)
        screenshot(view, f"image-inspector-{name}", widget)
