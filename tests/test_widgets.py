"""workbench.widgets: each widget driven from Python (values set, buttons clicked), its state and
its static HTML checked. No kernel runs here: the widgets work without one, and TrainingCurves
then writes log lines."""

from __future__ import annotations

import copy
import hashlib
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

import workbench.models.bert as bert  # noqa: E402
import workbench.models.llama as llama  # noqa: E402
from workbench import AutoTokenizer  # noqa: E402
from workbench.porting import compare  # noqa: E402
from workbench.porting.formatting import colour_legend, fmt, row_colour  # noqa: E402
from workbench.widgets import ActivationDiff, ModelPicker, TokenizerInspector, TrainingCurves  # noqa: E402
from workbench import catalog  # noqa: E402
from workbench.widgets import training_curves  # noqa: E402
from workbench.widgets._display import PNG_SIGNATURE  # noqa: E402
from workbench.widgets.token_view import readable, show_whitespace  # noqa: E402

ROOT = Path(__file__).parents[1]
TINY_LLAMA = dict(vocab_size=99, hidden_size=32, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_llama(seed: int = 0, **overrides) -> llama.LlamaForCausalLM:
    torch.manual_seed(seed)
    model = llama.LlamaForCausalLM.from_config(llama.LlamaConfig(**{**TINY_LLAMA, **overrides})).eval()
    with torch.no_grad():  # norms away from 1 so that an epsilon shows
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    return model


# --- TokenizerInspector ----------------------------------------------------------------------------

TEXT = "Tokenization is unbelievable!\nNew line\tand café 🤗"


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    return AutoTokenizer.from_pretrained(smollm2_path)


@pytest.mark.parametrize("which", ["minilm", "smollm2"])
def test_inspector_tokens_ids_and_offsets_are_the_tokenizers_own(which, request):
    tokenizer = request.getfixturevalue(which)
    inspector = TokenizerInspector(tokenizer, text=TEXT)
    encoded = tokenizer(TEXT, return_offsets_mapping=True)
    assert inspector.ids == encoded["input_ids"]
    assert inspector.offsets == [tuple(o) for o in encoded["offset_mapping"]]
    assert [p.token for p in inspector.pieces] == tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    specials = [i for i in encoded["input_ids"] if i in tokenizer.all_special_ids]
    assert [p.id for p in inspector.pieces if p.special] == specials
    page = inspector.to_html()
    assert all(f"<sub>{i}</sub>" in page for i in encoded["input_ids"])
    assert page == inspector.output.value
    assert f"{len(encoded['input_ids'])} tokens" in page


def test_inspector_shows_byte_level_pieces_readably(smollm2):
    inspector = TokenizerInspector(smollm2, text=TEXT)
    by_token = {p.token: p.text for p in inspector.pieces}
    assert by_token["Ġis"] == "·is" and by_token["Ċ"] == "↵" and by_token["ĉ"] == "⇥"
    assert by_token["ĠcafÃ©"] == "·café"
    assert "".join(p.text for p in inspector.pieces[-3:]) == "·\\xf0\\x9f\\xa4\\x97"  # 🤗 in three byte pieces
    assert readable("<0x0A>", "sentencepiece") == "\n" and readable("▁New", "sentencepiece") == " New"
    assert readable("<0xE2>", "sentencepiece") == "<0xE2>" and show_whitespace(" a\tb\n") == "·a⇥b↵"


def test_inspector_follows_the_text_box_and_the_special_tokens_box(minilm):
    inspector = TokenizerInspector(minilm, text="hello")
    inspector.text_box.value = "hello world"
    assert inspector.text == "hello world"
    assert [p.token for p in inspector.pieces] == ["[CLS]", "hello", "world", "[SEP]"]
    assert inspector.pieces[0].special and not inspector.pieces[1].special
    inspector.special_box.value = False
    assert inspector.ids == minilm("hello world", add_special_tokens=False)["input_ids"]
    inspector.text = "bye"
    assert inspector.text_box.value == "bye" and [p.token for p in inspector.pieces] == ["bye"]


def test_side_by_side_finds_where_wordpiece_and_bpe_split_differently(minilm, smollm2):
    inspector = TokenizerInspector(minilm, text="Tokenization is unbelievable", other=smollm2)
    assert [p.id for p in inspector.other_pieces] == smollm2("Tokenization is unbelievable")["input_ids"]
    (difference,) = inspector.differences  # token|ization is cut alike; " is" vs "is" is whitespace only
    assert (difference.start, difference.end, difference.text) == (16, 28, "unbelievable")
    assert difference.tokens == ["unbelievable"] and difference.other_tokens == ["·unbelie", "vable"]
    page = inspector.to_html()
    assert f"{len(inspector.pieces)} tokens" in page and f"{len(inspector.other_pieces)} tokens" in page
    assert "1 places split differently" in page and "·unbelie | vable" in page
    flagged = re.findall(r'class="tk diff"[^>]*>([^<]*)<', page)
    assert flagged == ["unbelievable", "·unbelie", "vable"]
    inspector.text = "Hello world"
    assert inspector.differences == [] and "at the same places" in inspector.to_html()


def test_inspector_bundle_carries_the_tokens_json_for_the_lab_renderer(minilm, smollm2):
    inspector = TokenizerInspector(minilm, text="Tokenization is unbelievable", other=smollm2)
    mime = "application/vnd.workbench.tokens+json"
    data = json.loads(json.dumps(inspector._repr_mimebundle_()[mime]))  # plain JSON
    assert (data["schema"], data["version"], data["name"]) == ("workbench.tokens", 1, inspector.to_dict()["name"])
    assert [t["id"] for t in data["tokens"]] == inspector.ids
    assert [(t["start"], t["end"]) for t in data["tokens"]] == inspector.offsets
    assert [t["text"] for t in data["other"]["tokens"]] == [p.text for p in inspector.other_pieces]
    assert [d["text"] for d in data["differences"]] == ["unbelievable"] and data["chat"] is None
    assert sorted(inspector._repr_mimebundle_(include=[mime, "text/plain"])) == [mime, "text/plain"]


CHAT = [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Hello! Again?"}, {"role": "assistant", "content": "Hello again, friend."}]


def test_chat_view_marks_the_assistant_contents_when_the_template_has_no_generation_block(smollm2):
    inspector = TokenizerInspector(smollm2, chat=CHAT)
    view = inspector.chat_view
    assert view.method == "offsets" and inspector.view == "chat"
    assert [p.id for p in view.pieces] == smollm2.apply_chat_template(CHAT, return_dict=False)
    marked = [p.id for p in view.pieces if p.assistant]
    assert smollm2.decode(marked) == "Hello!Hello again, friend."
    # exactly the tokens inside the two assistant contents: the user's "Hello!" is not marked
    inside = [p.id for p in view.pieces if any(s <= p.start and p.end <= e for s, e in view.spans)]
    assert marked == inside and len(view.spans) == 2
    assert all(view.text[s:e] in ("Hello!", "Hello again, friend.") for s, e in view.spans)
    assert f"{len(marked)} of them the assistant's" in inspector.to_html()
    inspector.view_buttons.value = "text"
    assert "chat template" not in inspector.output.value and "chat template" in inspector.to_html()


def test_chat_view_uses_the_generation_mask_when_the_template_has_one(smollm2):
    template = ("{% if tools %}<|im_start|>system\nTools:{% for t in tools %} {{ t.function.name }}{% endfor %}"
                "<|im_end|>\n{% endif %}"
                "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' %}{% generation %}"
                "{{ m.content }}<|im_end|>{% endgeneration %}{% else %}{{ m.content }}<|im_end|>{% endif %}\n"
                "{% endfor %}")
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.",
                                               "parameters": {"type": "object", "properties": {}}}}]
    inspector = TokenizerInspector(smollm2, chat=CHAT, chat_template=template, tools=tools)
    view = inspector.chat_view
    expected = smollm2.apply_chat_template(CHAT, chat_template=template, tools=tools, return_dict=True,
                                           return_assistant_tokens_mask=True)
    assert view.method == "generation" and view.text.startswith("<|im_start|>system\nTools: get_weather<|im_end|>")
    assert [p.id for p in view.pieces] == expected["input_ids"]
    assert [int(p.assistant) for p in view.pieces] == expected["assistant_masks"]
    assert smollm2.decode([p.id for p in view.assistant_tokens]) == "Hello!<|im_end|>Hello again, friend.<|im_end|>"


