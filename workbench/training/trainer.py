"""``Trainer``: the training loop for workbench (or any PyTorch) models, run through accelerate.

One ``train()`` call is::

    dataloader -> optimizer + schedule -> accelerator.prepare -> [resume] ->
    for each epoch: for each optimizer step: forward/backward over gradient_accumulation_steps
    batches -> clip -> step -> (log, evaluate, save as the callbacks ask)

accelerate places the model, wraps it for distributed data parallel and shards the batches, so the
same script runs as ``python train.py``, ``torchrun --nproc_per_node 2 train.py`` or
``accelerate launch train.py``. Data loading lives in ``data.py``, evaluation in ``evaluation.py``,
checkpointing in ``saving.py`` (and the files it writes in ``checkpoints.py``).

>>> trainer = Trainer(model=model, args=TrainingArguments(output_dir="out"), train_dataset=train,
...                   eval_dataset=test, compute_metrics=compute_metrics)       # doctest: +SKIP
>>> trainer.train()                                                            # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Mapping
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..quantization import check_trainable
from ..tasks import task_for_class
from . import checkpoints as ckpt
from .adapters import announce_trainable_parameters
from .arguments import SaveStrategy, TrainingArguments
from .callbacks import (CallbackHandler, DefaultFlowCallback, ExportableState, PrinterCallback, ProgressCallback,
                        TrainerControl, TrainerState)
from .collators import DataCollatorWithPadding, default_data_collator
from .data import DataMixin, EpochShuffleSampler, forward_parameters, label_names  # noqa: F401 (re-exported)
from .evaluation import EvaluationMixin
from .hub import HubMixin
from .saving import SavingMixin
from .schedules import get_scheduler
from .utils import TrainOutput, has_length, set_seed, speed_metrics

logger = logging.getLogger("workbench")

LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR,
              "critical": logging.CRITICAL}


def label_smoothed_loss(logits: torch.Tensor, labels: torch.Tensor, epsilon: float, shift: bool = False) -> torch.Tensor:
    """Cross-entropy with label smoothing ``epsilon``; -100 labels are ignored."""
    if shift:  # causal LMs: position t predicts label t+1
        logits, labels = logits[..., :-1, :], labels[..., 1:]
    log_probs = -torch.log_softmax(logits.float(), dim=-1)
    labels = labels.unsqueeze(-1)
    ignored = labels.eq(-100)
    nll = log_probs.gather(-1, labels.clamp(min=0)).masked_fill(ignored, 0.0)
    smooth = log_probs.sum(-1, keepdim=True).masked_fill(ignored, 0.0)
    active = (~ignored).sum()
    return (1 - epsilon) * nll.sum() / active + epsilon * smooth.sum() / (active * log_probs.shape[-1])


class Trainer(DataMixin, EvaluationMixin, SavingMixin, HubMixin):
    """Train, evaluate and predict with a model; see the module docstring. Data loading lives in
    data.py, evaluation in evaluation.py, checkpoints in saving.py (mixed in here).

    Subclass and override ``compute_loss``, ``training_step``, ``create_optimizer``,
    ``create_scheduler``, ``prediction_step``, ``get_train_dataloader``, ... to change one piece, or
    pass ``callbacks`` to watch (and stop) the loop without changing it.
    """

    def __init__(self, model: nn.Module | None = None, args: TrainingArguments | None = None,
                 data_collator: Callable | None = None, train_dataset: Any = None, eval_dataset: Any = None,
                 processing_class: Any = None, model_init: Callable[[], nn.Module] | None = None,
                 compute_loss_func: Callable | None = None, compute_metrics: Callable | None = None,
                 callbacks: list | None = None, optimizers: tuple = (None, None),
                 optimizer_cls_and_kwargs: tuple | None = None, preprocess_logits_for_metrics: Callable | None = None,
                 tokenizer: Any = None) -> None:
        self.args = args if args is not None else TrainingArguments(output_dir="tmp_trainer")
        set_seed(self.args.seed)
        self.accelerator = self._create_accelerator(model)
        self._set_log_level()
        if (model is None) == (model_init is None):
            raise ValueError("Trainer needs a model or a model_init function (exactly one of them).")
        self.model_init = model_init
        model = model if model is not None else model_init()
        self.processing_class = processing_class if processing_class is not None else tokenizer
        if data_collator is None:
            has_pad = self.processing_class is not None and hasattr(self.processing_class, "pad")
            data_collator = DataCollatorWithPadding(self.processing_class) if has_pad else default_data_collator
        self.data_collator = data_collator
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.compute_loss_func, self.compute_metrics = compute_loss_func, compute_metrics
        self.preprocess_logits_for_metrics = preprocess_logits_for_metrics
        self.optimizer, self.lr_scheduler = optimizers
        self.optimizer_cls_and_kwargs = optimizer_cls_and_kwargs
        self._check_setup(model)
        model.to(self.accelerator.device)
        self.model = self.model_wrapped = model
        self.label_names = self.args.label_names if self.args.label_names is not None else label_names(model)
        forward = forward_parameters(model)
        self.can_return_loss = getattr(forward.get("return_loss"), "default", False) is True
        # the loss is normalised over the whole accumulated batch only by models that say they do it
        self.model_accepts_loss_kwargs = getattr(model, "accepts_loss_kwargs", "num_items_in_batch" in forward)
        self._signature_columns: list[str] | None = None
        self._created_lr_scheduler = False
        self.is_in_train = False
        self.current_gradient_accumulation_steps = 1
        self.callback_handler = CallbackHandler(self._default_callbacks() + list(callbacks or []), model,
                                                self.processing_class, self.optimizer, self.lr_scheduler)
        self.state = TrainerState(is_local_process_zero=self.is_local_process_zero(),
                                  is_world_process_zero=self.is_world_process_zero())
        self.control = TrainerControl()
        self._init_output()  # output_dir, and the Hub repo with push_to_hub (hub.py)
        self.control = self.callback_handler.on_init_end(self.args, self.state, self.control)

    # --- setup -----------------------------------------------------------------------------------

    def _create_accelerator(self, model):
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState
        from accelerate.utils import DistributedDataParallelKwargs

        # one Accelerator per Trainer: drop the settings (mixed precision, ...) of an earlier one
        AcceleratorState._reset_state(reset_partial_state=False)
        args = self.args
        find_unused = True if args.ddp_find_unused_parameters is None else args.ddp_find_unused_parameters
        if args.gradient_checkpointing and args.ddp_find_unused_parameters is None:
            find_unused = False
        mixed_precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "no"
        # step_scheduler_with_optimizer=False: accelerate would otherwise step the schedule once per
        # process each step (it assumes schedules counted in per-process batches); ours counts optimizer steps
        return Accelerator(cpu=args.cpu_only, mixed_precision=mixed_precision, step_scheduler_with_optimizer=False,
                           kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=find_unused)])

    def _set_log_level(self) -> None:
        level = self.args.log_level
        if self.args.should_log and level in LOG_LEVELS:
            logger.setLevel(LOG_LEVELS[level])
        elif not self.args.should_log:
            logger.setLevel(logging.WARNING)

    def _check_setup(self, model: nn.Module) -> None:
        args = self.args
        if args.eval_strategy.value != "no" and self.eval_dataset is None:
            raise ValueError(f"eval_strategy={args.eval_strategy.value!r} evaluates during training, but no eval_dataset "
                             "was given: pass Trainer(eval_dataset=...) or set eval_strategy='no'.")
        if self.model_init is not None and self.optimizer is not None:
            raise ValueError("optimizers=(optimizer, scheduler) cannot be used with model_init: the optimizer would hold "
                             "the parameters of a model that train() replaces. Subclass and override create_optimizer.")
        if self.optimizer_cls_and_kwargs is not None and self.optimizer is not None:
            raise ValueError("Pass optimizers=(...) or optimizer_cls_and_kwargs=(...), not both.")
        if not isinstance(model, nn.Module):
            raise TypeError(f"Trainer needs a torch.nn.Module as model, got {type(model).__name__}.")
        check_trainable(model)  # quantized weights are frozen buffers: an adapter must be there to train
        self.label_smoother = args.label_smoothing_factor if args.label_smoothing_factor > 0 else None

    def _default_callbacks(self) -> list:
        callbacks = [DefaultFlowCallback()]
        if "tensorboard" in self.args.report_to:
            from .integrations import TensorBoardCallback

            callbacks.append(TensorBoardCallback())
        callbacks.append(PrinterCallback() if self.args.disable_tqdm else ProgressCallback())
        return callbacks

    @property
    def tokenizer(self):
        return self.processing_class

    def add_callback(self, callback) -> None:
        self.callback_handler.add_callback(callback)

    def pop_callback(self, callback):
        return self.callback_handler.pop_callback(callback)

    def remove_callback(self, callback) -> None:
        self.callback_handler.remove_callback(callback)

    def is_local_process_zero(self) -> bool:
        return self.args.local_process_index == 0

    def is_world_process_zero(self) -> bool:
        return self.args.process_index == 0

    # --- optimizer and schedule ------------------------------------------------------------------

    def get_decay_parameter_names(self, model: nn.Module) -> list[str]:
        """Parameters that get weight decay: all but biases and normalisation weights."""
        import re

        norm_types = tuple(t for t in (nn.LayerNorm, getattr(nn, "RMSNorm", None)) if t is not None)
        in_norm = {f"{module_name}.{name}".lstrip(".") for module_name, module in model.named_modules()
                   if isinstance(module, norm_types) for name, _ in module.named_parameters()}
        pattern = re.compile(r"bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.)")
        return [name for name, _ in model.named_parameters() if name not in in_norm and not pattern.search(name.lower())]

    @staticmethod
    def get_optimizer_cls_and_kwargs(args: TrainingArguments, model: nn.Module | None = None):
        kwargs: dict[str, Any] = {"lr": args.learning_rate}
        if args.optim in ("adamw_torch", "adamw_torch_fused"):
            kwargs.update(betas=(args.adam_beta1, args.adam_beta2), eps=args.adam_epsilon)
            if args.optim == "adamw_torch_fused":
                kwargs["fused"] = True
            return torch.optim.AdamW, kwargs
        return {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad}[args.optim], kwargs

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """AdamW (``args.optim``) with weight decay on all weights but biases and norm weights."""
        model = model if model is not None else self.model
        if self.optimizer is None:
            decay = set(self.get_decay_parameter_names(model))
            trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
            groups = [{"params": [p for n, p in trainable if n in decay], "weight_decay": self.args.weight_decay},
                      {"params": [p for n, p in trainable if n not in decay], "weight_decay": 0.0}]
            cls, kwargs = self.optimizer_cls_and_kwargs or self.get_optimizer_cls_and_kwargs(self.args, model)
            if kwargs.get("fused") and any(p.device.type not in ("cpu", "cuda") or not p.is_floating_point()
                                           for _, p in trainable):
                kwargs = {k: v for k, v in kwargs.items() if k != "fused"}
            self.optimizer = cls(groups, **kwargs)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None):
        """The ``args.lr_scheduler_type`` schedule over ``num_training_steps`` optimizer steps."""
        if self.lr_scheduler is None:
            self.lr_scheduler = get_scheduler(
                # on the optimizer accelerate wraps: the one whose step() always runs
                self.args.lr_scheduler_type,
                optimizer if optimizer is not None else getattr(self.optimizer, "optimizer", self.optimizer),
                num_warmup_steps=self.args.get_warmup_steps(num_training_steps), num_training_steps=num_training_steps,
                scheduler_specific_kwargs=self.args.lr_scheduler_kwargs)
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def create_optimizer_and_scheduler(self, num_training_steps: int) -> None:
        self.create_optimizer()
        self.create_scheduler(num_training_steps)

    def _get_learning_rate(self) -> float:
        if isinstance(self.lr_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            return self.optimizer.param_groups[0]["lr"]
        lr = self.lr_scheduler.get_last_lr()[0]
        return lr.item() if torch.is_tensor(lr) else lr

    # --- training --------------------------------------------------------------------------------

    def _training_plan(self, loader: DataLoader) -> dict[str, int]:
        args = self.args
        accumulation = args.gradient_accumulation_steps
        total_batch = args.train_batch_size * accumulation * args.world_size
        if has_length(loader):
            batches = len(loader)
            updates_per_epoch = max(math.ceil(batches / accumulation), 1)
            if args.max_steps > 0:
                max_steps = args.max_steps
                epochs = math.ceil(max_steps / updates_per_epoch)
                samples = max_steps * total_batch
            else:
                max_steps = math.ceil(args.num_train_epochs * updates_per_epoch)
                epochs = math.ceil(args.num_train_epochs)
                samples = self.num_examples(loader) * args.num_train_epochs
        elif args.max_steps > 0:  # an iterable dataset: go round it as often as max_steps needs
            max_steps, epochs, updates_per_epoch = args.max_steps, sys.maxsize, args.max_steps
            batches, samples = max_steps * accumulation, max_steps * total_batch
        else:
            raise ValueError("The training dataset has no length (an IterableDataset?), so the number of steps is "
                             "unknown: set TrainingArguments(max_steps=...).")
        return dict(max_steps=max_steps, epochs=epochs, updates_per_epoch=updates_per_epoch, batches=batches,
                    samples=samples, total_batch=total_batch)

    def _prepare_for_training(self, max_steps: int) -> nn.Module:
        if self._created_lr_scheduler:  # a schedule from an earlier train() call counted other steps
            self.lr_scheduler, self._created_lr_scheduler = None, False
        self.create_optimizer()
        model, self.optimizer = self.accelerator.prepare(self.model, self.optimizer)
        self.create_scheduler(max_steps)
        self.lr_scheduler = self.accelerator.prepare(self.lr_scheduler)
        self.model_wrapped = model
        for name in ("model", "optimizer", "lr_scheduler"):
            setattr(self.callback_handler, name, getattr(self, name))
        return model

    def train(self, resume_from_checkpoint: str | bool | None = None, trial: Any = None,
              ignore_keys_for_eval: list[str] | None = None, **kwargs) -> TrainOutput:
        """Train ``self.model``; ``resume_from_checkpoint=True`` continues from the last checkpoint in
        ``output_dir`` (or give a ``checkpoint-N`` path): weights, optimizer, schedule, random
        generators and position in the data are restored."""
        if kwargs:
            raise TypeError(f"train() got unexpected keyword arguments {sorted(kwargs)}.")
        args = self.args
        self.is_in_train = True
        if self.model_init is not None:
            set_seed(args.seed)
            self.model = self.model_wrapped = self.model_init().to(self.accelerator.device)
            self.optimizer = self.lr_scheduler = None
        checkpoint = self._resolve_checkpoint(resume_from_checkpoint)
        if checkpoint is not None:
            ckpt.load_model_weights(self.accelerator.unwrap_model(self.model), checkpoint)
        if args.gradient_checkpointing:
            if not hasattr(self.model, "gradient_checkpointing_enable"):
                raise ValueError(f"{type(self.model).__name__} has no gradient_checkpointing_enable(): set "
                                 "gradient_checkpointing=False.")
            self.model.gradient_checkpointing_enable()
        loader = self.get_train_dataloader()
        plan = self._training_plan(loader)
        model = self._prepare_for_training(plan["max_steps"])
        self._init_state(plan)
        epochs_done, batches_done = 0, 0
        if checkpoint is not None:
            self._restore_checkpoint(checkpoint)
            epochs_done = self.state.global_step // plan["updates_per_epoch"]
            if not args.ignore_data_skip:
                batches_done = (self.state.global_step % plan["updates_per_epoch"]) * args.gradient_accumulation_steps
        self.callback_handler.train_dataloader = loader
        logger.info(f"***** Running training: {self.num_examples(loader)} examples, {plan['epochs']} epochs, "
                    f"{plan['max_steps']} steps of {plan['total_batch']} examples *****")
        announce_trainable_parameters(self.accelerator.unwrap_model(model), self.is_world_process_zero())
        start_time = time.time()
        self._initial_global_step = self.state.global_step
        self._tr_loss = torch.tensor(0.0, device=self.accelerator.device)
        self._total_loss_scalar = 0.0
        self._globalstep_last_logged = self.state.global_step
        model.zero_grad()
        self.control = self.callback_handler.on_train_begin(args, self.state, self.control)
        if args.eval_on_start:
            self._evaluate(ignore_keys_for_eval)
        with self.callback_handler.interruptible():  # a notebook's stop button gives the console readouts back
            for epoch in range(epochs_done, plan["epochs"]):
                skip = batches_done if epoch == epochs_done else 0
                self._train_epoch(model, loader, epoch, plan, skip, checkpoint if epoch == epochs_done else None,
                                  ignore_keys_for_eval)
                if self.control.should_training_stop:
                    break
        return self._finish_training(plan, start_time)

    def _init_state(self, plan: dict) -> None:
        stateful = [cb for cb in self.callback_handler.callbacks + [self.control] if isinstance(cb, ExportableState)]
        self.state = TrainerState(max_steps=plan["max_steps"], num_train_epochs=plan["epochs"],
                                  train_batch_size=self.args.train_batch_size,
                                  is_local_process_zero=self.is_local_process_zero(),
                                  is_world_process_zero=self.is_world_process_zero(),
                                  stateful_callbacks={type(cb).__name__: cb.state() for cb in stateful})
        self.state.compute_steps(self.args, plan["max_steps"])

    def _train_epoch(self, model, loader, epoch: int, plan: dict, skip: int, checkpoint: str | None,
                     ignore_keys_for_eval) -> None:
        args, accumulation = self.args, self.args.gradient_accumulation_steps
        self.control = self.callback_handler.on_epoch_begin(args, self.state, self.control)
        # accelerate's loader passes its epoch to our sampler when iterated: keep the two in step
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        elif hasattr(getattr(self, "_train_sampler", None), "set_epoch"):
            self._train_sampler.set_epoch(epoch)
        if checkpoint is not None and skip == 0:
            self._load_rng(checkpoint)  # before the epoch's first random draw
            checkpoint = None
        if skip:
            from accelerate import skip_first_batches

            loader = skip_first_batches(loader, skip)
        batches = iter(loader)
        steps_in_epoch, step, grad_norm, learning_rate = plan["batches"], skip - 1, None, None
        for update in range(skip // accumulation, plan["updates_per_epoch"]):
            size = accumulation if update < plan["updates_per_epoch"] - 1 else (steps_in_epoch - 1) % accumulation + 1
            group = list(itertools.islice(batches, size))  # fewer when the loader ends early
            if not group:
                break
            if checkpoint is not None:
                # restored after the skipped batches were fetched: the generators continue exactly where they were
                self._load_rng(checkpoint)
                checkpoint = None
            self.current_gradient_accumulation_steps = len(group)
            num_items = self._num_items_in_batch(group)
            for index, inputs in enumerate(group):
                step += 1
                if index == 0:
                    self.control = self.callback_handler.on_step_begin(args, self.state, self.control)
                last = index == len(group) - 1
                with contextlib.nullcontext() if last else self.accelerator.no_sync(model):
                    loss = self.training_step(model, inputs, num_items)
                if args.logging_nan_inf_filter and not torch.isfinite(loss):
                    loss = self._tr_loss / (1 + self.state.global_step - self._globalstep_last_logged)
                self._tr_loss += loss
                self.state.total_flos += self.floating_point_ops(inputs)
                if not last:
                    self.control = self.callback_handler.on_substep_end(args, self.state, self.control)
                    continue
                grad_norm, learning_rate = self._optimizer_step(model)
                self.state.global_step += 1
                self.state.epoch = epoch + (step + 1) / steps_in_epoch
                self.control = self.callback_handler.on_step_end(args, self.state, self.control)
                self._maybe_log_save_evaluate(grad_norm, learning_rate, ignore_keys_for_eval)
            if self.control.should_epoch_stop or self.control.should_training_stop:
                break
        if step < 0:
            logger.warning(f"Epoch {epoch} had no batches; stopping training at step {self.state.global_step}.")
            self.control.should_training_stop = True
        self.control = self.callback_handler.on_epoch_end(args, self.state, self.control)
        self._maybe_log_save_evaluate(grad_norm, learning_rate, ignore_keys_for_eval)

    def _optimizer_step(self, model) -> tuple[float | None, float]:
        grad_norm = None
        if self.args.max_grad_norm > 0:
            if self._plain_backend():
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), self.args.max_grad_norm)
            else:
                grad_norm = self.accelerator.clip_grad_norm_(model.parameters(), self.args.max_grad_norm)
            grad_norm = grad_norm.item() if torch.is_tensor(grad_norm) else grad_norm
        self.control = self.callback_handler.on_pre_optimizer_step(self.args, self.state, self.control)
        if self._plain_backend():  # accelerate's wrapper would only check for loss scaling and LOMO
            getattr(self.optimizer, "optimizer", self.optimizer).step()
        else:
            self.optimizer.step()
        self.control = self.callback_handler.on_optimizer_step(self.args, self.state, self.control)
        learning_rate = self._get_learning_rate()  # the rate this step used (what the reference logs)
        if not self.accelerator.optimizer_step_was_skipped and not isinstance(
                self.lr_scheduler.scheduler if hasattr(self.lr_scheduler, "scheduler") else self.lr_scheduler,
                torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.lr_scheduler.step()
        model.zero_grad()
        return grad_norm, learning_rate

    def _load_rng(self, checkpoint: str) -> None:
        ckpt.load_rng_state(checkpoint, self.args.process_index, self.args.world_size)

    def _num_items_in_batch(self, group: list) -> torch.Tensor | None:
        """Label tokens (not -100) in the accumulated batch, summed over processes, for models and loss
        functions that normalise by it; None otherwise."""
        if not (self.model_accepts_loss_kwargs or self.compute_loss_func is not None):
            return None
        if not group or not isinstance(group[0], Mapping) or "labels" not in group[0]:
            return None
        causal = task_for_class(type(self.accelerator.unwrap_model(self.model)).__name__) == "text-generation"
        count = sum((batch["labels"][..., 1:] if causal else batch["labels"]).ne(-100).sum() for batch in group)
        if self.args.world_size > 1:
            count = self.accelerator.gather(count.to(self.accelerator.device)).sum()
        return count.to(self.accelerator.device)

    def _prepare_input(self, data):
        if isinstance(data, Mapping):
            return type(data)({k: self._prepare_input(v) for k, v in data.items()})
        if isinstance(data, (list, tuple)):
            return type(data)(self._prepare_input(v) for v in data)
        return data.to(self.accelerator.device) if isinstance(data, torch.Tensor) else data

    def _prepare_inputs(self, inputs):
        inputs = self._prepare_input(inputs)
        if len(inputs) == 0:
            self._set_signature_columns_if_needed()
            raise ValueError("The batch is empty: none of the dataset's columns is an argument of the model's forward "
                             f"({', '.join(self._signature_columns)}).")
        return inputs

    def compute_loss_context_manager(self):
        return self.accelerator.autocast()

    def training_step(self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch=None) -> torch.Tensor:
        """Forward and backward on one batch; returns the (detached) loss, scaled for accumulation."""
        if not model.training:  # model.train() walks every module: only after an evaluation switched it off
            model.train()
        inputs = self._prepare_inputs(inputs)
        with self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)
        scaled = (self.model_accepts_loss_kwargs and num_items_in_batch is not None) or self.compute_loss_func is not None
        if not scaled:
            loss = loss / self.current_gradient_accumulation_steps
        if self._plain_backend():
            loss.backward()
        else:
            self.accelerator.backward(loss)
        return loss.detach()

    def _plain_backend(self) -> bool:
        """True when accelerate's backward and clipping would reduce to PyTorch's own calls (no loss scaler,
        DeepSpeed, FSDP, ...): calling those directly skips per-step checks that cost ~0.5 ms on small models."""
        if not hasattr(self, "_plain"):
            from accelerate.utils import DistributedType

            plain_types = (DistributedType.NO, DistributedType.MULTI_CPU, DistributedType.MULTI_GPU)
            self._plain = (self.accelerator.scaler is None and self.accelerator.distributed_type in plain_types
                           and self.accelerator.gradient_accumulation_steps == 1)
        return self._plain

    def compute_loss(self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch=None):
        """The model's own loss (its first output), or ``compute_loss_func``/label smoothing on its logits."""
        labels = None
        if (self.label_smoother is not None or self.compute_loss_func is not None) and "labels" in inputs:
            inputs = dict(inputs)
            labels = inputs.pop("labels")
        if self.model_accepts_loss_kwargs and num_items_in_batch is not None:
            inputs = {**inputs, "num_items_in_batch": num_items_in_batch}
        outputs = model(**inputs)
        if self.compute_loss_func is not None:
            loss = self.compute_loss_func(outputs, labels, num_items_in_batch=num_items_in_batch)
        elif labels is not None:
            name = type(self.accelerator.unwrap_model(model)).__name__
            loss = label_smoothed_loss(outputs["logits"], labels, self.label_smoother,
                                       shift=task_for_class(name) == "text-generation")
        else:
            if isinstance(outputs, Mapping) and "loss" not in outputs:
                raise ValueError(f"The model returned no loss, only {sorted(outputs.keys())}; it was given "
                                 f"{sorted(inputs.keys())}. Pass the targets as one of {self.label_names or ['labels']} "
                                 "(rename the dataset's label column), or override compute_loss.")
            loss = outputs["loss"] if isinstance(outputs, Mapping) else outputs[0]
        return (loss, outputs) if return_outputs else loss

    def floating_point_ops(self, inputs) -> float:
        """About 6 x parameters x tokens (forward and backward), for the total_flos metric."""
        ids = inputs.get("input_ids") if isinstance(inputs, Mapping) else None
        if ids is None:
            return 0.0
        if not hasattr(self, "_num_params"):
            model = self.accelerator.unwrap_model(self.model)
            count = getattr(model, "num_parameters", None)
            self._num_params = count(exclude_embeddings=True) if count else sum(p.numel() for p in model.parameters())
        return 6.0 * ids.numel() * self._num_params

    def _maybe_log_save_evaluate(self, grad_norm, learning_rate, ignore_keys_for_eval) -> None:
        if self.control.should_log and self.state.global_step > self._globalstep_last_logged:
            loss = self.accelerator.gather(self._tr_loss.detach()).mean().item()
            self._tr_loss -= self._tr_loss
            logs = {"loss": loss / (self.state.global_step - self._globalstep_last_logged)}
            if grad_norm is not None:
                logs["grad_norm"] = grad_norm
            logs["learning_rate"] = learning_rate if learning_rate is not None else self._get_learning_rate()
            self._total_loss_scalar += loss
            self._globalstep_last_logged = self.state.global_step
            self.log(logs)
        if self.control.should_evaluate:
            metrics = self._evaluate(ignore_keys_for_eval)
            is_best = self._determine_best_metric(metrics)
            if self.args.save_strategy == SaveStrategy.BEST:
                self.control.should_save = is_best
        if self.control.should_save:
            self._save_checkpoint()
            self.control = self.callback_handler.on_save(self.args, self.state, self.control)

    def _evaluate(self, ignore_keys_for_eval) -> dict[str, float]:
        metrics = self.evaluate(ignore_keys=ignore_keys_for_eval)
        scheduler = getattr(self.lr_scheduler, "scheduler", self.lr_scheduler)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(metrics[self._best_metric_key(metrics)])
        return metrics

    def _best_metric_key(self, metrics: dict) -> str:
        name = self.args.metric_for_best_model
        name = name if name.startswith("eval_") else f"eval_{name}"
        if name not in metrics:
            raise KeyError(f"metric_for_best_model={self.args.metric_for_best_model!r}, but the evaluation metrics are "
                           f"{sorted(metrics)}: return {name!r} from compute_metrics or change metric_for_best_model.")
        return name

    def _determine_best_metric(self, metrics: dict[str, float]) -> bool:
        if self.args.metric_for_best_model is None:
            return False
        value = metrics[self._best_metric_key(metrics)]
        best = self.state.best_metric
        better = best is None or (value > best if self.args.greater_is_better else value < best)
        if better:
            self.state.best_metric = value
            self.state.best_global_step = self.state.global_step
        return better

    def _finish_training(self, plan: dict, start_time: float) -> TrainOutput:
        self._total_loss_scalar += self.accelerator.gather(self._tr_loss.detach()).mean().item()
        steps = self.state.global_step - self._initial_global_step
        train_loss = self._total_loss_scalar / max(steps, 0.001)
        metrics = speed_metrics("train", start_time, num_samples=plan["samples"] * steps / max(plan["max_steps"], 1),
                                num_steps=steps)
        metrics["total_flos"] = self.state.total_flos
        metrics["train_loss"] = train_loss
        self.log(metrics)
        if self.args.load_best_model_at_end and self.state.best_model_checkpoint is not None:
            self._load_best_model()
        best = self.state.best_model_checkpoint
        if self.args.should_save and best is not None and self.args.save_total_limit == 1:
            for path in ckpt.sorted_checkpoints(self.args.output_dir):
                if not os.path.samefile(path, best):
                    shutil.rmtree(path, ignore_errors=True)
        self.control = self.callback_handler.on_train_end(self.args, self.state, self.control)
        self.is_in_train = False
        self._finish_current_push()  # the pushes of the saves (hub.py); the final one is push_to_hub()
        return TrainOutput(self.state.global_step, train_loss, metrics)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Record ``logs`` in ``state.log_history`` (with epoch and step) and pass them to the callbacks."""
        if self.state.epoch is not None:
            logs["epoch"] = self.state.epoch
        self.state.log_history.append({**logs, "step": self.state.global_step})
        self.control = self.callback_handler.on_log(self.args, self.state, self.control, logs)
