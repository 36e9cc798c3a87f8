"""workbench.porting: capture, alignment and diff of two models' activations, on tiny models."""

from __future__ import annotations

import copy
import html
import json
import math
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
import torch
from torch import nn

import workbench.models.llama as llama
from workbench.porting import (MIME_TYPE, PRESETS, ActivationCapture, AlignmentError, LowCoverageWarning, capture,
                               choose_tolerance, compare, error_metrics, module_kind, module_precision, tensor_leaves)
from workbench.porting.formatting import BROKEN, EQUAL, colour_legend, error_colour, fmt, row_colour

from tolerance import assert_close_scaled

TINY_LLAMA = dict(vocab_size=99, hidden_size=32, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0)


def tiny_llama(seed: int = 0, **overrides) -> llama.LlamaForCausalLM:
    torch.manual_seed(seed)
    model = llama.LlamaForCausalLM.from_config(llama.LlamaConfig(**{**TINY_LLAMA, **overrides})).eval()
    with torch.no_grad():  # norms away from 1 so that an epsilon or a swap shows
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    return model


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see conftest.py


@pytest.fixture(scope="module")
def model():
    return tiny_llama()


@pytest.fixture(scope="module")
def ids():
    return {"input_ids": torch.randint(3, 99, (2, 7), generator=torch.Generator().manual_seed(0))}


# --- (a) identical models ------------------------------------------------------------------


def test_identical_models_have_zero_error_everywhere(model, ids):
    report = compare(model, copy.deepcopy(model), ids)
    assert len(report.rows) > 20 and report.first_divergence() is None
    assert all(row.max_abs_err == 0.0 and row.max_rel_err == 0.0 and row.cosine == pytest.approx(1.0)
               for row in report.rows)
    assert report.unmatched_reference == report.unmatched_candidate == []
    assert report["model.layers.1.input_layernorm"].reference_shape == [2, 7, 32]
    assert report["logits"].reference_module == ""  # the model's own output


def test_models_are_left_unchanged(model, ids):
    other = copy.deepcopy(model)
    other.train()
    other.model.layers[0].eval()  # a mixed mode is restored module by module
    before = {name: param.clone() for name, param in other.state_dict().items()}
    modes = {name: m.training for name, m in other.named_modules()}
    compare(model, other, ids)
    assert {name: m.training for name, m in other.named_modules()} == modes
    assert all(torch.equal(before[name], param) for name, param in other.state_dict().items())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in other.modules())


def test_hooks_are_removed_when_the_forward_raises(model):
    with pytest.raises(ValueError, match="exactly one of input_ids"):
        capture(model, {})
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


# --- (b) injected errors are found where they enter -----------------------------------------


def test_wrong_norm_epsilon_is_found_at_that_norm(model, ids):
    broken = copy.deepcopy(model)
    broken.model.layers[1].input_layernorm.variance_epsilon = 1e-1
    report = compare(model, broken, ids)
    assert report.first_divergence().reference == "model.layers.1.input_layernorm"
    assert all(row.max_abs_err == 0.0 for row in report.rows[: report.first_divergence().index])


def swap_rotary_halves(attention: nn.Module) -> None:
    """Make one attention layer rotate the wrong way (``rotate_half`` with its halves swapped)."""
    right = llama.apply_rotary
    forward = type(attention).forward

    def wrong(query, key, cos, sin):
        return right(query, key, cos, -sin)  # [x2, -x1] instead of [-x2, x1]

    def patched(*args, **kwargs):
        with mock.patch.object(llama, "apply_rotary", wrong):
            return forward(attention, *args, **kwargs)

    attention.forward = patched


def test_swapped_rotary_half_is_found_at_that_attention(model, ids):
    broken = copy.deepcopy(model)
    swap_rotary_halves(broken.model.layers[1].self_attn)
    report = compare(model, broken, ids)
    first = report.first_divergence()
    assert first.reference_module == "model.layers.1.self_attn" and first.reference == "model.layers.1.self_attn[0]"
    # o_proj returns first and is already wrong, but only because its input is
    o_proj = report["model.layers.1.self_attn.o_proj"]
    assert o_proj.exceeds() and o_proj.input_exceeds() and o_proj.index < first.index
    assert report["model.layers.1.self_attn.q_proj"].max_abs_err == 0.0


