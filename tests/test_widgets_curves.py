"""TrainingCurves: one progress readout (the Trainer's console ones step aside in a notebook), the
series against the Trainer's own log_history, curves rebuilt from checkpoints, runs compared,
smoothing (against a hand computation), log-y, hover values, CSV read back, the themed views and
the saved view. No kernel runs here: ``notebook=True`` builds the live widgets without one."""

import csv
import io
import re
from types import SimpleNamespace

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

from tests.training.tiny import tiny_model, tiny_rows  # noqa: E402
from workbench import PrinterCallback, ProgressCallback, Trainer, TrainerCallback, TrainingArguments  # noqa: E402
from workbench.theme import SENTINELS  # noqa: E402
from workbench.widgets import TrainingCurves  # noqa: E402
from workbench.widgets.curves_figure import draw  # noqa: E402
from workbench.widgets.training_runs import Run, ema, load_run  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def train(tmp_path, curves=None, **overrides):
    values = dict(output_dir=str(tmp_path), per_device_train_batch_size=4, learning_rate=1e-3, max_steps=6,
                  save_strategy="no", logging_steps=2, disable_tqdm=False, use_cpu=True, report_to="none")
    values.update(overrides)
    trainer = Trainer(model=tiny_model(), args=TrainingArguments(**values), train_dataset=tiny_rows(16),
                      eval_dataset=tiny_rows(8, seed=1), callbacks=[curves] if curves is not None else None)
    trainer.train()
    return trainer


def points_from_history(history, name):
    """The independent truth: the Trainer's own record of what it logged."""
    return [(entry["step"], entry[name]) for entry in history if name in entry]


class Handle:
    """Stands in for IPython's DisplayHandle: records what the saved output was rewritten with."""

    def __init__(self):
        self.bundles = []

    def update(self, bundle, **kwargs):
        self.bundles.append(bundle)


# --- one progress readout ------------------------------------------------------------------------


@pytest.mark.parametrize("disable_tqdm", [False, True], ids=["progress-bar", "printer"])
def test_in_a_notebook_the_console_readouts_step_aside_and_come_back(tmp_path, capfd, disable_tqdm):
    curves = TrainingCurves(notebook=True, min_interval=0)
    handle = Handle()
    curves._display_handles = [handle]  # as if displayed in a kernel
    trainer = train(tmp_path, curves, disable_tqdm=disable_tqdm, eval_strategy="steps", eval_steps=3,
                    gradient_accumulation_steps=2)
    out, err = capfd.readouterr()
    assert "{'loss'" not in out + err and "'eval_loss'" not in out + err  # no printed log dicts
    assert "it/s" not in err and "s/it" not in err and "%|" not in err  # no tqdm bar
    console = ProgressCallback if not disable_tqdm else PrinterCallback
    assert any(isinstance(c, console) for c in trainer.callback_handler.callbacks)  # muted, not removed
    state = trainer.state
    assert state.global_step == state.max_steps == 6
    # the bar, its text and the saved view agree with the Trainer's count (optimizer steps)
    assert (curves.progress_bar.value, curves.progress_bar.max) == (state.global_step, state.max_steps)
    assert curves.progress_bar.bar_style == "success"
    assert "step 6 of 6 (100%)" in curves.readout.value and "epoch" in curves.readout.value
    saved = handle.bundles[-1]["text/html"]
    assert "step 6 of 6 (100%)" in saved and "<svg" in saved
    counts = re.findall(r"step (\d+) of (\d+)", saved)
    assert set(counts) == {("6", "6")}  # no other, stale count anywhere in the view (the figure has none)
    assert curves.series["loss"] == points_from_history(state.log_history, "loss")
    assert curves.series["eval_loss"] == points_from_history(state.log_history, "eval_loss")
    # training over: the console readouts run again
    trainer.log({"probe": 1.0})
    out, err = capfd.readouterr()
    if disable_tqdm:
        assert "'probe': '1'" in out
    trainer.evaluate()
    out, err = capfd.readouterr()
    assert ("'eval_loss'" in out) if disable_tqdm else ("%|" in err)  # printed dict, or tqdm's eval bar


def test_in_a_terminal_nothing_changes(tmp_path, capfd):
    lines = []
    curves = TrainingCurves(notebook=False, log=lines.append)
    assert curves.replaces_console_readout is False
    trainer = train(tmp_path, curves, disable_tqdm=True)
    out, _ = capfd.readouterr()
    assert out.count("{'loss'") == 3  # the PrinterCallback kept printing
    assert lines[0] == "training: 6 steps" and lines[1].startswith("step 2 of 6 (33%)")
    assert curves.series["loss"] == points_from_history(trainer.state.log_history, "loss")