# --- ActivationDiff --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eps_diff():
    """Two tiny llamas; the candidate's norms have wrong epsilons: slightly in the first layer
    (errors ~1e-2 from there on), badly in the final norm (errors ~1)."""
    reference = tiny_llama()
    candidate = copy.deepcopy(reference)
    candidate.model.layers[0].input_layernorm.variance_epsilon = 1e-4
    candidate.model.norm.variance_epsilon = 1e-1
    ids = {"input_ids": torch.randint(3, 99, (2, 7), generator=torch.Generator().manual_seed(0))}
    return ActivationDiff(reference, candidate, ids)


def test_activation_diff_names_the_module_where_the_error_enters(eps_diff):
    assert eps_diff.first.reference == "model.layers.0.input_layernorm"
    assert all(row.max_abs_err == 0.0 for row in eps_diff.report.rows[: eps_diff.first.index])
    assert "first divergence: <b>model.layers.0.input_layernorm</b>" in eps_diff.header.value
    assert eps_diff.heatmap_png.startswith(PNG_SIGNATURE) and eps_diff.heatmap.value == eps_diff.heatmap_png
    assert eps_diff.selected is eps_diff.first  # the drill-down opens on it
    bundle = eps_diff._repr_mimebundle_()
    assert "data:image/png;base64," in bundle["text/html"]
    assert "first divergence model.layers.0.input_layernorm" in bundle["text/plain"]