def test_transposed_square_weight_is_found_at_that_projection(model, ids):
    broken = copy.deepcopy(model)
    with torch.no_grad():
        weight = broken.model.layers[0].mlp.up_proj.weight  # (32, 32): intermediate_size == hidden_size
        weight.copy_(weight.T.clone())
    report = compare(model, broken, ids)
    assert report.first_divergence().reference == "model.layers.0.mlp.up_proj"
    assert report["model.layers.0.mlp.gate_proj"].max_abs_err == 0.0


# --- (c) transformers vs the workbench port of the same checkpoint ------------------------------


def test_reference_model_and_workbench_port_match_module_by_module(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(**{**TINY_LLAMA, "intermediate_size": 37})
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    reference = transformers.LlamaForCausalLM(config).eval()
    reference.save_pretrained(tmp_path)
    ours = llama.LlamaForCausalLM.from_pretrained(tmp_path)
    inputs = {"input_ids": torch.randint(3, 99, (2, 7)), "attention_mask": torch.ones(2, 7, dtype=torch.long)}
    report = compare(reference, ours, inputs, align="name")
    names = {row.reference for row in report.rows}
    assert {"model.embed_tokens", "model.layers.1.self_attn.o_proj", "model.layers.1.mlp.act_fn", "model.norm",
            "lm_head", "logits"} <= names
    assert all(row.status == "ok" and row.max_abs_err <= 1e-5 * max(1.0, row.reference_stats.absmax) for row in report.rows)
    assert report.first_divergence() is None
    # a decoder layer returns a tensor there and (hidden, attention weights) here
    assert report["model.layers.0"].candidate == "model.layers.0[0]"


def test_torch_kernels_make_workbench_linear_plain_f_linear():
    from workbench.nn.linear import linear, torch_kernels
    generator = torch.Generator().manual_seed(0)
    x, weight, bias = (torch.randn(*shape, generator=generator) for shape in [(3, 257), (511, 257), (511,)])
    with torch.no_grad(), torch_kernels():
        assert torch.equal(linear(x, weight, bias), nn.functional.linear(x, weight, bias))
    with torch.no_grad():  # the faster path computes the same product (in another summation order)
        assert_close_scaled(linear(x, weight, bias), nn.functional.linear(x, weight, bias), per_tensor=True)


@pytest.mark.parametrize("torch_kernels", [True, False])
def test_compare_runs_workbench_models_on_the_kernels_asked_for(model, ids, torch_kernels):
    from workbench.nn import linear as linear_module
    seen = []
    handle = model.model.layers[0].self_attn.q_proj.register_forward_hook(
        lambda *args: seen.append(linear_module._TORCH_KERNELS.get()))
    try:
        compare(model, copy.deepcopy(model), ids, torch_kernels=torch_kernels)
    finally:
        handle.remove()
    assert seen == [torch_kernels, torch_kernels]  # the reference run and the candidate's
    assert linear_module._TORCH_KERNELS.get() is False  # restored after the run


# --- (d) module trees that differ -----------------------------------------------------------


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm, self.proj, self.act, self.drop = nn.LayerNorm(8), nn.Linear(8, 8), nn.GELU(), nn.Dropout(0.0)

    def forward(self, x):
        return x + self.drop(self.act(self.proj(self.norm(x))))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed, self.blocks, self.head = nn.Embedding(20, 8), nn.ModuleList(Block() for _ in range(3)), nn.Linear(8, 5)

    def forward(self, ids):
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class RenamedBlock(nn.Module):
    """Block's layers under other names, projection and activation wrapped in an extra Sequential, no dropout."""

    def __init__(self):
        super().__init__()
        self.ln, self.ff = nn.LayerNorm(8), nn.Sequential(nn.Linear(8, 8), nn.GELU())

    def forward(self, x):
        return x + self.ff(self.ln(x))


class RenamedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok, self.h = nn.Embedding(20, 8), nn.ModuleList(RenamedBlock() for _ in range(3))
        self.extra, self.out = nn.Identity(), nn.Linear(8, 5)

    def forward(self, token_ids):
        x = self.tok(token_ids)
        for block in self.h:
            x = block(x)
        return self.out(self.extra(x))


RENAMES = {r"embed": "tok", r"blocks\.(\d+)": r"h.\1", r"blocks\.(\d+)\.norm": r"h.\1.ln",
           r"blocks\.(\d+)\.proj": r"h.\1.ff.0", r"blocks\.(\d+)\.act": r"h.\1.ff.1", r"head": "out"}


def rename_module(name: str) -> str:
    return next((re.sub(rf"^{p}$", t, name) for p, t in RENAMES.items() if re.fullmatch(p, name)), name)


EXPECTED_PAIRS = {"embed": "tok", "blocks.2.norm": "h.2.ln", "blocks.1.proj": "h.1.ff.0", "blocks.0.act": "h.0.ff.1",
                  "blocks.1": "h.1", "head": "out", "": ""}


@pytest.fixture(scope="module")
def renamed_pair():
    torch.manual_seed(0)
    reference, candidate = Net().eval(), RenamedNet().eval()
    state = {}
    for name, tensor in reference.state_dict().items():
        module, _, param = name.rpartition(".")
        state[f"{rename_module(module)}.{param}"] = tensor
    candidate.load_state_dict(state)
    # the two models take differently named arguments: one callable per model
    ids = torch.randint(0, 20, (2, 5), generator=torch.Generator().manual_seed(1))
    return reference, candidate, (lambda m: m(ids=ids)), (lambda m: m(token_ids=ids))


@pytest.mark.parametrize("how", ["mapping", "callable", "order"])
def test_different_module_trees_align(renamed_pair, how):
    reference, candidate, ref_inputs, cand_inputs = renamed_pair
    align = {"mapping": RENAMES, "callable": rename_module, "order": "order"}[how]
    report = compare(reference, candidate, ref_inputs, align=align, candidate_inputs=cand_inputs)
    pairs = {row.reference: row.candidate for row in report.rows}
    assert {ref: pairs.get(ref) for ref in EXPECTED_PAIRS} == EXPECTED_PAIRS
    assert all(row.max_abs_err == 0.0 for row in report.rows)
    assert sorted(report.unmatched_reference) == [f"blocks.{i}.drop" for i in range(3)]
    assert sorted(report.unmatched_candidate) == ["extra"] + [f"h.{i}.ff" for i in range(3)]


def test_order_alignment_finds_an_error_in_a_renamed_tree(renamed_pair):
    reference, candidate, ref_inputs, cand_inputs = renamed_pair
    broken = copy.deepcopy(candidate)
    with torch.no_grad():
        broken.h[1].ln.weight.mul_(1.5)
    report = compare(reference, broken, ref_inputs, align="order", candidate_inputs=cand_inputs)
    assert (report.first_divergence().reference, report.first_divergence().candidate) == ("blocks.1.norm", "h.1.ln")


def test_a_mapping_to_none_leaves_a_module_out(renamed_pair):
    reference, candidate, ref_inputs, cand_inputs = renamed_pair
    with pytest.warns(LowCoverageWarning, match="Only 2 of 19 modules aligned"):
        report = compare(reference, candidate, ref_inputs, candidate_inputs=cand_inputs,
                         align=lambda name: None if name == "head" else name.replace("embed", "tok"))
    assert [row.reference for row in report.rows] == ["embed", ""]
    assert "head" in report.unmatched_reference


def test_module_kinds():
    assert [module_kind(n) for n in ("LlamaRMSNorm", "RMSNorm", "Conv1D", "LlamaDecoderLayer", "SiLU")] == \
        ["norm", "norm", "linear", "block", "activation"]


# --- (e) one model in two dtypes; the three views agree ---------------------------------------


@pytest.fixture(scope="module")
def bf16_report(model, ids):
    """bfloat16 against float32 judged at float32's tolerance: every tensor over it."""
    return compare(model, copy.deepcopy(model).to(torch.bfloat16), ids, preset="float32")


def test_bf16_against_fp32_gives_small_nonzero_errors(bf16_report):
    logits = bf16_report["logits"]
    assert logits.reference_dtype == "float32" and logits.candidate_dtype == "bfloat16"
    assert 0.0 < logits.max_abs_err < 0.2 and logits.cosine > 0.999
    assert bf16_report.first_divergence().reference == "model.embed_tokens"  # rounding enters with the weights
    assert bf16_report.first_divergence(atol=1.0, rtol=0.0) is None
    assert (bf16_report.preset, bf16_report.preset_reason) == ("float32", "given")


def test_json_html_and_text_show_the_same_numbers(bf16_report, tmp_path):
    text, page = bf16_report.to_text(max_rows=1000), bf16_report.to_html()
    data = json.loads(bf16_report.to_json())
    assert len(data["rows"]) == len(bf16_report.rows)
    lines = {line.split()[1]: line for line in text.splitlines() if line[:3] in ("   ", ">> ", "!  ")}
    for row, saved in zip(bf16_report.rows, data["rows"]):
        assert saved["max_abs_err"] == row.max_abs_err and saved["max_rel_err"] == row.max_rel_err
        numbers = (fmt(row.max_abs_err), fmt(row.max_rel_err))
        assert all(number in lines[row.reference] for number in numbers), row.reference
        assert all(f">{number}</td>" in page for number in numbers)
        assert saved["reference_stats"]["std"] == row.reference_stats.std
    first = bf16_report.first_divergence().reference
    assert lines[first].startswith(">> ") and "first divergence" in page and data["first_divergence"]["reference"] == first
    assert '<table class="grid"' in page and "<script" not in page
    bf16_report.save_json(tmp_path / "diff.json")
    bf16_report.save_html(tmp_path / "diff.html")
    assert json.loads((tmp_path / "diff.json").read_text()) == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diff.html", "diff.json"]  # no temporary files left


# --- (f) the notebook bundle and the JSON schema ----------------------------------------------


def test_mimebundle_and_json_schema(bf16_report):
    bundle = bf16_report._repr_mimebundle_()
    assert set(bundle) == {MIME_TYPE, "text/html", "text/plain"} and MIME_TYPE == "application/vnd.workbench.activation-diff+json"
    data = bundle[MIME_TYPE]
    assert data == json.loads(bf16_report.to_json())
    assert set(data) == {"schema", "version", "reference", "candidate", "align", "atol", "rtol", "rel_floor",
                         "first_divergence", "summary", "rows", "unmatched", "colour_legend", "preset", "preset_reason",
                         "coverage", "verdict", "output_index", "token_ids", "tokens", "grid", "legend_caption",
                         "quantized"}
    assert (data["schema"], data["version"], data["align"]) == ("workbench.activation-diff", 3, "name")
    assert data["coverage"] == {"aligned": 32, "reference_modules": 32, "candidate_modules": 32, "fraction": 1.0,
                                "low": False}
    assert data["rows"][data["output_index"]]["reference"] == "logits"
    assert [line["kind"] for line in data["verdict"]] == ["coverage", "diverged"]
    assert set(data["rows"][0]) == {
        "index", "reference", "candidate", "reference_module", "candidate_module", "reference_type", "candidate_type",
        "reference_shape", "candidate_shape", "reference_dtype", "candidate_dtype", "status", "max_abs_err",
        "max_rel_err", "mean_abs_err", "cosine", "input_max_abs_err", "input_ref_absmax", "exceeds", "truncated",
        "reference_stats", "candidate_stats", "tolerance_ratio", "colour", "position_errors", "position_colours",
        "bound"}
    assert set(data["rows"][0]["reference_stats"]) == {"numel", "mean", "std", "min", "max", "norm", "nan", "inf"}
    assert data["summary"]["rows"] == len(data["rows"]) and set(data["unmatched"]) == {"reference", "candidate"}
    assert bundle["text/plain"] == bf16_report.to_text() and "First divergence: model.embed_tokens" in repr(bf16_report)
    assert set(bf16_report._repr_mimebundle_(include=["text/plain"])) == {"text/plain"}
    assert set(bf16_report._repr_mimebundle_(exclude=["text/html"])) == {MIME_TYPE, "text/plain"}


def test_non_finite_numbers_stay_valid_json():
    a = torch.tensor([1.0, float("nan"), float("inf"), 2.0])
    b = torch.tensor([1.0, float("nan"), float("inf"), float("nan")])
    metrics = error_metrics(a, b)
    assert metrics["max_abs_err"] == math.inf and metrics["cosine"] == pytest.approx(1.0)
    assert error_metrics(a[:3], b[:3])["max_abs_err"] == 0.0  # the same NaN and inf on both sides
    report = compare(nn.Identity(), nn.Identity(), (a,), align="name")
    report.rows[0].max_abs_err = math.inf
    assert json.loads(report.to_json())["rows"][0]["max_abs_err"] == "Infinity"


# --- (g) one colour rule for the three heatmaps ------------------------------------------------


def test_the_colour_rule_by_hand():
    bound = 2e-5
    assert error_colour(0.0, bound) == EQUAL == "#eeeeee"
    assert error_colour(None, bound) == error_colour(math.nan, bound) == error_colour(math.inf, bound) == BROKEN
    # within: (232, 245, 233) at bound * 1e-8 -> (67, 160, 71) at the bound, linear in log10(error / bound)
    assert error_colour(bound * 1e-9, bound) == error_colour(bound * 1e-8, bound) == "#e8f5e9"
    assert error_colour(bound * 1e-4, bound) == "#96ca98"  # halfway: (149.5, 202.5, 152) rounded half to even
    assert error_colour(bound, bound) == "#43a047"  # at the bound is within (exceeds() tests error > bound)
    # above: (255, 235, 59) just above -> (183, 28, 28) at bound * 1e6
    assert error_colour(bound * (1 + 1e-9), bound) == "#ffeb3b"
    assert error_colour(bound * 1e3, bound) == "#db842c"  # halfway: (219, 131.5, 43.5) -> (219, 132, 44)
    assert error_colour(bound * 1e6, bound) == error_colour(bound * 1e9, bound) == "#b71c1c"
    assert error_colour(1e-30, 0.0) == "#b71c1c"  # a zero tolerance: any error is far above
    assert [colour for colour, _ in colour_legend()] == ["#eeeeee", "#e8f5e9", "#96ca98", "#43a047", "#ffeb3b",
                                                          "#db842c", "#b71c1c", BROKEN]
    assert [ratio for _, _, ratio in colour_legend(with_ratios=True)] == [0.0, 1e-8, 1e-4, 1.0, 1 + 1e-9, 1e3, 1e6, None]


def test_colour_goes_red_exactly_where_a_row_exceeds(bf16_report):
    above = {"#ffeb3b", "#b71c1c"}
    for atol, rtol in ((1e-5, 1e-4), (1e-3, 0.0), (0.0, 1e-2)):
        for row in bf16_report.rows:
            colour = row_colour(row, atol, rtol)
            red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
            in_above = colour in above or (red >= 183 and blue <= 59 and colour != BROKEN)
            assert in_above == (row.exceeds(atol, rtol) and row.max_abs_err is not None), (row.reference, colour)


def test_static_html_and_json_carry_the_same_colours(bf16_report):
    data, page = bf16_report.to_dict(), bf16_report.to_html()
    fills = re.findall(r'<a class="cell[^"]*" href="#[^"]*-row-(\d+)" title="([^:"]+):[^"]*" aria-label="[^"]*" '
                       r'style="background:(#[0-9a-f]{6})"', page)
    assert len(fills) == len(bf16_report.rows) > 0  # the grid and the modules outside it: every row once
    for index, path, fill in fills:
        row = bf16_report.rows[int(index)]
        assert path == row.reference
        assert fill == data["rows"][row.index]["colour"] == row_colour(row, bf16_report.atol, bf16_report.rtol)
    for row, saved in zip(bf16_report.rows, data["rows"]):
        assert f'style="background:{saved["colour"]}"></span>{fmt(row.max_abs_err)}</td>' in page
        assert saved["tolerance_ratio"] == pytest.approx(row.max_abs_err / row.bound(data["atol"], data["rtol"]))
    assert [(item["colour"], item["label"]) for item in data["colour_legend"]] == colour_legend()
    for colour, label in colour_legend():
        assert f'background:{colour}"></span>{html.escape(label)}' in page


def test_the_lab_renderer_paints_the_colours_the_bundle_carries():
    """The extension decides no colour: it reads each row's ``colour`` and the ``colour_legend``
    (the browser test shows it rendering; here, its source and committed build)."""
    root = Path(__file__).resolve().parents[1] / "extension"
    source = (root / "src" / "diff.ts").read_text()
    assert "colour_legend" in source and ".colour" in source and "tolerance_ratio" in source
    assert not re.search(r"hsl\(|rgb\(|#[0-9a-fA-F]{6}\b|Math\.log10", source)  # no rule of its own
    built = "".join(path.read_text() for path in (root / "labextension" / "static").glob("*.js"))
    assert "colour_legend" in built and "tolerance_ratio" in built


# --- capture details --------------------------------------------------------------------------


@dataclass
class Pair:
    first: torch.Tensor
    second: object


def test_tensor_leaves_paths():
    t = torch.zeros(1)
    value = (t, {"logits": t, "not an identifier": [t, None, "text"]}, Pair(t, (t,)))
    assert [path for path, _ in tensor_leaves(value)] == [
        "[0]", "[1].logits", "[1]['not an identifier'][0]", "[2].first", "[2].second[0]"]


def test_filters_repeated_calls_and_max_elements(model, ids):
    acts = capture(model, ids, include=r"layers\.1\.|^model\.norm$", exclude=["q_proj", lambda name, m: name.endswith("k_proj")],
                   max_elements=10)
    keys = [call.key for call in acts]
    assert "model.layers.1.self_attn.v_proj" in keys and "model.norm" in keys
    assert not any("layers.0" in k or k.endswith(("q_proj", "k_proj")) for k in keys)
    leaf = acts["model.norm"].outputs[0]
    assert leaf.truncated and leaf.tensor.shape == (10,) and leaf.shape == (2, 7, 32) and leaf.stats.numel == 2 * 7 * 32

    shared = nn.Linear(4, 4)
    twice = nn.Sequential(shared, nn.ReLU(), shared)
    acts = capture(twice, torch.ones(1, 4))
    assert [call.key for call in acts] == ["0", "1", "0#1", ""]
    with ActivationCapture(twice, record_inputs=False) as recorder:
        twice(torch.ones(1, 4))
    assert recorder["0#1"].input is None and recorder["0#1"].outputs[0].path == "0#1"


def test_shape_mismatch_is_recorded_not_raised():
    torch.manual_seed(0)
    narrow, wide = nn.Sequential(nn.Linear(4, 3)), nn.Sequential(nn.Linear(4, 5))
    report = compare(narrow, wide, torch.ones(2, 4))
    row = report["0"]
    assert row.status == "shape_mismatch" and row.max_abs_err is None and row.exceeds()
    assert (row.reference_shape, row.candidate_shape) == ([2, 3], [2, 5])
    assert report.first_divergence().reference == "0" and "2x3 vs 2x5" in report.to_text()


def test_before_and_after_dynamic_quantization(renamed_pair):
    reference = renamed_pair[0]
    quantize = getattr(getattr(torch, "ao", None), "quantization", None)
    if quantize is None or "fbgemm" not in torch.backends.quantized.supported_engines:
        pytest.skip("this torch build has no eager dynamic quantization")
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        quantized = quantize.quantize_dynamic(copy.deepcopy(reference), {nn.Linear}, dtype=torch.qint8)
    report = compare(reference, quantized, renamed_pair[2], preset="float32")
    first = report.first_divergence()
    assert first.reference == "blocks.0.proj"  # the first quantized Linear
    assert compare(reference, quantized, renamed_pair[2]).preset == "int8"  # chosen from the quantized modules
    assert 0 < report["head"].max_abs_err < 0.1 and report["blocks.0.norm"].max_abs_err == 0.0


def test_the_engine_imports_no_ui_and_no_reference_library():
    code = "import workbench.porting, sys, json; print(json.dumps(sorted(sys.modules)))"
    modules = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                        cwd=Path(__file__).parents[1]).stdout)
    assert not [m for m in modules if m.split(".")[0] in ("transformers", "ipywidgets", "matplotlib", "IPython")]


