"""The workbench zoo: models that workbench builds locally (for example by fine-tuning on data
that ships offline), kept in a folder of ordinary checkpoint folders, one per task.

``WORKBENCH_ZOO`` sets the folder (default: ``~/.cache/workbench/zoo``).
"""

from __future__ import annotations

import os
from pathlib import Path


def zoo_dir() -> Path:
    return Path(os.environ.get("WORKBENCH_ZOO", Path.home() / ".cache" / "workbench" / "zoo"))


def local_model_for(task: str) -> str | None:
    """The zoo's checkpoint folder for ``task``, if one has been built."""
    folder = zoo_dir() / task
    return str(folder) if (folder / "config.json").is_file() else None
