"""What can be loaded on this machine, described without loading any weights: one scan, one record.

:func:`scan` lists, as :class:`ModelEntry` records,

- the Hugging Face cache (``huggingface_hub.scan_cache_dir``): one entry per cached model repo
  (its newest snapshot, ``main`` preferred; every revision under ``entry.cache``), plus one per
  ``.gguf`` file in it;
- local paths: a checkpoint folder (holds ``config.json``), a ``.gguf`` file, or a folder holding
  either (searched two levels down);
- adapters, in the cache or the paths: a folder with ``adapter_config.json`` and no ``config.json``
  is an entry of ``kind="adapter"`` (:mod:`workbench.catalog_adapters`: its peft method, r, alpha,
  targets and parameter count from its files; its base located on each scan);
- the workbench zoo (:func:`workbench.zoo_lookup.zoo_dir`): one checkpoint folder per task.

:func:`search_hub` adds the Hub's models, online only. The ``ModelPicker`` widget and the lab
panel's ``/workbench/api/models`` endpoint both render what :func:`scan` returns; no UI here.

Numbers (``detailed=True``): the parameter count comes from building the model on the meta device
(no memory behind the tensors; the count ``model.num_parameters()`` gives after loading), or, for
an architecture workbench lacks, from the safetensors headers; the memory a dtype needs is that
count times the dtype's size (weights only: activations and the KV cache come on top). With
``detailed=False`` (the lab panel) only config.json and the file sizes are read: no torch import,
no GGUF parsing.

Cache files are read only where they resolve inside the cache folder (a snapshot's links could
point anywhere), and a config.json over 4 MiB is not read.

Repeat scans are cheap: what a checkpoint folder yields is remembered per process, keyed on the
folder and the (path, size, mtime) of every file under it, so an unchanged folder is not read
again (not even its config.json) and a changed one is. GGUF files are remembered the same way.
:func:`model_card` reads a folder's README.md (first paragraph, license, tags) on demand.
Loading an entry, and the code that does it, are in :mod:`workbench.catalog_load`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog_adapters import SAFETENSORS_DTYPES, AdapterFacts, is_adapter_folder, locate_base, read_adapter_facts
from .file_memo import REMEMBERED, file_signature, folder_signature
from .gguf_header import read_gguf_header
from .model_card import README_MAX_BYTES, ModelCard, parse_model_card
from .tasks import task_for_class

logger = logging.getLogger("workbench")

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "tokenizer.model", "vocab.json")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
CONFIG_MAX_BYTES = 4 << 20
HEADER_MAX_BYTES = 100 << 20  # a safetensors JSON header; real ones are well under a megabyte


@dataclass
class CachedRevision:
    commit_hash: str
    refs: list[str]
    size_on_disk: int
    nb_files: int
    last_modified: float
    architecture: str | None = None
    model_type: str | None = None


@dataclass
class CachedRepo:
    """What the Hugging Face cache holds of one repo, all revisions (newest first)."""

    size_on_disk: int
    nb_files: int
    last_accessed: float
    last_modified: float
    revisions: list[CachedRevision]
    links_outside_cache: bool  # some file of it resolves outside the cache folder


@dataclass
class ModelEntry:
    """One loadable model (or, for the cache, one cached repo) and what is known about it before loading."""

    name: str  # repo id, folder name or file name
    source: str  # "cache", "folder", "zoo" or "hub"
    path: str | None = None  # local checkpoint folder (a cache snapshot) or .gguf file; None: Hub only
    gguf_file: str | None = None  # the .gguf file's name when the entry is one
    revision: str | None = None  # cache: the snapshot's commit hash
    model_type: str | None = None
    architecture: str | None = None
    task: str | None = None
    num_parameters: int | None = None
    num_layers: int | None = None
    dtype: str | None = None  # as stored: config dtype, safetensors dtype, or GGUF quantization
    size_on_disk: int | None = None
    has_tokenizer: bool = False
    has_weights: bool = True
    downloads: int | None = None  # Hub search results
    error: str | None = None  # why a number is missing
    gguf_overview: dict | None = field(default=None, repr=False)  # a GGUF header's architecture, quantization, ...
    config: dict = field(default_factory=dict, repr=False)
    cache: CachedRepo | None = field(default=None, repr=False)  # the cache's view of the repo, for source "cache"
    kind: str = "model"  # or "adapter": an adapter folder (adapter_config.json, no config.json) on a base model
    adapter: AdapterFacts | None = field(default=None, repr=False)  # kind "adapter": its files' facts, its base

    @property
    def key(self) -> str:
        """Unique within a scan: source and location."""
        return f"{self.source}:{self.path or self.name}"

    @property
    def label(self) -> str:
        parts = [self.name]
        if self.gguf_file and self.gguf_file != self.name:
            parts.append(self.gguf_file)
        return f"{' / '.join(parts)} [{self.source}]"

    @property
    def loadable(self) -> bool:
        """A checkpoint with a config, a GGUF file, an adapter, or a Hub model (a cached repo may be none)."""
        return self.source == "hub" or self.gguf_file is not None or bool(self.config) or self.kind == "adapter"

    def memory(self, dtype: str) -> int | None:
        """Bytes the weights take in ``dtype`` (``"float32"``, ``"bfloat16"``, ``"float16"``); an
        adapter's are its base model's and its own (None while the base is not found)."""
        count = self.num_parameters
        if count is not None and self.kind == "adapter":
            base = self.adapter.base_parameters if self.adapter else None
            count = None if base is None else count + base
        return None if count is None else count * DTYPE_BYTES[dtype]

    @property
    def location(self) -> str:
        """What ``from_pretrained`` is given: the folder, or the repo id for a Hub entry."""
        if self.gguf_file:
            return os.path.dirname(self.path)
        return self.path or self.name


@dataclass
class Scan:
    entries: list[ModelEntry]
    cache_dir: str | None  # the Hugging Face cache scanned (None: not scanned)
    warnings: list[str]  # what huggingface_hub found wrong in the cache


def hub_cache_dir() -> Path:
    """The Hugging Face cache this process uses (``HF_HUB_CACHE``, else ``HF_HOME/hub``), read per call."""
    from huggingface_hub import constants

    return Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE)


def inside(path: str | os.PathLike, root_real: str) -> bool:
    """Whether ``path``, links resolved, is ``root_real`` (a resolved folder) or under it."""
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real + os.sep)


# --- numbers -------------------------------------------------------------------------------------


def count_parameters(config_dict: dict, architecture: str | None = None) -> int:
    """Parameters of workbench's model for this config, built on the meta device (no memory)."""
    from .auto import AutoConfig, AutoModel, class_for_architecture

    config = AutoConfig.from_dict(dict(config_dict))
    cls = class_for_architecture(architecture) if architecture else AutoModel.model_class(config)
    model = cls._build_on_meta(config)
    model.tie_weights()  # a tied output layer is the embedding, counted once
    return model.num_parameters()