# --- (h) an honest verdict: coverage, dtype presets, identical, per position -------------------------


def registry_model(model_type: str, head: str, **overrides) -> nn.Module:
    """A tiny random model of a registry family (tests/model_registry.py's base configs)."""
    from workbench.auto import AutoConfig
    from workbench.models.registry import FAMILIES
    import workbench

    torch.manual_seed(0)
    config = AutoConfig.for_model(model_type, **{**FAMILIES[model_type].tiny, **overrides})
    return getattr(workbench, head).from_config(config).eval()


def test_nothing_aligned_is_a_named_error_not_a_clean_bill(ids):
    bert, llama_model = registry_model("bert", "AutoModel"), registry_model("llama", "AutoModelForCausalLM")
    with pytest.raises(AlignmentError) as caught:
        compare(bert, llama_model, ids)
    message = str(caught.value)
    assert "no module of BertModel (reference) aligned by name" in message
    assert "embeddings.word_embeddings" in message and "model.embed_tokens" in message  # the names seen on each side
    assert 'Try align="order"' in message and "{reference regex: candidate name}" in message


def test_few_aligned_modules_make_a_loud_verdict(ids):
    bert, llama_model = registry_model("bert", "AutoModel"), registry_model("llama", "AutoModelForCausalLM")
    with pytest.warns(LowCoverageWarning):
        report = compare(bert, llama_model, ids, align="order")
    coverage = report.coverage
    assert coverage.low and coverage.aligned == len({row.reference_module for row in report.rows})
    assert coverage.reference_modules == len([call for call in capture(bert, ids).calls if call.outputs])
    assert coverage.candidate_modules == len([call for call in capture(llama_model, ids).calls if call.outputs])
    kinds = [kind for kind, _ in report.verdict()]
    assert kinds[:2] == ["coverage", "warning"]
    assert f"{coverage.aligned} of {coverage.reference_modules} modules aligned" in report.to_text()
    assert "WARNING: Only" in report.to_text() and 'role="alert"' in report.to_html()
    assert json.loads(report.to_json())["coverage"]["low"] is True


