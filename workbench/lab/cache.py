"""The Hugging Face cache as the lab side panel shows it, and deletion that never leaves the cache.

``list_models()`` is one entry per cached model repo (``huggingface_hub.scan_cache_dir``): repo
id, architecture and model type from the snapshot's ``config.json``, size on disk and the cached
revisions with their refs; plus the workbench zoo's checkpoint folders.

``delete_model(repo_id, revision=None)`` removes one revision, or the whole repo, through
huggingface_hub's own delete strategy (refs, snapshot symlinks, then blobs no other revision
uses). Before anything is removed every path the strategy would touch, and every file the
revisions link to, must resolve inside the cache folder: a repo id holding ``..`` or an absolute
path is rejected (400), a repo or snapshot whose links lead outside the cache is refused (403),
and nothing is deleted.

No UI and no web framework here: :mod:`workbench.lab.handlers` turns :class:`CacheError` into
JSON errors.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ..zoo import zoo_dir

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
REPO_ID = re.compile(rf"^{_NAME}(/{_NAME})?$")  # "gpt2", "org/name"
COMMIT_HASH = re.compile(r"^[0-9a-f]{40}$")
REF_NAME = re.compile(rf"^{_NAME}(/{_NAME})*$")  # "main", "refs/pr/1"
CONFIG_MAX_BYTES = 4 << 20


class CacheError(Exception):
    """A request the cache cannot serve; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def cache_dir() -> Path:
    """The hub cache this process uses (``HF_HUB_CACHE``, else ``HF_HOME/hub``), read per call."""
    from huggingface_hub import constants

    return Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE)


def _inside(path: str | os.PathLike, root_real: str) -> bool:
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real + os.sep)


def _read_config(snapshot: Path, root_real: str) -> dict[str, Any]:
    """``config.json`` of a snapshot, read only if it resolves inside the cache; {} otherwise."""
    path = snapshot / "config.json"
    try:
        if not _inside(path, root_real) or os.path.getsize(path) > CONFIG_MAX_BYTES:
            return {}
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _architecture(config: dict[str, Any]) -> str | None:
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        return architectures[0]
    return None


def _revision_order(revision) -> tuple:
    return ("main" not in revision.refs, -revision.last_modified, revision.commit_hash)


def _links_outside(repo, revisions, root_real: str) -> list[str]:
    """Paths of ``repo`` (its folder, the revisions' snapshot folders and every file they link
    to) that resolve outside the cache."""
    paths = [repo.repo_path]
    for revision in revisions:
        paths.append(revision.snapshot_path)
        paths += [file.file_path for file in revision.files]
    return [_shown(path) for path in paths if not _inside(path, root_real)]


def _shown(path: str | os.PathLike) -> str:
    return f"{path} -> {os.path.realpath(path)}"


def _repo_entry(repo, root_real: str) -> dict[str, Any]:
    revisions = []
    for revision in sorted(repo.revisions, key=_revision_order):
        config = _read_config(revision.snapshot_path, root_real)
        revisions.append({
            "commit_hash": revision.commit_hash,
            "refs": sorted(revision.refs),
            "size_on_disk": revision.size_on_disk,
            "nb_files": revision.nb_files,
            "last_modified": revision.last_modified,
            "architecture": _architecture(config),
            "model_type": config.get("model_type") if isinstance(config.get("model_type"), str) else None,
        })
    newest = revisions[0] if revisions else {}
    outside = _links_outside(repo, repo.revisions, root_real)
    return {
        "repo_id": repo.repo_id,
        "source": "cache",
        "architecture": newest.get("architecture"),
        "model_type": newest.get("model_type"),
        "size_on_disk": repo.size_on_disk,
        "nb_files": repo.nb_files,
        "last_accessed": repo.last_accessed,
        "last_modified": repo.last_modified,
        "revisions": revisions,
        "links_outside_cache": bool(outside),
    }


def _zoo_entries() -> list[dict[str, Any]]:
    folder = zoo_dir()
    if not folder.is_dir():
        return []
    entries = []
    for task in sorted(os.listdir(folder)):
        checkpoint = folder / task
        if not (checkpoint / "config.json").is_file():
            continue
        config = _read_config(checkpoint, os.path.realpath(checkpoint))
        size = sum(entry.stat().st_size for entry in checkpoint.rglob("*") if entry.is_file())
        entries.append({"name": task, "source": "zoo", "path": str(checkpoint), "architecture": _architecture(config),
                        "model_type": config.get("model_type"), "size_on_disk": size})
    return entries


