"""The workbench zoo: models that workbench builds locally (for example by fine-tuning on data
that ships offline), kept in a folder of ordinary checkpoint folders, one per task.

    <zoo>/                          WORKBENCH_ZOO (default ~/.cache/workbench/zoo)
      text-classification/         a checkpoint folder named after the pipeline task it serves:
        config.json, model.safetensors, tokenizer.json, ..., zoo.json (how it was built)
      .cache/                       downloaded and derived data (never a checkpoint)

``pipeline("sentiment-analysis")`` with no model uses ``<zoo>/text-classification/`` when it exists.
A *recipe* builds one folder: it fetches its data, fine-tunes, evaluates on held-out data and
returns what went into ``zoo.json``; :func:`build` runs it in a temporary folder and renames the
result into place, so a crash or Ctrl-C never leaves a half-written model where pipelines look.

>>> from workbench import zoo
>>> zoo.build("sentiment", max_samples=200, epochs=1)          # doctest: +SKIP
PosixPath('/root/.cache/workbench/zoo/text-classification')

Or in a terminal: ``workbench zoo build sentiment`` and ``workbench zoo list``.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INFO_NAME = "zoo.json"


@dataclass(frozen=True)
class Recipe:
    task: str  # the pipeline task, and so the folder name under the zoo
    module: str  # under workbench.recipes: defines build_into(folder, *, max_samples, epochs, seed, cache_dir)
    description: str
    default_epochs: float


RECIPES: dict[str, Recipe] = {
    "sentiment": Recipe("text-classification", "sentiment",
                        "MiniLM-L6 fine-tuned on 10,568 Rotten Tomatoes snippets (POSITIVE/NEGATIVE)", 1.0),
}


def zoo_dir() -> Path:
    return Path(os.environ.get("WORKBENCH_ZOO", Path.home() / ".cache" / "workbench" / "zoo"))


def cache_dir() -> Path:
    """Where recipes keep downloaded and derived data (``<zoo>/.cache``): safe to delete."""
    return zoo_dir() / ".cache"


def local_model_for(task: str) -> str | None:
    """The zoo's checkpoint folder for ``task`` (a pipeline task or its alias, such as
    "sentiment-analysis"), if one has been built."""
    from .pipelines import ALIASES

    folder = zoo_dir() / ALIASES.get(task, task)
    return str(folder) if (folder / "config.json").is_file() else None


def read_info(folder: str | os.PathLike) -> dict[str, Any] | None:
    """A built folder's ``zoo.json`` (recipe, data, split sizes, metrics, ...), or None."""
    path = Path(folder) / INFO_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"The zoo has no recipe {name!r}; it has: {', '.join(sorted(RECIPES))}.")
    return RECIPES[name]


def build(name: str, *, max_samples: int | None = None, epochs: float | None = None,
          output: str | os.PathLike | None = None, seed: int = 0, progress: bool = True) -> Path:
    """Build the zoo model ``name`` (see ``RECIPES``) and return its folder.

    ``max_samples`` keeps that many examples (before splitting; for quick runs), ``epochs``
    defaults to the recipe's, ``output`` replaces the default ``<zoo>/<task>/``. The folder is
    written next to its destination under a temporary name and renamed into place at the end,
    replacing an older build. ``progress`` prints each stage and the Trainer's progress bar (stderr).
    """
    spec = recipe(name)
    if max_samples is not None and max_samples < 20:
        raise ValueError(f"max_samples={max_samples} is too few to split 80/10/10 and evaluate: use 20 or more.")
    if epochs is not None and epochs <= 0:
        raise ValueError(f"epochs must be positive, got {epochs}.")
    final = Path(output) if output is not None else zoo_dir() / spec.task
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


def list_zoo() -> list[dict[str, Any]]:
    """One row per recipe (built or not) and per other task folder found in the zoo:
    ``{"name", "task", "path", "built", "description", "info"}``."""
    rows = []
    for name, spec in sorted(RECIPES.items()):
        folder = zoo_dir() / spec.task
        built = (folder / "config.json").is_file()
        rows.append({"name": name, "task": spec.task, "path": str(folder), "built": built,
                     "description": spec.description, "info": read_info(folder) if built else None})
    known = {spec.task for spec in RECIPES.values()}
    root = zoo_dir()
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if folder.name not in known and (folder / "config.json").is_file():
                rows.append({"name": None, "task": folder.name, "path": str(folder), "built": True,
                             "description": "placed by hand (no recipe)", "info": read_info(folder)})
    return rows


__all__ = ["RECIPES", "Recipe", "build", "cache_dir", "list_zoo", "local_model_for", "read_info", "zoo_dir"]