def test_tolerance_slider_moves_the_first_divergence_without_rerunning(eps_diff, monkeypatch):
    import workbench.widgets.activation_diff as module

    monkeypatch.setattr(module, "compare", None)  # a re-run would fail
    report, first = eps_diff.report, eps_diff.first
    layer_errors = [row.max_abs_err for row in report.rows if row.reference.startswith("model.layers.")]
    above = 2 * max(layer_errors)  # past every error the first layer's epsilon causes
    assert above < report["model.norm"].max_abs_err
    eps_diff.atol_slider.value = above
    later = eps_diff.first
    assert later.reference == "model.norm" and later is report.first_divergence(atol=above)
    assert not first.exceeds(eps_diff.atol, eps_diff.rtol)
    assert f"<b>{later.reference}</b>" in eps_diff.header.value and later.reference in eps_diff.to_html()
    eps_diff.atol_slider.value = 10 * report.max_abs_err
    assert eps_diff.first is None and eps_diff.exceeding == []
    assert "no divergence" in eps_diff.header.value and "no divergence" in eps_diff.to_html()
    eps_diff.atol = 1e-5
    assert eps_diff.atol_slider.value == pytest.approx(1e-5) and eps_diff.first is first
    eps_diff.rtol = 10.0  # a relative tolerance alone can hide it too
    assert eps_diff.first is report.first_divergence(atol=1e-5, rtol=10.0) and eps_diff.rtol_box.value == 10.0
    eps_diff.rtol = 1e-4
    assert eps_diff.first is first


def _table_cells(page: str) -> list[list[str]]:
    table = page[page.index("<table><tr><th>#</th>"):]
    table = table[: table.index("</table>")]
    return [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)] for row in table.split("<tr")[2:]]


def test_fallback_html_holds_the_same_numbers_as_the_widget_table(eps_diff):
    widget_cells = _table_cells(eps_diff.table.value)
    fallback_cells = _table_cells(eps_diff.to_html())
    assert widget_cells == fallback_cells == [list(row.values()) for row in eps_diff.table_rows()]
    assert len(widget_cells) == len(eps_diff.report.rows)
    for cells, row in zip(widget_cells, eps_diff.report.rows):
        assert cells[5:8] == [fmt(row.max_abs_err), fmt(row.max_rel_err), fmt(row.mean_abs_err)]
        assert (cells[10] == "yes") == row.exceeds(eps_diff.atol, eps_diff.rtol)


def test_drill_down_shows_both_tensors(eps_diff):
    row = eps_diff.report["model.layers.1.mlp.down_proj"]
    eps_diff.module_menu.value = row.index
    assert eps_diff.selected is row
    details = eps_diff.details.value
    for side in (row.reference_stats, row.candidate_stats):
        for value in (side.mean, side.std, side.min, side.max, side.norm):
            assert fmt(value) in details
    assert "[2, 7, 32]" in details and "float32" in details and fmt(row.max_abs_err) in details
    assert eps_diff.select("model.layers.0.self_attn.q_proj").index == eps_diff.module_menu.value