def test_order_alignment_coverage_by_hand(renamed_pair):
    reference, candidate, ref_inputs, cand_inputs = renamed_pair
    report = compare(reference, candidate, ref_inputs, align="order", candidate_inputs=cand_inputs)
    # Net: embed, 3 x (norm, proj, act, drop, block), head, the model = 18; RenamedNet adds ff per block
    # and extra, has no drop: 19. The drops, the ff wrappers and extra find no partner: 15 pairs.
    assert (report.coverage.aligned, report.coverage.reference_modules, report.coverage.candidate_modules) == (15, 18, 19)
    assert report.coverage.describe() == "15 of 19 modules aligned (79%; reference 18, candidate 19 modules)"
    assert report.verdict()[0][1].startswith("15 of 19 modules aligned (79%; reference 18, candidate 19 modules) by order")


def test_precision_of_a_model_and_the_lower_one_wins(model):
    assert module_precision(model) == "float32"
    assert module_precision(copy.deepcopy(model).to(torch.bfloat16)) == "bfloat16"
    assert module_precision(copy.deepcopy(model).to(torch.float16)) == "float16"
    tolerance = choose_tolerance("float32", "bfloat16")
    assert (tolerance.atol, tolerance.rtol, tolerance.preset) == (*PRESETS["bfloat16"], "bfloat16")
    assert "candidate's parameters are bfloat16" in tolerance.reason
    assert choose_tolerance("float16", "bfloat16").preset == "bfloat16"  # 8 bits of mantissa below float16's 11
    assert choose_tolerance("int8", "float16").preset == "int8"
    given = choose_tolerance("float32", "bfloat16", preset="float16", rtol=0.5)
    assert (given.atol, given.rtol, given.preset) == (PRESETS["float16"][0], 0.5, "float16")
    with pytest.raises(ValueError, match="not a tolerance preset; use one of float32, float16, bfloat16, int8, 4bit"):
        choose_tolerance("float32", "float32", preset="fp8")


