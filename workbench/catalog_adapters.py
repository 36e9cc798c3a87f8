"""What an adapter folder holds, read from its files alone: the facts :mod:`workbench.catalog`
lists an adapter entry with (the ``ModelPicker`` and ``TrainingCurves`` show them).

An adapter folder holds ``adapter_config.json`` (peft's: the base model, the peft method, LoRA's
``r``, ``lora_alpha`` and ``target_modules``, the task) and ``adapter_model.safetensors``, and no
``config.json`` (that is a full model). The parameter count comes from the safetensors header
(``safe_open`` reads the header, never the tensors; no torch either). peft is not imported:
the config is read as JSON.

>>> facts = read_adapter_facts("out/my-lora")          # doctest: +SKIP
>>> facts.method, facts.r, facts.num_parameters, facts.base_model   # doctest: +SKIP
('LORA', 8, 36864, 'HuggingFaceTB/SmolLM2-135M')
>>> locate_base(facts.base_model)                       # (local folder or None, a note)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from .hub import is_offline

ADAPTER_CONFIG_NAME = "adapter_config.json"  # the names peft writes (workbench.adapters uses the same)
ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"
ADAPTER_PICKLE_NAME = "adapter_model.bin"
CONFIG_MAX_BYTES = 4 << 20
# peft's TaskType -> workbench's task name (workbench.tasks)
TASK_TYPES = {"CAUSAL_LM": "text-generation", "SEQ_CLS": "text-classification", "TOKEN_CLS": "token-classification",
              "SEQ_2_SEQ_LM": "text2text-generation", "QUESTION_ANS": "question-answering",
              "FEATURE_EXTRACTION": "feature-extraction"}
SAFETENSORS_DTYPES = {"F64": "float64", "F32": "float32", "BF16": "bfloat16", "F16": "float16"}
# the start of the names peft gives a method's tensors, where it is not "<method>_" (lora_A, hada_w1_a, ...)
METHOD_PREFIXES = {"ADALORA": "lora_", "LOHA": "hada_"}
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


@dataclass
class AdapterFacts:
    """One adapter folder's facts (None where the files do not say)."""

    base_model: str | None = None  # base_model_name_or_path: a repo id or a folder
    method: str | None = None  # peft_type: "LORA", "LOHA", "IA3", ...
    task_type: str | None = None  # peft's: "CAUSAL_LM", ...
    r: int | None = None
    alpha: float | None = None
    target_modules: list[str] | str | None = None
    num_parameters: int | None = None  # the adapter's values in adapter_model.safetensors
    base_values: int = 0  # values of base layers saved with it (embedding layers, modules_to_save)
    dtype: str | None = None
    error: str | None = None  # why a fact is missing
    base_path: str | None = None  # the base's local folder, once located (see locate_base)
    base_parameters: int | None = None  # the base model's parameter count, when located

    @property
    def task(self) -> str | None:
        return TASK_TYPES.get(self.task_type or "")

    def details(self) -> str:
        """``r=8, alpha=16, targets q_proj, v_proj`` (what the method's config sets)."""
        return config_details({"r": self.r, "lora_alpha": self.alpha, "target_modules": self.target_modules})


def config_details(config: Any) -> str:
    """``r``, ``alpha`` and the target modules of a peft config object or its JSON dict, as one line."""
    get = config.get if isinstance(config, dict) else (lambda key: getattr(config, key, None))
    parts = []
    if isinstance(get("r"), int):
        parts.append(f"r={get('r')}")
    if isinstance(get("lora_alpha"), (int, float)):
        parts.append(f"alpha={get('lora_alpha'):g}")
    targets = get("target_modules")
    if isinstance(targets, str):
        parts.append(f"targets {targets}")  # a regex or "all-linear"
    elif targets:  # peft may write full module paths ("model.layers.0.mlp.up_proj"): their last names
        parts.append("targets " + ", ".join(sorted({str(name).rsplit(".", 1)[-1] for name in targets})))
    return ", ".join(parts)


def is_adapter_folder(folder: str | os.PathLike) -> bool:
    """An adapter alone: ``adapter_config.json`` and no ``config.json``."""
    return (os.path.isfile(os.path.join(folder, ADAPTER_CONFIG_NAME))
            and not os.path.isfile(os.path.join(folder, "config.json")))