def _png_colours(png: bytes) -> set[str]:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return {"#%02x%02x%02x" % pixel for _, pixel in image.getcolors(maxcolors=1 << 20)}


def test_heatmap_colours_follow_the_porting_reports_rule(eps_diff):
    """The widget, the report's static HTML and its JSON (what the JupyterLab renderer paints)
    give a row the same colour at the same tolerance, and the PNG is drawn in those colours."""
    from workbench.porting import DiffReport

    report = eps_diff.report
    for atol, rtol in ((1e-5, 1e-4), (2e-2, 0.0), (1e-9, 0.0)):
        eps_diff.atol, eps_diff.rtol = atol, rtol
        same_tolerance = DiffReport(report.rows, atol=atol, rtol=rtol, rel_floor=report.rel_floor, align=report.align,
                                    reference_type=report.reference_type, candidate_type=report.candidate_type)
        page, data = same_tolerance.to_html(), same_tolerance.to_dict()
        colours = eps_diff.cell_colours()
        for row in report.rows:
            assert colours[row.index] == data["rows"][row.index]["colour"] == row_colour(row, atol, rtol)
            assert f'style="background:{colours[row.index]}">{fmt(row.max_abs_err)}</td>' in page
        drawn = _png_colours(eps_diff.heatmap_png)
        assert set(colours.values()) <= drawn, set(colours.values()) - drawn
        assert {colour for colour, _ in colour_legend()} <= drawn  # the legend's swatches
    eps_diff.atol, eps_diff.rtol = 1e-5, 1e-4
    assert len({*eps_diff.cell_colours().values()}) > 2  # not one colour for all: equal rows and diverged ones


def test_activation_diff_accepts_a_report(eps_diff):
    report = compare(tiny_llama(), tiny_llama(), {"input_ids": torch.tensor([[5, 6, 7]])}, atol=1e-3)
    view = ActivationDiff(report)
    assert view.report is report and view.atol == 1e-3 and view.first is None
    assert "no divergence" in view.to_html()
    with pytest.raises(TypeError, match="needs both models"):
        ActivationDiff(tiny_llama())


# --- TrainingCurves --------------------------------------------------------------------------------


def run_fake_training(curves: TrainingCurves, steps: int = 40) -> None:
    """The events a Trainer sends: a log every 5 steps, an evaluation every 20 (logged, then
    passed to on_evaluate, as the reference does), the final train_* summary."""
    state = SimpleNamespace(global_step=0, max_steps=steps, epoch=0.0)
    curves.on_init_end(None, state, None)
    curves.on_train_begin(None, state, None)
    for step in range(1, steps + 1):
        state.global_step, state.epoch = step, step / 20
        curves.on_step_begin(None, state, None)
        curves.on_step_end(None, state, None)
        if step % 5 == 0:
            curves.on_log(None, state, None, logs={"loss": 4 / step, "learning_rate": 1e-4 * (1 - step / steps),
                                                   "grad_norm": 2 + step / 10, "epoch": state.epoch})
        if step % 20 == 0:
            metrics = {"eval_loss": 3 / step, "eval_accuracy": step / 50, "eval_runtime": 0.5,
                       "eval_samples_per_second": 100.0, "epoch": state.epoch}
            curves.on_log(None, state, None, logs=dict(metrics))
            curves.on_evaluate(None, state, None, metrics=metrics)
    curves.on_log(None, state, None, logs={"train_runtime": 12.5, "train_loss": 0.4, "total_flos": 1e9, "epoch": 2.0})
    curves.on_train_end(None, state, None)


