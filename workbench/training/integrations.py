"""Reporting to trackers (``report_to``). Only TensorBoard is built in; other trackers can be fed
from a :class:`~workbench.TrainerCallback`'s ``on_log``."""

from __future__ import annotations

from .callbacks import TrainerCallback


class TensorBoardCallback(TrainerCallback):
    """Writes scalar logs and the training arguments to ``args.logging_dir`` (needs ``tensorboard``)."""

    def __init__(self, tb_writer=None) -> None:
        self.tb_writer = tb_writer

    def _writer(self, args):
        if self.tb_writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.tb_writer = SummaryWriter(log_dir=args.logging_dir)
        return self.tb_writer

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self._writer(args).add_text("args", args.to_json_string())

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return
        writer = self._writer(args)
        for key, value in (logs or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                writer.add_scalar(key if "/" in key or key.startswith(("eval_", "test_")) else f"train/{key}",
                                  value, state.global_step)
        writer.flush()

    def on_train_end(self, args, state, control, **kwargs):
        if self.tb_writer is not None:
            self.tb_writer.close()
            self.tb_writer = None
