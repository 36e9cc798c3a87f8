"""Adapters (LoRA, LoHa, LoKr, IA3, ...) on workbench models, through the ``peft`` library.

``peft`` does the adapter work: its config classes, ``inject_adapter_in_model`` (which wraps the
targeted layers in place), its state-dict helpers and its layers' ``merge``. This module gives
workbench models the methods the reference's models have (``add_adapter``, ``load_adapter``,
``set_adapter``, ``enable_adapters``/``disable_adapters``, ``active_adapters``,
``delete_adapter``, ``get_adapter_state_dict``) and the file format both ways: a folder holds
``adapter_config.json`` (peft's own) and ``adapter_model.safetensors`` whose keys start with
``base_model.model.`` and carry no adapter name, as ``peft.PeftModel.save_pretrained`` writes.

peft is an optional extra (``pip install workbench[adapters]``) and is imported only here, inside
the methods: a model without adapters never imports it.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import torch
from torch import nn

from .hub import HubOptions, resolve_file

ADAPTER_CONFIG_NAME = "adapter_config.json"
ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"
ADAPTER_PICKLE_NAME = "adapter_model.bin"
SAVED_PREFIX = "base_model.model."  # what PeftModel puts before the model's own keys
ADAPTER_FILES = [ADAPTER_CONFIG_NAME, "adapter_model.*"]  # what an adapter save owns in its folder


def require_peft():
    """Import peft, or say how to install it."""
    try:
        import peft
    except ImportError as error:
        raise ImportError(
            "Adapters need the peft library: pip install 'workbench[adapters]' (or pip install peft)."
        ) from error
    return peft


class AdapterMixin:
    """The adapter methods of :class:`~workbench.PreTrainedModel` (see the module docstring)."""

    _hf_peft_config_loaded: bool = False

    # ------------------------------------------------------------------------------------------
    # adding, loading, deleting

    def add_adapter(self, adapter_config, adapter_name: str | None = None) -> None:
        """Add a fresh adapter (a ``peft`` config such as ``LoraConfig``) and make it the active one.

        The base model's weights are frozen unless the config says ``inference_mode=True`` (then
        the adapter is frozen too). Prompt-learning methods (prompt tuning, prefix tuning, P-tuning)
        change the inputs rather than layers: wrap the model with ``peft.get_peft_model`` for those.
        """
        peft = require_peft()
        adapter_name = adapter_name or "default"
        if not isinstance(adapter_config, peft.PeftConfig):
            raise TypeError(f"add_adapter takes a peft config (LoraConfig, LoHaConfig, IA3Config, ...), "
                            f"got {type(adapter_config).__name__}.")
        self._check_new_adapter(adapter_config, adapter_name)
        adapter_config.base_model_name_or_path = self.__dict__.get("name_or_path") or getattr(self.config, "name_or_path", None)
        _inject(adapter_config, self, adapter_name)
        self._hf_peft_config_loaded = True
        self.set_adapter(adapter_name)

    def load_adapter(self, peft_model_id: str | os.PathLike | None = None, adapter_name: str | None = None, *,
                     revision: str | None = None, token: str | bool | None = None, cache_dir: str | None = None,
                     local_files_only: bool = False, subfolder: str = "", peft_config=None,
                     adapter_state_dict: dict[str, torch.Tensor] | None = None, is_trainable: bool = False,
                     adapter_kwargs: dict[str, Any] | None = None, **_: Any) -> dict[str, list[str]]:
        """Load an adapter from a folder or Hub repo (``adapter_config.json`` + ``adapter_model.safetensors``),
        or from ``peft_config`` and ``adapter_state_dict``; it becomes the active adapter.

        ``is_trainable=False`` (the default, as in the reference) freezes it and puts the model in
        eval mode. Returns the missing and unexpected adapter keys.
        """
        peft = require_peft()
        adapter_name = adapter_name or "default"
        options = HubOptions(cache_dir=cache_dir, revision=revision, subfolder=subfolder,
                             local_files_only=local_files_only, token=token, **(adapter_kwargs or {}))
        if peft_config is None:
            if peft_model_id is None:
                raise ValueError("load_adapter needs a folder or Hub id (peft_model_id=), or peft_config= "
                                 "together with adapter_state_dict=.")
            peft_config = read_adapter_config(peft_model_id, options)
        elif isinstance(peft_config, dict):
            peft_config = peft.PeftConfig.from_peft_type(**peft_config)
        self._check_new_adapter(peft_config, adapter_name)
        if adapter_state_dict is None:
            if peft_model_id is None:
                raise ValueError("load_adapter with peft_config= also needs adapter_state_dict= (or a folder).")
            adapter_state_dict = read_adapter_weights(peft_model_id, options)
        peft_config.inference_mode = not is_trainable
        state = model_keys(adapter_state_dict)
        _inject(peft_config, self, adapter_name)
        self._hf_peft_config_loaded = True
        try:
            result = peft.set_peft_model_state_dict(self, state, adapter_name=adapter_name)
        except BaseException:
            self.delete_adapter(adapter_name)  # the model stays as it was
            raise
        unexpected = [key for key in result.unexpected_keys if _is_adapter_key(key, adapter_name, peft_config)]
        missing = [key for key in result.missing_keys if _is_adapter_key(key, adapter_name, peft_config)]
        if unexpected or missing:
            self.delete_adapter(adapter_name)
            raise ValueError(
                f"The adapter in {peft_model_id or 'adapter_state_dict'} does not fit this "
                f"{type(self).__name__}: {len(missing)} adapter weights missing (e.g. {missing[:2]}), "
                f"{len(unexpected)} unexpected (e.g. {unexpected[:2]}). Load it on the base model it was "
                f"trained on ({peft_config.base_model_name_or_path})."
            )
        if not is_trainable:
            from peft.tuners.tuners_utils import BaseTunerLayer

            self.eval()
            for module in self.modules():
                if isinstance(module, BaseTunerLayer):
                    module.requires_grad_(False)
        self.set_adapter(adapter_name)
        return {"missing_keys": missing, "unexpected_keys": unexpected}

    def delete_adapter(self, adapter_names: list[str] | str) -> None:
        """Remove adapters (their layers and weights); the model is the plain base again when none is left."""
        from peft.functional import delete_adapter

        names = [adapter_names] if isinstance(adapter_names, str) else list(adapter_names)
        self._check_known(names)
        for name in names:
            delete_adapter(self, adapter_name=name, prefix=_prefix(self.peft_config[name]))
            self.peft_config.pop(name, None)
        if not self.peft_config:
            del self.peft_config
            self._hf_peft_config_loaded = False

    # ------------------------------------------------------------------------------------------
    # switching

    def set_adapter(self, adapter_name: list[str] | str) -> None:
        """Make ``adapter_name`` (or several names: they add up) the active adapter(s)."""
        names = [adapter_name] if isinstance(adapter_name, str) else list(adapter_name)
        self._check_known(names)
        for module in self._adapter_layers(wrappers=True):
            module.set_adapter(adapter_name)
        self._restore_frozen_adapters(names)

    def disable_adapters(self) -> None:
        """Run the base model alone (the adapters stay loaded; :meth:`enable_adapters` brings them back)."""
        self._check_known([])
        for module in self._adapter_layers(wrappers=True):
            module.enable_adapters(enabled=False)

    def enable_adapters(self) -> None:
        """Undo :meth:`disable_adapters`."""
        self._check_known([])
        for module in self._adapter_layers(wrappers=False):
            module.enable_adapters(enabled=True)

    def active_adapters(self) -> list[str]:
        """The names of the active adapters."""
        self._check_known([])
        for module in self._adapter_layers(wrappers=False):
            active = module.active_adapter
            return [active] if isinstance(active, str) else list(active)
        return []

    @property
    def adapters_enabled(self) -> bool:
        """False after :meth:`disable_adapters` (or without adapters)."""
        return any(not module.disable_adapters for module in self._adapter_layers(wrappers=False))

    # ------------------------------------------------------------------------------------------
    # state, merging, saving

    def get_adapter_state_dict(self, adapter_name: str | None = None, state_dict: dict | None = None) -> dict:
        """The adapter's weights under the keys peft saves (no adapter name in them; without the
        ``base_model.model.`` prefix, which :meth:`save_pretrained` adds)."""
        from peft import get_peft_model_state_dict

        self._check_known([] if adapter_name is None else [adapter_name])
        adapter_name = adapter_name or self.active_adapters()[0]
        return get_peft_model_state_dict(self, state_dict=state_dict, adapter_name=adapter_name)

    def adapter_summary(self) -> list[dict[str, Any]]:
        """One row per loaded adapter: name, peft method, whether active, its parameter count and
        how many of those train. What the widgets show."""
        if not self._hf_peft_config_loaded:
            return []
        active = set(self.active_adapters()) if self.adapters_enabled else set()
        rows = []
        for name, config in self.peft_config.items():
            params = [p for key, p in self.named_parameters() if _is_adapter_key(key, name, config)]
            rows.append({"name": name, "method": config.peft_type.value, "active": name in active,
                         "parameters": sum(p.numel() for p in params),
                         "trainable": sum(p.numel() for p in params if p.requires_grad)})
        return rows

    def merge_and_unload(self, adapter_names: list[str] | None = None) -> "AdapterMixin":
        """Fold the active adapters (or ``adapter_names``) into the base weights and remove every
        adapter layer: the model is a plain model again, computing what it computed with them."""
        from peft.tuners.tuners_utils import BaseTunerLayer

        self._check_known(adapter_names or [])
        for name, module in list(self.named_modules()):
            if isinstance(module, BaseTunerLayer):
                if not module.disable_adapters:
                    module.merge(adapter_names=adapter_names)
                _set_submodule(self, name, module.get_base_layer())
        from peft.utils import ModulesToSaveWrapper

        for name, module in list(self.named_modules()):
            if isinstance(module, ModulesToSaveWrapper):
                _set_submodule(self, name, module.modules_to_save[module.active_adapter] if module.active_adapter in module.modules_to_save else module.original_module)
        del self.peft_config
        self._hf_peft_config_loaded = False
        return self

    def _save_adapter(self, folder: str, state_dict: dict | None = None) -> None:
        """Write the active adapter as peft does: adapter_config.json + adapter_model.safetensors.
        ``folder`` is the private staging folder of ``save_pretrained`` (``workbench.atomic_folder``),
        which makes the save whole: the files are written there directly."""
        from safetensors.torch import save_file

        active = self.active_adapters()
        if len(active) != 1:
            raise ValueError(f"{len(active)} adapters are active ({active}); save them one at a time: "
                             "model.set_adapter(name) then model.save_pretrained(folder).")
        weights = self.get_adapter_state_dict(active[0], state_dict)
        weights = {SAVED_PREFIX + key: value.detach().contiguous() for key, value in weights.items()}
        save_file(weights, os.path.join(folder, ADAPTER_WEIGHTS_NAME), metadata={"format": "pt"})
        config = self.peft_config[active[0]]
        saved_mode = config.inference_mode
        config.inference_mode = True  # what PeftModel writes: a saved adapter loads for inference
        try:
            config.save_pretrained(folder)  # peft writes its own file (sets as lists, its version)
        finally:
            config.inference_mode = saved_mode

    # ------------------------------------------------------------------------------------------
    # checks

    def _check_new_adapter(self, config, adapter_name: str) -> None:
        if self._hf_peft_config_loaded and adapter_name in self.peft_config:
            raise ValueError(f"An adapter named {adapter_name!r} is already loaded; pass another adapter_name= "
                             f"or delete_adapter({adapter_name!r}) first.")
        if config.is_prompt_learning or config.is_adaption_prompt:
            raise ValueError(
                f"{type(config).__name__} is a prompt-learning method: it adds virtual tokens instead of "
                "changing layers, so it cannot be injected into the model. Wrap the model instead: "
                "peft.get_peft_model(model, config).")

    def _check_known(self, names: list[str]) -> None:
        if not self._hf_peft_config_loaded:
            raise ValueError("This model has no adapter: add one with model.add_adapter(config) or "
                             "model.load_adapter(folder_or_id) first.")
        missing = [name for name in names if name not in self.peft_config]
        if missing:
            raise ValueError(f"No adapter named {', '.join(map(repr, missing))}; loaded adapters: {list(self.peft_config)}.")

    def _adapter_layers(self, wrappers: bool):
        from peft.tuners.tuners_utils import BaseTunerLayer
        from peft.utils import ModulesToSaveWrapper

        kinds = (BaseTunerLayer, ModulesToSaveWrapper) if wrappers else (BaseTunerLayer,)
        return [module for module in self.modules() if isinstance(module, kinds)]

    def _restore_frozen_adapters(self, names: list[str]) -> None:
        """peft's set_adapter marks the adapter trainable; an adapter loaded for inference stays frozen."""
        for name in names:
            if self.peft_config[name].inference_mode:
                for key, param in self.named_parameters():
                    if _is_adapter_key(key, name, self.peft_config[name]):
                        param.requires_grad_(False)