def test_a_callback_removed_mid_training_gives_the_console_back(tmp_path, capfd):
    curves = TrainingCurves(notebook=True, min_interval=0)

    class Detach(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 4:
                trainer.remove_callback(curves)

    values = dict(output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=6, save_strategy="no",
                  logging_steps=2, disable_tqdm=True, use_cpu=True, report_to="none")
    trainer = Trainer(model=tiny_model(), args=TrainingArguments(**values), train_dataset=tiny_rows(16),
                      callbacks=[curves, Detach()])
    trainer.train()
    out, _ = capfd.readouterr()
    printed_steps = [entry["step"] for entry in trainer.state.log_history if "loss" in entry][1:]
    assert out.count("{'loss'") == 2 and printed_steps == [4, 6]  # only after it was removed
    assert curves.series["loss"][-1][0] == 2


def test_an_interrupted_run_gives_the_console_back(tmp_path, capfd):
    """A notebook's stop button raises KeyboardInterrupt inside train(): the evaluate() that follows
    prints its logs again (the console readouts are muted only while training runs)."""
    curves = TrainingCurves(notebook=True, min_interval=0)

    class Stop(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                raise KeyboardInterrupt

    values = dict(output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=6, save_strategy="no",
                  logging_steps=1, disable_tqdm=True, use_cpu=True, report_to="none")
    trainer = Trainer(model=tiny_model(), args=TrainingArguments(**values), train_dataset=tiny_rows(16),
                      eval_dataset=tiny_rows(8, seed=1), callbacks=[curves, Stop()])
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    out, _ = capfd.readouterr()
    assert "{'loss'" not in out  # muted while it trained
    trainer.evaluate()
    out, _ = capfd.readouterr()
    assert "'eval_loss'" in out


# --- rebuilt from checkpoints, runs compared, CSV --------------------------------------------------


def test_from_checkpoint_gives_the_curves_the_live_run_drew(tmp_path):
    live = TrainingCurves(notebook=False, log=lambda line: None)
    trainer = train(tmp_path / "run1", live, save_strategy="steps", save_steps=3, eval_strategy="steps", eval_steps=3)
    history = trainer.state.log_history
    rebuilt = TrainingCurves.from_checkpoint(tmp_path / "run1")  # finds checkpoint-6, the latest
    assert rebuilt.run.source.endswith("checkpoint-6/trainer_state.json")
    for name in ("loss", "grad_norm", "learning_rate", "eval_loss"):
        assert rebuilt.series[name] == points_from_history(history, name) == live.series[name]
    assert rebuilt.run.epochs == live.run.epochs
    assert rebuilt.run.label == "run1" and (rebuilt.step, rebuilt.max_steps) == (6, 6)
    assert rebuilt.progress_text().startswith("step 6 of 6 (100%)")
    older = TrainingCurves.from_checkpoint(tmp_path / "run1" / "checkpoint-3")
    assert older.series["loss"] == [p for p in live.series["loss"] if p[0] <= 3] and older.run.label == "run1"
    trainer.save_state()  # the output_dir's own file, with the final train_* summary, wins the tie at step 6
    assert TrainingCurves.from_checkpoint(tmp_path / "run1").summary["train_loss"] == live.summary["train_loss"]
    with pytest.raises(FileNotFoundError, match="save_strategy"):
        TrainingCurves.from_checkpoint(tmp_path)
    # a run resumed after a kernel restart: a fresh widget starts from the checkpoint's history
    resumed = TrainingCurves(notebook=False, log=lambda line: None)
    values = dict(output_dir=str(tmp_path / "run1"), per_device_train_batch_size=4, learning_rate=1e-3, max_steps=6,
                  save_strategy="no", logging_steps=2, disable_tqdm=True, use_cpu=True, report_to="none")
    again = Trainer(model=tiny_model(), args=TrainingArguments(**values), train_dataset=tiny_rows(16),
                    callbacks=[resumed])
    again.train(resume_from_checkpoint=str(tmp_path / "run1" / "checkpoint-3"))
    assert resumed.series["loss"] == points_from_history(again.state.log_history, "loss")
    assert [step for step, _ in resumed.series["loss"]] == [2, 4, 6]


def test_runs_compared_are_labelled_and_exported(tmp_path):
    for name, rate in (("run1", 1e-3), ("run2", 3e-3)):
        train(tmp_path / name, learning_rate=rate, disable_tqdm=True, save_strategy="steps", save_steps=6).save_state()
    both = TrainingCurves.compare(tmp_path / "run1", tmp_path / "run2")
    assert [run.label for run in both.runs] == ["run1", "run2"]
    svg = both.to_svg()
    assert "run1 · loss" in svg and "run2 · loss" in svg  # legend entries
    assert 'aria-label="training curves (loss, learning rate, grad norm) of 2 runs: run1, run2"' in svg
    named = TrainingCurves.compare(tmp_path / "run1", tmp_path / "run2", labels=["slow", "fast"])
    assert [run.label for run in named.runs] == ["slow", "fast"]
    with pytest.raises(ValueError, match="one label per run"):
        TrainingCurves.compare(tmp_path / "run1", labels=["a", "b"])

    live = TrainingCurves(notebook=False, log=lambda line: None, compare_with={"baseline": tmp_path / "run1"})
    trainer = train(tmp_path / "run3", live, disable_tqdm=True)
    assert [run.label for run in live.runs] == ["run3", "baseline"]
    path = tmp_path / "curves.csv"
    text = live.to_csv(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert text == path.read_text() and list(rows[0])[:3] == ["run", "step", "epoch"]
    for label, history in (("run3", trainer.state.log_history), ("baseline", load_history(tmp_path / "run1"))):
        mine = [row for row in rows if row["run"] == label]
        expected = [entry for entry in history if "loss" in entry]
        assert [int(row["step"]) for row in mine] == [entry["step"] for entry in expected]
        assert [float(row["loss"]) for row in mine] == [entry["loss"] for entry in expected]  # repr: exact
        assert [float(row["epoch"]) for row in mine] == [entry["epoch"] for entry in expected]
        assert [float(row["learning_rate"]) for row in mine] == [entry["learning_rate"] for entry in expected]


def load_history(folder):
    import json

    return json.loads((folder / "trainer_state.json").read_text())["log_history"]


# --- smoothing, log-y, hover values, theme ---------------------------------------------------------


def test_ema_is_the_debiased_weighted_mean_of_the_past():
    values, weight = [4.0, 1.0, 3.0, 0.5], 0.6
    for index, smoothed in enumerate(ema(values, weight)):
        weights = [weight ** (index - k) for k in range(index + 1)]  # by hand: sum w^k v / sum w^k
        expected = sum(w * v for w, v in zip(weights, values)) / sum(weights)
        assert smoothed == pytest.approx(expected, rel=1e-12)
    assert ema(values, 0.0) == values
    with pytest.raises(ValueError, match=r"outside \[0, 1\)"):
        ema(values, 1.0)


def fake_run(curves, steps=40):
    """The events a Trainer sends: a log every 5 steps, an evaluation every 20 (logged, then passed
    to on_evaluate, as the reference does), the final train_* summary."""
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


def test_hover_values_sit_on_their_points_and_name_them():
    curves = TrainingCurves(notebook=False, log=lambda line: None)
    fake_run(curves)
    svg = curves.to_svg()
    titles = re.findall(r'<circle class="wb-point" cx="([\d.]+)" cy="([\d.]+)" r="4"><title>([^<]*)</title>', svg)
    assert len(titles) == 8 * 3 + 2 * 2  # every logged point of every series
    loss = [(float(x), float(y), text) for x, y, text in titles if text.startswith("loss at")]
    assert loss[0][2] == "loss at step 5 (epoch 0.25): 0.8"
    xs, ys = [x for x, _, _ in loss], [y for _, y, _ in loss]
    assert xs == sorted(xs) and ys == sorted(ys)  # steps to the right; the loss falls, so y (from the top) grows
    # against matplotlib's own drawing: the loss line (the first one in colour C0) passes through each target
    path = re.search(r'<path d="([^"]*)"[^>]*style="fill: none; stroke: #1f77b4', svg).group(1)
    vertices = [(float(x), float(y)) for x, y in re.findall(r"([\d.]+) ([\d.]+)", path)]
    for x, y, _ in loss:
        # within the rounding of the written coordinates (2 decimals: at most 0.005 * sqrt(2) off)
        assert min(distance_to_segment((x, y), a, b) for a, b in zip(vertices, vertices[1:])) < 0.0075
    smoothed = TrainingCurves(notebook=False, log=lambda line: None, smoothing=0.5)
    fake_run(smoothed)
    assert "loss at step 10 (epoch 0.50): 0.4, smoothed 0.5333" in smoothed.to_svg()  # (0.5*0.8 + 0.4) / 1.5


def distance_to_segment(point, a, b):
    (px, py), (ax, ay), (bx, by) = point, a, b
    length = (bx - ax) ** 2 + (by - ay) ** 2
    t = 0.0 if length == 0 else max(0.0, min(1.0, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / length))
    return ((px - ax - t * (bx - ax)) ** 2 + (py - ay - t * (by - ay)) ** 2) ** 0.5


def test_log_y_applies_where_every_value_is_positive():
    run = Run(series={"loss": [(1, 2.0), (2, 0.5)], "learning_rate": [(1, 1e-4), (2, 0.0)]})
    figure, _ = draw([run], log_y=True)
    assert [ax.get_yscale() for ax in figure.axes] == ["log", "linear"]  # a zero learning rate stays linear
    figure, _ = draw([run], log_y=False)
    assert [ax.get_yscale() for ax in figure.axes] == ["linear", "linear"]


def test_views_use_theme_variables_only():
    curves = TrainingCurves(notebook=True, min_interval=0)
    fake_run(curves)
    for html in (curves.to_html(), curves.figure.value, curves.readout.value):
        assert 'class="wb-view' in html and "<style>" in html
        assert not re.findall(r"[;{\s\"](?:color|background(?:-color)?)\s*:\s*#", html)  # text and backgrounds
        texts = re.findall(r'<text[^>]*style="([^"]*)"', html)
        assert all(style.endswith("fill: var(--wb-fg)") for style in texts)  # every figure text follows the theme
        # a literal colour only on the data: line strokes and their markers
        assert all(tag.startswith(("<use ", "<path ")) for tag in re.findall(r"<[^>]*fill: #[^>]*>", html))
        assert not set(re.findall(r"#[0-9a-f]{6}", html, re.IGNORECASE)) & set(SENTINELS)
        assert "fill: #ffffff" not in html.lower() and "<img" not in html  # no white slab, no PNG
    assert "<svg role=\"img\"" in curves.to_html() and 'tabindex="0"' in curves.to_html()  # the last-values table
    assert curves.to_png().startswith(PNG_SIGNATURE)  # still there for files and reports


# --- the live widget ---------------------------------------------------------------------------------


def test_controls_are_labelled_and_redraw(tmp_path):
    curves = TrainingCurves(notebook=True, min_interval=3600)
    fake_run(curves)
    assert curves.draw_count == 4  # throttled: the first log, then only the two evaluations and the end
    assert curves.smoothing_slider.description == "smoothing (EMA)" and curves.log_y_box.description == "log-scale y axis"
    assert curves.export_button.description == "Export CSV" and curves.progress_bar.description == "progress"
    assert "smoothed" not in curves.figure.value
    curves.smoothing_slider.value = 0.9
    assert curves.smoothing == 0.9 and "smoothed" in curves.figure.value and curves.draw_count == 5
    curves.log_y_box.value = True
    assert curves.log_y and curves.draw_count == 6
    path = curves.export_csv(tmp_path / "out.csv")
    rows = list(csv.DictReader(open(path)))
    assert [float(row["loss"]) for row in rows] == [4 / s for s in range(5, 41, 5)]
    assert "8 rows saved to" in curves.export_status.value and 'download="training_curves.csv"' in curves.export_status.value
    assert curves.lines == []  # no log lines in a notebook


def test_evaluating_shows_in_the_readout_and_a_lone_evaluate_refreshes_the_saved_view():
    curves = TrainingCurves(notebook=True, min_interval=0)
    fake_run(curves)
    handle = Handle()
    curves._display_handles = [handle]
    state = SimpleNamespace(global_step=40, max_steps=40, epoch=2.0)
    for _ in range(2):
        curves.on_prediction_step(None, state, None, eval_dataloader=[0, 1, 2])
    assert "evaluating: batch 2 of 3" in curves.progress_text()
    curves.on_evaluate(None, state, None, metrics={"eval_loss": 0.01})
    assert "evaluating" not in curves.progress_text() and curves.series["eval_loss"][-1] == (40, 0.01)
    assert len(handle.bundles) == 1 and "step 40 of 40" in handle.bundles[0]["text/html"]


def test_series_and_log_lines_outside_a_kernel():
    lines = []
    curves = TrainingCurves(log=lines.append)
    assert curves.notebook is False  # no Jupyter kernel runs the tests
    fake_run(curves)
    assert curves.series["loss"] == [(s, 4 / s) for s in range(5, 41, 5)]
    assert curves.series["eval_loss"] == [(20, 0.15), (40, 0.075)]  # logged and evaluated: kept once
    assert set(curves.series) == {"loss", "learning_rate", "grad_norm", "eval_loss", "eval_accuracy"}
    assert curves.summary == {"train_runtime": 12.5, "train_loss": 0.4, "total_flos": 1e9}
    assert len(lines) == 1 + 8 + 2 + 1  # begin, 8 logs, 2 evaluations (printed once each), end
    assert lines[1].startswith("step 5 of 40 (12%) | epoch 0.25 | elapsed ") and lines[1].endswith(
        "| loss 0.8 | learning_rate 8.75e-05 | grad_norm 2.5")
    assert lines[-1].startswith("training done: 40 steps in ") and "train_loss 0.4" in lines[-1]
    assert curves.widget is None and curves.draw_count == 0  # nothing drawn for a terminal
    assert [title for title, _ in curves.panels()] == ["loss", "learning rate", "grad norm", "metrics"]


def test_has_every_callback_event_of_the_reference():
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


def test_load_run_names_a_missing_folder():
    with pytest.raises(FileNotFoundError, match="output_dir"):
        load_run("no/such/run")


# --- adapters: the table above the curves, live, saved, compared -------------------------------------


def adapter_numel(model, name):
    """By hand: the values of adapter ``name``'s LoRA matrices (their keys hold lora_ and the name)."""
    return sum(p.numel() for key, p in model.named_parameters() if "lora_" in key and name in key.split("."))


@pytest.fixture(scope="module")
def lora_runs(tmp_path_factory):
    """A reference tiny llama with two LoRA adapters trained in turn, each run under TrainingCurves
    (a checkpoint at its last step): run1 trains "sft" (r=4 on q/v), run2 "wide" (r=2 on every linear)."""
    peft = pytest.importorskip("peft")
    import torch

    from model_registry import TINY_DECODER
    from reference import build_reference_model

    from workbench import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("lora-runs")
    build_reference_model("llama", "LlamaForCausalLM", TINY_DECODER).save_pretrained(root / "base")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(root / "base")
    generator = torch.Generator().manual_seed(0)
    rows = [{"input_ids": ids, "labels": ids}
            for ids in (torch.randint(3, 90, (8,), generator=generator).tolist() for _ in range(16))]
    runs = {}
    for name, config in (("sft", peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])),
                         ("wide", peft.LoraConfig(r=2, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                                  "up_proj", "down_proj"]))):
        model.add_adapter(config, adapter_name=name)  # the new one is active and trains; peft freezes the other
        curves = TrainingCurves(notebook=True, min_interval=0)
        curves._display_handles = [Handle()]
        folder = root / ("run1" if name == "sft" else "run2")
        args = TrainingArguments(output_dir=str(folder), per_device_train_batch_size=4, max_steps=4, logging_steps=2,
                                 save_strategy="steps", save_steps=4, learning_rate=1e-2, use_cpu=True,
                                 report_to="none", disable_tqdm=True)
        Trainer(model=model, args=args, train_dataset=rows, callbacks=[curves]).train()
        runs[name] = SimpleNamespace(curves=curves, folder=folder, summary=model.adapter_summary(),
                                     numel=adapter_numel(model, name), total=sum(p.numel() for p in model.parameters()),
                                     trainable=sum(p.numel() for p in model.parameters() if p.requires_grad))
    return SimpleNamespace(model=model, runs=runs, root=root)


