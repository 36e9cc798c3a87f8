"""How the Trainer writes and reads checkpoints and final models (the files: checkpoints.py)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from typing import Any

import torch
from torch import nn

from ..atomic_folder import direct_save, staged_save
from . import checkpoints as ckpt
from .callbacks import ExportableState, TrainerState
from .utils import PREFIX_CHECKPOINT_DIR

logger = logging.getLogger("workbench")


class SavingMixin:
    """Checkpointing, resuming and ``save_model`` of :class:`~workbench.Trainer`."""

    def _resolve_checkpoint(self, resume_from_checkpoint) -> str | None:
        if resume_from_checkpoint is None or resume_from_checkpoint is False:
            return None
        if resume_from_checkpoint is True:
            found = ckpt.get_last_checkpoint(self.args.output_dir)
            if found is None:
                raise ValueError(f"resume_from_checkpoint=True, but {self.args.output_dir} holds no complete checkpoint-N "
                                 "folder: train from scratch (resume_from_checkpoint=None) or pass a checkpoint path.")
            return found
        path = str(resume_from_checkpoint)
        if not os.path.isdir(path):
            raise ValueError(f"Can't resume: checkpoint folder {path} does not exist.")
        if not ckpt.is_complete(path):
            raise ValueError(f"Can't resume from {path}: it has no {ckpt.TRAINER_STATE_NAME}, so it was not completely "
                             "written (or was saved by save_model, not during training).")
        return path

    def _restore_checkpoint(self, checkpoint: str) -> None:
        """Trainer state, optimizer, schedule and callback state from ``checkpoint`` (weights are already in)."""
        saved = TrainerState.load_from_json(os.path.join(checkpoint, ckpt.TRAINER_STATE_NAME))
        for name in ("max_steps", "num_train_epochs", "is_local_process_zero", "is_world_process_zero"):
            setattr(saved, name, getattr(self.state, name))
        if saved.best_model_checkpoint is not None and not os.path.isdir(saved.best_model_checkpoint):
            logger.warning(f"The best checkpoint {saved.best_model_checkpoint} is gone; forgetting it.")
            saved.best_model_checkpoint = None
        self.state = saved
        self.state.compute_steps(self.args, self.state.max_steps)
        for name, target in ((ckpt.OPTIMIZER_NAME, self.optimizer), (ckpt.SCHEDULER_NAME, self.lr_scheduler)):
            path = os.path.join(checkpoint, name)
            if os.path.isfile(path):
                target.load_state_dict(torch.load(path, map_location=self.accelerator.device, weights_only=True))
            else:
                logger.warning(f"{path} is missing (saved with save_only_model?): starting it afresh.")
        for callback in self.callback_handler.callbacks:
            saved_state = self.state.stateful_callbacks.get(type(callback).__name__)
            if isinstance(callback, ExportableState) and isinstance(saved_state, dict):
                for key, value in saved_state.get("attributes", {}).items():
                    setattr(callback, key, value)

    def _load_best_model(self) -> None:
        path = self.state.best_model_checkpoint
        logger.info(f"Loading the best model from {path} ({self.args.metric_for_best_model}={self.state.best_metric}).")
        ckpt.load_model_weights(self.accelerator.unwrap_model(self.model), path)

    def _save_checkpoint(self, model: nn.Module | None = None, trial: Any = None) -> None:
        """Write ``checkpoint-{global_step}`` atomically (see checkpoints.py), then rotate old ones."""
        args, accelerator = self.args, self.accelerator
        final = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
        temp = ckpt.temp_folder(final)
        if args.should_save:
            shutil.rmtree(temp, ignore_errors=True)  # left over from a crash
            os.makedirs(temp)
        accelerator.wait_for_everyone()
        if self.state.best_global_step is not None:
            best = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{self.state.best_global_step}")
            if self.state.best_global_step == self.state.global_step or os.path.isdir(best):
                self.state.best_model_checkpoint = best
        with direct_save(temp):  # private until published by rename: no staging inside
            self._write_checkpoint(temp)
        accelerator.wait_for_everyone()
        if args.should_save:
            ckpt.publish(temp, final)
            if args.push_to_hub:
                self._push_from_checkpoint(final)  # before rotation may delete it (hub.py)
            ckpt.rotate_checkpoints(args.output_dir, args.save_total_limit, self.state.best_model_checkpoint)
        accelerator.wait_for_everyone()

    def _write_checkpoint(self, folder: str) -> None:
        args = self.args
        if args.should_save:
            self._save(folder)
        if not args.save_only_model:
            if args.should_save:
                torch.save(self.optimizer.state_dict(), os.path.join(folder, ckpt.OPTIMIZER_NAME))
                torch.save(self.lr_scheduler.state_dict(), os.path.join(folder, ckpt.SCHEDULER_NAME))
            ckpt.save_rng_state(folder, args.process_index, args.world_size)
        if args.should_save:
            for callback in self.callback_handler.callbacks + [self.control]:
                if isinstance(callback, ExportableState):
                    self.state.stateful_callbacks[type(callback).__name__] = callback.state()
            self.state.save_to_json(os.path.join(folder, ckpt.TRAINER_STATE_NAME))  # last: marks it complete

    def _save(self, output_dir: str) -> None:
        os.makedirs(output_dir, exist_ok=True)
        ckpt.save_model_weights(self.accelerator.unwrap_model(self.model), output_dir)
        if self.processing_class is not None and hasattr(self.processing_class, "save_pretrained"):
            self.processing_class.save_pretrained(output_dir)
        ckpt.save_training_args(self.args, output_dir)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Save the model (``save_pretrained`` format), the processing class and the arguments to
        ``output_dir`` (default ``args.output_dir``): ``from_pretrained(output_dir)`` loads it back.

        The folder is replaced as a whole (``workbench.atomic_folder``): a crash mid-save leaves the
        previous save, and the ``checkpoint-*`` folders, ``runs/`` and other files in it are kept."""
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            with staged_save(output_dir if output_dir is not None else self.args.output_dir) as stage:
                self._save(stage)
        self.accelerator.wait_for_everyone()
        if self.args.push_to_hub and not _internal_call:  # a user's save_model() is pushed too, as the reference does
            self.push_to_hub(commit_message="Model save", revision=self.args.hub_revision)

    def save_state(self) -> None:
        if self.args.should_save:
            self.state.save_to_json(os.path.join(self.args.output_dir, ckpt.TRAINER_STATE_NAME))

    def log_metrics(self, split: str, metrics: dict[str, Any]) -> None:
        """Print ``metrics`` under a ``***** split metrics *****`` header (main process only), as the
        reference's example scripts do after train/evaluate/predict."""
        if not self.is_world_process_zero():
            return
        print(f"***** {split} metrics *****")
        width = max((len(key) for key in metrics), default=0)
        for key in sorted(metrics):
            value = metrics[key]
            print(f"  {key:<{width}} = {f'{value:.4g}' if isinstance(value, float) else value}")

    def save_metrics(self, split: str, metrics: dict[str, Any], combined: bool = True) -> None:
        """Write ``output_dir/{split}_results.json`` and, with ``combined``, merge the metrics into
        ``output_dir/all_results.json`` (main process only)."""
        if not self.is_world_process_zero():
            return
        os.makedirs(self.args.output_dir, exist_ok=True)
        with open(os.path.join(self.args.output_dir, f"{split}_results.json"), "w", encoding="utf-8") as handle:
            json.dump(metrics, handle, indent=4, sort_keys=True)
        if combined:
            path = os.path.join(self.args.output_dir, "all_results.json")
            everything = {}
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as handle:
                    everything = json.load(handle)
            everything.update(metrics)
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(everything, handle, indent=4, sort_keys=True)