def safetensors_header(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor name -> dtype, shape, offsets), read alone."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > HEADER_MAX_BYTES:
            raise ValueError(f"{path} declares a {length}-byte header: not a safetensors file.")
        return json.loads(handle.read(length))


def safetensors_files(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / shard for shard in shards]
    return [folder / "model.safetensors"] if (folder / "model.safetensors").is_file() else []


def safetensors_summary(folder: str | os.PathLike) -> tuple[int | None, str | None]:
    """(number of values, most common floating dtype) over a folder's safetensors headers."""
    files = safetensors_files(folder)
    if not files:
        return None, None
    count, dtypes = 0, Counter()
    for path in files:
        for name, info in safetensors_header(path).items():
            if name == "__metadata__":
                continue
            numel = 1
            for size in info["shape"]:
                numel *= size
            count += numel
            if info["dtype"] in SAFETENSORS_DTYPES:
                dtypes[SAFETENSORS_DTYPES[info["dtype"]]] += numel
    return count, (dtypes.most_common(1)[0][0] if dtypes else None)


def folder_size(folder: str | os.PathLike) -> int:
    """Bytes on disk of the files under ``folder``, through symlinks (the cache's blobs), each once."""
    seen, total = set(), 0
    for root, _, files in os.walk(folder):
        for name in files:
            real = os.path.realpath(os.path.join(root, name))
            if real not in seen and os.path.isfile(real):
                seen.add(real)
                total += os.path.getsize(real)
    return total


