"""Checkpoint folders: written atomically, read back without unpickling arbitrary objects.

A checkpoint ``checkpoint-N/`` holds the model (``save_pretrained``), ``optimizer.pt``,
``scheduler.pt``, ``rng_state.pth`` (``rng_state_{rank}.pth`` per process when distributed),
``training_args.json`` and ``trainer_state.json``. Everything is written into a hidden
``.tmp-checkpoint-N/`` first and renamed into place at the end, so a crash mid-save leaves the
previous checkpoints whole and no half-written folder that resuming could pick up.

Every ``.pt``/``.pth`` file holds only tensors, numbers, strings, lists and dicts, and loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from .utils import PREFIX_CHECKPOINT_DIR

logger = logging.getLogger("workbench")

OPTIMIZER_NAME = "optimizer.pt"
SCHEDULER_NAME = "scheduler.pt"
TRAINER_STATE_NAME = "trainer_state.json"
TRAINING_ARGS_NAME = "training_args.json"
TEMP_PREFIX = ".tmp-"
_CHECKPOINT_RE = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


def temp_folder(final: str) -> str:
    head, name = os.path.split(final)
    return os.path.join(head, TEMP_PREFIX + name)


def _fsync_tree(folder: str) -> None:
    """Flush the folder's files (and the folder itself) to disk before it is renamed into place."""
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                os.fsync(handle.fileno())
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish(temp: str, final: str) -> None:
    """Move a fully written ``temp`` folder to ``final`` (replacing an older ``final``)."""
    _fsync_tree(temp)
    old = None
    if os.path.exists(final):
        old = temp + ".old"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(final, old)
    os.rename(temp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def is_complete(folder: str) -> bool:
    """A checkpoint counts once its trainer_state.json (written last) is there."""
    return os.path.isfile(os.path.join(folder, TRAINER_STATE_NAME))


def get_last_checkpoint(folder: str) -> str | None:
    """The complete ``checkpoint-N`` folder with the largest N in ``folder``, or None."""
    if not os.path.isdir(folder):
        return None
    found = []
    for name in os.listdir(folder):
        match = _CHECKPOINT_RE.match(name)
        path = os.path.join(folder, name)
        if match and os.path.isdir(path):
            if is_complete(path):
                found.append((int(match.group(1)), path))
            else:
                logger.warning(f"Ignoring {path}: it has no {TRAINER_STATE_NAME}, so it was not completely written.")
    return max(found)[1] if found else None


def sorted_checkpoints(output_dir: str) -> list[str]:
    """``checkpoint-N`` folders in ``output_dir``, oldest (smallest N) first."""
    found = []
    for path in Path(output_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        match = _CHECKPOINT_RE.match(path.name)
        if match and path.is_dir():
            found.append((int(match.group(1)), str(path)))
    return [path for _, path in sorted(found)]


def rotate_checkpoints(output_dir: str, save_total_limit: int | None, best_model_checkpoint: str | None = None) -> None:
    """Delete the oldest checkpoints beyond ``save_total_limit``, never the newest nor the best one."""
    if not save_total_limit:
        return
    checkpoints = sorted_checkpoints(output_dir)
    if len(checkpoints) <= save_total_limit:
        return
    protected = {checkpoints[-1]}
    if best_model_checkpoint is not None:
        protected.add(str(Path(best_model_checkpoint)))
    keep = max(save_total_limit, len(protected))
    remaining = len(checkpoints)
    for path in checkpoints:
        if remaining <= keep:
            break
        if path not in protected:
            logger.info(f"Deleting older checkpoint {path} (save_total_limit={save_total_limit})")
            shutil.rmtree(path, ignore_errors=True)
            remaining -= 1


# --- model weights ------------------------------------------------------------------------------

def save_model_weights(model: torch.nn.Module, folder: str) -> None:
    """``save_pretrained`` when the model has it, else its state dict as ``model.safetensors``."""
    os.makedirs(folder, exist_ok=True)
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(folder)
    else:
        from safetensors.torch import save_model

        save_model(model, os.path.join(folder, "model.safetensors"))


def _weight_files(folder: str) -> list[str]:
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.isfile(index):
        with open(index, encoding="utf-8") as handle:
            shards = sorted(set(json.load(handle)["weight_map"].values()))
        return [os.path.join(folder, shard) for shard in shards]
    for name in ("model.safetensors", "pytorch_model.bin"):
        if os.path.isfile(os.path.join(folder, name)):
            return [os.path.join(folder, name)]
    raise FileNotFoundError(f"No model weights (model.safetensors or pytorch_model.bin) in {folder}.")


def load_model_weights(model: torch.nn.Module, folder: str) -> None:
    """Load a checkpoint's weights into ``model`` in place. Keys the checkpoint leaves out must be
    tied to (share memory with) weights it has. A model with adapters loads an adapter checkpoint
    into its active adapter (training/adapters.py)."""
    from safetensors.torch import load_file

    from .adapters import has_adapters, is_adapter_checkpoint, load_adapter_checkpoint

    if has_adapters(model) or is_adapter_checkpoint(folder):
        return load_adapter_checkpoint(model, folder)
    state = {}
    for path in _weight_files(folder):
        state.update(load_file(path) if path.endswith(".safetensors") else torch.load(path, weights_only=True))
    result = model.load_state_dict(state, strict=False)
    own = model.state_dict()
    loaded = {own[k].data_ptr() for k in state if k in own}
    missing = [k for k in result.missing_keys if own[k].data_ptr() not in loaded]
    if missing or result.unexpected_keys:
        raise RuntimeError(f"The weights in {folder} do not fit {type(model).__name__}: missing {missing[:5]}, "
                           f"unexpected {result.unexpected_keys[:5]}. Was the checkpoint written for another model?")
    if hasattr(model, "tie_weights"):
        model.tie_weights()


# --- random number generators ---------------------------------------------------------------------

def rng_file(folder: str, process_index: int, world_size: int) -> str:
    return os.path.join(folder, "rng_state.pth" if world_size <= 1 else f"rng_state_{process_index}.pth")


def save_rng_state(folder: str, process_index: int = 0, world_size: int = 1) -> None:
    """Python, numpy and torch generator states as tensors and numbers (weights_only-loadable)."""
    version, python_state, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    states = {
        "python": {"version": version, "state": torch.tensor(python_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "cpu": torch.random.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.random.get_rng_state_all()
    os.makedirs(folder, exist_ok=True)
    torch.save(states, rng_file(folder, process_index, world_size))


def load_rng_state(folder: str, process_index: int = 0, world_size: int = 1) -> bool:
    """Restore the generators saved by :func:`save_rng_state`; False (with a warning) if the file is missing."""
    path = rng_file(folder, process_index, world_size)
    if not os.path.isfile(path):
        logger.warning(f"{path} is missing (was the checkpoint written with another number of processes?); "
                       "resuming without restoring the random generators, so results may differ.")
        return False
    states = torch.load(path, weights_only=True)
    python = states["python"]
    random.setstate((python["version"], tuple(python["state"].tolist()), python["gauss"]))
    numpy_state = states["numpy"]
    np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                         numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    torch.random.set_rng_state(states["cpu"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.random.set_rng_state_all(states["cuda"])
    return True


def save_training_args(args, folder: str) -> None:
    with open(os.path.join(folder, TRAINING_ARGS_NAME), "w", encoding="utf-8") as handle:
        handle.write(args.to_json_string() + "\n")
