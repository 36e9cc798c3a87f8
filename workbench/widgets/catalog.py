"""What can be loaded on this machine, described without loading any weights (no UI here).

Sources, each a list of :class:`ModelEntry`:

- the Hugging Face cache (``huggingface_hub.scan_cache_dir``): one entry per cached model repo
  (its newest snapshot, ``main`` preferred), plus one per ``.gguf`` file in it;
- local paths: a checkpoint folder (holds ``config.json``), a ``.gguf`` file, or a folder holding
  either (searched two levels down);
- the workbench zoo (:func:`workbench.zoo.zoo_dir`): one checkpoint folder per task;
- the Hub, online only (:func:`search_hub`): never blocks longer than its timeout.

Numbers: the parameter count comes from building the model on the meta device (no memory
behind the tensors; the same count ``model.num_parameters()`` gives after loading), or, for an
architecture workbench lacks, from the safetensors headers; the memory a dtype needs is that
count times the dtype's size (weights only: activations and the KV cache come on top).
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
from typing import Any, Callable

logger = logging.getLogger("workbench")

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
_SAFETENSORS_BYTES = {"F64": 8, "F32": 4, "BF16": 2, "F16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                      "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
_SAFETENSORS_NAMES = {"F64": "float64", "F32": "float32", "BF16": "bfloat16", "F16": "float16"}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "tokenizer.model", "vocab.json")
# class-name ending -> pipeline task (first match wins)
_TASK_SUFFIXES = (
    ("ForCausalLM", "text-generation"), ("LMHeadModel", "text-generation"), ("ForMaskedLM", "fill-mask"),
    ("ForSequenceClassification", "text-classification"), ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"), ("ForMultipleChoice", "multiple-choice"),
    ("ForConditionalGeneration", "text2text-generation"), ("ForImageClassification", "image-classification"),
    ("ForCTC", "automatic-speech-recognition"), ("ForSpeechSeq2Seq", "automatic-speech-recognition"),
    ("Model", "feature-extraction"),
)


@dataclass
class ModelEntry:
    """One loadable model and what is known about it before loading."""

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
    config: dict = field(default_factory=dict, repr=False)

    @property
    def key(self) -> str:
        """Unique within a picker: source and location."""
        return f"{self.source}:{self.path or self.name}"

    @property
    def label(self) -> str:
        parts = [self.name]
        if self.gguf_file and self.gguf_file != self.name:
            parts.append(self.gguf_file)
        return f"{' / '.join(parts)} [{self.source}]"

    def memory(self, dtype: str) -> int | None:
        """Bytes the weights take in ``dtype`` (``"float32"``, ``"bfloat16"``, ``"float16"``)."""
        if self.num_parameters is None:
            return None
        return self.num_parameters * DTYPE_BYTES[dtype]

    @property
    def location(self) -> str:
        """What ``from_pretrained`` is given: the folder, or the repo id for a Hub entry."""
        if self.gguf_file:
            return os.path.dirname(self.path)
        return self.path or self.name


def task_for_architecture(architecture: str | None) -> str | None:
    for suffix, task in _TASK_SUFFIXES:
        if architecture and architecture.endswith(suffix):
            return task
    return None


# --- numbers -------------------------------------------------------------------------------------


def count_parameters(config_dict: dict, architecture: str | None = None) -> int:
    """Parameters of workbench's model for this config, built on the meta device (no memory)."""
    from ..auto import AutoConfig, AutoModel, class_for_architecture

    config = AutoConfig.from_dict(dict(config_dict))
    cls = class_for_architecture(architecture) if architecture else AutoModel.model_class(config)
    model = cls._build_on_meta(config)
    model.tie_weights()  # a tied output layer is the embedding, counted once
    return model.num_parameters()


def safetensors_header(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor name -> dtype, shape, offsets), read alone."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
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
            if info["dtype"] in _SAFETENSORS_NAMES:
                dtypes[_SAFETENSORS_NAMES[info["dtype"]]] += numel
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


# --- describing one checkpoint ----------------------------------------------------------------


def _folder_name(folder: str) -> str:
    """A folder's name, with its parent's when the name alone says nothing (``pkg/model``)."""
    path = Path(folder)
    if path.name in ("model", "models", "checkpoint", "final", "best") and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name


