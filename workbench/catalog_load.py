"""Loading what :func:`workbench.catalog.scan` lists: :func:`load_entry` (the ModelPicker's
"load" button) and :func:`load_code`, the lines that do the same in a notebook cell (its "copy
load code" button). An adapter entry loads as ``from_pretrained(adapter_folder)`` does: the base
model its ``adapter_config.json`` names, then the adapter on it; the tokenizer comes from the
adapter folder when it holds one, else from the base.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .catalog import TOKENIZER_FILES, ModelEntry, hub_cache_dir, inside
from .catalog_adapters import fetchable, locate_base
from .tasks import auto_class_name

logger = logging.getLogger("workbench")


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
    from . import auto
    from .tokenization import AutoTokenizer

    if mode not in ("model", "pipeline"):
        raise ValueError(f"mode={mode!r}: use 'model' (model + tokenizer) or 'pipeline'.")
    total = 4 if mode == "pipeline" else 3
    report = progress or (lambda step, steps, message: None)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if entry.gguf_file:
        kwargs["gguf_file"] = entry.gguf_file
    report(0, total, f"reading the config of {entry.name}")
    tokenizer_location = _tokenizer_location(entry)
    if entry.architecture:
        cls = auto.class_for_architecture(entry.architecture)
    elif entry.gguf_file:
        cls = auto.AutoModelForCausalLM
    else:
        cls = getattr(auto, auto_class_name(entry.task))
    report(1, total, f"loading the weights ({cls.__name__})")
    model = cls.from_pretrained(entry.location, device=device, **kwargs)
    report(2, total, "loading the tokenizer")
    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_location, **({"gguf_file": entry.gguf_file}
                                                                         if entry.gguf_file else {}))
    except Exception as error:
        if mode == "pipeline":
            raise
        logger.warning("%s has no usable tokenizer (%s); loaded the model alone.", entry.name, error)
        tokenizer = None
    loaded = Loaded(model, tokenizer)
    if mode == "pipeline":
        from .pipelines import pipeline

        task = entry.task
        report(3, total, f"building the {task} pipeline")
        loaded.pipeline = pipeline(task, model=model, tokenizer=tokenizer, device=device)
    report(total, total, "done")
    return loaded


def _tokenizer_location(entry: ModelEntry) -> str:
    """Where the tokenizer is: the entry's folder, or an adapter's base (checked first: a missing
    base is said plainly here, before from_pretrained fails on it)."""
    if entry.kind != "adapter":
        return entry.location
    base = entry.adapter.base_model if entry.adapter else None
    base_path, note = locate_base(base)
    if base_path is None and not fetchable(base):
        raise FileNotFoundError(f"Cannot load the adapter {entry.name}: {note}")
    return entry.location if entry.has_tokenizer else (base_path or base)


def load_code(entry: ModelEntry, mode: str = "model", dtype: str = "auto") -> str:
    """The lines that load ``entry`` as :func:`load_entry` would (``mode`` "model" or "pipeline"),
    to paste into a notebook: a cached repo by its repo id, a folder or GGUF file by its path."""
    location, revision = _load_location(entry)
    options = "".join([f", revision={revision!r}" if revision else "",
                       f", gguf_file={entry.gguf_file!r}" if entry.gguf_file else "",
                       f", dtype={dtype!r}" if dtype != "auto" else ""])
    if mode == "pipeline":
        task = entry.task or "feature-extraction"
        return f"from workbench import pipeline\n\npipe = pipeline({task!r}, model={location!r}{options})\n"
    auto_class = "AutoModelForCausalLM" if entry.gguf_file else auto_class_name(entry.task)
    tokenizer_options = options.replace(f", dtype={dtype!r}", "")
    if entry.kind == "adapter" and entry.adapter is not None:
        return _adapter_load_code(entry, auto_class, location, options)
    if not entry.has_tokenizer:  # from_pretrained would fail: say so instead
        return (f"from workbench import {auto_class}\n\n"
                f"model = {auto_class}.from_pretrained({location!r}{options})\n"
                f"# {entry.name} has no tokenizer files: load the tokenizer of the model it was made from\n")
    return (f"from workbench import {auto_class}, AutoTokenizer\n\n"
            f"model = {auto_class}.from_pretrained({location!r}{options})\n"
            f"tokenizer = AutoTokenizer.from_pretrained({location!r}{tokenizer_options})\n")


def _adapter_load_code(entry: ModelEntry, auto_class: str, location: str, options: str) -> str:
    facts = entry.adapter
    code = (f"# the base model {facts.base_model!r}, then the {facts.method or 'peft'} adapter on it\n"
            f"model = {auto_class}.from_pretrained({location!r}{options})\n")
    tokenizer_from = location if entry.has_tokenizer else (facts.base_path or facts.base_model)
    base_has_one = facts.base_path is None or any(os.path.isfile(os.path.join(facts.base_path, name))
                                                  for name in TOKENIZER_FILES)
    if not entry.has_tokenizer and not base_has_one:
        return (f"from workbench import {auto_class}\n\n{code}"
                f"# neither the adapter nor its base has tokenizer files: load the tokenizer the base was made with\n")
    return (f"from workbench import {auto_class}, AutoTokenizer\n\n{code}"
            f"tokenizer = AutoTokenizer.from_pretrained({tokenizer_from!r})\n")


def _load_location(entry: ModelEntry) -> tuple[str, str | None]:
    """(what from_pretrained is given, a revision to name): a cached repo by its repo id when it
    is in this process's cache (with the commit unless it is main's), else by its folder."""
    if entry.source == "hub":
        return entry.name, None
    if entry.source != "cache":
        return entry.location, None
    snapshot = Path(entry.path).parent if entry.gguf_file else Path(entry.path)
    if not inside(snapshot, os.path.realpath(hub_cache_dir())):
        return str(snapshot), None
    newest = entry.cache.revisions[0] if entry.cache and entry.cache.revisions else None
    on_main = newest is not None and newest.commit_hash == entry.revision and "main" in newest.refs
    return entry.name, None if on_main else entry.revision
