"""The ``Auto*`` classes: pick the family's class from ``model_type`` in config.json.

Families register in ``workbench.models.FAMILY_MODULES``; their module is imported on first use.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from .config import PretrainedConfig, load_config_dict
from .errors import UnsupportedModelError
from .hub import HubOptions
from .models import FAMILY_MODULES


def _family(model_type: str | None, source: str) -> dict:
    if model_type not in FAMILY_MODULES:
        hint = "" if model_type else " (config.json has no 'model_type' key: add one)"
        raise UnsupportedModelError(
            f"{source} has model_type {model_type!r}, which workbench does not support{hint}. "
            f"Supported model types: {', '.join(sorted(FAMILY_MODULES))}."
        )
    return importlib.import_module(f".models.{FAMILY_MODULES[model_type]}", __package__).MODEL_TYPES[model_type]


def config_class_for(model_type: str | None, source: str = "The config") -> type[PretrainedConfig]:
    return _family(model_type, source)[0]


def class_for_architecture(architecture: str) -> type:
    """``"BertForMaskedLM"`` -> workbench's class of that name."""
    for model_type in FAMILY_MODULES:
        for cls in _family(model_type, architecture)[1].values():
            if cls.__name__ == architecture:
                return cls
    raise UnsupportedModelError(f"Architecture {architecture!r} is not implemented in workbench.")


class AutoConfig:
    """``AutoConfig.from_pretrained(path_or_id, **overrides)`` -> the family's config."""

    def __init__(self) -> None:
        raise TypeError("Use AutoConfig.from_pretrained(path_or_id) or AutoConfig.for_model(model_type).")

    @classmethod
    def from_pretrained(cls, path_or_repo: str | os.PathLike, **kwargs: Any) -> PretrainedConfig:
        options = HubOptions.pop_from(kwargs)
        kwargs.pop("trust_remote_code", None)
        config_dict = load_config_dict(path_or_repo, options, kwargs.pop("gguf_file", None))
        config_class = config_class_for(config_dict.get("model_type"), f"config.json in {path_or_repo}")
        config = config_class.from_dict(config_dict, **kwargs)
        config.name_or_path = str(path_or_repo)
        return config

    @classmethod
    def for_model(cls, model_type: str, **kwargs: Any) -> PretrainedConfig:
        return config_class_for(model_type, "for_model")(**kwargs)

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs: Any) -> PretrainedConfig:
        return config_class_for(config_dict.get("model_type"), "The config dict").from_dict(config_dict, **kwargs)


class _AutoModel:
    """Shared body of the ``AutoModel*`` classes; ``_task`` names the head."""

    _task = "AutoModel"

    def __init__(self) -> None:
        raise TypeError(f"Use {type(self).__name__}.from_pretrained(path_or_id) or .from_config(config).")

    @classmethod
    def model_class(cls, config: PretrainedConfig) -> type:
        heads = _family(config.model_type, f"{type(config).__name__}")[1]
        if cls._task not in heads:
            usable = ", ".join(sorted(heads))
            raise UnsupportedModelError(
                f"{cls.__name__} has no {config.model_type!r} model in workbench. "
                f"For {config.model_type} use one of: {usable}."
            )
        return heads[cls._task]

    @classmethod
    def from_config(cls, config: PretrainedConfig, **kwargs: Any):
        return cls.model_class(config).from_config(config, **kwargs)

    @classmethod
    def from_pretrained(cls, path_or_repo: str | os.PathLike, *args: Any, **kwargs: Any):
        config = kwargs.pop("config", None)
        if config is None:
            hub_keys = ("cache_dir", "revision", "subfolder", "local_files_only", "token", "force_download", "gguf_file")
            config = AutoConfig.from_pretrained(path_or_repo, **{k: kwargs[k] for k in hub_keys if k in kwargs})
        return cls.model_class(config).from_pretrained(path_or_repo, *args, config=config, **kwargs)


def _auto(name: str) -> type:
    return type(name, (_AutoModel,), {"_task": name, "__doc__": f"Picks the {name.removeprefix('AutoModel') or 'base'} model of a checkpoint's family."})


AutoModel = _auto("AutoModel")
AutoModelForCausalLM = _auto("AutoModelForCausalLM")
AutoModelForMaskedLM = _auto("AutoModelForMaskedLM")
AutoModelForSequenceClassification = _auto("AutoModelForSequenceClassification")
AutoModelForTokenClassification = _auto("AutoModelForTokenClassification")
AutoModelForQuestionAnswering = _auto("AutoModelForQuestionAnswering")
AutoModelForMultipleChoice = _auto("AutoModelForMultipleChoice")
AutoModelForSeq2SeqLM = _auto("AutoModelForSeq2SeqLM")
AutoModelForTextEncoding = _auto("AutoModelForTextEncoding")
AutoModelForSpeechSeq2Seq = _auto("AutoModelForSpeechSeq2Seq")
