"""The callback API: events the Trainer fires, the state it shares, and the flags callbacks set.

A callback subclasses :class:`TrainerCallback` and overrides the events it cares about. Every event
gets ``(args, state, control, **kwargs)`` with ``model``, ``processing_class``, ``optimizer``,
``lr_scheduler``, ``train_dataloader`` and ``eval_dataloader`` in ``kwargs`` (plus ``logs`` for
``on_log`` and ``metrics`` for ``on_evaluate``/``on_predict``). Callbacks steer the loop only through
``control``: returning it (or changing it in place) can stop training, or ask for a log, an
evaluation or a save.

>>> class PrintLoss(TrainerCallback):
...     def on_log(self, args, state, control, logs=None, **kwargs):
...         print(state.global_step, logs.get("loss"))
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from .arguments import IntervalStrategy, SaveStrategy

logger = logging.getLogger("workbench")

EVENTS = ("on_init_end", "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_step_begin",
          "on_pre_optimizer_step", "on_optimizer_step", "on_substep_end", "on_step_end", "on_evaluate", "on_predict",
          "on_save", "on_log", "on_prediction_step", "on_push_begin")


@dataclass
class TrainerState:
    """What the Trainer knows about the run; saved as ``trainer_state.json`` in each checkpoint.

    One step is one optimizer update (``gradient_accumulation_steps`` batches).
    """

    epoch: float = 0
    global_step: int = 0
    max_steps: int = 0
    logging_steps: int = 500
    eval_steps: int = 500
    save_steps: int = 500
    train_batch_size: int | None = None
    num_train_epochs: int = 0
    num_input_tokens_seen: int = 0
    total_flos: float = 0
    log_history: list[dict[str, float]] = field(default_factory=list)
    best_metric: float | None = None
    best_global_step: int | None = None
    best_model_checkpoint: str | None = None
    is_local_process_zero: bool = True
    is_world_process_zero: bool = True
    is_hyper_param_search: bool = False
    trial_name: str | None = None
    trial_params: dict | None = None
    stateful_callbacks: dict = field(default_factory=dict)

    def save_to_json(self, json_path: str) -> None:
        text = json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"
        with open(json_path, "w", encoding="utf-8") as handle:
            handle.write(text)

    @classmethod
    def load_from_json(cls, json_path: str) -> "TrainerState":
        with open(json_path, encoding="utf-8") as handle:
            data = json.load(handle)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def compute_steps(self, args, max_steps: int) -> None:
        """Turn fractional logging/eval/save steps (below 1) into step counts for a run of ``max_steps``."""
        for kind in ("logging", "eval", "save"):
            steps = getattr(args, f"{kind}_steps")
            if steps is not None:
                setattr(self, f"{kind}_steps", math.ceil(max_steps * steps) if steps < 1 else int(steps))


class ExportableState:
    """A callback whose state goes into checkpoints: ``state()`` returns ``{"args": ..., "attributes": ...}``."""

    def state(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: dict):
        instance = cls(**state["args"])
        for key, value in state["attributes"].items():
            setattr(instance, key, value)
        return instance


@dataclass
class TrainerControl(ExportableState):
    """Flags callbacks set to steer the loop. ``should_training_stop`` stays set; the others are reset
    at the next step (``should_epoch_stop`` at the next epoch)."""

    should_training_stop: bool = False
    should_epoch_stop: bool = False
    should_save: bool = False
    should_evaluate: bool = False
    should_log: bool = False

    def _new_training(self) -> None:
        self.should_training_stop = False

    def _new_epoch(self) -> None:
        self.should_epoch_stop = False

    def _new_step(self) -> None:
        self.should_save = self.should_evaluate = self.should_log = False

    def state(self) -> dict:
        return {"args": dataclasses.asdict(self), "attributes": {}}


class TrainerCallback:
    """Base class: every event does nothing. Override the ones you need (see the module docstring).

    Two flags let a callback that shows progress itself (a notebook widget) take over from the
    console: while one with ``replaces_console_readout`` true is attached, ``train()`` skips the
    callbacks with ``console_readout`` true (the progress bar, the printed logs); they run again
    once training ends or that callback is removed. Duck-typed callbacks may set either flag too.
    """

    console_readout = False  # writes progress or logs to the console
    replaces_console_readout = False  # shows them itself: the console ones step aside during train()

    def on_init_end(self, args, state, control, **kwargs):
        """At the end of ``Trainer.__init__``."""

    def on_train_begin(self, args, state, control, **kwargs):
        """At the beginning of training."""

    def on_train_end(self, args, state, control, **kwargs):
        """At the end of training."""

    def on_epoch_begin(self, args, state, control, **kwargs):
        """At the beginning of an epoch."""

    def on_epoch_end(self, args, state, control, **kwargs):
        """At the end of an epoch."""

    def on_step_begin(self, args, state, control, **kwargs):
        """Before the first batch of an optimizer step."""

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        """After gradient clipping, before ``optimizer.step()``."""

    def on_optimizer_step(self, args, state, control, **kwargs):
        """After ``optimizer.step()``, before the gradients are zeroed."""

    def on_substep_end(self, args, state, control, **kwargs):
        """After a batch whose gradients are being accumulated (no optimizer step yet)."""

    def on_step_end(self, args, state, control, **kwargs):
        """After an optimizer step."""

    def on_evaluate(self, args, state, control, **kwargs):
        """After an evaluation (``metrics`` in kwargs)."""

    def on_predict(self, args, state, control, metrics, **kwargs):
        """After a successful ``predict()``."""

    def on_save(self, args, state, control, **kwargs):
        """After a checkpoint is saved."""

    def on_log(self, args, state, control, **kwargs):
        """After logging (``logs`` in kwargs)."""

    def on_prediction_step(self, args, state, control, **kwargs):
        """After each evaluation or prediction batch."""

    def on_push_begin(self, args, state, control, **kwargs):
        """Before pushing to the Hub."""


class CallbackHandler(TrainerCallback):
    """Calls each event on the callbacks in order; the Trainer holds one."""

    def __init__(self, callbacks, model, processing_class, optimizer, lr_scheduler):
        self.callbacks: list[TrainerCallback] = []
        for callback in callbacks:
            self.add_callback(callback)
        self.model, self.processing_class = model, processing_class
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler
        self.train_dataloader = self.eval_dataloader = None
        self.in_train = False  # between on_train_begin and on_train_end

    def add_callback(self, callback) -> None:
        callback = callback() if isinstance(callback, type) else callback
        if type(callback) in {type(c) for c in self.callbacks}:
            logger.warning(f"Adding a second {type(callback).__name__} to the Trainer; callbacks now: {self.callback_list}")
        self.callbacks.append(callback)

    def pop_callback(self, callback):
        for existing in self.callbacks:
            if (isinstance(callback, type) and isinstance(existing, callback)) or existing is callback:
                self.callbacks.remove(existing)
                return existing
        return None

    def remove_callback(self, callback) -> None:
        self.pop_callback(callback)

    @property
    def callback_list(self) -> str:
        return "\n".join(type(c).__name__ for c in self.callbacks)

    def active_callbacks(self) -> list:
        """The callbacks events go to: all of them, but during training the console readouts step
        aside while a callback that replaces them is attached (see :class:`TrainerCallback`)."""
        if self.in_train and any(getattr(c, "replaces_console_readout", False) for c in self.callbacks):
            return [c for c in self.callbacks if not getattr(c, "console_readout", False)]
        return self.callbacks

    def call_event(self, event: str, args, state, control, **kwargs):
        for callback in self.active_callbacks():
            result = getattr(callback, event)(
                args, state, control, model=self.model, processing_class=self.processing_class,
                optimizer=self.optimizer, lr_scheduler=self.lr_scheduler, train_dataloader=self.train_dataloader,
                eval_dataloader=self.eval_dataloader, **kwargs,
            )
            if result is not None:
                control = result
        return control

    def on_train_begin(self, args, state, control, **kwargs):
        control.should_training_stop = False
        self.in_train = True
        return self.call_event("on_train_begin", args, state, control)

    def on_train_end(self, args, state, control, **kwargs):
        control = self.call_event("on_train_end", args, state, control)
        self.in_train = False
        return control

    @contextlib.contextmanager
    def interruptible(self):
        """Around the training loop: if it raises (KeyboardInterrupt from a notebook's stop button),
        training is over for the callbacks too, and the console readouts run again."""
        try:
            yield
        except BaseException:
            self.in_train = False
            raise

    def on_epoch_begin(self, args, state, control, **kwargs):
        control.should_epoch_stop = False
        return self.call_event("on_epoch_begin", args, state, control)

    def on_step_begin(self, args, state, control, **kwargs):
        control.should_log = control.should_evaluate = control.should_save = False
        return self.call_event("on_step_begin", args, state, control)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        control.should_evaluate = False
        return self.call_event("on_evaluate", args, state, control, metrics=metrics)

    def on_predict(self, args, state, control, metrics=None, **kwargs):
        return self.call_event("on_predict", args, state, control, metrics=metrics)

    def on_save(self, args, state, control, **kwargs):
        control.should_save = False
        return self.call_event("on_save", args, state, control)

    def on_log(self, args, state, control, logs=None, **kwargs):
        control.should_log = False
        return self.call_event("on_log", args, state, control, logs=logs)


def _plain_event(name: str):
    def event(self, args, state, control, **kwargs):
        return self.call_event(name, args, state, control)

    event.__name__ = name
    return event


for _name in set(EVENTS) - set(vars(CallbackHandler)):
    setattr(CallbackHandler, _name, _plain_event(_name))


class DefaultFlowCallback(TrainerCallback):
    """Asks for logs, evaluations and saves on the schedule the TrainingArguments set, and stops at max_steps."""

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        if step == 1 and args.logging_first_step:
            control.should_log = True
        if args.logging_strategy == IntervalStrategy.STEPS and step % state.logging_steps == 0:
            control.should_log = True
        eval_due = args.eval_strategy == IntervalStrategy.STEPS and args.eval_delay <= step
        if eval_due and step % state.eval_steps == 0:
            control.should_evaluate = True
        if args.save_strategy == SaveStrategy.STEPS and state.save_steps > 0 and step % state.save_steps == 0:
            control.should_save = True
        if step >= state.max_steps:
            control.should_training_stop = True
            # the last step always gets an evaluation and a save when they run on steps
            if eval_due:
                control.should_evaluate = True
            if args.save_strategy == SaveStrategy.STEPS:
                control.should_save = True
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if args.logging_strategy == IntervalStrategy.EPOCH:
            control.should_log = True
        if args.eval_strategy == IntervalStrategy.EPOCH and args.eval_delay <= state.epoch:
            control.should_evaluate = True
        if args.save_strategy == SaveStrategy.EPOCH:
            control.should_save = True
        return control


def _format_logs(logs: dict[str, Any], max_str_len: int = 100) -> dict[str, Any]:
    shown = {}
    for key, value in logs.items():
        if key == "total_flos":
            continue
        if isinstance(value, str) and len(value) > max_str_len:
            value = f"[string of length {len(value)}, longer than max_str_len={max_str_len}]"
        elif isinstance(value, float):
            value = f"{value:.4g}"
        shown[key] = value
    return shown


class ProgressCallback(TrainerCallback):
    """tqdm progress bars for training and evaluation: a text bar in a terminal, a widget in Jupyter."""

    console_readout = True

    def __init__(self, max_str_len: int = 100):
        self.training_bar = self.prediction_bar = None
        self.current_step = 0
        self.max_str_len = max_str_len

    @staticmethod
    def _tqdm():
        # imported here: tqdm.auto loads IPython when it finds a notebook
        from tqdm.auto import tqdm

        return tqdm

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.training_bar = self._tqdm()(total=state.max_steps, initial=state.global_step, dynamic_ncols=True)
        self.current_step = state.global_step

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None:
            self.training_bar.update(state.global_step - self.current_step)
            self.current_step = state.global_step

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        if not state.is_world_process_zero or eval_dataloader is None:
            return
        try:
            total = len(eval_dataloader)
        except TypeError:
            return
        if self.prediction_bar is None:
            self.prediction_bar = self._tqdm()(total=total, leave=self.training_bar is None, dynamic_ncols=True)
        self.prediction_bar.update(1)

    def _close_prediction_bar(self):
        if self.prediction_bar is not None:
            self.prediction_bar.close()
        self.prediction_bar = None

    def on_evaluate(self, args, state, control, **kwargs):
        self._close_prediction_bar()

    def on_predict(self, args, state, control, **kwargs):
        self._close_prediction_bar()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None:
            self.training_bar.write(str(_format_logs(logs or {}, self.max_str_len)))

    def on_train_end(self, args, state, control, **kwargs):
        if self.training_bar is not None:
            self.training_bar.close()
        self.training_bar = None


class PrinterCallback(TrainerCallback):
    """Prints the logs (used instead of the progress bars when ``disable_tqdm=True``)."""

    console_readout = True

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_local_process_zero and logs is not None:
            print(_format_logs(logs))


class EarlyStoppingCallback(TrainerCallback, ExportableState):
    """Stop when ``metric_for_best_model`` has not improved (by more than ``early_stopping_threshold``)
    for ``early_stopping_patience`` evaluations in a row.

    >>> trainer = Trainer(..., callbacks=[EarlyStoppingCallback(early_stopping_patience=3)])  # doctest: +SKIP
    """

    def __init__(self, early_stopping_patience: int = 1, early_stopping_threshold: float | None = 0.0):
        self.early_stopping_patience = early_stopping_patience
        self.early_stopping_threshold = early_stopping_threshold or 0.0
        self.early_stopping_patience_counter = 0

    def check_metric_value(self, args, state, control, metric_value: float) -> None:
        better = (lambda a, b: a > b) if args.greater_is_better else (lambda a, b: a < b)
        if state.best_metric is None or (better(metric_value, state.best_metric)
                                         and abs(metric_value - state.best_metric) > self.early_stopping_threshold):
            self.early_stopping_patience_counter = 0
        else:
            self.early_stopping_patience_counter += 1

    def on_train_begin(self, args, state, control, **kwargs):
        if args.metric_for_best_model is None:
            raise ValueError("EarlyStoppingCallback needs TrainingArguments(metric_for_best_model=...) "
                             "(or load_best_model_at_end=True, which defaults it to 'loss').")
        if args.eval_strategy == IntervalStrategy.NO:
            raise ValueError("EarlyStoppingCallback needs evaluations: set eval_strategy to 'steps' or 'epoch'.")
        if not args.load_best_model_at_end:
            logger.warning("EarlyStoppingCallback without load_best_model_at_end=True: training stops early, but the "
                           "best model is not loaded at the end.")

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        name = args.metric_for_best_model
        name = name if name.startswith("eval_") else f"eval_{name}"
        value = (metrics or {}).get(name)
        if value is None:
            logger.warning(f"EarlyStoppingCallback: the evaluation metrics have no {name!r} "
                           f"(they have {sorted(metrics or {})}); early stopping is off.")
            return
        self.check_metric_value(args, state, control, value)
        if self.early_stopping_patience_counter >= self.early_stopping_patience:
            control.should_training_stop = True

    def state(self) -> dict:
        return {"args": {"early_stopping_patience": self.early_stopping_patience,
                         "early_stopping_threshold": self.early_stopping_threshold},
                "attributes": {"early_stopping_patience_counter": self.early_stopping_patience_counter}}
