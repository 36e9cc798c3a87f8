"""Where the workbench zoo lives and what it holds, without building anything (no torch here).

    <zoo>/                          WORKBENCH_ZOO (default ~/.cache/workbench/zoo)
      text-classification/         a checkpoint folder named after the pipeline task it serves:
        config.json, model.safetensors, tokenizer.json, ..., zoo.json (how it was built)
      .cache/                       downloaded and derived data (never a checkpoint)

``RECIPES`` names what can be built and for which task; :mod:`workbench.zoo` builds it. Pipelines,
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
    folder = zoo_dir() / ALIASES.get(task, task)
    return str(folder) if (folder / "config.json").is_file() else None


def recipe_for_task(task: str) -> str | None:
    """The name of the recipe that builds the zoo's model for ``task`` (or its alias), if any."""
    task = ALIASES.get(task, task)
    return next((name for name, spec in sorted(RECIPES.items()) if spec.task == task), None)


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


__all__ = ["INFO_NAME", "RECIPES", "Recipe", "cache_dir", "list_zoo", "local_model_for", "read_info", "recipe",
           "recipe_for_task", "zoo_dir"]
