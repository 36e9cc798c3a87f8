"""``TrainingArguments``: every knob of the Trainer, checked once when it is built.

Misspelled names raise ``TypeError`` with the closest field; contradictory settings raise
``ValueError`` saying what to change.

>>> args = TrainingArguments(output_dir="out", learning_rate=2e-5, num_train_epochs=2)
>>> args.eval_strategy
<IntervalStrategy.NO: 'no'>
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .schedules import SchedulerType

logger = logging.getLogger("workbench")


class IntervalStrategy(str, Enum):
    NO = "no"
    STEPS = "steps"
    EPOCH = "epoch"


class SaveStrategy(str, Enum):
    NO = "no"
    STEPS = "steps"
    EPOCH = "epoch"
    BEST = "best"


class HubStrategy(str, Enum):
    """What the Trainer pushes, and when, with ``push_to_hub=True`` (see ``training/hub.py``)."""
    END = "end"  # nothing during training: the final model when push_to_hub() is called
    EVERY_SAVE = "every_save"  # the model at each save, then the final one
    CHECKPOINT = "checkpoint"  # as every_save, plus the latest checkpoint as last-checkpoint/ (to resume from)
    ALL_CHECKPOINTS = "all_checkpoints"  # as every_save, plus every checkpoint-N/ folder


OPTIMIZERS = ("adamw_torch", "adamw_torch_fused", "sgd", "adagrad")
# report_to names workbench can serve; others are third-party trackers it does not bundle
REPORTERS = ("tensorboard",)
# names from older releases and their current spelling
RENAMED = {"evaluation_strategy": "eval_strategy", "no_cuda": "use_cpu", "push_to_hub_model_id": "hub_model_id",
           "push_to_hub_token": "hub_token", "per_gpu_train_batch_size": "per_device_train_batch_size",
           "per_gpu_eval_batch_size": "per_device_eval_batch_size"}


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


def _enum(enum_type: type[Enum], value: Any, name: str):
    try:
        return enum_type(value.value if isinstance(value, Enum) else value)
    except ValueError:
        choices = [member.value for member in enum_type]
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{name}={value!r} is not one of {choices}.{hint}") from None


@dataclass
class TrainingArguments:
    """The arguments of :class:`~workbench.Trainer`. Steps given as a float below 1 (``logging_steps``,
    ``eval_steps``, ``save_steps``, ``warmup_steps``) are a fraction of the total training steps."""

    output_dir: str | None = field(default=None,
                           metadata=_help("Where checkpoints and the final model go (default 'trainer_output')."))
    overwrite_output_dir: bool = field(default=False,
                           metadata=_help("Used by scripts: start afresh even if output_dir holds checkpoints."))
    do_train: bool = field(default=False, metadata=_help("Used by scripts: whether to run training."))
    do_eval: bool = field(default=False, metadata=_help("Used by scripts: whether to run evaluation."))
    do_predict: bool = field(default=False, metadata=_help("Used by scripts: whether to predict on the test set."))
    eval_strategy: IntervalStrategy | str = field(default="no",
                           metadata=_help("When to evaluate: 'no', 'steps' or 'epoch'."))
    eval_steps: float | None = field(default=None,
                           metadata=_help("Evaluate every N steps (defaults to logging_steps)."))
    eval_delay: float = field(default=0, metadata=_help("Steps or epochs to wait before the first evaluation."))
    eval_on_start: bool = field(default=False, metadata=_help("Evaluate once before training (a sanity check)."))
    prediction_loss_only: bool = field(default=False, metadata=_help("Evaluation and prediction return only the loss."))
    per_device_train_batch_size: int = field(default=8, metadata=_help("Batch size per device (process) for training."))
    per_device_eval_batch_size: int = field(default=8,
                           metadata=_help("Batch size per device (process) for evaluation."))
    gradient_accumulation_steps: int = field(default=1,
                           metadata=_help("Batches whose gradients add up before each optimizer step."))
    learning_rate: float = field(default=5e-5, metadata=_help("Initial learning rate of AdamW."))
    weight_decay: float = field(default=0.0,
                           metadata=_help("Weight decay for all weights except biases and norm weights."))
    adam_beta1: float = field(default=0.9, metadata=_help("Beta1 of AdamW."))
    adam_beta2: float = field(default=0.999, metadata=_help("Beta2 of AdamW."))
    adam_epsilon: float = field(default=1e-8, metadata=_help("Epsilon of AdamW."))
    max_grad_norm: float = field(default=1.0, metadata=_help("Gradient clipping norm (0 disables clipping)."))
    num_train_epochs: float = field(default=3.0, metadata=_help("Epochs to train for."))
    max_steps: int = field(default=-1,
                           metadata=_help("Optimizer steps to train for; overrides num_train_epochs when positive."))
    lr_scheduler_type: SchedulerType | str = field(default="linear", metadata=_help("Learning-rate schedule."))
    lr_scheduler_kwargs: dict | str | None = field(default=None,
                           metadata=_help("Extra schedule arguments, e.g. '{\"num_cycles\": 2}'."))
    warmup_ratio: float = field(default=0.0,
                           metadata=_help("Fraction of the total steps spent warming the learning rate up."))
    warmup_steps: float = field(default=0,
                           metadata=_help("Steps of linear warmup (a float below 1 is a fraction of all steps)."))
    optim: str = field(default="adamw_torch_fused", metadata=_help("Optimizer.", choices=OPTIMIZERS))
    label_smoothing_factor: float = field(default=0.0, metadata=_help("Label smoothing epsilon (0 disables it)."))
    log_level: str = field(default="passive",
                           metadata=_help("workbench logger level on the main process: 'debug', 'info', 'warning', 'error' or 'passive'."))
    logging_dir: str | None = field(default=None, metadata=_help("TensorBoard log folder (default output_dir/runs)."))
    logging_strategy: IntervalStrategy | str = field(default="steps",
                           metadata=_help("When to log: 'no', 'steps' or 'epoch'."))
    logging_first_step: bool = field(default=False, metadata=_help("Also log after the first step."))
    logging_steps: float = field(default=500, metadata=_help("Log every N steps."))
    logging_nan_inf_filter: bool = field(default=True, metadata=_help("Leave NaN/inf losses out of the logged mean."))
    save_strategy: SaveStrategy | str = field(default="steps",
                           metadata=_help("When to save a checkpoint: 'no', 'steps', 'epoch' or 'best'."))
    save_steps: float = field(default=500, metadata=_help("Save a checkpoint every N steps."))
    save_total_limit: int | None = field(default=None,
                           metadata=_help("Keep at most N checkpoints (the best one is always kept)."))
    save_only_model: bool = field(default=False,
                           metadata=_help("Checkpoints hold the model only (they cannot be resumed)."))
    use_cpu: bool = field(default=False, metadata=_help("Train on the CPU even if a GPU is available."))
    seed: int = field(default=42, metadata=_help("Seed set at the start of training."))
    data_seed: int | None = field(default=None, metadata=_help("Seed of the data order (defaults to seed)."))
    bf16: bool = field(default=False, metadata=_help("bfloat16 mixed precision (CPU or recent GPUs)."))
    fp16: bool = field(default=False, metadata=_help("float16 mixed precision (CUDA GPUs only)."))
    local_rank: int = field(default=-1,
                           metadata=_help("Set by older distributed launchers; read from the environment otherwise."))
    ddp_backend: str | None = field(default=None, metadata=_help("torch.distributed backend ('gloo', 'nccl', ...)."))
    ddp_find_unused_parameters: bool | None = field(default=None,
                           metadata=_help("DistributedDataParallel find_unused_parameters (default True)."))
    dataloader_drop_last: bool = field(default=False, metadata=_help("Drop the last incomplete batch."))
    dataloader_num_workers: int = field(default=0,
                           metadata=_help("Worker processes loading data (0: the main process)."))
    dataloader_pin_memory: bool = field(default=True, metadata=_help("Pin memory in data loaders (GPU only)."))
    dataloader_persistent_workers: bool = field(default=False,
                           metadata=_help("Keep data-loading workers alive between epochs."))
    dataloader_prefetch_factor: int | None = field(default=None, metadata=_help("Batches each worker loads ahead."))
    run_name: str | None = field(default=None,
                           metadata=_help("A name for the run, shown by trackers (default output_dir)."))
    disable_tqdm: bool | None = field(default=None, metadata=_help("Turn the progress bars off."))
    remove_unused_columns: bool = field(default=True,
                           metadata=_help("Drop dataset columns the model's forward does not take."))
    label_names: list[str] | None = field(default=None,
                           metadata=_help("Input keys holding the labels (default: those the model's forward names)."))
    load_best_model_at_end: bool = field(default=False, metadata=_help("Load the best checkpoint when training ends."))
    metric_for_best_model: str | None = field(default=None,
                           metadata=_help("Metric that picks the best checkpoint (default 'loss')."))
    greater_is_better: bool | None = field(default=None,
                           metadata=_help("Whether a larger metric_for_best_model is better."))
    ignore_data_skip: bool = field(default=False,
                           metadata=_help("On resume, do not skip the batches already seen this epoch."))
    gradient_checkpointing: bool = field(default=False,
                           metadata=_help("Recompute activations in backward to save memory."))
    report_to: str | list[str] | None = field(default="none",
                           metadata=_help("Trackers to report to: 'none', 'all' or a list ('tensorboard')."))
    resume_from_checkpoint: str | None = field(default=None,
                           metadata=_help("Used by scripts: a checkpoint folder to resume from."))
    push_to_hub: bool = field(default=False, metadata=_help("Push the model to the Hub when it is saved."))
    hub_model_id: str | None = field(default=None,
                           metadata=_help("Hub repo to push to (default: the output_dir name)."))
    hub_token: str | None = field(default=None,
                           metadata=_help("Hub token (default: the one huggingface_hub has stored)."))
    hub_private_repo: bool | None = field(default=None, metadata=_help("Create the Hub repo as private."))
    hub_strategy: HubStrategy | str = field(default="every_save", metadata=_help(
        "What to push and when: 'end', 'every_save', 'checkpoint' (also last-checkpoint/) or 'all_checkpoints'."))
    hub_always_push: bool = field(default=False, metadata=_help(
        "Queue a save's push even while the previous one is uploading (default: skip that save's push)."))
    hub_revision: str | None = field(default=None, metadata=_help("Hub branch (or revision) to push to."))

    def __new__(cls, *args, **kwargs):
        # dataclass __init__ would only say "unexpected keyword argument"; name the closest field instead
        names = [f.name for f in dataclasses.fields(cls) if f.init]
        unknown = [key for key in kwargs if key not in names]
        if unknown:
            hints = []
            for key in unknown:
                close = RENAMED.get(key) or next(iter(difflib.get_close_matches(key, names, n=1, cutoff=0.6)), None)
                hints.append(f"{key!r}" + (f" (did you mean {close!r}?)" if close else ""))
            raise TypeError(f"{cls.__name__} got unknown argument{'s' * (len(unknown) > 1)} {', '.join(hints)}.")
        return super().__new__(cls)

    def __post_init__(self) -> None:
        if self.output_dir is None:
            self.output_dir = "trainer_output"
        self.output_dir = os.path.expanduser(str(self.output_dir))
        if self.logging_dir is None:
            self.logging_dir = os.path.join(self.output_dir, "runs")
        if self.disable_tqdm is None:
            self.disable_tqdm = logger.getEffectiveLevel() > logging.WARNING
        if isinstance(self.lr_scheduler_kwargs, str):
            self.lr_scheduler_kwargs = json.loads(self.lr_scheduler_kwargs) if self.lr_scheduler_kwargs else None
        self.eval_strategy = _enum(IntervalStrategy, self.eval_strategy, "eval_strategy")
        self.logging_strategy = _enum(IntervalStrategy, self.logging_strategy, "logging_strategy")
        self.save_strategy = _enum(SaveStrategy, self.save_strategy, "save_strategy")
        self.lr_scheduler_type = _enum(SchedulerType, self.lr_scheduler_type, "lr_scheduler_type")
        self.hub_strategy = _enum(HubStrategy, self.hub_strategy, "hub_strategy")
        if self.eval_strategy != IntervalStrategy.NO:
            self.do_eval = True
        if self.eval_strategy == IntervalStrategy.STEPS and not self.eval_steps:
            self.eval_steps = self.logging_steps
        if (self.load_best_model_at_end or self.save_strategy == SaveStrategy.BEST) and self.metric_for_best_model is None:
            self.metric_for_best_model = "loss"
        if self.greater_is_better is None and self.metric_for_best_model is not None:
            self.greater_is_better = not self.metric_for_best_model.endswith("loss")
        if self.run_name is None:
            self.run_name = self.output_dir
        self.report_to = self._resolve_report_to(self.report_to)
        self._check_values()
        self._check_steps()
        self._check_best_model()
        self._check_precision()

    # --- validation ----------------------------------------------------------------------------

    def _check_values(self) -> None:
        positive = ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.learning_rate < 0:
            raise ValueError(f"learning_rate must not be negative, got {self.learning_rate}.")
        if not 0.0 <= self.warmup_ratio <= 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1] (a fraction of the training steps), got {self.warmup_ratio}.")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must not be negative, got {self.warmup_steps}.")
        if self.warmup_ratio > 0 and self.warmup_steps > 0:
            raise ValueError(f"Set warmup_steps ({self.warmup_steps}) or warmup_ratio ({self.warmup_ratio}), not both.")
        if self.optim not in OPTIMIZERS:
            close = difflib.get_close_matches(self.optim, OPTIMIZERS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"optim={self.optim!r} is not one of {list(OPTIMIZERS)}.{hint}")
        if self.dataloader_prefetch_factor is not None and self.dataloader_num_workers == 0:
            raise ValueError("dataloader_prefetch_factor needs worker processes: set dataloader_num_workers > 0 too.")
        if self.save_total_limit is not None and self.save_total_limit < 0:
            raise ValueError(f"save_total_limit must be None or >= 0, got {self.save_total_limit}.")
        if not 0.0 <= self.label_smoothing_factor < 1.0:
            raise ValueError(f"label_smoothing_factor must be in [0, 1), got {self.label_smoothing_factor}.")

    def _check_steps(self) -> None:
        for kind, strategy in (("logging", self.logging_strategy), ("eval", self.eval_strategy), ("save", self.save_strategy)):
            if strategy != IntervalStrategy.STEPS:
                continue
            steps = getattr(self, f"{kind}_steps")
            if steps is None or steps <= 0:
                raise ValueError(f"{kind}_strategy='steps' needs {kind}_steps > 0, got {steps}.")
            if steps > 1:
                if steps != int(steps):
                    raise ValueError(f"{kind}_steps must be a whole number when above 1 (below 1 it is a fraction of "
                                     f"all steps), got {steps}.")
                setattr(self, f"{kind}_steps", int(steps))

    def _check_best_model(self) -> None:
        if self.save_strategy == SaveStrategy.BEST and self.eval_strategy == IntervalStrategy.NO:
            raise ValueError("save_strategy='best' saves after evaluations, but eval_strategy='no': "
                             "set eval_strategy to 'steps' or 'epoch'.")
        if not self.load_best_model_at_end or self.save_strategy == SaveStrategy.BEST:
            return
        if self.eval_strategy == IntervalStrategy.NO:
            raise ValueError("load_best_model_at_end=True needs evaluations to compare checkpoints: set eval_strategy "
                             f"(and save_strategy) to 'steps' or 'epoch' (save_strategy is {self.save_strategy.value!r}).")
        if self.eval_strategy.value != self.save_strategy.value:
            raise ValueError("load_best_model_at_end=True needs save_strategy equal to eval_strategy (or 'best'), got "
                             f"eval_strategy={self.eval_strategy.value!r} and save_strategy={self.save_strategy.value!r}.")
        if self.eval_strategy == IntervalStrategy.STEPS:
            ratio = self.save_steps / self.eval_steps
            if (self.save_steps < 1) != (self.eval_steps < 1) or abs(ratio - round(ratio)) > 1e-9:
                raise ValueError(f"load_best_model_at_end=True needs save_steps ({self.save_steps}) to be a multiple of "
                                 f"eval_steps ({self.eval_steps}), so each saved checkpoint has been evaluated.")

    def _check_precision(self) -> None:
        if self.fp16 and self.bf16:
            raise ValueError("Set fp16=True or bf16=True, not both.")
        if self.fp16:
            import torch

            if self.use_cpu or not torch.cuda.is_available():
                raise ValueError("fp16=True needs a CUDA GPU; on the CPU use bf16=True (or neither).")

    @staticmethod
    def _resolve_report_to(value) -> list[str]:
        if value is None or value == "none" or value == ["none"]:
            return []
        if value == "all" or value == ["all"]:
            return [name for name in REPORTERS if _reporter_available(name)]
        names = [value] if isinstance(value, str) else list(value)
        kept = []
        for name in names:
            if name in REPORTERS and _reporter_available(name):
                kept.append(name)
            elif name in REPORTERS:
                logger.warning(f"report_to={name!r}: the {name} package is not installed (pip install {name}); not reporting to it.")
            else:
                logger.warning(f"report_to={name!r} is not supported by workbench (supported: {', '.join(REPORTERS)}); "
                               "add a TrainerCallback that logs to it instead.")
        return kept

    # --- derived values --------------------------------------------------------------------------

    @property
    def _state(self):
        from accelerate import PartialState

        return PartialState(cpu=self.cpu_only, **({"backend": self.ddp_backend} if self.ddp_backend else {}))

    @property
    def cpu_only(self) -> bool:
        """``use_cpu``, or a machine with no GPU (CUDA, MPS, XPU): accelerate then joins the processes of
        ``torchrun``/``accelerate launch`` over gloo; asked for a GPU it has not got, it would leave them
        unjoined, each training on all the data as if alone."""
        if self.use_cpu:
            return True
        import torch

        xpu = getattr(torch, "xpu", None)
        return not (torch.cuda.is_available() or torch.backends.mps.is_available()
                    or (xpu is not None and xpu.is_available()))

    @property
    def device(self):
        return self._state.device

    @property
    def n_gpu(self) -> int:
        return 0 if self.device.type == "cpu" else 1

    @property
    def world_size(self) -> int:
        return self._state.num_processes

    @property
    def process_index(self) -> int:
        return self._state.process_index

    @property
    def local_process_index(self) -> int:
        return self._state.local_process_index

    @property
    def should_log(self) -> bool:
        return self.local_process_index == 0

    @property
    def should_save(self) -> bool:
        return self.process_index == 0

    @property
    def train_batch_size(self) -> int:
        return self.per_device_train_batch_size

    @property
    def eval_batch_size(self) -> int:
        return self.per_device_eval_batch_size

    def get_warmup_steps(self, num_training_steps: int) -> int:
        """Warmup steps for a run of ``num_training_steps`` optimizer steps."""
        if self.warmup_ratio > 0:
            return math.ceil(num_training_steps * self.warmup_ratio)
        if self.warmup_steps >= 1:
            return int(self.warmup_steps)
        return math.ceil(num_training_steps * self.warmup_steps)

    @contextlib.contextmanager
    def main_process_first(self, local: bool = True, desc: str = "work"):
        """Run the block on the main process first (to build a dataset cache the others then read)."""
        state = self._state
        with (state.local_main_process_first() if local else state.main_process_first()):
            yield

    # --- serialisation ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        result = {}
        for f in dataclasses.fields(self):
            if not f.init:
                continue
            value = getattr(self, f.name)
            result[f.name] = value.value if isinstance(value, Enum) else value
        if "hub_token" in result and result["hub_token"] is not None:
            result["hub_token"] = "<HUB_TOKEN>"
        return result

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def to_sanitized_dict(self) -> dict[str, Any]:
        """``to_dict`` with values TensorBoard accepts (lists and None become strings)."""
        ok = (bool, int, float, str)
        return {k: v if isinstance(v, ok) else str(v) for k, v in self.to_dict().items()}

    def __str__(self) -> str:
        body = ",\n".join(f"{k}={v!r}" for k, v in sorted(self.to_dict().items()))
        return f"{type(self).__name__}(\n{body}\n)"

    __repr__ = __str__


def _reporter_available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@dataclass
class Seq2SeqTrainingArguments(TrainingArguments):
    """:class:`TrainingArguments` plus the settings of generation during evaluation."""

    predict_with_generate: bool = field(default=False,
                           metadata=_help("Evaluate and predict with generate() (for ROUGE, BLEU, ...)."))
    generation_max_length: int | None = field(default=None,
                           metadata=_help("max_length of generate() during evaluation."))
    generation_num_beams: int | None = field(default=None, metadata=_help("num_beams of generate() during evaluation."))
    generation_config: Any = field(default=None,
                           metadata=_help("A GenerationConfig (or a path to one) used during evaluation."))

    def to_dict(self) -> dict[str, Any]:
        result = super().to_dict()
        config = result.get("generation_config")
        if config is not None and hasattr(config, "to_dict"):
            result["generation_config"] = config.to_dict()
        return result