def test_bf16_copy_is_within_its_preset_and_a_broken_one_is_not(model, ids):
    """fp32 against a bf16 copy: no divergence at the bf16 preset chosen from the dtypes. A bf16
    copy with one layer's weight transposed: flagged at that projection, and nowhere before it."""
    report = compare(model, copy.deepcopy(model).to(torch.bfloat16), ids)
    assert (report.preset, report.atol, report.rtol) == ("bfloat16", *PRESETS["bfloat16"])
    assert report.first_divergence() is None and report.max_abs_err > 0
    assert report.verdict()[-1][0] == "ok" and "No divergence: all 33 tensors within" in report.to_text()
    broken = copy.deepcopy(model)
    with torch.no_grad():
        weight = broken.model.layers[1].mlp.up_proj.weight
        weight.copy_(weight.T.clone())
    report = compare(model, broken.to(torch.bfloat16), ids)
    first = report.first_divergence()
    assert first.reference == "model.layers.1.mlp.up_proj" and report.preset == "bfloat16"
    assert not any(row.exceeds(report.atol, report.rtol) for row in report.rows[: first.index])


def test_identical_models_say_identical(model, ids):
    report = compare(model, copy.deepcopy(model), ids)
    assert report.verdict()[-1] == ("identical", "Identical: every compared tensor is exactly equal")
    assert {row["colour"] for row in report.to_dict()["rows"]} == {EQUAL}
    assert "Identical: every compared tensor is exactly equal" in report.to_html()
    assert "no divergence" not in report.to_text().lower()


