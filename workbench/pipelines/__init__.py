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
             feature_extractor=None, image_processor=None, processor=None, **kwargs: Any) -> Pipeline:
    """Build the pipeline for ``task`` (inferred from the model when omitted).

    ``model``, ``tokenizer``, ``feature_extractor``, ``image_processor`` and ``processor`` (an image
    processor and a tokenizer in one) are instances, local folders or Hub ids; what the task needs and
    was not given loads from the model's folder (the task table's ``loads``). Other keyword arguments
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
            path, model = str(model), _load_model(spec, str(model), dtype, model_kwargs)
        else:
            path = None
        parts = _load_parts(spec, path, dict(tokenizer=tokenizer, feature_extractor=feature_extractor,
                                             image_processor=image_processor, processor=processor), model_kwargs)
    except CheckpointNotFoundError as error:
        if default is None:
            raise
        raise CheckpointNotFoundError(_default_not_found(named, default, error)) from error
    cls = getattr(importlib.import_module(f".{spec.pipeline_module}", __name__), spec.pipeline_class)
    for name in ("feature_extractor", "image_processor"):
        if name in spec.loads:
            kwargs[name] = parts[name]
        elif parts[name] is not None:
            raise ValueError(f"The {task} pipeline takes no {name} (it reads {_reads(spec)}).")
    return cls(model, parts["tokenizer"], task=task, device=device, dtype=dtype,
               batch_size=batch_size, **{**task_params, **kwargs})


def _load_parts(spec: Task, path: str | None, parts: dict, model_kwargs: dict) -> dict:
    """The tokenizer, feature extractor and image processor: given ones as they are (folders and Hub ids
    loaded), a processor split into its parts, and what the task loads but was not given from ``path``."""
    options = {k: v for k, v in model_kwargs.items() if k in ("revision", "token", "cache_dir", "local_files_only")}
    processor = parts.pop("processor")
    if isinstance(processor, (str, os.PathLike)):
        from ..processing import AutoProcessor

        processor = AutoProcessor.from_pretrained(str(processor), **options)
    if processor is not None:  # a processor holds its parts (processor.attributes); a lone part is one itself
        from ..processing.processor import PARTS

        for name in getattr(processor, "attributes", None) or [n for n, p in PARTS.items() if isinstance(processor, p.kind)]:
            parts[name] = parts[name] if parts[name] is not None else getattr(processor, name, processor)
    for name in spec.loads:
        if parts[name] is None and path is not None:
            parts[name] = path
    loaders = {"tokenizer": ("..tokenization", "AutoTokenizer"), "feature_extractor": ("..processing", "AutoFeatureExtractor"),
               "image_processor": ("..processing", "AutoImageProcessor")}
    for name, (module, auto_name) in loaders.items():
        if isinstance(parts[name], (str, os.PathLike)):
            auto_class = getattr(importlib.import_module(module, __name__), auto_name)
            extra = {k: v for k, v in model_kwargs.items() if k not in ("trust_remote_code", "device_map")}
            parts[name] = auto_class.from_pretrained(str(parts[name]), **(extra if name == "tokenizer" else options))
    return parts


def _reads(spec: Task) -> str:
    return "images" if "image_processor" in spec.loads else "audio" if spec.audio else "text"


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
    from ..errors import UnsupportedModelError

    names = (spec.auto_class, *spec.other_auto_classes)
    for name in names:
        try:
            return getattr(auto, name).from_pretrained(path, dtype=dtype if dtype is not None else "auto", **model_kwargs)
        except UnsupportedModelError as error:  # say which pipeline wanted that head (a panoptic DETR for semantic masks)
            if name == names[-1]:
                raise UnsupportedModelError(f"The {spec.name} pipeline loads its model with {' or '.join(names)}, "
                                            f"which {path} cannot give: {error}") from None


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