def describe_folder(folder: str | os.PathLike, name: str | None = None, source: str = "folder",
                    task: str | None = None, size_on_disk: int | None = None) -> ModelEntry:
    """An entry for a checkpoint folder (``config.json`` + weights), weights left unread."""
    folder = str(folder)
    entry = ModelEntry(name=name or _folder_name(folder), source=source, path=folder)
    entry.size_on_disk = folder_size(folder) if size_on_disk is None else size_on_disk
    entry.has_tokenizer = any(os.path.isfile(os.path.join(folder, f)) for f in TOKENIZER_FILES)
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        entry.error = f"config.json unreadable: {error}"
        return entry
    entry.config = config
    entry.model_type = config.get("model_type")
    entry.architecture = (config.get("architectures") or [None])[0]
    entry.task = task or task_for_architecture(entry.architecture)
    entry.num_layers = _num_layers(config)
    stored_count, stored_dtype = safetensors_summary(folder)
    entry.has_weights = stored_count is not None or any(
        os.path.isfile(os.path.join(folder, f)) for f in ("pytorch_model.bin", "pytorch_model.bin.index.json"))
    entry.dtype = config.get("dtype") or config.get("torch_dtype") or stored_dtype
    try:
        entry.num_parameters = count_parameters(config, entry.architecture)
    except Exception as error:  # an architecture workbench does not build: count the stored tensors
        entry.num_parameters = stored_count
        entry.error = f"not buildable in workbench ({type(error).__name__}: {error})"
    if not entry.has_weights:
        entry.error = "no weights (config only)"
    return entry


def describe_gguf(path: str | os.PathLike, name: str | None = None, source: str = "folder",
                  size_on_disk: int | None = None) -> ModelEntry:
    """An entry for a ``.gguf`` file: config from its metadata, dtype = its main quantization.
    Parsing a file's metadata takes seconds (a vocabulary of 50k strings), so what it says is
    kept per file (path, size, mtime): a rescan reads only new or changed files."""
    path = str(path)
    real = os.path.realpath(path)
    stat = os.stat(real)
    facts = _gguf_facts(real, stat.st_size, stat.st_mtime_ns)
    return dataclasses.replace(facts, name=name or os.path.basename(path), source=source, path=path,
                               gguf_file=os.path.basename(path),
                               size_on_disk=stat.st_size if size_on_disk is None else size_on_disk,
                               config=dict(facts.config))


@functools.lru_cache(maxsize=64)
def _gguf_facts(path: str, size: int, mtime_ns: int) -> ModelEntry:
    entry = ModelEntry(name=os.path.basename(path), source="folder", path=path)
    try:
        from ..gguf import _reader, read_gguf_config  # the reader workbench's GGUF loading shares

        config = read_gguf_config(path)
        entry.has_tokenizer = "tokenizer.ggml.model" in _reader(path).fields
        types = Counter()
        for tensor in _reader(path).tensors:
            types[getattr(tensor.tensor_type, "name", str(tensor.tensor_type))] += int(tensor.n_elements)
        entry.dtype = types.most_common(1)[0][0] if types else None
    except Exception as error:
        entry.error = f"{type(error).__name__}: {error}"
        return entry
    entry.config = config
    entry.model_type = config.get("model_type")
    entry.num_layers = _num_layers(config)
    try:
        from ..auto import AutoConfig, AutoModelForCausalLM

        entry.architecture = AutoModelForCausalLM.model_class(AutoConfig.from_dict(dict(config))).__name__
        entry.task = task_for_architecture(entry.architecture)
        entry.num_parameters = count_parameters(config, entry.architecture)
    except Exception as error:
        entry.error = f"{type(error).__name__}: {error}"
    return entry


# --- sources -------------------------------------------------------------------------------------


def _newest_revision(repo):
    revisions = sorted(repo.revisions, key=lambda r: ("main" in r.refs, r.last_modified), reverse=True)
    return revisions[0] if revisions else None


def scan_cache(cache_dir: str | os.PathLike | None = None) -> list[ModelEntry]:
    """Model repos in the Hugging Face cache (``HF_HUB_CACHE`` unless ``cache_dir``)."""
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir(cache_dir)
    except Exception as error:  # no cache yet (CacheNotFound), or unreadable
        logger.info("No Hugging Face cache to list: %s", error)
        return []
    entries = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        revision = _newest_revision(repo) if repo.repo_type == "model" else None
        if revision is None:
            continue
        snapshot = Path(revision.snapshot_path)
        if (snapshot / "config.json").is_file():
            entry = describe_folder(snapshot, repo.repo_id, "cache", size_on_disk=revision.size_on_disk)
            entry.revision = revision.commit_hash
            entries.append(entry)
        for cached in sorted(revision.files, key=lambda f: f.file_name):
            if cached.file_name.endswith(".gguf"):
                entry = describe_gguf(cached.file_path, repo.repo_id, "cache", size_on_disk=cached.size_on_disk)
                entry.revision = revision.commit_hash
                entries.append(entry)
    return entries


