"""ActivationDiff between a float32 model and its load_in_8bit / load_in_4bit copies: the quantized
layers (Int8Linear / Int4Linear under the float model's Linear names) pair by name, the summary
names them and where their error enters, and a diff that compared none of them is never clean.

Measured on the tiny llama below: the error enters at layer 0's q_proj (1.3e-2 int8, 1.2e-1 int4);
every quantized layer's error is 8-17x larger in 4-bit than in 8-bit."""

from __future__ import annotations

import html

import pytest
import torch

pytest.importorskip("ipywidgets")

from model_registry import TINY_DECODER  # noqa: E402
from reference import build_reference_model, save_reference_model  # noqa: E402
from workbench import AutoModelForCausalLM  # noqa: E402
from workbench.porting import PRESETS, compare, module_precision  # noqa: E402
from workbench.quantization import Int4Linear, Int8Linear  # noqa: E402
from workbench.widgets import ActivationDiff  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(TINY_DECODER, intermediate_size=64)  # every Linear fits the int4 kernel (as in test_quantization.py)
IDS = {"input_ids": torch.randint(1, TINY["vocab_size"], (1, 10), generator=torch.Generator().manual_seed(0))}
LAYER_TYPE = {"int8": Int8Linear, "int4": Int4Linear}


@pytest.fixture(scope="module")
def diffs(tmp_path_factory):
    """The float32 model, the two quantized ones and their ActivationDiffs (default tolerance)."""
    folder = save_reference_model(build_reference_model("llama", "LlamaForCausalLM", TINY),
                                  str(tmp_path_factory.mktemp("tiny_llama")))
    fp32 = AutoModelForCausalLM.from_pretrained(folder)
    models = {"int8": AutoModelForCausalLM.from_pretrained(folder, load_in_8bit=True),
              "int4": AutoModelForCausalLM.from_pretrained(folder, load_in_4bit=True)}
    return fp32, models, {bits: ActivationDiff(fp32, model, IDS) for bits, model in models.items()}


def quantized_names(model) -> list[str]:
    return [name for name, module in model.named_modules() if isinstance(module, (Int8Linear, Int4Linear))]


@pytest.mark.parametrize("bits", ["int8", "int4"])
def test_every_quantized_layer_pairs_with_its_float_linear(diffs, bits):
    _, models, views = diffs
    report, names = views[bits].report, quantized_names(models[bits])
    assert len(names) == 7 * TINY["num_hidden_layers"]  # q, k, v, o, gate, up, down; lm_head stays float
    rows = {row.candidate_module: row for row in report.rows if row.candidate_module in names}
    assert sorted(rows) == sorted(names)
    assert {(row.reference_type, row.candidate_type) for row in rows.values()} == {
        ("Linear", LAYER_TYPE[bits].__name__)}
    assert report.coverage.fraction == 1.0 and not report.unmatched_reference and not report.unmatched_candidate
    assert report.preset == {"int8": "int8", "int4": "4bit"}[bits] == module_precision(models[bits])
    assert report.quantized["candidate"].layers == {name: LAYER_TYPE[bits].__name__ for name in names}
    assert report.quantized["candidate"].kept_float == ["lm_head"] and "reference" not in report.quantized


@pytest.mark.parametrize("bits", ["int8", "int4"])
def test_error_enters_at_the_first_quantized_linear(diffs, bits):
    _, models, views = diffs
    view, first_quantized = views[bits], quantized_names(models[bits])[0]
    assert first_quantized == "model.layers.0.self_attn.q_proj"
    assert view.report["model.embed_tokens"].max_abs_err == 0.0
    entry = view.report[first_quantized]
    assert all(row.max_abs_err == 0.0 for row in view.report.rows[: entry.index])  # embeddings, rotary, norm
    assert entry.input_max_abs_err == 0.0 and entry.max_abs_err > 0
    verdict = dict(view.report.verdict())
    assert verdict["quantized"].startswith(f"Quantization error enters at {first_quantized} "
                                           f"({LAYER_TYPE[bits].__name__})")
    view.preset_menu.value = "float32"  # judged at float precision, the first divergence is that layer
    try:
        assert view.first is entry and view.cells[entry.index].layout.border  # framed in the heatmap
        assert f"First divergence: {first_quantized}" in html.unescape(view.header.value)
    finally:
        view.preset_menu.value = view.report.preset


def test_four_bit_errors_exceed_eight_bit_at_every_quantized_layer(diffs):
    _, models, views = diffs
    int8, int4 = views["int8"].report, views["int4"].report
    for name in quantized_names(models["int8"]):
        assert int4[name].max_abs_err > 2 * int8[name].max_abs_err, name
    assert int4.output_row().max_abs_err > 2 * int8.output_row().max_abs_err


def test_saved_notebook_view_names_the_quantized_layers(diffs):
    """The text/html a notebook saved without its kernel shows, and the JSON the lab renderer reads."""
    view = diffs[2]["int8"]
    page = html.unescape(view._repr_mimebundle_()["text/html"])
    assert "Quantized in the candidate: 14 Int8Linear (self_attn.q_proj, self_attn.k_proj" in page
    assert "mlp.down_proj in model.layers 0-1); kept float: lm_head; 14 of the 14 quantized layers compared" in page
    assert "Quantization error enters at model.layers.0.self_attn.q_proj (Int8Linear)" in page
    data = view.report.to_dict()
    assert data["quantized"]["candidate"]["layers"]["model.layers.1.mlp.down_proj"] == "Int8Linear"
    assert [line["kind"] for line in data["verdict"]].count("quantized") == 2


def test_a_diff_that_compared_no_quantized_layer_is_never_clean(diffs):
    fp32, models, _ = diffs
    report = compare(fp32, models["int8"], IDS, exclude=r"_proj$")  # norms, attention, mlp blocks: 60% coverage
    assert not report.coverage.low and not report.exceeding()  # within int8's tolerance, yet
    kinds = [kind for kind, _ in report.verdict()]
    assert "warning" in kinds and "ok" not in kinds and "identical" not in kinds
    assert "None of the candidate's 14 quantized layers was compared" in dict(report.verdict())["warning"]