def read_adapter_facts(folder: str | os.PathLike) -> AdapterFacts:
    """The facts of the adapter in ``folder`` (see the module docstring); unreadable files give
    ``facts.error``, never an exception."""
    path = os.path.join(folder, ADAPTER_CONFIG_NAME)
    try:
        if os.path.getsize(path) > CONFIG_MAX_BYTES:
            raise ValueError(f"over {CONFIG_MAX_BYTES} bytes")
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        return AdapterFacts(error=f"{ADAPTER_CONFIG_NAME} unreadable: {error}")
    targets = config.get("target_modules")
    facts = AdapterFacts(
        base_model=config.get("base_model_name_or_path") or None, method=_text(config.get("peft_type")),
        task_type=_text(config.get("task_type")), r=config.get("r") if isinstance(config.get("r"), int) else None,
        alpha=config.get("lora_alpha") if isinstance(config.get("lora_alpha"), (int, float)) else None,
        target_modules=targets if isinstance(targets, (str, list)) else None)
    weights = os.path.join(folder, ADAPTER_WEIGHTS_NAME)
    if os.path.isfile(weights):
        try:
            facts.num_parameters, facts.base_values, facts.dtype = safetensors_count(weights, facts.method)
        except Exception as error:  # a truncated or foreign file: say so, list the entry anyway
            facts.error = f"{ADAPTER_WEIGHTS_NAME} header unreadable: {error}"
    elif not os.path.isfile(os.path.join(folder, ADAPTER_PICKLE_NAME)):
        facts.error = f"no adapter weights ({ADAPTER_WEIGHTS_NAME} is missing)"
    if facts.base_model is None:
        facts.error = f"{ADAPTER_CONFIG_NAME} names no base model (base_model_name_or_path is empty)"
    return facts


def safetensors_count(path: str | os.PathLike, method: str | None = None) -> tuple[int, int, str | None]:
    """(the adapter's values, values of base layers saved with it, most common floating dtype) of
    an adapter's safetensors file, from its header. A tensor is the adapter's when a part of its
    name starts with the method's prefix (``lora_``); without a method every tensor is."""
    from safetensors import safe_open

    prefix = METHOD_PREFIXES.get(method or "", f"{(method or '').lower()}_")
    adapter = base = 0
    dtypes: dict[str, int] = {}
    with safe_open(os.fspath(path), framework="numpy") as handle:
        for key in handle.keys():
            view = handle.get_slice(key)
            numel = 1
            for size in view.get_shape():
                numel *= size
            if method is None or any(part.startswith(prefix) for part in key.split(".")):
                adapter += numel
            else:
                base += numel
            dtype = SAFETENSORS_DTYPES.get(view.get_dtype())
            if dtype:
                dtypes[dtype] = dtypes.get(dtype, 0) + numel
    return adapter, base, max(dtypes, key=dtypes.get) if dtypes else None


def locate_base(base: str | None) -> tuple[str | None, str | None]:
    """(the base model's local folder or None, a note for the reader or None): a folder that holds
    a ``config.json``, or a repo id in this process's Hugging Face cache (what loading reads)."""
    if not base:
        return None, f"{ADAPTER_CONFIG_NAME} names no base model: load the base yourself, then model.load_adapter(folder)."
    expanded = os.path.expanduser(base)
    if os.path.isfile(os.path.join(expanded, "config.json")):
        return expanded, None
    if not looks_like_repo_id(base):
        return None, (f"base model {base!r} not found: the folder does not exist (or holds no config.json). Put the "
                      f"base model there, or set base_model_name_or_path in {ADAPTER_CONFIG_NAME} to where it is.")
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(base, "config.json")
    except Exception:  # an id huggingface_hub rejects
        cached = None
    if isinstance(cached, str):
        return os.path.dirname(cached), None
    if is_offline():
        return None, (f"base model {base!r} is not in the Hugging Face cache and HF_HUB_OFFLINE is set: download it "
                      f"first (huggingface-cli download {base}), or unset HF_HUB_OFFLINE.")
    return None, f"base model {base!r} is not on this machine: loading the adapter downloads it from the Hub."


def looks_like_repo_id(base: str | None) -> bool:
    """``org/name`` or ``name`` (what the Hub could serve), not a path."""
    return bool(base) and not os.path.isabs(base) and not base.startswith((".", "~")) and bool(REPO_ID.match(base))


def fetchable(base: str | None) -> bool:
    """Whether loading could download a base that is not on this machine (a repo id, online)."""
    return looks_like_repo_id(base) and not is_offline()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
