"""ActivationDiff driven from Python: the verdict, the clickable heatmap, the tolerance controls, the
per-position view, the static fallback and the export, on tiny llamas (2 and 32 layers)."""

from __future__ import annotations

import copy
import html
import json
import re

import pytest
import torch

pytest.importorskip("ipywidgets")

import workbench.models.llama as llama  # noqa: E402
from workbench.porting import PRESETS, AlignmentError, compare  # noqa: E402
from workbench.porting.formatting import EQUAL, fmt, row_colour  # noqa: E402
from workbench.widgets import ActivationDiff  # noqa: E402

TINY_LLAMA = dict(vocab_size=99, hidden_size=32, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0)
IDS = {"input_ids": torch.randint(3, 99, (2, 7), generator=torch.Generator().manual_seed(0))}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see conftest.py


def tiny_llama(seed: int = 0, **overrides) -> llama.LlamaForCausalLM:
    torch.manual_seed(seed)
    model = llama.LlamaForCausalLM.from_config(llama.LlamaConfig(**{**TINY_LLAMA, **overrides})).eval()
    with torch.no_grad():  # norms away from 1 so that an epsilon shows
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    return model


@pytest.fixture(scope="module")
def eps_diff():
    """The candidate's norms have wrong epsilons: slightly in the first layer (errors ~1e-2 from
    there on), badly in the final norm (errors ~1)."""
    reference = tiny_llama()
    candidate = copy.deepcopy(reference)
    candidate.model.layers[0].input_layernorm.variance_epsilon = 1e-4
    candidate.model.norm.variance_epsilon = 1e-1
    return ActivationDiff(reference, candidate, IDS)


def test_names_the_module_where_the_error_enters(eps_diff):
    first = eps_diff.first
    assert first.reference == "model.layers.0.input_layernorm"
    assert all(row.max_abs_err == 0.0 for row in eps_diff.report.rows[: first.index])
    header = html.unescape(eps_diff.header.value)
    assert "32 of 32 modules aligned (100%) by name" in header and "float32 preset" in header
    assert "First divergence: model.layers.0.input_layernorm (RMSNorm)" in header
    assert eps_diff.selected is first  # the drill-down opens on it
    assert "First divergence: model.layers.0.input_layernorm" in eps_diff._repr_mimebundle_()["text/plain"]


def test_every_row_is_a_heatmap_button_with_its_colour_and_tooltip(eps_diff):
    report, atol, rtol = eps_diff.report, eps_diff.atol, eps_diff.rtol
    assert set(eps_diff.cells) == {row.index for row in report.rows}
    data = report.to_dict()  # what the JupyterLab renderer paints
    for row in report.rows:
        button = eps_diff.cells[row.index]
        assert button.style.button_color == row_colour(row, atol, rtol) == data["rows"][row.index]["colour"]
        assert button.tooltip.startswith(f"{row.reference}: max abs err {fmt(row.max_abs_err)}, tolerance "
                                         f"{fmt(row.bound(atol, rtol))}")
    assert eps_diff.cells[eps_diff.first.index].layout.border.startswith("3px dotted")  # selected (the first)


def test_clicking_a_cell_drills_down_into_that_module(eps_diff, monkeypatch):
    refreshed = []
    monkeypatch.setattr(eps_diff, "refresh_saved_view", lambda: refreshed.append(True))
    row = eps_diff.report["model.layers.1.mlp.down_proj"]
    eps_diff.cells[row.index].click()  # what a click, or Enter / Space on the focused button, sends
    assert eps_diff.selected is row and eps_diff.module_menu.value == row.index and refreshed
    details = html.unescape(eps_diff.details.value)
    for side in (row.reference_stats, row.candidate_stats):
        for value in (side.mean, side.std, side.min, side.max, side.norm):
            assert fmt(value) in details
    assert "error per position" in details
    for error in row.position_errors[0]:
        assert f"max abs err {fmt(error)}" in details
    assert eps_diff.cells[row.index].layout.border.startswith("3px dotted")
    assert eps_diff.cells[eps_diff.first.index].layout.border.startswith("3px solid")  # the first stays framed
    assert eps_diff.select("model.layers.0.self_attn.q_proj").index == eps_diff.module_menu.value
    assert "model.layers.0.self_attn.q_proj" in eps_diff.to_html()  # the static view shows the same drill-down


