"""Where the workbench zoo lives and what it holds, without building anything (no torch here).

    <zoo>/                          WORKBENCH_ZOO (default ~/.cache/workbench/zoo)
      text-classification/         a task's default: a checkpoint folder named after the pipeline task
        config.json, model.safetensors, tokenizer.json, ..., zoo.json (how it was built)
      image-classification/        (the ImageNet MobileNetV2: pipeline("image-classification") uses it)
      fashion-mnist/                a named model that is no task's default (Recipe.folder)
      .cache/                       downloaded and derived data (never a checkpoint)

``RECIPES`` names what can be built, for which task and into which folder; :mod:`workbench.zoo` builds it. Pipelines,
the model catalog and the command line read this module; it reads only the task table.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tasks import ALIASES

INFO_NAME = "zoo.json"


@dataclass(frozen=True)
class Recipe:
    task: str  # the pipeline task, and the folder name under the zoo unless ``folder`` names another
    module: str  # under workbench.recipes: defines build_into(folder, *, max_samples, epochs, seed, cache_dir)
    description: str
    default_epochs: float
    folder: str | None = None  # the folder under the zoo when it is not the task's default (None: the task)

    @property
    def folder_name(self) -> str:
        return self.folder or self.task

    @property
    def is_task_default(self) -> bool:
        """Whether pipelines use this recipe's model for its task when no model is given."""
        return self.folder_name == self.task


RECIPES: dict[str, Recipe] = {
    "sentiment": Recipe("text-classification", "sentiment",
                        "MiniLM-L6 fine-tuned on 10,568 Rotten Tomatoes snippets (POSITIVE/NEGATIVE)", 1.0),
    "imagenet-mobilenet": Recipe("image-classification", "imagenet_mobilenet",
                                 "torchvision's ImageNet-1k MobileNetV2, ported (1000 classes; no training)", 0.0),
    "fashion-mnist": Recipe("image-classification", "fashion_mnist",
                            "the ImageNet MobileNetV2 fine-tuned on Fashion-MNIST (10 clothing classes)", 1.0,
                            folder="fashion-mnist"),
}


def zoo_dir() -> Path:
    return Path(os.environ.get("WORKBENCH_ZOO", Path.home() / ".cache" / "workbench" / "zoo"))


def cache_dir() -> Path:
    """Where recipes keep downloaded and derived data (``<zoo>/.cache``): safe to delete."""
    return zoo_dir() / ".cache"


def local_model_for(task: str) -> str | None:
    """The zoo's checkpoint folder for ``task`` (a pipeline task or its alias, such as
    "sentiment-analysis"), if one has been built."""
    folder = zoo_dir() / ALIASES.get(task, task)
    return str(folder) if (folder / "config.json").is_file() else None


def recipe_for_task(task: str) -> str | None:
    """The name of the recipe that builds the zoo's model for ``task`` (or its alias), if any."""
    task = ALIASES.get(task, task)
    return next((name for name, spec in sorted(RECIPES.items()) if spec.task == task and spec.is_task_default), None)


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


def list_zoo() -> list[dict[str, Any]]:
    """One row per recipe (built or not) and per other task folder found in the zoo:
    ``{"name", "task", "path", "built", "description", "info"}``."""
    rows = []
    for name, spec in RECIPES.items():  # in RECIPES' order: the text model, then the image ones
        folder = zoo_dir() / spec.folder_name
        built = (folder / "config.json").is_file()
        rows.append({"name": name, "task": spec.task, "path": str(folder), "built": built,
                     "description": spec.description, "info": read_info(folder) if built else None})
    known = {spec.folder_name for spec in RECIPES.values()}
    root = zoo_dir()
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if folder.name not in known and (folder / "config.json").is_file():
                rows.append({"name": None, "task": folder.name, "path": str(folder), "built": True,
                             "description": "placed by hand (no recipe)", "info": read_info(folder)})
    return rows


__all__ = ["INFO_NAME", "RECIPES", "Recipe", "cache_dir", "list_zoo", "local_model_for", "read_info", "recipe",
           "recipe_for_task", "zoo_dir"]
