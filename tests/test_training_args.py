"""TrainingArguments (defaults, errors), HfArgumentParser and learning-rate schedules."""

import enum
import json
import logging
from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest
import torch

import workbench
from workbench import HfArgumentParser, TrainingArguments
from workbench.training import IntervalStrategy, Seq2SeqTrainingArguments, get_scheduler

transformers = pytest.importorskip("transformers")

SHARED_DEFAULTS = ["per_device_train_batch_size", "per_device_eval_batch_size", "num_train_epochs", "max_steps",
                   "learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm",
                   "gradient_accumulation_steps", "logging_steps", "save_steps", "seed", "warmup_steps", "optim",
                   "load_best_model_at_end", "remove_unused_columns", "dataloader_num_workers", "save_total_limit"]


def test_defaults_match_reference(tmp_path):
    ours, theirs = TrainingArguments(output_dir=str(tmp_path)), transformers.TrainingArguments(output_dir=str(tmp_path))
    for name in SHARED_DEFAULTS:
        assert getattr(ours, name) == getattr(theirs, name), name
    for name in ("eval_strategy", "save_strategy", "logging_strategy", "lr_scheduler_type"):
        assert getattr(ours, name).value == getattr(theirs, name).value, name
    assert ours.report_to == [] and ours.output_dir == str(tmp_path)
    assert TrainingArguments().output_dir == "trainer_output"
    assert TrainingArguments(eval_strategy="steps", logging_steps=7).eval_steps == 7


def test_unknown_argument_suggests_the_field():
    with pytest.raises(TypeError, match=r"'learning_rte' \(did you mean 'learning_rate'\?\)"):
        TrainingArguments(output_dir="x", learning_rte=1e-4)
    with pytest.raises(TypeError, match="did you mean 'eval_strategy'"):
        TrainingArguments(evaluation_strategy="epoch")
    with pytest.raises(TypeError, match="did you mean 'predict_with_generate'"):
        Seq2SeqTrainingArguments(predict_with_generation=True)


@pytest.mark.parametrize("kwargs, message", [
    (dict(load_best_model_at_end=True, eval_strategy="epoch"), "save_strategy equal to eval_strategy"),
    (dict(load_best_model_at_end=True), "needs evaluations"),
    (dict(load_best_model_at_end=True, eval_strategy="steps", eval_steps=30, save_steps=50), "multiple of eval_steps"),
    (dict(fp16=True, use_cpu=True), "fp16=True needs a CUDA GPU"),
    (dict(fp16=True, bf16=True), "not both"),
    (dict(warmup_ratio=1.5), r"warmup_ratio must be in \[0, 1\]"),
    (dict(warmup_ratio=0.1, warmup_steps=10), "not both"),
    (dict(eval_strategy="epochs"), "Did you mean 'epoch'"),
    (dict(lr_scheduler_type="cosin"), "Did you mean 'cosine'"),
    (dict(optim="adamw"), "Did you mean 'adamw_torch'"),
    (dict(save_steps=2.5), "whole number"),
    (dict(gradient_accumulation_steps=0), "at least 1"),
    (dict(save_strategy="best"), "eval_strategy='no'"),
])
def test_contradictions_raise_with_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainingArguments(output_dir="x", **kwargs)


def test_valid_combinations():
    args = TrainingArguments(output_dir="x", load_best_model_at_end=True, eval_strategy="steps", eval_steps=10,
                             save_steps=30, bf16=True, use_cpu=True, warmup_ratio=0.1)
    assert args.metric_for_best_model == "loss" and args.greater_is_better is False
    assert args.get_warmup_steps(95) == 10
    assert TrainingArguments(warmup_steps=0.25).get_warmup_steps(10) == 3
    assert TrainingArguments(metric_for_best_model="accuracy").greater_is_better is True
    assert args.eval_strategy == "steps" and args.eval_strategy is IntervalStrategy.STEPS


def test_report_to(caplog):
    assert TrainingArguments(report_to="none").report_to == []
    assert TrainingArguments(report_to=["none"]).report_to == []
    assert isinstance(TrainingArguments(report_to="all").report_to, list)
    with caplog.at_level(logging.WARNING, logger="workbench"):
        assert TrainingArguments(report_to=["wandb"]).report_to == []
    assert "not supported by workbench" in caplog.text


def test_to_dict_round_trips_through_json():
    args = TrainingArguments(output_dir="x", hub_token="secret", eval_strategy="epoch", label_names=["labels"])
    data = json.loads(args.to_json_string())
    assert data["eval_strategy"] == "epoch" and data["hub_token"] == "<HUB_TOKEN>"
    data.pop("hub_token")
    again = TrainingArguments(**data)
    assert again.eval_strategy == args.eval_strategy and again.label_names == ["labels"]


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class ScriptArguments:
    model_name_or_path: str = field(metadata={"help": "Model to fine-tune."})
    max_samples: Optional[int] = field(default=None, metadata={"help": "Truncate the data."})
    mode: Literal["fast", "slow"] = "fast"
    color: Color = Color.RED
    flag: bool = False
    cache: bool = True
    layers: list[int] = field(default_factory=lambda: [1, 2])
    ratio: float = field(default=0.5, metadata={"aliases": ["-r"]})