def test_tolerance_controls_rejudge_without_rerunning(eps_diff, monkeypatch):
    import workbench.widgets.activation_diff as module

    monkeypatch.setattr(module, "compare", None)  # a re-run would fail
    refreshed = []
    monkeypatch.setattr(eps_diff, "refresh_saved_view", lambda: refreshed.append(True))
    report, first = eps_diff.report, eps_diff.first
    layer_errors = [row.max_abs_err for row in report.rows if row.reference.startswith("model.layers.")]
    above = 2 * max(layer_errors)
    eps_diff.atol_slider.value = above
    assert eps_diff.first.reference == "model.norm" and eps_diff.first is report.first_divergence(atol=above)
    assert refreshed and eps_diff.preset_menu.value is None  # moved off the preset
    assert "First divergence: model.norm" in html.unescape(eps_diff.header.value)
    assert "set in the view" in html.unescape(eps_diff.to_html())
    eps_diff.atol_slider.value = 10 * report.max_abs_err
    assert eps_diff.first is None and "No divergence" in eps_diff.header.value and "No divergence" in eps_diff.to_html()
    eps_diff.preset_menu.value = "bfloat16"
    assert (eps_diff.atol, eps_diff.rtol) == PRESETS["bfloat16"] == (eps_diff.atol_slider.value, eps_diff.rtol_box.value)
    assert "bfloat16 preset: chosen in the view" in html.unescape(eps_diff.header.value)
    eps_diff.preset_menu.value = "float32"
    assert eps_diff.first is first
    colours = eps_diff.cell_colours()
    assert all(eps_diff.cells[i].style.button_color == colour for i, colour in colours.items())