def test_the_adapter_table_counts_what_the_model_holds_and_follows_set_adapter(lora_runs):
    from workbench.widgets.adapter_table import AdapterTable

    model = lora_runs.model
    model.set_adapter("sft")
    table = AdapterTable.from_model(model)
    by_name = {row["name"]: row for row in table.rows}
    assert [(name, row["method"], row["active"]) for name, row in by_name.items()] == \
        [("sft", "LORA", True), ("wide", "LORA", False)]
    for name in ("sft", "wide"):
        assert by_name[name]["parameters"] == adapter_numel(model, name) > 0
    assert table.total == sum(p.numel() for p in model.parameters())
    assert table.trainable == sum(p.numel() for p in model.parameters() if p.requires_grad) == adapter_numel(model, "sft")
    share = f"{100 * table.trainable / table.total:.2f}%"
    assert table.summary() == f"adapters: 2 loaded, 1 active; trainable {table.trainable:,} of {table.total:,} parameters ({share})"
    lines = table.to_text().splitlines()
    assert lines[1].startswith("  * sft ") and "active" in lines[1] and "r=4, alpha=8, targets q_proj, v_proj" in lines[1]
    assert lines[2].startswith("    wide") and "loaded" in lines[2]
    html = table.to_html()
    assert f'<tr class="active"><td>* sft</td><td>LORA</td><td>active</td><td class="num">{adapter_numel(model, "sft"):,}</td>' in html
    model.set_adapter("wide")
    switched = AdapterTable.from_model(model)
    assert [row["active"] for row in switched.rows] == [False, True]
    assert '<tr class="active"><td>* wide</td>' in switched.to_html()
    model.disable_adapters()
    assert "0 active" in AdapterTable.from_model(model).summary()
    model.enable_adapters()