def _walk(path: Path, depth: int):
    yield path
    if depth > 0 and path.is_dir() and not (path / "config.json").is_file():
        for child in sorted(path.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                yield from _walk(child, depth - 1)


def scan_paths(paths, depth: int = 2) -> list[ModelEntry]:
    """Checkpoint folders and .gguf files at, or up to ``depth`` folders under, each path."""
    entries, seen = [], set()
    for given in paths or ():
        given = Path(os.path.expanduser(str(given)))
        if given.is_file() and given.suffix == ".gguf":
            found = [given]
        elif given.is_dir():
            found = []
            for folder in _walk(given, depth):
                if (folder / "config.json").is_file():
                    found.append(folder)
                found += sorted(folder.glob("*.gguf"))
        else:
            logger.warning("ModelPicker: %s is neither a folder nor a .gguf file; skipped.", given)
            continue
        for item in found:
            real = os.path.realpath(item)
            if real in seen:
                continue
            seen.add(real)
            entries.append(describe_gguf(item) if item.suffix == ".gguf" else describe_folder(item))
    return entries


def scan_zoo(folder: str | os.PathLike | None = None) -> list[ModelEntry]:
    """The workbench zoo: ``<zoo>/<task>/`` checkpoint folders, the task named by the folder."""
    from ..zoo import zoo_dir

    root = Path(folder) if folder is not None else zoo_dir()
    if not root.is_dir():
        return []
    return [describe_folder(task_dir, f"zoo/{task_dir.name}", "zoo", task=task_dir.name)
            for task_dir in sorted(root.iterdir()) if (task_dir / "config.json").is_file()]


def search_hub(task: str | None = None, search: str | None = None, limit: int = 20,
               timeout: float = 5.0) -> tuple[list[ModelEntry], str]:
    """Hub models for a task (most downloaded first) and a status line; never waits past
    ``timeout`` seconds, and does not try when ``HF_HUB_OFFLINE`` is set."""
    from ..hub import is_offline

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


# --- loading -------------------------------------------------------------------------------------


@dataclass
class Loaded:
    model: Any = None
    tokenizer: Any = None
    pipeline: Any = None

    @property
    def value(self):
        return self.pipeline if self.pipeline is not None else self.model


def load_entry(entry: ModelEntry, mode: str = "model", dtype: str = "auto", device=None,
               progress: Callable[[int, int, str], None] | None = None) -> Loaded:
    """Load an entry as ``mode="model"`` (model + tokenizer) or ``"pipeline"``; ``progress(step,
    total, message)`` is called before each step."""
    from ..auto import AutoModelForCausalLM, class_for_architecture
    from ..tokenization import AutoTokenizer

    if mode not in ("model", "pipeline"):
        raise ValueError(f"mode={mode!r}: use 'model' (model + tokenizer) or 'pipeline'.")
    total = 4 if mode == "pipeline" else 3
    report = progress or (lambda step, steps, message: None)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if entry.gguf_file:
        kwargs["gguf_file"] = entry.gguf_file
    report(0, total, f"reading the config of {entry.name}")
    if entry.architecture:
        cls = class_for_architecture(entry.architecture)
    elif entry.gguf_file:
        cls = AutoModelForCausalLM
    else:
        cls = _auto_class_for_task(entry.task)
    report(1, total, f"loading the weights ({cls.__name__})")
    model = cls.from_pretrained(entry.location, device=device, **kwargs)
    report(2, total, "loading the tokenizer")
    try:
        tokenizer = AutoTokenizer.from_pretrained(entry.location, **({"gguf_file": entry.gguf_file}
                                                                     if entry.gguf_file else {}))
    except Exception as error:
        if mode == "pipeline":
            raise
        logger.warning("%s has no usable tokenizer (%s); loaded the model alone.", entry.name, error)
        tokenizer = None
    loaded = Loaded(model, tokenizer)
    if mode == "pipeline":
        from ..pipelines import pipeline

        task = entry.task
        report(3, total, f"building the {task} pipeline")
        loaded.pipeline = pipeline(task, model=model, tokenizer=tokenizer, device=device)
    report(total, total, "done")
    return loaded


def _auto_class_for_task(task: str | None):
    from .. import auto

    names = {"text-generation": "AutoModelForCausalLM", "fill-mask": "AutoModelForMaskedLM",
             "text-classification": "AutoModelForSequenceClassification",
             "token-classification": "AutoModelForTokenClassification",
             "question-answering": "AutoModelForQuestionAnswering", "multiple-choice": "AutoModelForMultipleChoice"}
    return getattr(auto, names.get(task or "", "AutoModel"))