# ----------------------------------------------------------------------------------------------
# files


def adapter_folder_base(path_or_repo: str | os.PathLike, options: HubOptions) -> str | None:
    """Where the model under a folder's or repo's adapter comes from: the base named in
    ``adapter_config.json``, or the folder itself when it also holds a model (``config.json``: the
    reference then loads that model with the adapter on it). None without an adapter."""
    location = str(path_or_repo)
    if location.endswith(".gguf") or os.path.isfile(location):
        return None
    config_file = resolve_file(location, ADAPTER_CONFIG_NAME, options, required=False)
    if config_file is None:
        return None
    if resolve_file(location, "config.json", options, required=False) is not None:
        return location
    with open(config_file, encoding="utf-8") as handle:
        base = json.load(handle).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{config_file} names no base model (base_model_name_or_path is empty): load the base "
                         "model yourself, then model.load_adapter(adapter_folder).")
    return base


def from_adapter_folder(load_base, path_or_repo: str | os.PathLike, kwargs: dict[str, Any]):
    """``from_pretrained`` of an adapter folder or repo: ``load_base(base, **kwargs)`` loads the
    model that ``adapter_config.json`` names, then the adapter goes on it. None for a model folder.

    ``revision`` and ``subfolder`` locate the adapter; ``cache_dir``, ``token`` and
    ``local_files_only`` apply to both; ``adapter_name`` and ``adapter_kwargs`` go to
    :meth:`AdapterMixin.load_adapter`."""
    if kwargs.get("_adapter_lookup", True) is False:  # (the model's own from_pretrained drops the flag)
        return None
    options = HubOptions(**{key: kwargs[key] for key in ("cache_dir", "revision", "subfolder", "local_files_only", "token")
                            if key in kwargs})
    base = adapter_folder_base(path_or_repo, options)
    if base is None:
        return None
    if base == str(path_or_repo):  # a model folder with an adapter beside it: the model from here, then the adapter
        kwargs["_adapter_lookup"] = False
    adapter_name = kwargs.pop("adapter_name", None)
    adapter_kwargs = dict(kwargs.pop("adapter_kwargs", None) or {})
    same_folder = base == str(path_or_repo)
    for key in ("revision", "subfolder"):  # they locate the adapter (and the model, when it lies beside it)
        if key in kwargs:
            adapter_kwargs.setdefault(key, kwargs[key] if same_folder else kwargs.pop(key))
    for key in ("cache_dir", "token", "local_files_only"):
        if key in kwargs:
            adapter_kwargs.setdefault(key, kwargs[key])
    model = load_base(base, **kwargs)
    model.load_adapter(path_or_repo, adapter_name=adapter_name, **adapter_kwargs)
    return model


