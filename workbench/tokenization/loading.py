"""Tokenizer folder (or Hub repo) -> the settings and ``tokenizers.Tokenizer`` a tokenizer is built from.

A folder holds some of:

    tokenizer.json            the whole pipeline, serialized by the tokenizers library (preferred)
    vocab.txt                 a WordPiece vocabulary, BERT style (used when tokenizer.json is absent)
    spiece.model              a SentencePiece model, T5 style (converted when tokenizer.json is absent)
    tokenizer.model           a SentencePiece model under the name Gemma's checkpoints give it (the same)
    spm.model                 a SentencePiece model, DeBERTa-v2 style (likewise)
    vocab.json + merges.txt   a byte-level BPE vocabulary, DeBERTa style (likewise)
    tokenizer_config.json     settings: special tokens, model_max_length, padding_side, ...
    special_tokens_map.json   special tokens (older saves; wins over tokenizer_config.json)
    added_tokens.json         tokens added on top of the vocabulary (older saves)
    chat_template.jinja       the chat template (newer saves; older ones keep it in tokenizer_config.json)
    additional_chat_templates/*.jinja   extra named chat templates
    chat_template.json        {"chat_template": ...}, where transformers 4.4x processors kept the template
                              (read last: the reference's tokenizer ignores it, its processor reads it)
"""

from __future__ import annotations

import json
import os

from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

from ..errors import CheckpointError, CheckpointNotFoundError
from ..hub import HubOptions, resolve_file
from .special_tokens import STANDARD_SPECIAL_TOKENS

TOKENIZER_FILE = "tokenizer.json"
VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"
CHAT_TEMPLATE_FILE = "chat_template.jinja"
LEGACY_CHAT_TEMPLATE_FILE = "chat_template.json"  # written by processors of transformers 4.43-4.4x
SENTENCEPIECE_FILE = "spiece.model"  # T5's; workbench.tokenization.sentencepiece converts it
DEBERTA_SENTENCEPIECE_FILE = "spm.model"  # DeBERTa-v2's name for its SentencePiece model
SENTENCEPIECE_FILES = (SENTENCEPIECE_FILE, "tokenizer.model", DEBERTA_SENTENCEPIECE_FILE)  # the names it goes by; the first found is read
CHAT_TEMPLATE_DIR = "additional_chat_templates"  # the folder name transformers reads and writes


# Keys of a saved tokenizer_config.json that describe where or how it was loaded, not the tokenizer.
_NOT_SETTINGS = (
    "name_or_path", "tokenizer_file", "vocab_file", "merges_file", "special_tokens_map_file",
    "is_local", "local_files_only", "files_loaded", "init_inputs", "auto_map", "_commit_hash",
)  # fmt: skip

# BERT-style defaults for a folder with only vocab.txt.
_BERT_SPECIAL_TOKENS = {
    "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
}  # fmt: skip


def load_settings_and_backend(path_or_repo, options: HubOptions, overrides: dict) -> tuple[dict, dict]:
    """Read a tokenizer folder: its settings, and where the backend comes from.

    Settings are tokenizer_config.json, overridden by the legacy files, overridden by ``overrides``.
    The backend source is ``{"tokenizer_file": path}`` or ``{"tokenizer_object": tokenizers.Tokenizer}``.
    ``gguf_file=`` in ``overrides`` (or a .gguf path) reads the tokenizer out of a GGUF file instead.
    """
    location = str(path_or_repo)
    gguf_file = overrides.pop("gguf_file", None)
    if gguf_file is not None or (location.endswith(".gguf") and os.path.isfile(location)):
        from .gguf import load_gguf_tokenizer

        return load_gguf_tokenizer(path_or_repo, gguf_file, options, overrides)
    if os.path.isfile(location) and location.endswith(".json"):
        return dict(overrides), {"tokenizer_file": location}
    files = {
        name: resolve_file(location, name, options, required=False)
        for name in (CONFIG_FILE, TOKENIZER_FILE, SPECIAL_TOKENS_MAP_FILE, ADDED_TOKENS_FILE, CHAT_TEMPLATE_FILE)
    }
    if files[TOKENIZER_FILE] is None:
        files.update(_vocabulary_files(location, options, files[CONFIG_FILE]))
    settings = read_json(files[CONFIG_FILE]) if files[CONFIG_FILE] else {}
    for key in _NOT_SETTINGS:
        settings.pop(key, None)
    if files[TOKENIZER_FILE]:
        # tokenizer.json's post-processor already decides bos/eos; the reference ignores these flags then
        settings.pop("add_bos_token", None)
        settings.pop("add_eos_token", None)
    templates = chat_templates(location, options, files[CHAT_TEMPLATE_FILE])
    if templates:  # template files win over a template in tokenizer_config.json, as in the reference
        settings["chat_template"] = flatten_chat_templates(templates)
    elif settings.get("chat_template") is None:
        legacy = legacy_chat_template(location, options)
        if legacy is not None:
            settings["chat_template"] = legacy
    settings.update(overrides)
    if "additional_special_tokens" in settings and not settings.get("extra_special_tokens"):
        settings["extra_special_tokens"] = settings.pop("additional_special_tokens")
    settings = to_added_tokens(settings)
    if "added_tokens_decoder" in settings:
        settings["added_tokens_decoder"] = {
            int(index): AddedToken(**token) if isinstance(token, dict) else token
            for index, token in settings["added_tokens_decoder"].items()
        }
    else:
        _merge_legacy_files(settings, files, overrides)
    if files[TOKENIZER_FILE]:
        return settings, {"tokenizer_file": files[TOKENIZER_FILE]}
    return settings, {"tokenizer_object": _converted_backend(files, settings, path_or_repo, options)}