def test_parser_builds_arguments_from_dataclasses(tmp_path):
    parser = HfArgumentParser((ScriptArguments, TrainingArguments))
    script, args = parser.parse_args_into_dataclasses(
        ["--model_name_or_path", "m", "--max-samples", "5", "--mode", "slow", "--color", "blue", "--flag",
         "--no_cache", "--layers", "3", "4", "-r", "0.25", "--output_dir", str(tmp_path), "--bf16", "true",
         "--eval_strategy", "epoch", "--report_to", "none", "--learning_rate", "3e-5", "--overwrite_output_dir"],
        look_for_args_file=False)
    # like the reference, an Enum field receives the chosen value (the dataclass may convert it)
    assert (script.model_name_or_path, script.max_samples, script.mode, script.color) == ("m", 5, "slow", "blue")
    assert script.flag is True and script.cache is False and script.layers == [3, 4] and script.ratio == 0.25
    assert args.bf16 is True and args.eval_strategy == "epoch" and args.learning_rate == 3e-5
    assert args.overwrite_output_dir and args.report_to == []
    defaults, _ = parser.parse_args_into_dataclasses(["--model_name_or_path", "m"], look_for_args_file=False)
    assert defaults.max_samples is None and defaults.cache is True and defaults.layers == [1, 2]
    help_text = parser.format_help()
    assert "Model to fine-tune." in help_text and "{fast,slow}" in help_text and "--no_cache" in help_text
    with pytest.raises(SystemExit):
        parser.parse_args_into_dataclasses([], look_for_args_file=False)  # model_name_or_path is required
    with pytest.raises(ValueError, match="not used"):
        parser.parse_args_into_dataclasses(["--model_name_or_path", "m", "--bogus", "1"], look_for_args_file=False)


def test_parser_matches_reference_parser():
    argv = ["--output_dir", "o", "--per_device_train_batch_size", "4", "--fp16", "false", "--save_strategy", "epoch",
            "--eval_strategy", "epoch", "--load_best_model_at_end", "--label_names", "labels", "start_positions",
            "--lr_scheduler_type", "cosine", "--warmup_steps", "0.1", "--no_remove_unused_columns"]
    (ours,) = HfArgumentParser(TrainingArguments).parse_args_into_dataclasses(argv, look_for_args_file=False)
    (theirs,) = transformers.HfArgumentParser(transformers.TrainingArguments).parse_args_into_dataclasses(
        argv, look_for_args_file=False)
    for name in ("output_dir", "per_device_train_batch_size", "fp16", "load_best_model_at_end", "label_names",
                 "warmup_steps", "remove_unused_columns"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.lr_scheduler_type.value == theirs.lr_scheduler_type.value


def test_parse_json_file_and_dict(tmp_path):
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"model_name_or_path": "m", "output_dir": str(tmp_path), "num_train_epochs": 1}))
    script, args = HfArgumentParser((ScriptArguments, TrainingArguments)).parse_json_file(path)
    assert script.model_name_or_path == "m" and args.num_train_epochs == 1
    with pytest.raises(ValueError, match="allow_extra_keys"):
        HfArgumentParser(ScriptArguments).parse_dict({"model_name_or_path": "m", "extra": 1})
    (script,) = HfArgumentParser(ScriptArguments).parse_dict({"model_name_or_path": "m", "extra": 1}, allow_extra_keys=True)
    assert script.model_name_or_path == "m"


@pytest.mark.parametrize("name, extra", [("linear", {}), ("cosine", {}), ("cosine", {"num_cycles": 1.5}),
                                         ("cosine_with_restarts", {"num_cycles": 3}), ("polynomial", {"power": 2.0}),
                                         ("constant", {}), ("constant_with_warmup", {}), ("inverse_sqrt", {}),
                                         ("cosine_with_min_lr", {"min_lr_rate": 0.1})])
def test_schedules_match_reference(name, extra):
    def rates(module):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        scheduler = module.get_scheduler(name, optimizer, num_warmup_steps=4, num_training_steps=20,
                                         scheduler_specific_kwargs=dict(extra))
        values = []
        for _ in range(25):
            values.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return values, scheduler

    ours, scheduler = rates(workbench.training)
    theirs, _ = rates(transformers)
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15)
    state = scheduler.state_dict()
    torch.save(state, "/dev/null")  # plain numbers and dicts only: loads with weights_only=True
    with pytest.raises(ValueError, match="Unknown lr_scheduler_type 'linera'"):
        get_scheduler("linera", torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))


def test_docs_summarization_command_line():
    """The "Train with a script" flags (script-specific ones come back as remaining strings)."""
    argv = ["--model_name_or_path", "google-t5/t5-small", "--do_train", "--do_eval", "--dataset_name", "cnn_dailymail",
            "--output_dir", "/tmp/tst-summarization", "--per_device_train_batch_size=4", "--per_device_eval_batch_size=4",
            "--overwrite_output_dir", "--predict_with_generate", "--fp16", "false"]
    args, remaining = HfArgumentParser(Seq2SeqTrainingArguments).parse_args_into_dataclasses(
        argv, return_remaining_strings=True, look_for_args_file=False)
    assert args.do_train and args.do_eval and args.overwrite_output_dir and args.predict_with_generate
    assert args.per_device_train_batch_size == 4 and args.output_dir == "/tmp/tst-summarization"
    assert remaining == ["--model_name_or_path", "google-t5/t5-small", "--dataset_name", "cnn_dailymail"]
