"""``pipeline()``: a task name (or a model) in, a ready-to-call pipeline out.

Each task lives in its own module; ``TASKS`` names the module, the class, the Auto class its
model loads with, and the reference library's default checkpoint for that task (used when no
``model=`` is given: online that is the familiar behaviour; offline and uncached the error says
how to pass a local model).
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
from dataclasses import dataclass
from typing import Any

from ..errors import CheckpointNotFoundError
from .base import KeyDataset, Pipeline

logger = logging.getLogger("workbench")


@dataclass(frozen=True)
class Task:
    module: str
    cls: str
    auto: str
    default_model: str | None = None
    feature_extractor: bool = False  # audio tasks: the pipeline loads one beside the tokenizer


TASKS: dict[str, Task] = {
    "feature-extraction": Task("feature_extraction", "FeatureExtractionPipeline", "AutoModel",
                               "distilbert/distilbert-base-cased"),
    "text-classification": Task("text_classification", "TextClassificationPipeline",
                                "AutoModelForSequenceClassification",
                                "distilbert/distilbert-base-uncased-finetuned-sst-2-english"),
    "token-classification": Task("token_classification", "TokenClassificationPipeline",
                                 "AutoModelForTokenClassification", "dbmdz/bert-large-cased-finetuned-conll03-english"),
    # the reference dropped this task in 5.0; its 4.x default
    "question-answering": Task("question_answering", "QuestionAnsweringPipeline", "AutoModelForQuestionAnswering",
                               "distilbert/distilbert-base-cased-distilled-squad"),
    "fill-mask": Task("fill_mask", "FillMaskPipeline", "AutoModelForMaskedLM", "distilbert/distilroberta-base"),
    "zero-shot-classification": Task("zero_shot_classification", "ZeroShotClassificationPipeline",
                                     "AutoModelForSequenceClassification", "facebook/bart-large-mnli"),
    "text-generation": Task("text_generation", "TextGenerationPipeline", "AutoModelForCausalLM",
                            "HuggingFaceTB/SmolLM3-3B"),
    # the reference dropped these three in 5.0; their 4.x defaults
    "text2text-generation": Task("text2text_generation", "Text2TextGenerationPipeline", "AutoModelForSeq2SeqLM",
                                 "google-t5/t5-base"),
    "summarization": Task("text2text_generation", "SummarizationPipeline", "AutoModelForSeq2SeqLM",
                          "sshleifer/distilbart-cnn-12-6"),
    "translation": Task("text2text_generation", "TranslationPipeline", "AutoModelForSeq2SeqLM", "google-t5/t5-base"),
    "automatic-speech-recognition": Task("automatic_speech_recognition", "AutomaticSpeechRecognitionPipeline",
                                         "AutoModelForSpeechSeq2Seq", "facebook/wav2vec2-base-960h",
                                         feature_extractor=True),
}
SPEECH_MODEL_TYPES = {"whisper"}  # their ...ForConditionalGeneration transcribe audio
ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}


def register_task(name: str, task: Task) -> None:
    TASKS[name] = task


def normalize_task(task: str) -> tuple[str, dict]:
    """``"sentiment-analysis"`` -> ``"text-classification"``; ``translation_en_to_fr`` keeps its languages."""
    if task.startswith("translation_") and "translation" in TASKS:
        source, _, target = task.removeprefix("translation_").partition("_to_")
        return "translation", {"src_lang": source, "tgt_lang": target}
    task = ALIASES.get(task, task)
    if task not in TASKS:
        known = sorted(TASKS) + sorted(ALIASES)
        close = difflib.get_close_matches(task, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"Unknown task {task!r}.{hint} Supported tasks: {', '.join(known)}.")
    return task, {}


def infer_task(model) -> str:
    """The task a model was built for, from its class name (``...ForCausalLM`` -> text-generation)."""
    name = type(model).__name__ if not isinstance(model, str) else model
    if name.endswith("ForConditionalGeneration") and name.lower().startswith(tuple(SPEECH_MODEL_TYPES)):
        return "automatic-speech-recognition"
    for suffix, task in (("ForCausalLM", "text-generation"), ("LMHeadModel", "text-generation"),
                         ("ForSequenceClassification", "text-classification"),
                         ("ForTokenClassification", "token-classification"),
                         ("ForQuestionAnswering", "question-answering"), ("ForMaskedLM", "fill-mask"),
                         ("ForConditionalGeneration", "text2text-generation"), ("MTModel", "text2text-generation"),
                         ("Model", "feature-extraction")):
        if name.endswith(suffix) and task in TASKS:
            return task
    raise ValueError(f"Cannot tell which task {name} is for: pass task= (one of {', '.join(sorted(TASKS))}).")


def pipeline(task: str | None = None, model=None, tokenizer=None, device=None, dtype=None, batch_size: int | None = None,
             feature_extractor=None, **kwargs: Any) -> Pipeline:
    """Build the pipeline for ``task`` (inferred from the model when omitted).

    ``model`` and ``tokenizer`` are instances, local folders or Hub ids. Other keyword arguments
    are the task's parameters and hold for every call (a call's own parameters override them
    for that call), plus loading options (``revision``, ``trust_remote_code``, ``model_kwargs``).
    """
    if task is None and model is None:
        raise ValueError("pipeline() needs a task, a model, or both: e.g. pipeline('sentiment-analysis', model=path).")
    model_kwargs = dict(kwargs.pop("model_kwargs", None) or {})
    for key in ("revision", "token", "cache_dir", "local_files_only", "trust_remote_code", "gguf_file"):
        if key in kwargs:
            model_kwargs[key] = kwargs.pop(key)
    if "torch_dtype" in kwargs:  # the reference's older name for dtype
        dtype = kwargs.pop("torch_dtype") if dtype is None else dtype
    device_map = kwargs.pop("device_map", None)
    if device_map is not None:  # loading places the model; an instance is moved like device=
        model_kwargs["device_map"] = device_map
        device = device_map if device is None and not isinstance(model, (str, os.PathLike, type(None))) else device
    if task is None:
        task = infer_task(_architecture(model, model_kwargs))
    named, (task, task_params) = task, normalize_task(task)
    spec = TASKS[task]
    default = None
    if model is None:
        model, default = _default_model(task, spec)
    try:
        if isinstance(model, (str, os.PathLike)):
            tokenizer = tokenizer if tokenizer is not None else str(model)
            if spec.feature_extractor and feature_extractor is None:
                feature_extractor = str(model)
            model = _load_model(spec, str(model), dtype, model_kwargs)
        if isinstance(feature_extractor, (str, os.PathLike)):
            from ..processing import AutoFeatureExtractor

            options = {k: v for k, v in model_kwargs.items() if k in ("revision", "token", "cache_dir", "local_files_only")}
            feature_extractor = AutoFeatureExtractor.from_pretrained(feature_extractor, **options)
        if isinstance(tokenizer, (str, os.PathLike)):
            from ..tokenization import AutoTokenizer

            options = {k: v for k, v in model_kwargs.items() if k not in ("trust_remote_code", "device_map")}
            tokenizer = AutoTokenizer.from_pretrained(tokenizer, **options)
    except CheckpointNotFoundError as error:
        if default is None:
            raise
        raise CheckpointNotFoundError(_default_not_found(named, default, error)) from error
    cls = getattr(importlib.import_module(f".{spec.module}", __name__), spec.cls)
    if spec.feature_extractor:
        kwargs["feature_extractor"] = feature_extractor
    elif feature_extractor is not None:
        raise ValueError(f"The {task} pipeline takes no feature_extractor (it reads text).")
    return cls(model, tokenizer, task=task, device=device, dtype=dtype if not isinstance(model, str) else None,
               batch_size=batch_size, **{**task_params, **kwargs})


def _architecture(model, model_kwargs: dict):
    if not isinstance(model, (str, os.PathLike)):
        return model
    from ..config import load_config_dict
    from ..hub import HubOptions

    if model_kwargs.get("gguf_file") or str(model).endswith(".gguf"):
        return "ForCausalLM"  # the GGUF architectures workbench reads are all decoder-only language models
    options = HubOptions.pop_from(dict(model_kwargs))
    architectures = load_config_dict(model, options).get("architectures") or [""]
    return architectures[0]


def _load_model(spec: Task, path: str, dtype, model_kwargs: dict):
    from .. import auto

    return getattr(auto, spec.auto).from_pretrained(path, dtype=dtype if dtype is not None else "auto", **model_kwargs)


def _default_model(task: str, spec: Task) -> tuple[str, str | None]:
    """The model to use when none was given: the zoo's for the task, else the reference's default
    Hub checkpoint. Returns (model, the Hub default or None)."""
    from ..zoo import local_model_for

    local = local_model_for(task)
    if local is not None:
        logger.warning("No model was given: using workbench's local %s model at %s.", task, local)
        return local, None
    if spec.default_model is None:
        raise ValueError(f"The {task} pipeline has no default model: pass model= (a folder or Hub id).")
    logger.warning("No model was given: using %s, the default for %s. Pass model= to choose (a folder or Hub id).",
                   spec.default_model, task)
    return spec.default_model, spec.default_model


def _default_not_found(task: str, default: str, error: Exception) -> str:
    return (f"No model was given, so the {task} pipeline uses its default checkpoint, {default}, which cannot be "
            f"loaded. {error} To use a model you have locally, pass its folder (one written by save_pretrained): "
            f'pipeline("{task}", model="path/to/folder").')


__all__ = ["KeyDataset", "Pipeline", "pipeline", "register_task", "TASKS"]
