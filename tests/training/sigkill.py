"""Killing a training run in the middle, for the resume-after-SIGKILL tests."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from workbench.training import checkpoints as ckpt


def kill_after_checkpoint(run: subprocess.Popen, output_dir: Path, step: int = 4, last_step: int = 12) -> str:
    """Wait until ``checkpoint-{step}`` is complete, SIGKILL the run, check it died before finishing,
    and return the checkpoint a resume would start from."""
    target = output_dir / f"{ckpt.PREFIX_CHECKPOINT_DIR}-{step}" / ckpt.TRAINER_STATE_NAME
    deadline = time.time() + 120
    while not target.exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert target.exists(), run.stderr.read() if run.poll() is not None else "timed out"
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL
    assert not (output_dir / "final").exists()
    last = ckpt.get_last_checkpoint(str(output_dir))
    assert last is not None and int(last.rsplit("-", 1)[1]) < last_step
    return last
