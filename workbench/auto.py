"""The ``Auto*`` classes: pick the family's class from ``model_type`` in config.json.

Families are the entries of ``workbench.models.registry.FAMILIES``; a family's module is imported on
first use.
"""

from __future__ import annotations

import difflib
import importlib
import os
from typing import Any

from .adapters import from_adapter_folder
from .config import PretrainedConfig, load_config_dict
from .errors import UnsupportedModelError
from .hub import HubOptions
from .models.registry import FAMILIES, Family


def closest_model_types(model_type: str, count: int = 3) -> list[str]:
    """The registered model types nearest ``model_type`` by spelling: the families it extends or
    shortens first (``qwen3_vl`` -> ``qwen3``), then the most similar names."""
    def plain(name: str) -> str:
        return name.lower().replace("-", "_")

    wanted = plain(model_type)
    by_plain = {plain(name): name for name in FAMILIES}
    related = sorted((p for p in by_plain if wanted.startswith(p) or p.startswith(wanted)), key=len, reverse=True)
    similar = difflib.get_close_matches(wanted, list(by_plain), n=count, cutoff=0.6)
    ordered = list(dict.fromkeys(related + similar))[:count]
    return [by_plain[p] for p in ordered]


def unsupported_model_type_message(model_type: str | None, source: str) -> str:
    """What to say when ``model_type`` is not registered: the closest families, and how to add it."""
    if not model_type:
        return (f"{source} has no model_type (config.json needs a 'model_type' key: add one). Supported model "
                f"types: {', '.join(sorted(FAMILIES))}.")
    closest = closest_model_types(model_type)
    supported = f"Supported model types ({len(FAMILIES)}): {', '.join(sorted(FAMILIES))}."
    if closest and closest[0].replace("-", "_") == model_type.lower().replace("-", "_"):
        return f"{source} has model_type {model_type!r}: workbench (like transformers) spells it {closest[0]!r}. {supported}"
    near = f" The closest supported: {', '.join(closest)}." if closest else ""
    like = closest[0] if closest else "FAMILY"
    return (
        f"{source} has model_type {model_type!r}, which workbench does not support.{near} To add it, start "
        f"from the registered family it most resembles: workbench add-model --like {like} --name "
        f"{model_type.replace('-', '_')} (README: 'Adding a model family'). {supported}"
    )


def _family(model_type: str | None, source: str) -> Family:
    if model_type not in FAMILIES:
        raise UnsupportedModelError(unsupported_model_type_message(model_type, source))
    return FAMILIES[model_type]


def _load(family: Family, class_name: str) -> type:
    """The class ``class_name`` of ``family``'s module (imported now if it was not yet)."""
    return getattr(importlib.import_module(f".models.{family.module}", __package__), class_name)


def config_class_for(model_type: str | None, source: str = "The config") -> type[PretrainedConfig]:
    family = _family(model_type, source)
    return _load(family, family.config)


def class_for_architecture(architecture: str) -> type:
    """``"BertForMaskedLM"`` -> workbench's class of that name (a head, or a class a family exports beside
    its heads, such as ``DeiTForImageClassificationWithTeacher``)."""
    for family in FAMILIES.values():
        if architecture in family.heads.values() or architecture in family.also_exports:
            return _load(family, architecture)
    names = [name for family in FAMILIES.values() for name in family.heads.values()]
    close = difflib.get_close_matches(architecture, names, n=3, cutoff=0.6)
    near = f" The closest classes workbench has: {', '.join(close)}." if close else ""
    raise UnsupportedModelError(
        f"Architecture {architecture!r} is not implemented in workbench.{near} Supported model types: "
        f"{', '.join(sorted(FAMILIES))} (their classes are listed in workbench.models.registry; "
        "workbench add-model --like FAMILY --name NEW starts a new one)."
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
        picks = {**family.also_auto, **family.heads}  # also_auto: Auto classes naming a class of heads
        if cls._task not in picks:
            usable = ", ".join(sorted(picks))
            raise UnsupportedModelError(
                f"{cls.__name__} has no {config.model_type!r} model in workbench. "
                f"For {config.model_type} use one of: {usable}."
            )
        return _load(family, picks[cls._task])

    @classmethod
    def from_config(cls, config: PretrainedConfig, **kwargs: Any):
        return cls.model_class(config).from_config(config, **kwargs)

    @classmethod
    def from_pretrained(cls, path_or_repo: str | os.PathLike, *args: Any, **kwargs: Any):
        with_adapter = from_adapter_folder(cls.from_pretrained, path_or_repo, kwargs)
        if with_adapter is not None:
            return with_adapter
        config = kwargs.pop("config", None)
        if config is None:
            hub_keys = ("cache_dir", "revision", "subfolder", "local_files_only", "token", "force_download", "gguf_file")
            config = AutoConfig.from_pretrained(path_or_repo, **{k: kwargs[k] for k in hub_keys if k in kwargs})
        return cls.model_class(config).from_pretrained(path_or_repo, *args, config=config, **kwargs)


def _auto(name: str) -> type:
    return type(name, (_AutoModel,), {"_task": name, "__doc__": f"Picks the {name.removeprefix('AutoModel') or 'base'} model of a checkpoint's family."})


AutoModel = _auto("AutoModel")
AutoBackbone = _auto("AutoBackbone")
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
AutoModelForPreTraining = _auto("AutoModelForPreTraining")
AutoModelForImageClassification = _auto("AutoModelForImageClassification")
AutoModelForImageSegmentation = _auto("AutoModelForImageSegmentation")
AutoModelForObjectDetection = _auto("AutoModelForObjectDetection")
AutoModelForUniversalSegmentation = _auto("AutoModelForUniversalSegmentation")
# vision
AutoModelForMaskedImageModeling = _auto("AutoModelForMaskedImageModeling")
AutoModelForSemanticSegmentation = _auto("AutoModelForSemanticSegmentation")
# vision
AutoModelForImageTextToText = _auto("AutoModelForImageTextToText")
AutoModelForVisualQuestionAnswering = _auto("AutoModelForVisualQuestionAnswering")
AutoModelForZeroShotImageClassification = _auto("AutoModelForZeroShotImageClassification")
# audio
AutoModelForAudioClassification = _auto("AutoModelForAudioClassification")
AutoModelForAudioFrameClassification = _auto("AutoModelForAudioFrameClassification")
AutoModelForAudioXVector = _auto("AutoModelForAudioXVector")
AutoModelForCTC = _auto("AutoModelForCTC")