def read_adapter_config(path_or_repo: str | os.PathLike, options: HubOptions):
    """peft's config object from ``adapter_config.json``."""
    from peft import PeftConfig

    config_file = resolve_file(path_or_repo, ADAPTER_CONFIG_NAME, options, required=False)
    if config_file is None:
        raise ValueError(f"{path_or_repo} has no {ADAPTER_CONFIG_NAME}: point load_adapter to a folder written by "
                         "save_pretrained on a model with an adapter (or by peft's PeftModel.save_pretrained).")
    return PeftConfig.from_pretrained(os.path.dirname(config_file))


def read_adapter_weights(path_or_repo: str | os.PathLike, options: HubOptions) -> dict[str, torch.Tensor]:
    """The adapter's tensors: safetensors, or a pickled .bin read with ``weights_only=True``."""
    from safetensors.torch import load_file

    path = resolve_file(path_or_repo, ADAPTER_WEIGHTS_NAME, options, required=False)
    if path is not None:
        return load_file(path)
    path = resolve_file(path_or_repo, ADAPTER_PICKLE_NAME, options, required=False)
    if path is None:
        raise ValueError(f"{path_or_repo} has {ADAPTER_CONFIG_NAME} but no {ADAPTER_WEIGHTS_NAME} (or "
                         f"{ADAPTER_PICKLE_NAME}): the adapter's weights are missing from the folder.")
    return torch.load(path, map_location="cpu", weights_only=True)


