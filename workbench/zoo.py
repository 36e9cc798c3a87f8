"""The workbench zoo: models that workbench builds locally (for example by fine-tuning on data
that ships offline), kept in a folder of ordinary checkpoint folders, one per task.

    <zoo>/                          WORKBENCH_ZOO (default ~/.cache/workbench/zoo)
      text-classification/         a checkpoint folder named after the pipeline task it serves:
        config.json, model.safetensors, tokenizer.json, ..., zoo.json (how it was built)
      image-classification/        torchvision's ImageNet MobileNetV2, ported (recipe imagenet-mobilenet)
      fashion-mnist/                a named model, no task's default (recipe fashion-mnist)
      .cache/                       downloaded and derived data (never a checkpoint)

``pipeline("sentiment-analysis")`` with no model uses ``<zoo>/text-classification/`` when it exists.
A *recipe* builds one folder: it fetches its data, fine-tunes, evaluates on held-out data and
returns what went into ``zoo.json``; :func:`build` runs it in a temporary folder and renames the
result into place, so a crash or Ctrl-C never leaves a half-written model where pipelines look.

>>> from workbench import zoo
>>> zoo.build("sentiment", max_samples=200, epochs=1)          # doctest: +SKIP
PosixPath('/root/.cache/workbench/zoo/text-classification')

Or in a terminal: ``workbench zoo build sentiment`` and ``workbench zoo list``.

Finding what is built (``zoo_dir``, ``local_model_for``, ``read_info``, ``RECIPES``, ``list_zoo``)
lives in :mod:`workbench.zoo_lookup`, which pipelines read; it is re-exported here. This module
adds :func:`build`, which runs a recipe and so the Trainer: nothing below it imports it.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

# the lookup half (no torch) lives apart so that pipelines can read it; re-exported here
from .zoo_lookup import (INFO_NAME, RECIPES, Recipe, cache_dir, list_zoo, local_model_for, read_info, recipe,
                         recipe_for_task, zoo_dir)


def build(name: str, *, max_samples: int | None = None, epochs: float | None = None,
          output: str | os.PathLike | None = None, seed: int = 0, progress: bool = True) -> Path:
    """Build the zoo model ``name`` (see ``RECIPES``) and return its folder.

    ``max_samples`` keeps that many examples (before splitting; for quick runs), ``epochs``
    defaults to the recipe's, ``output`` replaces the default ``<zoo>/<task>/`` (or
    ``<zoo>/<recipe's folder>/`` for a model that is no task's default, such as ``fashion-mnist``). The folder is
    written next to its destination under a temporary name and renamed into place at the end,
    replacing an older build. ``progress`` prints each stage and the Trainer's progress bar (stderr).
    """
    spec = recipe(name)
    if max_samples is not None and max_samples < 20:
        raise ValueError(f"max_samples={max_samples} is too few to split 80/10/10 and evaluate: use 20 or more.")
    if epochs is not None and epochs <= 0:
        raise ValueError(f"epochs must be positive, got {epochs}.")
    final = Path(output) if output is not None else zoo_dir() / spec.folder_name
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tmp-build-", dir=final.parent))
    started = time.time()
    try:
        module = importlib.import_module(f"workbench.recipes.{spec.module}")
        info = module.build_into(scratch / "model", scratch=scratch, max_samples=max_samples,
                                 epochs=spec.default_epochs if epochs is None else epochs, seed=seed,
                                 cache_dir=cache_dir(), progress=progress)
        info = {"recipe": name, "task": spec.task, **info, "build_seconds": round(time.time() - started, 1),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": _versions()}
        (scratch / "model" / INFO_NAME).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        from .training.checkpoints import publish

        publish(str(scratch / "model"), str(final))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final


def _versions() -> dict[str, str]:
    import torch

    from . import __version__

    versions = {"workbench": __version__, "torch": torch.__version__.split("+")[0]}
    for package in ("accelerate", "datasets", "tokenizers"):
        try:
            versions[package] = importlib.import_module(package).__version__
        except ImportError:
            pass
    return versions


__all__ = ["INFO_NAME", "RECIPES", "Recipe", "build", "cache_dir", "list_zoo", "local_model_for", "read_info",
           "recipe", "recipe_for_task", "zoo_dir"]
