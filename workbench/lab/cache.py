"""The Hugging Face cache as the lab side panel shows it, and deletion that never leaves the cache.

``list_models()`` renders one :func:`workbench.catalog.scan` (the scan the ``ModelPicker`` widget
shows, without its parameter counts): one entry per cached model repo, with the architecture and
model type of its newest snapshot, its size on disk, its cached revisions with their refs and
its GGUF files' header facts (llama.cpp architecture, quantization, parameter count); plus the
workbench zoo's checkpoint folders.

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

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from ..catalog import ModelEntry, hub_cache_dir, inside, links_outside, scan

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
REPO_ID = re.compile(rf"^{_NAME}(/{_NAME})?$")  # "gpt2", "org/name"
COMMIT_HASH = re.compile(r"^[0-9a-f]{40}$")
REF_NAME = re.compile(rf"^{_NAME}(/{_NAME})*$")  # "main", "refs/pr/1"


class CacheError(Exception):
    """A request the cache cannot serve; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def gguf_json(entry: ModelEntry) -> dict[str, Any]:
    """A GGUF file of a cached repo as the panel reads it (``IGGUFFile``): its header's facts."""
    overview = entry.gguf_overview or {}
    return {"file": entry.gguf_file, "size_on_disk": entry.size_on_disk, "error": overview.get("error"),
            **{key: overview.get(key) for key in ("architecture", "name", "quantization", "parameters", "layers",
                                                  "context_length")}}


def repo_json(entry: ModelEntry, ggufs: list[ModelEntry] = ()) -> dict[str, Any]:
    """A cached repo as the panel reads it (extension/src/api.ts ``ICachedModel``), with the GGUF
    files of its newest snapshot."""
    repo = entry.cache
    return {"repo_id": entry.name, "source": "cache", "architecture": entry.architecture,
            "model_type": entry.model_type, "size_on_disk": repo.size_on_disk, "nb_files": repo.nb_files,
            "last_accessed": repo.last_accessed, "last_modified": repo.last_modified,
            "revisions": [dataclasses.asdict(revision) for revision in repo.revisions],
            "links_outside_cache": repo.links_outside_cache, "gguf": [gguf_json(g) for g in ggufs]}


def zoo_json(entry: ModelEntry) -> dict[str, Any]:
    """A zoo folder as the panel reads it (``IZooModel``): named by its task."""
    return {"name": entry.task, "source": "zoo", "path": entry.path, "architecture": entry.architecture,
            "model_type": entry.model_type, "size_on_disk": entry.size_on_disk}


def list_models(cache: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"cache_dir", "models": [...], "zoo": [...], "warnings": [...]}`` (models by repo id)."""
    found = scan(cache_dir=cache, detailed=False)  # no torch: GGUF headers and config.json only
    cached = [e for e in found.entries if e.source == "cache"]
    return {
        "cache_dir": found.cache_dir,
        "models": [repo_json(e, [g for g in cached if g.gguf_file and g.name == e.name])
                   for e in cached if e.gguf_file is None],
        "zoo": [zoo_json(e) for e in found.entries if e.source == "zoo"],
        "warnings": found.warnings,
    }


def _scan(cache: Path):
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        return scan_cache_dir(cache)
    except CacheNotFound:
        return None


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
    cache = Path(cache) if cache is not None else hub_cache_dir()
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
    # huggingface_hub matches the hashes in every repo of the cache: scope the strategy to this one
    strategy = dataclasses.replace(info, repos=frozenset({repo})).delete_revisions(*(r.commit_hash for r in revisions))
    targets = [*strategy.repos, *strategy.snapshots, *strategy.refs, *strategy.blobs,
               *getattr(strategy, "files", ())]
    outside = links_outside(repo, revisions, root_real) + [f"{p} -> {os.path.realpath(p)}" for p in targets
                                                           if not inside(p, root_real)]
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