def _scan(cache: Path):
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        return scan_cache_dir(cache)
    except CacheNotFound:
        return None


def list_models(cache: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"cache_dir", "models": [...], "zoo": [...], "warnings": [...]}`` (models by repo id)."""
    cache = Path(cache) if cache is not None else cache_dir()
    info = _scan(cache)
    root_real = os.path.realpath(cache)
    repos = [] if info is None else sorted((r for r in info.repos if r.repo_type == "model"), key=lambda r: r.repo_id)
    return {
        "cache_dir": str(cache),
        "models": [_repo_entry(repo, root_real) for repo in repos],
        "zoo": _zoo_entries(),
        "warnings": [] if info is None else [str(warning) for warning in info.warnings],
    }


def check_repo_id(repo_id: str | None) -> str:
    """A Hub repo id (``name`` or ``org/name``), or a 400 naming what is wrong with it."""
    if not repo_id:
        raise CacheError(400, "Missing query argument 'repo' (a repo id such as 'org/name').")
    if repo_id.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", repo_id) or os.path.isabs(repo_id):
        raise CacheError(400, f"repo {repo_id!r} is an absolute path; give a repo id such as 'org/name'.")
    if ".." in re.split(r"[/\\]", repo_id):
        raise CacheError(400, f"repo {repo_id!r} holds '..'; give a repo id such as 'org/name'.")
    if not REPO_ID.match(repo_id) or ".." in repo_id:
        raise CacheError(400, f"repo {repo_id!r} is not a repo id (letters, digits, '.', '_', '-', one '/').")
    return repo_id


def check_revision(revision: str | None) -> str | None:
    if revision is None or revision == "":
        return None
    if not (COMMIT_HASH.match(revision) or REF_NAME.match(revision)) or ".." in revision:
        raise CacheError(400, f"revision {revision!r} is neither a commit hash nor a ref name such as 'main'.")
    return revision


def delete_model(repo_id: str | None, revision: str | None = None,
                 cache: str | os.PathLike | None = None) -> dict[str, Any]:
    """Delete ``revision`` (a commit hash or a ref such as ``main``) of a cached model repo, or
    the whole repo when ``revision`` is None. Returns what was deleted and the bytes freed."""
    repo_id, revision = check_repo_id(repo_id), check_revision(revision)
    cache = Path(cache) if cache is not None else cache_dir()
    info = _scan(cache)
    repo = None if info is None else next(
        (r for r in info.repos if r.repo_type == "model" and r.repo_id == repo_id), None)
    if repo is None:
        raise CacheError(404, f"No cached model {repo_id!r} in {cache}.")
    if revision is None:
        revisions = set(repo.revisions)
    else:
        match = [r for r in repo.revisions if r.commit_hash == revision] or \
                [r for r in repo.revisions if revision in r.refs]
        if not match:
            known = ", ".join(sorted(r.commit_hash[:12] + (f" ({', '.join(sorted(r.refs))})" if r.refs else "")
                                     for r in repo.revisions))
            raise CacheError(404, f"{repo_id} has no cached revision {revision!r} (cached: {known}).")
        revisions = set(match)

    root_real = os.path.realpath(cache)
    strategy = info.delete_revisions(*(r.commit_hash for r in revisions))
    targets = [*strategy.repos, *strategy.snapshots, *strategy.refs, *strategy.blobs,
               *getattr(strategy, "files", ())]
    outside = _links_outside(repo, revisions, root_real) + [_shown(p) for p in targets if not _inside(p, root_real)]
    if outside:
        raise CacheError(403, f"Refusing to delete {repo_id}: {outside[0]} resolves outside the cache {cache} "
                              f"({len(outside)} such paths). Remove it by hand if that is intended.")
    strategy.execute()
    return {
        "repo_id": repo_id,
        "revisions": sorted(r.commit_hash for r in revisions),
        "whole_repo": bool(strategy.repos),
        "freed": strategy.expected_freed_size,
    }