def _vocabulary_files(location: str, options: HubOptions, config_file: str | None) -> dict:
    """The files a backend is converted from when there is no tokenizer.json (an error if none is there)."""
    files = {name: resolve_file(location, name, options, required=False) for name in (VOCAB_FILE, "vocab.json", "merges.txt")}
    found = (resolve_file(location, name, options, required=False) for name in SENTENCEPIECE_FILES)
    files[SENTENCEPIECE_FILE] = next((path for path in found if path is not None), None)
    has_bpe = files["vocab.json"] is not None and files["merges.txt"] is not None  # byte-level BPE (DeBERTa's)
    if files[VOCAB_FILE] is None and files[SENTENCEPIECE_FILE] is None and not has_bpe:
        _raise_no_tokenizer(location, options, config_file)
    return files


def _converted_backend(files: dict, settings: dict, path_or_repo, options: HubOptions) -> Tokenizer:
    """The backend built from a SentencePiece model, a byte-level BPE vocabulary or a WordPiece vocab.txt."""
    if files[SENTENCEPIECE_FILE]:
        from .sentencepiece import load_sentencepiece_tokenizer  # lazy: needs the sentencepiece package

        return load_sentencepiece_tokenizer(files[SENTENCEPIECE_FILE], settings, read_model_type(path_or_repo, options))
    if files[VOCAB_FILE] is None:
        from .bpe_files import load_bpe_files_tokenizer

        return load_bpe_files_tokenizer(files["vocab.json"], files["merges.txt"], settings,
                                        read_model_type(path_or_repo, options))
    return build_wordpiece(files[VOCAB_FILE], settings)


# Options of the reference's from_pretrained that change nothing here (workbench has one fast class
# and never runs remote code).
_UNUSED_KWARGS = ("use_fast", "trust_remote_code", "_from_auto", "_from_pipeline", "_commit_hash", "config",
                  "proxies", "code_revision", "tokenizer_type", "mistral_format")  # fmt: skip


def drop_unused_kwargs(kwargs: dict) -> None:
    for name in _UNUSED_KWARGS:
        kwargs.pop(name, None)


def read_model_type(path_or_repo, options: HubOptions) -> str | None:
    """``model_type`` from the model's config.json, if there is one next to the tokenizer."""
    if os.path.isfile(str(path_or_repo)):
        return None
    config_file = resolve_file(path_or_repo, "config.json", options, required=False)
    if config_file is None:
        return None
    try:
        return read_json(config_file).get("model_type")
    except CheckpointError:
        return None


def read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}). Re-save the tokenizer or fix the file.") from None


def read_tokenizer_json(path: str) -> Tokenizer:
    try:
        return Tokenizer.from_file(path)
    except Exception as error:  # tokenizers raises a bare Exception for unreadable files
        raise CheckpointError(
            f"The tokenizers library cannot read {path}: {error}. The file is corrupt or was written by a newer "
            "tokenizers version; re-save it, or upgrade tokenizers (pip install -U tokenizers)."
        ) from None