def _num_layers(config: dict) -> int | None:
    for key in ("num_hidden_layers", "n_layer", "num_layers", "n_layers"):
        if isinstance(config.get(key), int):
            return config[key]
    return None


def read_config(folder: str | os.PathLike, root_real: str | None = None) -> dict[str, Any]:
    """A folder's ``config.json`` as a dict; {} when missing, unreadable, over 4 MiB, not an object,
    or (given ``root_real``) resolving outside that folder."""
    path = os.path.join(folder, "config.json")
    if root_real is not None and not inside(path, root_real):
        return {}
    signature = file_signature(path)
    if signature is None or signature[0] > CONFIG_MAX_BYTES:
        return {}
    return dict(REMEMBERED.get(("config", os.path.realpath(path)), signature, lambda: _read_json_object(path)))


def _read_json_object(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def architecture_of(config: dict[str, Any]) -> str | None:
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        return architectures[0]
    return None


# --- describing one checkpoint ----------------------------------------------------------------


def _folder_name(folder: str) -> str:
    """A folder's name, with its parent's when the name alone says nothing (``pkg/model``)."""
    path = Path(folder)
    if path.name in ("model", "models", "checkpoint", "final", "best") and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name


def describe_folder(folder: str | os.PathLike, name: str | None = None, source: str = "folder",
                    task: str | None = None, size_on_disk: int | None = None, root_real: str | None = None,
                    detailed: bool = True) -> ModelEntry:
    """An entry for a checkpoint folder (``config.json`` + weights), weights left unread; files
    are read only inside ``root_real`` when given. Remembered while no file under the folder changes."""
    folder = str(folder)
    key = ("folder", os.path.abspath(folder), name, source, task, size_on_disk, root_real, detailed)
    entry = REMEMBERED.get(key, folder_signature(folder), lambda: _describe_folder(
        folder, name, source, task, size_on_disk, root_real, detailed))
    entry = dataclasses.replace(entry, config=dict(entry.config))
    if entry.kind == "adapter":  # the base may come or go while the adapter's files stay: looked up each scan
        _attach_base(entry, detailed)
    return entry


def _describe_folder(folder: str, name: str | None, source: str, task: str | None, size_on_disk: int | None,
                     root_real: str | None, detailed: bool) -> ModelEntry:
    entry = ModelEntry(name=name or _folder_name(folder), source=source, path=folder)
    entry.size_on_disk = folder_size(folder) if size_on_disk is None else size_on_disk
    entry.has_tokenizer = any(os.path.isfile(os.path.join(folder, f)) for f in TOKENIZER_FILES)
    if is_adapter_folder(folder) and (root_real is None or all(inside(os.path.join(folder, f), root_real)
                                                               for f in os.listdir(folder))):
        entry.kind, entry.adapter = "adapter", read_adapter_facts(folder)
        entry.num_parameters, entry.dtype = entry.adapter.num_parameters, entry.adapter.dtype
        entry.task, entry.has_weights = task or entry.adapter.task, entry.adapter.num_parameters is not None
        return entry
    config = read_config(folder, root_real)
    if not config:
        entry.error = "no readable config.json"
        return entry
    entry.config = config
    entry.model_type = config.get("model_type") if isinstance(config.get("model_type"), str) else None
    entry.architecture = architecture_of(config)
    entry.task = task or task_for_class(entry.architecture)
    entry.num_layers = _num_layers(config)
    entry.has_weights = any(os.path.isfile(os.path.join(folder, f)) for f in WEIGHT_FILES)
    entry.dtype = config.get("dtype") or config.get("torch_dtype")
    if detailed and (root_real is None or all(inside(os.path.join(folder, f), root_real) for f in os.listdir(folder))):
        _count(entry, folder)
    if not entry.has_weights:
        entry.error = "no weights (config only)"
    return entry


def _count(entry: ModelEntry, folder: str) -> None:
    try:
        stored_count, stored_dtype = safetensors_summary(folder)
    except (OSError, ValueError, KeyError) as error:
        stored_count, stored_dtype = None, None
        entry.error = f"safetensors header unreadable: {error}"
    entry.dtype = entry.dtype or stored_dtype
    try:
        entry.num_parameters = count_parameters(entry.config, entry.architecture)
    except Exception as error:  # an architecture workbench does not build: count the stored tensors
        entry.num_parameters = stored_count
        entry.error = f"not buildable in workbench ({type(error).__name__}: {error})"


def _attach_base(entry: ModelEntry, detailed: bool) -> None:
    """An adapter entry's base: where it is, its architecture and layers, its parameter count."""
    facts = entry.adapter
    base_path, note = locate_base(facts.base_model)
    config = read_config(base_path) if base_path else {}
    entry.architecture = architecture_of(config)
    entry.model_type = config.get("model_type") if isinstance(config.get("model_type"), str) else None
    entry.task = entry.task or task_for_class(entry.architecture)
    entry.num_layers = _num_layers(config)
    base_parameters = None
    if detailed and config:
        config_file = os.path.join(base_path, "config.json")
        try:
            base_parameters = REMEMBERED.get(("base-count", os.path.realpath(config_file)), file_signature(config_file),
                                             lambda: count_parameters(config, entry.architecture))
        except Exception as error:
            note = f"base model not buildable in workbench ({type(error).__name__}: {error})"
    entry.adapter = dataclasses.replace(facts, base_path=base_path, base_parameters=base_parameters)
    entry.error = note or facts.error


def describe_gguf(path: str | os.PathLike, name: str | None = None, source: str = "folder",
                  size_on_disk: int | None = None, detailed: bool = True) -> ModelEntry:
    """An entry for a ``.gguf`` file: config from its metadata, dtype = its main quantization.
    ``detailed=False`` reads the header alone (:mod:`workbench.gguf_header`, no torch): llama.cpp's
    architecture, quantization and counts in ``entry.gguf_overview``. What a file says is kept per
    file (path, size, mtime): a rescan reads only new or changed files."""
    path = str(path)
    real = os.path.realpath(path)
    stat = os.stat(real)
    common = dict(name=name or os.path.basename(path), source=source, path=path, gguf_file=os.path.basename(path),
                  size_on_disk=stat.st_size if size_on_disk is None else size_on_disk)
    overview = REMEMBERED.get(("gguf", real), (stat.st_size, stat.st_mtime_ns), lambda: _gguf_overview(real))
    if not detailed:
        return ModelEntry(**common, dtype=overview.get("quantization"), num_layers=overview.get("layers"),
                          has_tokenizer=bool(overview.get("has_tokenizer")), gguf_overview=overview,
                          error=overview.get("error"))
    facts = _gguf_facts(real, stat.st_size, stat.st_mtime_ns)
    return dataclasses.replace(facts, **common, config=dict(facts.config), gguf_overview=overview)


def _gguf_overview(path: str) -> dict[str, Any]:
    try:
        return read_gguf_header(path).overview()
    except (OSError, ValueError) as error:
        return {"error": str(error)}


@functools.lru_cache(maxsize=64)
def _gguf_facts(path: str, size: int, mtime_ns: int) -> ModelEntry:
    entry = ModelEntry(name=os.path.basename(path), source="folder", path=path)
    try:
        from .gguf import read_gguf_summary

        summary = read_gguf_summary(path)
    except Exception as error:
        entry.error = f"{type(error).__name__}: {error}"
        return entry
    entry.config, entry.has_tokenizer = summary["config"], summary["has_tokenizer"]
    entry.dtype = next(iter(summary["tensor_types"]), None)
    entry.model_type = entry.config.get("model_type")
    entry.num_layers = _num_layers(entry.config)
    try:
        from .auto import AutoConfig, AutoModelForCausalLM

        entry.architecture = AutoModelForCausalLM.model_class(AutoConfig.from_dict(dict(entry.config))).__name__
        entry.task = task_for_class(entry.architecture)
        entry.num_parameters = count_parameters(entry.config, entry.architecture)
    except Exception as error:
        entry.error = f"{type(error).__name__}: {error}"
    return entry


# --- sources -------------------------------------------------------------------------------------


def _revision_order(revision) -> tuple:
    return ("main" not in revision.refs, -revision.last_modified, revision.commit_hash)


def links_outside(repo, revisions, root_real: str) -> list[str]:
    """Paths of a cached ``repo`` (its folder, the ``revisions``' snapshot folders and every file
    they link to) that resolve outside the cache folder ``root_real``, as ``path -> target``."""
    paths = [repo.repo_path]
    for revision in revisions:
        paths += [revision.snapshot_path, *(file.file_path for file in revision.files)]
    return [f"{path} -> {os.path.realpath(path)}" for path in paths if not inside(path, root_real)]


def _cached_repo(repo, root_real: str) -> CachedRepo:
    revisions = []
    for revision in sorted(repo.revisions, key=_revision_order):
        config = read_config(revision.snapshot_path, root_real)
        model_type = config.get("model_type")
        revisions.append(CachedRevision(revision.commit_hash, sorted(revision.refs), revision.size_on_disk,
                                        revision.nb_files, revision.last_modified, architecture_of(config),
                                        model_type if isinstance(model_type, str) else None))
    return CachedRepo(repo.size_on_disk, repo.nb_files, repo.last_accessed, repo.last_modified, revisions,
                      links_outside_cache=bool(links_outside(repo, repo.revisions, root_real)))


def scan_cache(cache_dir: str | os.PathLike | None = None, detailed: bool = True) -> tuple[list[ModelEntry], list[str]]:
    """Model repos in the Hugging Face cache (:func:`hub_cache_dir` unless ``cache_dir``): one entry
    per repo (its newest snapshot) and one per ``.gguf`` file in that snapshot; and the cache's warnings."""
    from huggingface_hub import scan_cache_dir

    cache = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    try:
        info = scan_cache_dir(cache)
    except Exception as error:  # no cache yet (CacheNotFound), or unreadable
        logger.info("No Hugging Face cache to list: %s", error)
        return [], []
    root_real = os.path.realpath(cache)
    entries = []
    for repo in sorted((r for r in info.repos if r.repo_type == "model"), key=lambda r: r.repo_id):
        if not repo.revisions:
            continue
        newest = min(repo.revisions, key=_revision_order)
        entry = describe_folder(newest.snapshot_path, repo.repo_id, "cache", size_on_disk=newest.size_on_disk,
                                root_real=root_real, detailed=detailed)
        entry.revision, entry.cache = newest.commit_hash, _cached_repo(repo, root_real)
        entries.append(entry)
        for cached in sorted(newest.files, key=lambda f: f.file_name):
            if cached.file_name.endswith(".gguf") and inside(cached.file_path, root_real):
                gguf = describe_gguf(cached.file_path, repo.repo_id, "cache", cached.size_on_disk, detailed)
                gguf.revision, gguf.cache = newest.commit_hash, entry.cache
                entries.append(gguf)
    return entries, [str(warning) for warning in info.warnings]


def _walk(path: Path, depth: int):
    yield path
    if depth > 0 and path.is_dir() and not (path / "config.json").is_file() and not is_adapter_folder(path):
        for child in sorted(path.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                yield from _walk(child, depth - 1)


def scan_paths(paths, depth: int = 2, detailed: bool = True) -> list[ModelEntry]:
    """Checkpoint folders and .gguf files at, or up to ``depth`` folders under, each path."""
    entries, seen = [], set()
    for given in paths or ():
        given = Path(os.path.expanduser(str(given)))
        if given.is_file() and given.suffix == ".gguf":
            found = [given]
        elif given.is_dir():
            found = []
            for folder in _walk(given, depth):
                if (folder / "config.json").is_file() or is_adapter_folder(folder):
                    found.append(folder)
                found += sorted(folder.glob("*.gguf"))
        else:
            logger.warning("%s is neither a folder nor a .gguf file; skipped.", given)
            continue
        for item in found:
            real = os.path.realpath(item)
            if real in seen:
                continue
            seen.add(real)
            entries.append(describe_gguf(item, detailed=detailed) if item.suffix == ".gguf"
                           else describe_folder(item, detailed=detailed))
    return entries


def scan_zoo(folder: str | os.PathLike | None = None, detailed: bool = True) -> list[ModelEntry]:
    """The workbench zoo: ``<zoo>/<task>/`` checkpoint folders, the task named by the folder."""
    from .zoo_lookup import zoo_dir

    root = Path(folder) if folder is not None else zoo_dir()
    if not root.is_dir():
        return []
    return [describe_folder(task_dir, f"zoo/{task_dir.name}", "zoo", task=task_dir.name,
                            root_real=os.path.realpath(task_dir), detailed=detailed)
            for task_dir in sorted(root.iterdir()) if (task_dir / "config.json").is_file()]


def scan(paths=(), *, cache_dir: str | os.PathLike | None = None, zoo_dir: str | os.PathLike | None = None,
         include_cache: bool = True, include_zoo: bool = True, detailed: bool = True) -> Scan:
    """Every model on this machine: the Hugging Face cache, then ``paths``, then the zoo."""
    entries, warnings, cache = [], [], None
    if include_cache:
        cache = str(cache_dir) if cache_dir is not None else str(hub_cache_dir())
        entries, warnings = scan_cache(cache, detailed)
    entries += scan_paths(paths, detailed=detailed)
    if include_zoo:
        entries += scan_zoo(zoo_dir, detailed)
    return Scan(entries, cache, warnings)


def search_hub(task: str | None = None, search: str | None = None, limit: int = 20,
               timeout: float = 5.0) -> tuple[list[ModelEntry], str]:
    """Hub models for a task (most downloaded first) and a status line; never waits past
    ``timeout`` seconds, and does not try when ``HF_HUB_OFFLINE`` is set."""
    from .hub import is_offline

    if is_offline():
        return [], "Hub search is off: HF_HUB_OFFLINE is set (unset it to search the Hub)."
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            from huggingface_hub import HfApi

            result["models"] = list(HfApi().list_models(filter=task, search=search or None, limit=limit,
                                                        sort="downloads"))
        except Exception as error:  # network, HTTP, bad filter: reported, not raised
            result["error"] = error

    thread = threading.Thread(target=work, name="workbench-hub-search", daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return [], f"The Hub did not answer within {timeout:g} s (no network?); showing local models only."
    if "error" in result:
        return [], f"Hub search failed: {type(result['error']).__name__}: {result['error']}"
    entries = [ModelEntry(name=m.id, source="hub", task=getattr(m, "pipeline_tag", None) or task,
                          downloads=getattr(m, "downloads", None), has_weights=True, has_tokenizer=True,
                          error="on the Hub: numbers known after download")
               for m in result.get("models", [])]
    took = time.monotonic() - started
    return entries, f"{len(entries)} Hub models for {task or search or 'any task'} ({took:.1f} s)."


# --- the model card and the code that loads an entry -----------------------------------------------


def model_card(entry: ModelEntry) -> ModelCard | None:
    """The README.md next to an entry's files as a :class:`~workbench.model_card.ModelCard`; None
    without one (a Hub entry, a folder with no README, or one over 1 MiB). A cache snapshot's README
    is read only when it resolves inside the cache; remembered while the file is unchanged."""
    if not entry.path or entry.source == "hub":
        return None
    folder = os.path.dirname(entry.path) if entry.gguf_file else entry.path
    readme = os.path.join(folder, "README.md")
    if entry.source == "cache" and not inside(readme, os.path.realpath(Path(folder).parents[2])):
        return None  # <cache>/models--org--name/snapshots/<commit>/README.md links outside the cache
    signature = file_signature(readme)
    if signature is None or signature[0] > README_MAX_BYTES:
        return None
    return REMEMBERED.get(("card", os.path.realpath(readme)), signature, lambda: _read_card(readme))


def _read_card(path: str) -> ModelCard | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return parse_model_card(handle.read())
    except OSError:
        return None
