"""``pipeline()``: a task name (or a model) in, a ready-to-call pipeline out.

Each task lives in its own module; :mod:`workbench.tasks` names, per task, the module and class,
the Auto class its model loads with, and the default checkpoint (used when no ``model=`` is given:
the zoo's model for the task when one is built, else the default Hub checkpoint; offline and
uncached the error says how to pass a local model, or how to build the zoo's).
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from ..errors import CheckpointNotFoundError
from ..tasks import PIPELINE_TASKS, Task, infer_task, resolve_task
from ..zoo_lookup import local_model_for, recipe_for_task
from .base import KeyDataset, Pipeline

logger = logging.getLogger("workbench")


def pipeline(task: str | None = None, model=None, tokenizer=None, device=None, dtype=None, batch_size: int | None = None,
             feature_extractor=None, **kwargs: Any) -> Pipeline:
    """Build the pipeline for ``task`` (inferred from the model when omitted).

    ``model`` and ``tokenizer`` are instances, local folders or Hub ids. Other keyword arguments
    are the task's parameters and hold for every call (a call's own parameters override them
    for that call), plus loading options (``revision``, ``trust_remote_code``, ``model_kwargs``).
    """
    if task is None and model is None:
        raise ValueError("pipeline() needs a task, a model, or both: e.g. pipeline('sentiment-analysis', model=path).")
    model_kwargs = dict(kwargs.pop("model_kwargs", None) or {})
    for key in ("revision", "token", "cache_dir", "local_files_only", "trust_remote_code", "gguf_file"):
        if key in kwargs:
            model_kwargs[key] = kwargs.pop(key)
    if "torch_dtype" in kwargs:  # the reference's older name for dtype
        dtype = kwargs.pop("torch_dtype") if dtype is None else dtype
    device_map = kwargs.pop("device_map", None)
    if device_map is not None:  # loading places the model; an instance is moved like device=
        model_kwargs["device_map"] = device_map
        device = device_map if device is None and not isinstance(model, (str, os.PathLike, type(None))) else device
    if task is None:
        task = _model_task(model, model_kwargs)
    named, (task, task_params) = task, resolve_task(task)
    spec = PIPELINE_TASKS[task]
    default = None
    if model is None:
        model, default = _default_model(task, spec)
    try:
        if isinstance(model, (str, os.PathLike)):
            tokenizer = tokenizer if tokenizer is not None else str(model)
            if spec.audio and feature_extractor is None:
                feature_extractor = str(model)
            model = _load_model(spec, str(model), dtype, model_kwargs)
        if isinstance(feature_extractor, (str, os.PathLike)):
            from ..processing import AutoFeatureExtractor

            options = {k: v for k, v in model_kwargs.items() if k in ("revision", "token", "cache_dir", "local_files_only")}
            feature_extractor = AutoFeatureExtractor.from_pretrained(feature_extractor, **options)
        if isinstance(tokenizer, (str, os.PathLike)):
            from ..tokenization import AutoTokenizer

            options = {k: v for k, v in model_kwargs.items() if k not in ("trust_remote_code", "device_map")}
            tokenizer = AutoTokenizer.from_pretrained(tokenizer, **options)
    except CheckpointNotFoundError as error:
        if default is None:
            raise
        raise CheckpointNotFoundError(_default_not_found(named, default, error)) from error
    cls = getattr(importlib.import_module(f".{spec.pipeline_module}", __name__), spec.pipeline_class)
    if spec.audio:
        kwargs["feature_extractor"] = feature_extractor
    elif feature_extractor is not None:
        raise ValueError(f"The {task} pipeline takes no feature_extractor (it reads text).")
    return cls(model, tokenizer, task=task, device=device, dtype=dtype if not isinstance(model, str) else None,
               batch_size=batch_size, **{**task_params, **kwargs})


def _model_task(model, model_kwargs: dict) -> str:
    """The task of a model instance, or of a folder / Hub id from its config's architecture."""
    if not isinstance(model, (str, os.PathLike)):
        return infer_task(model)
    from ..config import load_config_dict
    from ..hub import HubOptions

    if model_kwargs.get("gguf_file") or str(model).endswith(".gguf"):
        return "text-generation"  # the GGUF architectures workbench reads are all decoder-only language models
    options = HubOptions.pop_from(dict(model_kwargs))
    architectures = load_config_dict(model, options).get("architectures") or [""]
    return infer_task(architectures[0])


def _load_model(spec: Task, path: str, dtype, model_kwargs: dict):
    from .. import auto

    return getattr(auto, spec.auto_class).from_pretrained(path, dtype=dtype if dtype is not None else "auto", **model_kwargs)


def _default_model(task: str, spec: Task) -> tuple[str, str | None]:
    """The model to use when none was given: the zoo's for the task, else the default Hub
    checkpoint. Returns (model, the Hub default or None)."""
    local = local_model_for(task)
    if local is not None:
        logger.warning("No model was given: using workbench's local %s model at %s.", task, local)
        return local, None
    if spec.default_model is None:
        raise ValueError(f"The {task} pipeline has no default model: pass model= (a folder or Hub id)."
                         f"{_zoo_hint(task)}")
    logger.warning("No model was given: using %s, the default for %s. Pass model= to choose (a folder or Hub id).",
                   spec.default_model, task)
    return spec.default_model, spec.default_model


def _zoo_hint(task: str) -> str:
    recipe = recipe_for_task(task)
    return f" Or build workbench's own {task} model on this machine: workbench zoo build {recipe}" if recipe else ""


def _default_not_found(task: str, default: str, error: Exception) -> str:
    return (f"No model was given, so the {task} pipeline uses its default checkpoint, {default}, which cannot be "
            f"loaded. {error} To use a model you have locally, pass its folder (one written by save_pretrained): "
            f'pipeline("{task}", model="path/to/folder").{_zoo_hint(task)}')


__all__ = ["KeyDataset", "Pipeline", "infer_task", "pipeline"]  # the task table: workbench.tasks