def to_added_tokens(value):
    """Turn the ``{"__type": "AddedToken", ...}`` dicts of a saved config back into ``AddedToken`` objects."""
    if isinstance(value, dict) and value.get("__type") == "AddedToken":
        fields = {key: item for key, item in value.items() if key != "__type"}
        return AddedToken(**fields)
    if isinstance(value, dict):
        return {key: to_added_tokens(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_added_tokens(item) for item in value]
    return value


def _merge_legacy_files(settings: dict, files: dict, overrides: dict) -> None:
    """Older saves: special_tokens_map.json overrides the config; added_tokens.json lists added tokens."""
    if files[SPECIAL_TOKENS_MAP_FILE]:
        for key, value in read_json(files[SPECIAL_TOKENS_MAP_FILE]).items():
            if overrides.get(key):
                continue
            if key == "additional_special_tokens":
                key = "extra_special_tokens"
            if key == "extra_special_tokens" and isinstance(value, list):
                merged = list(settings.get(key) or [])
                merged += [token for token in map(_as_special, value) if str(token) not in map(str, merged)]
                value = merged
            elif isinstance(value, dict) and "content" in value:
                value = _as_special(value)
            settings[key] = value
    if files[ADDED_TOKENS_FILE]:
        special = {str(settings[key]) for key in STANDARD_SPECIAL_TOKENS if settings.get(key)}
        special |= {str(token) for token in settings.get("extra_special_tokens") or []}
        added = read_json(files[ADDED_TOKENS_FILE])
        settings["added_tokens_decoder"] = {
            int(index): AddedToken(token, normalized=token not in special, special=token in special)
            for token, index in added.items()
        }


def _as_special(token):
    if isinstance(token, dict):
        fields = {key: value for key, value in token.items() if key not in ("special", "__type")}
        return AddedToken(**fields, special=True)
    return token


def chat_templates(location: str, options: HubOptions, template_file: str | None = None) -> dict[str, str]:
    """The chat templates saved as files: chat_template.jinja (as "default") and
    additional_chat_templates/<name>.jinja (named ones, found in local folders only).

    ``template_file`` is chat_template.jinja when the caller resolved it already."""
    location = str(location)
    if template_file is None and not os.path.isfile(location):
        template_file = resolve_file(location, CHAT_TEMPLATE_FILE, options, required=False)
    templates = {}
    if template_file:
        with open(template_file, encoding="utf-8") as handle:
            templates["default"] = handle.read()
    folder = os.path.join(location, options.subfolder, CHAT_TEMPLATE_DIR)
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            if name.endswith(".jinja"):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    templates[name.removesuffix(".jinja")] = handle.read()
    return templates


def flatten_chat_templates(templates: dict[str, str]):
    """One template as a str, several as a dict (name -> template), none as None: the shape
    ``chat_template`` has on a tokenizer or processor."""
    if not templates:
        return None
    if list(templates) == ["default"]:
        return templates["default"]
    return dict(templates)


def legacy_chat_template(location: str, options: HubOptions) -> str | None:
    """The template of a chat_template.json beside the files (``{"chat_template": "..."}``), or None."""
    if os.path.isfile(str(location)):
        return None
    path = resolve_file(location, LEGACY_CHAT_TEMPLATE_FILE, options, required=False)
    if path is None:
        return None
    values = read_json(path)
    template = values.get("chat_template") if isinstance(values, dict) else None
    if not isinstance(template, str):
        raise CheckpointError(
            f"{path} should hold {{\"chat_template\": \"<jinja template>\"}}, but its chat_template is "
            f"{type(template).__name__}. Fix the file, or save the template as chat_template.jinja instead."
        )
    return template


def build_wordpiece(vocab_file: str, settings: dict) -> Tokenizer:
    """The BERT pipeline from a bare ``vocab.txt``: what BertTokenizer builds from the same file."""
    for key, token in _BERT_SPECIAL_TOKENS.items():
        settings.setdefault(key, token)
    settings.setdefault("tokenizer_class", "BertTokenizer")
    cls, sep = str(settings["cls_token"]), str(settings["sep_token"])
    backend = Tokenizer(WordPiece.from_file(vocab_file, unk_token=str(settings["unk_token"])))
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True,
        handle_chinese_chars=settings.get("tokenize_chinese_chars", True),
        strip_accents=settings.get("strip_accents"),
        lowercase=settings.get("do_lower_case", True),
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    missing = [token for token in (cls, sep) if backend.token_to_id(token) is None]
    if missing:
        raise CheckpointError(
            f"{vocab_file} has no {' or '.join(missing)} token, which BERT inputs start and end with. "
            "Pass cls_token=/sep_token= naming tokens the vocabulary has."
        )
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls}:0 $A:0 {sep}:0",
        pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
        special_tokens=[(cls, backend.token_to_id(cls)), (sep, backend.token_to_id(sep))],
    )
    return backend


def _raise_no_tokenizer(location: str, options: HubOptions, config_file: str | None):
    if not os.path.isdir(location):
        # a repo id: let the hub lookup say why (offline and not cached, no such repo, ...)
        try:
            resolve_file(location, TOKENIZER_FILE, options, required=True)
        except CheckpointNotFoundError as error:
            raise CheckpointNotFoundError(
                f"{error} A tokenizer needs {TOKENIZER_FILE} (or a WordPiece {VOCAB_FILE})."
            ) from None
    raise CheckpointNotFoundError(_no_tokenizer_message(location, options, config_file))


def _no_tokenizer_message(location: str, options: HubOptions, config_file: str | None) -> str:
    where = os.path.join(location, options.subfolder) if options.subfolder else location
    found = ""
    if os.path.isdir(where):
        present = sorted(os.listdir(where))
        found = f" It holds: {', '.join(present[:12]) or 'nothing'}."
    config_note = f" {CONFIG_FILE} is there, but it does not hold the vocabulary." if config_file else ""
    return (
        f"No tokenizer files in {where!r}: looked for {TOKENIZER_FILE}, {VOCAB_FILE} and a SentencePiece model "
        f"({', '.join(SENTENCEPIECE_FILES)}; plus the optional "
        f"{CONFIG_FILE}, {SPECIAL_TOKENS_MAP_FILE}, {ADDED_TOKENS_FILE}).{config_note}{found} Point to the "
        "folder that holds tokenizer.json (pass subfolder= if it is nested), or re-save the tokenizer with "
        "transformers' tokenizer.save_pretrained(folder), which writes tokenizer.json."
    )