def test_training_curves_accumulate_the_series_and_write_log_lines_outside_a_kernel():
    lines = []
    curves = TrainingCurves(log=lines.append)
    assert curves.notebook is False  # no Jupyter kernel runs the tests
    run_fake_training(curves)
    assert curves.series["loss"] == [(s, 4 / s) for s in range(5, 41, 5)]
    assert curves.series["learning_rate"] == [(s, 1e-4 * (1 - s / 40)) for s in range(5, 41, 5)]
    assert curves.series["grad_norm"] == [(s, 2 + s / 10) for s in range(5, 41, 5)]
    assert curves.series["eval_loss"] == [(20, 0.15), (40, 0.075)]  # logged and evaluated: kept once
    assert curves.series["eval_accuracy"] == [(20, 0.4), (40, 0.8)]
    assert set(curves.series) == {"loss", "learning_rate", "grad_norm", "eval_loss", "eval_accuracy"}
    assert curves.summary == {"train_runtime": 12.5, "train_loss": 0.4, "total_flos": 1e9}
    assert lines == curves.lines and lines[0] == "training: 40 steps"
    assert len(lines) == 1 + 8 + 2 + 1  # begin, 8 logs, 2 evaluations (printed once each), end
    assert lines[1].startswith("step 5/40 (12%) | epoch 0.25 | elapsed ") and lines[1].endswith(
        "| loss 0.8 | learning_rate 8.75e-05 | grad_norm 2.5")
    assert "eval_loss 0.15 | eval_accuracy 0.4" in lines[5]
    assert lines[-1].startswith("training done: 40 steps in ") and "train_loss 0.4" in lines[-1]
    assert curves.widget is None and curves.draw_count == 0  # nothing drawn for a terminal
    png = curves.to_png()
    assert png.startswith(PNG_SIGNATURE)
    assert [title for title, _ in curves.panels()] == ["loss", "learning rate", "grad norm", "metrics"]
    assert "data:image/png;base64," in curves.to_html() and "eval_accuracy" in curves.to_html()


def test_training_curves_print_by_default(capsys):
    curves = TrainingCurves()
    state = SimpleNamespace(global_step=3, max_steps=6, epoch=0.5)
    curves.on_train_begin(None, state, None)
    curves.on_log(None, state, None, logs={"loss": 1.5})
    assert capsys.readouterr().out.splitlines()[-1].endswith("| loss 1.5")


def test_training_curves_in_a_notebook_draw_throttled_and_end_on_a_static_png(monkeypatch):
    shown = []

    class Handle:
        def update(self, obj, **kwargs):
            shown.append(("update", obj, kwargs))

    def display(obj, **kwargs):
        shown.append(("display", obj, kwargs))
        return Handle()

    monkeypatch.setattr(training_curves, "_display", display)
    curves = TrainingCurves(notebook=True, min_interval=3600)
    run_fake_training(curves)
    assert shown[0][0] == "display" and shown[0][1] is curves and shown[0][2] == {"display_id": True}
    assert curves.draw_count == 4  # throttled: the first log, then only the two evaluations and the end force one
    assert curves.progress_bar.value == curves.progress_bar.max == 40 and curves.progress_bar.bar_style == "success"
    (output,) = curves.output.outputs
    assert output["data"]["image/png"] and curves.png.startswith(PNG_SIGNATURE)
    kind, final, options = shown[-1]
    assert kind == "update" and options == {"raw": True}
    assert final["image/png"] == curves.png and "data:image/png;base64," in final["text/html"]
    assert curves.lines == []  # no log lines in a notebook


def test_training_curves_has_every_callback_event_of_the_reference():
    trainer_callback = pytest.importorskip("transformers.trainer_callback")
    events = [name for name in dir(trainer_callback.TrainerCallback) if name.startswith("on_")]
    assert events and all(callable(getattr(TrainingCurves, name, None)) for name in events)
    lines = []
    curves = TrainingCurves(log=lines.append)
    handler = trainer_callback.CallbackHandler([trainer_callback.DefaultFlowCallback, curves], None, None, None, None)
    state, control = trainer_callback.TrainerState(max_steps=2), trainer_callback.TrainerControl()
    handler.on_train_begin(SimpleNamespace(), state, control)
    state.global_step = 1
    handler.on_log(SimpleNamespace(), state, control, {"loss": 0.5})
    handler.on_train_end(SimpleNamespace(), state, control)
    assert curves.series == {"loss": [(1, 0.5)]} and len(lines) == 3


# --- the core stays free of UI libraries ---------------------------------------------------------


def test_importing_workbench_and_porting_loads_no_ui_library():
    code = ("import workbench, workbench.porting, workbench.widgets, workbench.catalog, sys, json; "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    modules = json.loads(out.stdout.splitlines()[-1])
    assert not [m for m in modules if m.split(".")[0] in ("ipywidgets", "matplotlib", "IPython", "transformers")]
