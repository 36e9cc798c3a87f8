"""Tutorial notebooks for the lab side panel and launcher.

Two places hold them: ``notebooks/`` under the server's root folder (a checkout of this repo
served by ``jupyter lab``), and the notebooks shipped with the package (the wheel installs them
under ``<prefix>/share/workbench/notebooks``; an editable install reads the checkout's
``notebooks/``). A shipped notebook outside the root folder cannot be opened through the
contents API, so :func:`copy_tutorial` copies it into ``<root>/workbench-tutorials/`` first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from ..catalog import inside as resolves_inside
from .cache import CacheError

NOTEBOOK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]*\.ipynb$")
COPY_FOLDER = "workbench-tutorials"


def package_notebook_dirs() -> list[Path]:
    """Where shipped notebooks may be: the install prefix's share folder, then a source checkout."""
    checkout = Path(__file__).resolve().parents[2]
    candidates = [Path(sys.prefix) / "share" / "workbench" / "notebooks"]
    if (checkout / "pyproject.toml").is_file():
        candidates.append(checkout / "notebooks")
    return [folder for folder in candidates if folder.is_dir()]


def notebook_info(path: Path) -> dict[str, Any]:
    """``{"title", "description", "minutes", "number"}`` of a notebook: the title is its first
    Markdown heading (else its file name); description and minutes come from its metadata
    (``"workbench": {"description": ..., "minutes": ...}``); the number from a ``01_`` prefix."""
    try:
        with open(path, encoding="utf-8") as handle:
            notebook = json.load(handle)
        cells, metadata = notebook.get("cells", []), notebook.get("metadata", {}).get("workbench", {})
    except (OSError, ValueError, AttributeError):
        cells, metadata = [], {}
    metadata = metadata if isinstance(metadata, dict) else {}
    number = re.match(r"^(\d+)_", path.name)
    minutes = metadata.get("minutes")
    description = metadata.get("description")
    return {"title": _first_heading(cells) or path.stem.replace("_", " "),
            "description": description if isinstance(description, str) else None,
            "minutes": minutes if isinstance(minutes, (int, float)) and not isinstance(minutes, bool) else None,
            "number": int(number.group(1)) if number else None}


def _first_heading(cells: Any) -> str | None:
    for cell in cells[:5] if isinstance(cells, list) else []:
        if isinstance(cell, dict) and cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            for line in source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return None


def _listing(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file() and NOTEBOOK_NAME.match(p.name))


def list_tutorials(root_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """``[{"name", "title", "description", "minutes", "number", "path" (relative to the root, or None),
    "source": "root"|"package"}]``, numbered tutorials first in number order."""
    root = Path(root_dir)
    root_real = os.path.realpath(root)
    found: dict[str, dict[str, Any]] = {}
    for path in _listing(root / "notebooks"):
        if resolves_inside(path, root_real):
            found[path.name] = {"name": path.name, **notebook_info(path), "path": f"notebooks/{path.name}",
                                "source": "root"}
    for folder in package_notebook_dirs():
        for path in _listing(folder):
            if path.name in found:
                continue
            inside = resolves_inside(path, root_real)
            relative = Path(os.path.relpath(os.path.realpath(path), root_real)).as_posix() if inside else None
            copied = root / COPY_FOLDER / path.name
            if relative is None and copied.is_file():
                relative = f"{COPY_FOLDER}/{path.name}"
            found[path.name] = {"name": path.name, **notebook_info(path), "path": relative, "source": "package"}
    return sorted(found.values(), key=lambda entry: (entry["number"] is None, entry["number"] or 0, entry["name"]))


def copy_tutorial(root_dir: str | os.PathLike, name: str | None) -> dict[str, Any]:
    """Copy a shipped notebook into ``<root>/workbench-tutorials/`` (kept if already there) and
    return its entry, ``path`` relative to the root."""
    if not name or not NOTEBOOK_NAME.match(name) or ".." in name:
        raise CacheError(400, f"name {name!r} is not a notebook file name such as 'quick_tour.ipynb'.")
    source = next((folder / name for folder in package_notebook_dirs() if (folder / name).is_file()), None)
    if source is None:
        raise CacheError(404, f"No tutorial notebook {name!r} ships with workbench.")
    root = Path(root_dir)
    target = root / COPY_FOLDER / name
    if not resolves_inside(target.parent, os.path.realpath(root)):
        raise CacheError(403, f"{target.parent} resolves outside the server's root folder; not copying there.")
    if not target.exists():
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(source, target)
    return {"name": name, **notebook_info(target), "path": f"{COPY_FOLDER}/{name}", "source": "package"}
