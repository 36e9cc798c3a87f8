"""The ``Auto*`` classes: pick the family's class from ``model_type`` in config.json.

Families are the entries of ``workbench.models.registry.FAMILIES``; a family's module is imported on
first use.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from .config import PretrainedConfig, load_config_dict
from .errors import UnsupportedModelError
from .hub import HubOptions
from .models.registry import FAMILIES, Family


def _family(model_type: str | None, source: str) -> Family:
    if model_type not in FAMILIES:
        hint = "" if model_type else " (config.json has no 'model_type' key: add one)"
        raise UnsupportedModelError(
            f"{source} has model_type {model_type!r}, which workbench does not support{hint}. "
            f"Supported model types: {', '.join(sorted(FAMILIES))}."
        )
    return FAMILIES[model_type]


def _load(family: Family, class_name: str) -> type:
    """The class ``class_name`` of ``family``'s module (imported now if it was not yet)."""
    return getattr(importlib.import_module(f".models.{family.module}", __package__), class_name)


def config_class_for(model_type: str | None, source: str = "The config") -> type[PretrainedConfig]:
    family = _family(model_type, source)
    return _load(family, family.config)


def class_for_architecture(architecture: str) -> type:
    """``"BertForMaskedLM"`` -> workbench's class of that name."""
    for family in FAMILIES.values():
        if architecture in family.heads.values():
            return _load(family, architecture)
    raise UnsupportedModelError(
        f"Architecture {architecture!r} is not implemented in workbench. Supported model types: "
        f"{', '.join(sorted(FAMILIES))} (their classes are listed in workbench.models.registry)."
    )


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
        family = _family(config.model_type, f"{type(config).__name__}")
        if cls._task not in family.heads:
            usable = ", ".join(sorted(family.heads))
            raise UnsupportedModelError(
                f"{cls.__name__} has no {config.model_type!r} model in workbench. "
                f"For {config.model_type} use one of: {usable}."
            )
        return _load(family, family.heads[cls._task])

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
AutoModelForNextSentencePrediction = _auto("AutoModelForNextSentencePrediction")
AutoModelForSeq2SeqLM = _auto("AutoModelForSeq2SeqLM")
AutoModelForTextEncoding = _auto("AutoModelForTextEncoding")
AutoModelForSpeechSeq2Seq = _auto("AutoModelForSpeechSeq2Seq")