def _table_cells(page: str) -> list[list[str]]:
    table = page[page.index("<table><tr><th>#</th>"):]
    rows = re.findall(r'<tr id="wbd-[0-9a-f]+-row-\d+"[^>]*>(.*?)<td><details>', table)  # cells before the stats
    return [[html.unescape(re.sub("<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)] for row in rows]


def test_fallback_html_holds_the_same_table_and_verdict_as_the_live_view(eps_diff):
    live, static = _table_cells(eps_diff.table.value), _table_cells(eps_diff.to_html())
    assert live == static and len(live) == len(eps_diff.report.rows)
    for cells, row in zip(live, eps_diff.report.rows):
        assert cells[5:10] == [fmt(row.max_abs_err), fmt(row.bound(eps_diff.atol, eps_diff.rtol)),
                               fmt(row.max_rel_err), fmt(row.mean_abs_err), fmt(row.cosine)]
        assert cells[0].endswith(" !") == row.exceeds(eps_diff.atol, eps_diff.rtol)
    for kind, text in eps_diff.view_report.verdict():
        assert html.escape(text) in eps_diff.header.value and html.escape(text) in eps_diff.to_html()


def test_identical_models_show_identical():
    model = tiny_llama()
    view = ActivationDiff(model, copy.deepcopy(model), IDS)
    assert "Identical: every compared tensor is exactly equal" in view.header.value
    assert {button.style.button_color for button in view.cells.values()} == {EQUAL}
    assert "identical (0)" in view.legend.value and "Identical" in view.to_html()
    assert "every position within" in view.positions.value


def test_bf16_copy_shows_no_divergence_and_a_broken_layer_is_found():
    model = tiny_llama()
    view = ActivationDiff(model, copy.deepcopy(model).to(torch.bfloat16), IDS)
    assert view.view_report.preset == "bfloat16" and view.first is None and view.preset_menu.value == "bfloat16"
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.model.layers[1].self_attn.v_proj.weight.mul_(-1.0)
    view = ActivationDiff(model, broken.to(torch.bfloat16), IDS)
    assert view.first.reference == "model.layers.1.self_attn.v_proj"


def test_unrelated_models_raise_instead_of_an_empty_view():
    from workbench.models.bert import BertConfig, BertModel

    bert = BertModel(BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                intermediate_size=37)).eval()
    with pytest.raises(AlignmentError, match='Try align="order"'):
        ActivationDiff(bert, tiny_llama(), IDS)


def test_export_writes_the_view_and_the_report(eps_diff, tmp_path):
    eps_diff.atol = 1e-3
    page_path, json_path = eps_diff.export(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "activation-diff-LlamaForCausalLM-vs-LlamaForCausalLM.html",
        "activation-diff-LlamaForCausalLM-vs-LlamaForCausalLM.json"]
    data = json.loads(open(json_path).read())
    assert data["atol"] == 1e-3 and data == json.loads(eps_diff.view_report.to_json())
    page = open(page_path).read()
    assert page.startswith("<!DOCTYPE html>") and eps_diff.to_html() in page
    assert str(tmp_path) in eps_diff.export_status.value
    eps_diff.export_dir = tmp_path / "notebook"  # the button writes into .export_dir, the notebook's folder by default
    eps_diff.export_dir.mkdir()
    eps_diff.export_button.click()
    assert len(list(eps_diff.export_dir.iterdir())) == 2
    eps_diff.atol, eps_diff.export_dir = 1e-5, "."


def test_a_report_is_shown_as_given():
    report = compare(tiny_llama(), tiny_llama(seed=1), {"input_ids": torch.tensor([[5, 6, 7]])}, atol=1e-3)
    view = ActivationDiff(report)
    assert view.report is report and view.atol == 1e-3 and view.first is report.first_divergence()
    assert "atol given" in view.to_html() and view.view_report.verdict() == report.verdict()
    table = view.table.value.split("<table>", 1)[1].rsplit("</table>", 1)[0]
    assert table in report.to_html()  # the same table
    with pytest.raises(TypeError, match="needs both models"):
        ActivationDiff(tiny_llama())


def test_thirty_two_layers_keep_readable_labels():
    """Every row label in the live grid and the static page is at least 9 px and sits in a column
    sized to its content (max-content), so nothing is cut at the left."""
    model = tiny_llama(num_hidden_layers=32)
    view = ActivationDiff(model, copy.deepcopy(model), {"input_ids": torch.tensor([[5, 6, 7, 8]])})
    grid = view.heatmap.children[0]
    assert grid.layout.grid_template_columns.startswith("max-content repeat(32, ")
    sizes = [int(size) for child in grid.children if hasattr(child, "value")
             for size in re.findall(r"font:(\d+)px", child.value)]
    assert sizes and min(sizes) >= 9
    page = view.to_html()
    assert min(int(size) for size in re.findall(r"\.wb-diff table\.grid th[^{]*\{font:(\d+)px", page)) >= 9
    assert "<th>31</th>" in page and page.count('<th class="kind" scope="row">') == len(
        {label for label in re.findall(r'<th class="kind" scope="row">([^<]+)<', page)})


def test_tolerance_slider_says_its_value_in_real_units():
    """The atol slider moves along the exponent but reads, and tells a screen reader, the tolerance itself
    (its page side puts value_text in aria-valuetext; tests/browser/test_lab_diff.py reads it there)."""
    from workbench.widgets.log_slider import LogSlider

    slider = LogSlider(value=1e-5, description="atol")
    assert slider.value_text == "atol 1.0e-05"
    slider.value = 3e-2
    assert slider.value_text == "atol 3.0e-02"
    with pytest.raises(Exception, match="atol must be a positive number"):
        slider.value = 0.0
