"""Evaluation and prediction: the Trainer's loop without gradients.

Each batch's loss, logits and labels are padded to one length across processes, gathered
(accelerate drops the samples it repeated to even out the last batch), moved to numpy and
concatenated; ``compute_metrics`` then sees the whole set at once as an :class:`EvalPrediction`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .utils import (EvalLoopOutput, EvalPrediction, PredictionOutput, denumpify_detensorize, find_batch_size,
                    nested_concat, nested_detach, nested_numpify, speed_metrics)

logger = logging.getLogger("workbench")


class EvaluationMixin:
    """``evaluate``, ``predict`` and the loop they share; mixed into :class:`~workbench.Trainer`."""

    def evaluate(self, eval_dataset=None, ignore_keys: list[str] | None = None,
                 metric_key_prefix: str = "eval") -> dict[str, float]:
        """Loss and ``compute_metrics`` on ``eval_dataset`` (default: the Trainer's), each key prefixed with
        ``metric_key_prefix`` (``eval_loss``, ``eval_accuracy``, ...). A dict of datasets evaluates each,
        with its name in the prefix (``eval_<name>_loss``)."""
        chosen = eval_dataset if eval_dataset is not None else self.eval_dataset
        if isinstance(chosen, dict):
            metrics = {}
            for name, dataset in chosen.items():
                metrics.update(self.evaluate(dataset, ignore_keys, f"{metric_key_prefix}_{name}"))
            return metrics
        dataloader = self.get_eval_dataloader(eval_dataset)
        start_time = time.time()
        output = self.evaluation_loop(dataloader, "Evaluation", prediction_loss_only=True if self.compute_metrics is None else None,
                                      ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        total = self.args.eval_batch_size * self.args.world_size
        output.metrics.update(speed_metrics(metric_key_prefix, start_time, num_samples=output.num_samples,
                                            num_steps=math.ceil(output.num_samples / total)))
        self.log(output.metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, output.metrics)
        return output.metrics

    def predict(self, test_dataset, ignore_keys: list[str] | None = None,
                metric_key_prefix: str = "test") -> PredictionOutput:
        """Predictions on ``test_dataset`` (logits, as numpy), its labels if it has them, and metrics."""
        dataloader = self.get_test_dataloader(test_dataset)
        start_time = time.time()
        output = self.evaluation_loop(dataloader, "Prediction", ignore_keys=ignore_keys,
                                      metric_key_prefix=metric_key_prefix)
        total = self.args.eval_batch_size * self.args.world_size
        output.metrics.update(speed_metrics(metric_key_prefix, start_time, num_samples=output.num_samples,
                                            num_steps=math.ceil(output.num_samples / total)))
        self.control = self.callback_handler.on_predict(self.args, self.state, self.control, output.metrics)
        return PredictionOutput(output.predictions, output.label_ids, output.metrics)

    def _evaluation_model(self):
        if not self.is_in_train and len(self.accelerator._models) == 0:
            # evaluate() before train(): let accelerate place the model (and set up mixed precision)
            self.model = self.accelerator.prepare_model(self.model, evaluation_mode=True)
        return self.model

    def evaluation_loop(self, dataloader, description: str, prediction_loss_only: bool | None = None,
                        ignore_keys: list[str] | None = None, metric_key_prefix: str = "eval") -> EvalLoopOutput:
        """Run ``prediction_step`` over ``dataloader`` and compute the metrics (shared by evaluate and predict)."""
        args, accelerator = self.args, self.accelerator
        loss_only = prediction_loss_only if prediction_loss_only is not None else args.prediction_loss_only
        model = self._evaluation_model()
        model.eval()
        self.callback_handler.eval_dataloader = dataloader
        logger.info(f"***** Running {description} (batch size {args.eval_batch_size}) *****")
        losses = predictions = labels = None
        observed = 0
        for inputs in dataloader:
            batch_size = find_batch_size(inputs)
            observed += batch_size or 0
            loss, logits, label = self.prediction_step(model, inputs, loss_only, ignore_keys=ignore_keys)
            if loss is not None:
                losses = nested_concat(losses, nested_numpify(accelerator.gather_for_metrics(
                    loss.reshape(1).repeat(batch_size or 1))))
            if label is not None:
                label = accelerator.pad_across_processes(label, dim=1, pad_index=-100)
            if logits is not None:
                logits = accelerator.pad_across_processes(logits, dim=1, pad_index=-100)
                if self.preprocess_logits_for_metrics is not None:
                    logits = self.preprocess_logits_for_metrics(logits, label)
                predictions = nested_concat(predictions, nested_numpify(accelerator.gather_for_metrics(logits)))
            if label is not None:
                labels = nested_concat(labels, nested_numpify(accelerator.gather_for_metrics(label)))
            self.control = self.callback_handler.on_prediction_step(args, self.state, self.control)
        num_samples = self._num_samples(dataloader, observed)
        metrics: dict[str, Any] = {}
        if self.compute_metrics is not None and predictions is not None and labels is not None:
            metrics = self.compute_metrics(EvalPrediction(predictions=predictions, label_ids=labels))
            if not isinstance(metrics, Mapping):
                raise TypeError(f"compute_metrics must return a dict of metric name -> value, got {type(metrics).__name__}.")
            metrics = dict(denumpify_detensorize(metrics))
        if losses is not None:
            finite = np.isfinite(losses)
            if args.logging_nan_inf_filter and finite.any():
                losses = losses[finite]
            metrics[f"{metric_key_prefix}_loss"] = float(losses.mean())
        metrics = {k if k.startswith(f"{metric_key_prefix}_") else f"{metric_key_prefix}_{k}": v for k, v in metrics.items()}
        return EvalLoopOutput(predictions=predictions, label_ids=labels, metrics=metrics, num_samples=num_samples)

    @staticmethod
    def _num_samples(dataloader, observed: int) -> int:
        try:
            count = len(dataloader.dataset)
        except (TypeError, AttributeError):
            count = 0
        return count or observed

    def prediction_step(self, model, inputs: dict[str, Any], prediction_loss_only: bool,
                        ignore_keys: list[str] | None = None):
        """One batch without gradients -> (loss, logits, labels), each None when not available.

        ``logits`` is every model output but the loss (a tuple when there are several), minus
        ``ignore_keys`` (default: the config's ``keys_to_ignore_at_inference``, else ``past_key_values``).
        """
        has_labels = bool(self.label_names) and all(inputs.get(k) is not None for k in self.label_names)
        return_loss = inputs.get("return_loss")
        loss_without_labels = not self.label_names and (return_loss if return_loss is not None else self.can_return_loss)
        inputs = self._prepare_inputs(inputs)
        if ignore_keys is None:
            config = getattr(self.model, "config", None)
            ignore_keys = list(getattr(config, "keys_to_ignore_at_inference", None) or ["past_key_values"])
        labels = None
        if has_labels or loss_without_labels:
            labels = nested_detach(tuple(inputs.get(name) for name in self.label_names))
            labels = labels[0] if len(labels) == 1 else (labels or None)
        with torch.no_grad(), self.compute_loss_context_manager():
            if has_labels or loss_without_labels:
                loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
                loss = loss.detach().mean()
                skip = set(ignore_keys) | {"loss"}
                logits = (tuple(v for k, v in outputs.items() if k not in skip) if isinstance(outputs, Mapping)
                          else outputs[1:])
            else:
                loss = None
                outputs = model(**inputs)
                logits = (tuple(v for k, v in outputs.items() if k not in ignore_keys) if isinstance(outputs, Mapping)
                          else outputs)
        if prediction_loss_only:
            return loss, None, None
        logits = nested_detach(logits)
        if isinstance(logits, (tuple, list)) and len(logits) == 1:
            logits = logits[0]
        return loss, logits, labels
