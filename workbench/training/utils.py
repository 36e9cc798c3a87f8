"""Small shared pieces of the training loop: seeding, the named tuples the Trainer returns, and
helpers that move nested tensors between devices, processes and numpy."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import torch

PREFIX_CHECKPOINT_DIR = "checkpoint"


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed ``random``, ``numpy`` and ``torch`` (all devices) with ``seed``.

    >>> set_seed(42)
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True)


class EvalPrediction:
    """What ``compute_metrics`` receives: ``predictions`` and ``label_ids`` (numpy arrays or tuples of them).

    It unpacks like a tuple: ``logits, labels = eval_pred``.
    """

    def __init__(self, predictions, label_ids, inputs=None, losses=None):
        self.predictions = predictions
        self.label_ids = label_ids
        self.inputs = inputs
        self.losses = losses
        self.elements = (predictions, label_ids) + tuple(x for x in (inputs, losses) if x is not None)

    def __iter__(self):
        return iter(self.elements)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self.elements):
            raise IndexError("tuple index out of range")
        return self.elements[index]

    def __len__(self) -> int:
        return len(self.elements)


class EvalLoopOutput(NamedTuple):
    predictions: Any
    label_ids: Any
    metrics: dict[str, float] | None
    num_samples: int | None


class PredictionOutput(NamedTuple):
    predictions: Any
    label_ids: Any
    metrics: dict[str, float] | None


class TrainOutput(NamedTuple):
    global_step: int
    training_loss: float
    metrics: dict[str, float]


def speed_metrics(split: str, start_time: float, num_samples: int | None = None, num_steps: int | None = None,
                  num_tokens: int | None = None) -> dict[str, float]:
    """``{split}_runtime`` and, per second, samples, steps and tokens since ``start_time``."""
    runtime = time.time() - start_time
    result = {f"{split}_runtime": round(runtime, 4)}
    if runtime == 0:
        return result
    for name, count in (("samples", num_samples), ("steps", num_steps), ("tokens", num_tokens)):
        if count is not None:
            result[f"{split}_{name}_per_second"] = round(count / runtime, 3)
    return result


def has_length(obj: Any) -> bool:
    try:
        return len(obj) is not None
    except (TypeError, AttributeError, NotImplementedError):
        return False


def denumpify_detensorize(value: Any) -> Any:
    """numpy scalars and one-element tensors -> Python numbers, recursively (metrics must be JSON-able)."""
    if isinstance(value, (list, tuple)):
        return type(value)(denumpify_detensorize(v) for v in value)
    if isinstance(value, dict):
        return type(value)((k, denumpify_detensorize(v)) for k, v in value.items())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    return value


def nested_detach(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return type(value)(nested_detach(v) for v in value)
    if isinstance(value, Mapping):
        return type(value)({k: nested_detach(v) for k, v in value.items()})
    return value.detach() if isinstance(value, torch.Tensor) else value


def nested_numpify(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return type(value)(nested_numpify(v) for v in value)
    if isinstance(value, Mapping):
        return type(value)({k: nested_numpify(v) for k, v in value.items()})
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:  # numpy has no bfloat16
            value = value.float()
        return value.numpy()
    return value


def _pad_and_concat(first: np.ndarray, second: np.ndarray, padding_index: int) -> np.ndarray:
    """Concatenate on dim 0; when dim 1 differs (token-level outputs of different lengths) pad it on the right."""
    if first.ndim == 1 or first.shape[1:] == second.shape[1:]:
        return np.concatenate((first, second), axis=0)
    length = max(first.shape[1], second.shape[1])
    shape = (first.shape[0] + second.shape[0], length) + first.shape[2:]
    result = np.full(shape, padding_index, dtype=np.result_type(first, second))
    result[: first.shape[0], : first.shape[1]] = first
    result[first.shape[0]:, : second.shape[1]] = second
    return result


def nested_concat(first: Any, second: Any, padding_index: int = -100) -> Any:
    """Concatenate two (nested tuples/dicts of) numpy arrays along the batch dimension."""
    if first is None:
        return second
    if isinstance(first, (list, tuple)):
        return type(first)(nested_concat(a, b, padding_index) for a, b in zip(first, second))
    if isinstance(first, Mapping):
        return type(first)({k: nested_concat(v, second[k], padding_index) for k, v in first.items()})
    return _pad_and_concat(np.asarray(first), np.asarray(second), padding_index)


def find_batch_size(inputs: Any) -> int | None:
    """The first dimension of the first tensor found in ``inputs``."""
    if isinstance(inputs, (list, tuple)):
        for value in inputs:
            found = find_batch_size(value)
            if found is not None:
                return found
    elif isinstance(inputs, Mapping):
        for value in inputs.values():
            found = find_batch_size(value)
            if found is not None:
                return found
    elif isinstance(inputs, (torch.Tensor, np.ndarray)):
        return inputs.shape[0] if inputs.ndim >= 1 else None
    return None
