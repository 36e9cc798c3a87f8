"""``save_pretrained`` for tokenizers: the files transformers' ``AutoTokenizer`` reads back.

    tokenizer.json            the backend pipeline, with the padding/truncation it was loaded with (a
                              tokenizer with ``saves_tokenizer_json = False`` writes its vocabulary files instead)
    tokenizer_config.json     settings and special tokens (unknown settings are written back unchanged)
    special_tokens_map.json   the special tokens again, for older readers
    chat_template.jinja       the chat template (named extra templates go to additional_chat_templates/*.jinja)

The files go into a staged copy of the folder that then replaces it as a whole (``workbench.atomic_folder``):
a reader sees the old save or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import secrets

from tokenizers import AddedToken

from ..atomic_folder import paths_in, staged_save
from .loading import (ADDED_TOKENS_FILE, CHAT_TEMPLATE_DIR, CHAT_TEMPLATE_FILE, CONFIG_FILE, LEGACY_CHAT_TEMPLATE_FILE,
                      SPECIAL_TOKENS_MAP_FILE, TOKENIZER_FILE)

# what a tokenizer save replaces: the files it writes, and older ones a loader would read beside them
# (added_tokens.json, chat_template.json). Vocabulary files (vocab.txt, merges.txt, *.model) stay: a
# loader reads them only when tokenizer.json is absent, and tools besides transformers may want them.
TOKENIZER_FILES = (TOKENIZER_FILE, CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE, ADDED_TOKENS_FILE, CHAT_TEMPLATE_FILE,
                   LEGACY_CHAT_TEMPLATE_FILE, CHAT_TEMPLATE_DIR)


def save_tokenizer(tokenizer, save_directory, filename_prefix: str | None = None,
                   processor_class: str | None = None) -> tuple[str, ...]:
    """Write the files above; ``processor_class`` is recorded in tokenizer_config.json when a processor
    saves its tokenizer, as the reference records it. The folder is replaced as a whole
    (``workbench.atomic_folder``): the tokenizer's old files go, the others (a model's) stay."""
    prefix = f"{filename_prefix}-" if filename_prefix else ""
    with staged_save(save_directory, owns=[prefix + name for name in TOKENIZER_FILES]) as stage:
        written = _write_tokenizer_files(tokenizer, stage, filename_prefix, processor_class)
    return tuple(paths_in(save_directory, stage, written))


def _write_tokenizer_files(tokenizer, save_directory: str, filename_prefix: str | None,
                           processor_class: str | None) -> list[str]:
    prefix = f"{filename_prefix}-" if filename_prefix else ""

    def path(name: str) -> str:
        return os.path.join(save_directory, prefix + name)

    written = [
        _write(path(CONFIG_FILE), _to_json(tokenizer_config(tokenizer, processor_class))),
        _write(path(SPECIAL_TOKENS_MAP_FILE), _to_json(_special_tokens_map(tokenizer))),
    ]
    written += write_chat_templates(tokenizer.chat_template, save_directory, filename_prefix)
    if tokenizer.saves_tokenizer_json:
        written.append(_write(path(TOKENIZER_FILE), _backend_json(tokenizer)))
    else:  # a vocabulary file of its own (Wav2Vec2CTCTokenizer's vocab.json), as the reference saves it
        written += list(tokenizer.save_vocabulary(save_directory, filename_prefix))
    return written


def tokenizer_config(tokenizer, processor_class: str | None = None) -> dict:
    """The tokenizer_config.json contents: kept settings, then the current state on top."""
    config = dict(tokenizer._settings)
    if processor_class is not None:
        config["processor_class"] = processor_class
    if type(tokenizer).__name__ != "PreTrainedTokenizerFast":
        config["tokenizer_class"] = type(tokenizer).__name__
    config.setdefault("tokenizer_class", "PreTrainedTokenizerFast")
    config.update(
        model_max_length=tokenizer.model_max_length,
        padding_side=tokenizer.padding_side,
        truncation_side=tokenizer.truncation_side,
        model_input_names=list(tokenizer.model_input_names),
        clean_up_tokenization_spaces=tokenizer.clean_up_tokenization_spaces,
    )
    if tokenizer.split_special_tokens:
        config["split_special_tokens"] = True
    if tokenizer.clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output:
        config["clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output"] = True
    for flag in ("add_bos_token", "add_eos_token"):
        if getattr(tokenizer, f"_{flag}") is not None:
            config[flag] = getattr(tokenizer, flag)
    config.update(_special_tokens_map(tokenizer))
    if not tokenizer.saves_tokenizer_json:  # no tokenizer.json to hold the added tokens: the config does
        config["added_tokens_decoder"] = {str(index): token.__getstate__()
                                          for index, token in tokenizer.added_tokens_decoder.items()}
    return _serializable(config)


def _special_tokens_map(tokenizer) -> dict:
    tokens = dict(tokenizer.special_tokens_map)
    if tokenizer.extra_special_tokens:
        tokens["extra_special_tokens"] = tokenizer.extra_special_tokens
    return tokens


def _serializable(value):
    if isinstance(value, AddedToken):
        return {"__type": "AddedToken", **value.__getstate__()}
    if isinstance(value, dict):
        return {str(key): _serializable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_serializable(item) for item in value]
    return value


def _to_json(value: dict) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _backend_json(tokenizer) -> str:
    """tokenizer.json with the padding/truncation it was loaded with, not those of the last call."""
    backend = tokenizer.backend_tokenizer
    if tokenizer._saved_truncation:
        backend.enable_truncation(**tokenizer._saved_truncation)
    else:
        backend.no_truncation()
    if tokenizer._saved_padding:
        backend.enable_padding(**tokenizer._saved_padding)
    else:
        backend.no_padding()
    return backend.to_str(pretty=True)


def write_chat_templates(template, save_directory, filename_prefix: str | None = None) -> list[str]:
    """Write ``template`` as transformers 5 does: chat_template.jinja for a single template (or the
    one named "default"), additional_chat_templates/<name>.jinja for the others. Returns the paths."""
    if template is None:
        return []
    prefix = f"{filename_prefix}-" if filename_prefix else ""
    templates = {"default": template} if isinstance(template, str) else dict(template)
    written = []
    for name, text in templates.items():
        if name == "default":
            written.append(_write(os.path.join(save_directory, prefix + CHAT_TEMPLATE_FILE), text))
            continue
        if os.path.basename(name) != name or name in ("", ".", ".."):
            raise ValueError(f"Chat template name {name!r} is not a plain file name; rename the template.")
        folder = os.path.join(save_directory, prefix + CHAT_TEMPLATE_DIR)
        os.makedirs(folder, exist_ok=True)
        written.append(_write(os.path.join(folder, f"{name}.jinja"), text))
    return written


def _write(path: str, text: str) -> str:
    temporary = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    try:
        # O_EXCL: never write through someone else's file; mode 0o666 lets the umask decide, as open() does
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with open(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path
