"""Two CPU processes (gloo) with half the per-device batch train to the same weights as one process."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tolerance import assert_close_scaled

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "training" / "train_script.py"


def _env():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _launchers() -> dict[str, list[str]]:
    bin_dir = os.path.dirname(sys.executable)
    torchrun, accelerate = shutil.which("torchrun", path=bin_dir), shutil.which("accelerate", path=bin_dir)
    if torchrun is None or accelerate is None:
        pytest.skip("torchrun and accelerate must be installed next to this Python")
    # `accelerate launch --cpu` starts a single process whatever --num_processes says (accelerate 1.x);
    # --multi_gpu is its torchrun launcher, and on a machine without GPUs the processes run on the CPU (gloo)
    return {
        "torchrun": [torchrun, "--nproc_per_node", "2", "--master_port", "29531"],
        "accelerate": [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                       "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533"],
    }


def _start(command, output_dir, batch):
    command = [*command, str(SCRIPT), "--output_dir", str(output_dir), "--batch", str(batch), "--max_steps", "8",
               "--accumulation", "2"]
    return subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="compares CPU (gloo) runs")
def test_two_processes_match_one(tmp_path):
    """Same global batch (8 = 2 processes x 4, then x2 accumulation) -> the same weights within 1e-6."""
    runs = {"one": _start([sys.executable], tmp_path / "one", 8)}
    runs.update({name: _start(command, tmp_path / name, 4) for name, command in _launchers().items()})
    for name, process in runs.items():
        _, stderr = process.communicate(timeout=400)
        assert process.returncode == 0, f"{name}: {stderr[-3000:]}"
    one = load_file(tmp_path / "one" / "final" / "model.safetensors")
    for name in ("torchrun", "accelerate"):
        two = load_file(tmp_path / name / "final" / "model.safetensors")
        assert one.keys() == two.keys()
        worst = max((one[k] - two[k]).abs().max().item() for k in one)
        assert worst <= 1e-6, (name, worst)
        ours, theirs = (json.loads((tmp_path / run / "final" / "predict.json").read_text()) for run in ("one", name))
        assert theirs["label_ids"] == ours["label_ids"] and len(theirs["predictions"]) == 10
        assert np.allclose(theirs["predictions"], ours["predictions"], atol=1e-5)
        assert_close_scaled(theirs["metrics"]["test_loss"], ours["metrics"]["test_loss"], what="test_loss")
        # each process saved its own random generators in the last checkpoint
        assert {"rng_state_0.pth", "rng_state_1.pth"} <= set(os.listdir(tmp_path / name / "checkpoint-8"))