def test_the_curves_show_the_adapter_each_run_trained_live_saved_and_reopened(lora_runs):
    for name, run in lora_runs.runs.items():
        curves = run.curves
        row = next(r for r in run.summary if r["name"] == name)
        assert row["active"] and row["parameters"] == row["trainable"] == run.numel
        count = f'<td class="num">{run.numel:,}</td>'
        share = f"trainable {run.trainable:,} of {run.total:,} parameters ({100 * run.trainable / run.total:.2f}%)"
        saved = curves._display_handles[0].bundles[-1]  # the saved copy, for a notebook reopened without its kernel
        for view in (curves.figure.value, curves.to_html(), saved["text/html"]):  # live widget and static HTML
            assert f'<tr class="active"><td>* {name}</td><td>LORA</td><td>active</td>{count}{count}' in view
            assert share in view and view.index("wb-adapters") < view.index("<svg")  # above the curves
        assert f"* {name}" in saved["text/plain"] and share in curves.to_text()
        other = "wide" if name == "sft" else "sft"
        assert (f"<td>{other}</td><td>LORA</td><td>loaded</td>" in curves.to_html()) == (name == "wide")  # added second
        assert f'aria-label="training curves (loss, grad norm, learning rate) of adapter {name} (LORA' in \
            curves.to_svg().replace("(loss, learning rate, grad norm)", "(loss, grad norm, learning rate)")
    # reopened from the checkpoints: the adapter each run saved, counted from its files' headers
    both = TrainingCurves.compare(lora_runs.runs["sft"].folder, lora_runs.runs["wide"].folder)
    tables = {run.label: run.adapters for run in both.runs}
    assert [(label, t.rows[0]["parameters"], t.rows[0]["details"]) for label, t in tables.items()] == [
        ("run1", lora_runs.runs["sft"].numel, "r=4, alpha=8, targets q_proj, v_proj"),
        ("run2", lora_runs.runs["wide"].numel,
                 "r=2, alpha=8, targets down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj")]
    html = both.to_html()
    assert "run1: adapter (from its saved files)" in html and "run2: adapter (from its saved files)" in html
    assert 'of 2 runs: run1 (adapter LORA, r=4, alpha=8, targets q_proj, v_proj), run2 (adapter LORA, r=2' in both.to_svg()
    base = lora_runs.runs["sft"].total - lora_runs.runs["sft"].numel  # the base model alone
    assert tables["run1"].total == base + lora_runs.runs["sft"].numel  # base located from the adapter's config


def test_the_adapter_view_uses_theme_variables_only(lora_runs):
    from workbench.theme import VIEW_CSS
    from workbench.widgets.adapter_table import CSS

    html = lora_runs.runs["sft"].curves.to_html()
    assert html.index(VIEW_CSS) < html.index(CSS)  # both palettes (light, dark) defined before the table's rules
    colours = re.findall(r"(?:^|[;{])(color|background(?:-color)?|border-bottom)\s*:\s*([^;}]*)", CSS)
    assert colours and all("var(--wb-" in value or value == "transparent" for _, value in colours)
    assert not re.findall(r"[;{\s\"](?:color|background(?:-color)?)\s*:\s*#", html)
