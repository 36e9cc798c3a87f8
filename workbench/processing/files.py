"""Where a processor's settings sit in a folder. Two layouts are read:

    transformers 5     processor_config.json   {"processor_class": "WhisperProcessor",
                                                "feature_extractor": {...}, "image_processor": {...}}
                       tokenizer files, chat_template.jinja
    transformers 4.x   preprocessor_config.json  the feature extractor's (or image processor's) settings,
                                                 with "processor_class"
                       tokenizer files, chat_template.json (4.43+) or the template in tokenizer_config.json

A part nested in processor_config.json wins over preprocessor_config.json, as in the reference. A bare
feature extractor still writes preprocessor_config.json; a processor writes processor_config.json.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import CheckpointNotFoundError, ConfigError
from ..hub import HubOptions, resolve_file
from ..tokenization.loading import (
    CONFIG_FILE as TOKENIZER_CONFIG,
    SENTENCEPIECE_FILES,
    TOKENIZER_FILE,
    VOCAB_FILE,
    chat_templates,
    flatten_chat_templates,
    legacy_chat_template,
)

PROCESSOR_CONFIG = "processor_config.json"
PREPROCESSOR_CONFIG = "preprocessor_config.json"

# a part of a processor -> its keys in processor_config.json (the first is what transformers 5 writes)
NESTED_KEYS = {"feature_extractor": ("feature_extractor", "audio_processor"), "image_processor": ("image_processor",)}


def read_json_object(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            values = json.load(handle)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON ({error}): fix or re-save it with save_pretrained.") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a JSON object of settings, not {type(values).__name__}.")
    return values


def load_part_dict(location: str | os.PathLike, options: HubOptions | None, part: str) -> dict[str, Any]:
    """The settings of one part (``"feature_extractor"``) of a folder, Hub repo or JSON file: its
    entry in processor_config.json, else preprocessor_config.json."""
    options = options or HubOptions()
    location = str(location)
    if os.path.isfile(location):
        values = read_json_object(location)
        return _nested(values, part) or values
    processor_file = resolve_file(location, PROCESSOR_CONFIG, options, required=False)
    nested = _nested(read_json_object(processor_file), part) if processor_file else None
    if nested is not None:
        return nested
    preprocessor_file = resolve_file(location, PREPROCESSOR_CONFIG, options, required=False)
    if preprocessor_file is None:
        raise CheckpointNotFoundError(_no_part_message(location, options, part, processor_file))
    return read_json_object(preprocessor_file)


def has_part(location: str | os.PathLike, options: HubOptions, part: str) -> bool:
    """Whether the folder holds files for ``part`` ("tokenizer", "feature_extractor", ...)."""
    if part == "tokenizer":
        return any(resolve_file(location, name, options, required=False) is not None
                   for name in (TOKENIZER_FILE, VOCAB_FILE, *SENTENCEPIECE_FILES, "vocab.json"))
    processor_file = resolve_file(location, PROCESSOR_CONFIG, options, required=False)
    if processor_file and _nested(read_json_object(processor_file), part) is not None:
        return True
    preprocessor_file = resolve_file(location, PREPROCESSOR_CONFIG, options, required=False)
    return preprocessor_file is not None and preprocessor_kind(read_json_object(preprocessor_file)) == part


def preprocessor_kind(values: dict[str, Any]) -> str:
    """Whether a preprocessor_config.json holds an "image_processor" or a "feature_extractor" (4.x
    image configs may name a ``...FeatureExtractor`` class: their image settings tell them apart)."""
    named = str(values.get("image_processor_type") or values.get("feature_extractor_type") or "")
    if "ImageProcessor" in named or any(key in values for key in ("image_mean", "do_resize", "crop_size")):
        return "image_processor"
    return "feature_extractor"


def processor_class_name(location: str | os.PathLike, options: HubOptions) -> str | None:
    """The ``processor_class`` a folder names, looked up where the reference looks: processor_config.json,
    then preprocessor_config.json, then tokenizer_config.json."""
    for name in (PROCESSOR_CONFIG, PREPROCESSOR_CONFIG, TOKENIZER_CONFIG):
        path = resolve_file(location, name, options, required=False)
        found = read_json_object(path).get("processor_class") if path is not None else None
        if found:
            return found
    return None


def load_processor_dict(location: str | os.PathLike, options: HubOptions) -> dict[str, Any]:
    """processor_config.json (or ``{}`` for 4.x folders without one), with ``chat_template`` from the
    template files: chat_template.json if present (as the reference's processors read it), else
    chat_template.jinja and additional_chat_templates/."""
    path = resolve_file(location, PROCESSOR_CONFIG, options, required=False)
    values = read_json_object(path) if path else {}
    legacy = legacy_chat_template(str(location), options)
    templates = chat_templates(str(location), options)
    if legacy is not None and len(templates) > ("default" in templates):
        raise ConfigError(f"{location} has both a chat_template.json and additional_chat_templates/: the reference "
                          "refuses this mix too. Move the chat_template.json template into chat_template.jinja.")
    template = legacy if legacy is not None else flatten_chat_templates(templates)
    if template is not None and values.get("chat_template") is None:
        values["chat_template"] = template
    return values


def _nested(values: dict[str, Any], part: str) -> dict[str, Any] | None:
    for key in NESTED_KEYS.get(part, (part,)):
        if isinstance(values.get(key), dict):
            return values[key]
    return None


def _no_part_message(location: str, options: HubOptions, part: str, processor_file: str | None) -> str:
    where = os.path.join(location, options.subfolder) if options.subfolder else location
    holds = ""
    if os.path.isdir(where):
        holds = f" It holds: {', '.join(sorted(os.listdir(where))[:12]) or 'nothing'}."
    if processor_file:
        keys = ", ".join(sorted(read_json_object(processor_file))) or "none"
        holds += f" Its {PROCESSOR_CONFIG} has no {part!r} entry (keys: {keys})."
    return (f"No {part.replace('_', ' ')} in {where!r}: looked for {PROCESSOR_CONFIG} with a {part!r} entry "
            f"(what transformers 5 saves) and {PREPROCESSOR_CONFIG} (transformers 4.x and bare saves).{holds} "
            "Point to the folder the processor or feature extractor was saved in (pass subfolder= if it is nested).")