def _inject(config, model: nn.Module, adapter_name: str) -> None:
    """peft's injection, without its warning that a second adapter is being added (that is the point)."""
    from peft import inject_adapter_in_model

    from .adapters_quantized import register_quantized_layers

    register_quantized_layers(config, model)  # LoRA on Int8Linear / Int4Linear (QLoRA)
    _expand_all_linear(config, model)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
        inject_adapter_in_model(config, model, adapter_name)


def _expand_all_linear(config, model: nn.Module) -> None:
    """``target_modules="all-linear"`` as peft resolves it for the reference's models: every linear
    layer but the output projection (for a classifier without one: its head). peft recognises only
    the reference's model class for those exclusions, so workbench resolves the names first."""
    from peft.tuners.tuners_utils import _maybe_include_all_linear_layers
    from peft.utils.constants import SEQ_CLS_HEAD_NAMES

    if not (isinstance(getattr(config, "target_modules", None), str) and config.target_modules.lower() == "all-linear"):
        return
    from .adapters_quantized import quantized_linear_names

    _maybe_include_all_linear_layers(config, model)
    config.target_modules |= quantized_linear_names(model)  # peft knows nn.Linear, not workbench's int8/int4 layers
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None and str(getattr(config, "task_type", "")).endswith("SEQ_CLS"):
        head = next((getattr(model, name) for name in SEQ_CLS_HEAD_NAMES if getattr(model, name, None) is not None), None)
    if head is not None:
        config.target_modules = {name for name in config.target_modules if model.get_submodule(name) is not head}
    if not config.target_modules:
        raise ValueError(f"target_modules='all-linear' found no torch.nn.Linear layer to adapt in {type(model).__name__} "
                         "(GPT-2's layers are Conv1D, which peft adapts only in the reference's own class). "
                         "Name the modules in target_modules=[...].")


def model_keys(saved: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An adapter file's tensors under the model's own keys (without peft's ``base_model.model.``)."""
    return {key[len(SAVED_PREFIX):] if key.startswith(SAVED_PREFIX) else key: value for key, value in saved.items()}


def _prefix(config) -> str:
    """The start of the parameter names peft gives this method's layers (``lora_``, ``hada_`` for LoHa)."""
    from peft import PEFT_TYPE_TO_TUNER_MAPPING

    tuner = PEFT_TYPE_TO_TUNER_MAPPING.get(config.peft_type)
    return getattr(tuner, "prefix", None) or f"{config.peft_type.value.lower()}_"


def _is_adapter_key(key: str, adapter_name: str, config) -> bool:
    """Whether a model key belongs to adapter ``adapter_name`` (its layers carry the name in their keys)."""
    parts = key.split(".")
    prefix = _prefix(config)
    return adapter_name in parts and any(part.startswith(prefix) or part == "modules_to_save" for part in parts)


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)