def test_relative_error_measures_near_zero_values_against_a_floor():
    ref = torch.tensor([10.0, 1e-6, -4.0], dtype=torch.float64)
    cand = torch.tensor([10.0, 1e-6 + 1e-3, -4.0], dtype=torch.float64)
    # floor = 1% of max|ref| = 0.1: the 1e-3 error on 1e-6 reads 1e-3 / 0.1, not 1e3
    assert error_metrics(ref, cand)["max_rel_err"] == pytest.approx(1e-2)
    assert error_metrics(ref, cand, rel_floor=0.0)["max_rel_err"] == pytest.approx(1e-3 / 1e-6)
    far = torch.tensor([10.0, 1e-6, -4.5], dtype=torch.float64)  # 0.5 on 4: above the floor, its own scale
    assert error_metrics(ref, far)["max_rel_err"] == pytest.approx(0.125)


def test_per_position_errors_follow_causality(model):
    """A wrong embedding row for token 42, which only position 3 holds: the embeddings differ at
    position 3 alone, and in a causal model every later output differs from position 3 on."""
    ids = {"input_ids": torch.tensor([[5, 6, 7, 42, 8, 9]])}
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.model.embed_tokens.weight[42] += 0.5

    class Tokens:
        def convert_ids_to_tokens(self, seq):
            return [f"t{i}" for i in seq]

    report = compare(model, broken, ids, tokenizer=Tokens())
    first = report.first_divergence()
    assert first.reference == "model.embed_tokens" and report.token_ids == [[5, 6, 7, 42, 8, 9]]
    assert [error > 0 for error in first.position_errors[0]] == [False, False, False, True, False, False]
    assert first.position_errors[0][3] == pytest.approx(0.5, rel=1e-6)
    output = report.output_row()
    assert output.reference == "logits"
    assert output.position_errors[0][:3] == [0.0, 0.0, 0.0] and all(e > 0 for e in output.position_errors[0][3:])
    page = report.to_html()
    assert "error per position at the first divergence" in page and "positions over the tolerance: 3" in page
    assert "t42" in page and report.tokens == [["t5", "t6", "t7", "t42", "t8", "t9"]]
