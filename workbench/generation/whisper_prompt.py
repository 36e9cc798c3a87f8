"""The tokens Whisper's decoder starts from, per row:

    <|startoftranscript|> <|fr|> <|transcribe|> <|notimestamps|>
          start            language   task        only without timestamps

English-only checkpoints (``is_multilingual`` false) take no language or task. A multilingual one
given no language detects it: one decoder step from the start token, the most likely language token.
Old checkpoints give the same tokens as ``forced_decoder_ids`` ([[1, lang], [2, task], [3, notimestamps]]).
"""

from __future__ import annotations

import logging

import torch

from ..tokenization.whisper_languages import LANGUAGES, TASKS, TO_LANGUAGE_CODE

logger = logging.getLogger(__name__)


def set_language_and_task(config, language=None, task=None, is_multilingual=None) -> None:
    """Put ``language``, ``task`` and ``is_multilingual`` on this call's ``config``, after checking
    the checkpoint can take them."""
    if is_multilingual is not None:
        config.is_multilingual = is_multilingual
    if getattr(config, "is_multilingual", None) is False and (task is not None or language is not None):
        raise ValueError("This Whisper checkpoint is English-only (generation_config.is_multilingual is False): it "
                         "takes no language= or task=. Drop them, or pass is_multilingual=True for a multilingual one.")
    if language is not None:
        if getattr(config, "lang_to_id", None) is None:
            raise ValueError("language= needs generation_config.lang_to_id (language token -> id), which this "
                             "checkpoint's generation config lacks: add it (as in openai/whisper-tiny's).")
        config.language = language
    if task is not None:
        if getattr(config, "task_to_id", None) is None:
            raise ValueError("task= needs generation_config.task_to_id ({'transcribe': id, 'translate': id}), which "
                             "this checkpoint's generation config lacks: add it.")
        config.task = task


def language_token_id(config, language: str) -> int:
    """The id of ``language``'s token: a token ("<|fr|>"), a code ("fr") or a name ("french")."""
    language = language.lower()
    if language in config.lang_to_id:
        token = language
    elif language in TO_LANGUAGE_CODE:
        token = f"<|{TO_LANGUAGE_CODE[language]}|>"
    elif language in LANGUAGES:
        token = f"<|{language}|>"
    else:
        known = list(LANGUAGES) if len(language) == 2 else list(TO_LANGUAGE_CODE)
        raise ValueError(f"Unsupported language: {language}. Language should be one of: {known}.")
    if token not in config.lang_to_id:
        raise ValueError(f"{token} is not a language of this checkpoint (its generation_config.lang_to_id has "
                         f"{len(config.lang_to_id)} languages: {sorted(config.lang_to_id)[:10]}...): add it there "
                         "if the model knows it.")
    return config.lang_to_id[token]


def _forced_prefix(model, config) -> list:
    """The tokens after the start token that ``forced_decoder_ids`` (the old way) fixes."""
    if getattr(config, "task", None) is not None or getattr(config, "language", None) is not None:
        return []  # language= / task= win over the old setting
    forced = getattr(config, "forced_decoder_ids", None) or getattr(model.config, "forced_decoder_ids", None)
    if not forced or forced[0][0] != 1:
        return []
    prefix = []
    for position, (index, token) in enumerate(forced, start=1):
        if index != position:
            raise ValueError(f"forced_decoder_ids {forced} do not follow Whisper's prompt (positions 1, 2, 3, ...): "
                             "set language= and task= instead.")
        prefix.append(token)
    return prefix


def _languages(language, batch_size: int) -> list:
    if isinstance(language, (list, tuple)):
        if any(code is None for code in language):
            raise TypeError("language= is None, one language (e.g. 'en'), or one per row (e.g. ('en', 'fr')); "
                            "the list holds None.")
        if len(language) != batch_size:
            raise ValueError(f"language= lists {len(language)} languages, but the batch has {batch_size} rows: "
                             "give one per row.")
        return list(language)
    return [language] * batch_size


def init_tokens(model, input_features, batch_size: int, config, window: int, model_kwargs) -> torch.Tensor:
    """The decoder's start tokens (B, n) for this call's ``config`` (language, task, timestamps)."""
    prefix = _forced_prefix(model, config)
    language, task = getattr(config, "language", None), getattr(config, "task", None)
    rows = [[config.decoder_start_token_id, *prefix] for _ in range(batch_size)]
    lang_ids = None
    if language is not None:
        lang_ids = [language_token_id(config, code) for code in _languages(language, batch_size)]
    elif getattr(config, "lang_to_id", None) and (not prefix or prefix[0] is None):
        lang_ids = detect_language(model, input_features, model_kwargs.get("encoder_outputs"), config, window).tolist()
    for row in rows:
        if lang_ids is not None:
            if len(row) > 1:
                row[1] = lang_ids.pop(0)
            else:
                row.append(lang_ids.pop(0))
        _set_task(row, config, task, language)
        no_stamps = getattr(config, "no_timestamps_token_id", None)
        if not config.return_timestamps and no_stamps is not None and row[-1] != no_stamps:
            row.append(no_stamps)
        elif config.return_timestamps and row[-1] == no_stamps:
            row.pop()  # a forced <|notimestamps|> goes when timestamps are asked for
        row[:] = [token for token in row if token is not None]
    return torch.tensor(rows, dtype=torch.long, device=model.device)


def _set_task(row: list, config, task, language) -> None:
    task_ids = getattr(config, "task_to_id", None) or {}
    if task is not None:
        if task not in TASKS:
            raise ValueError(f"The task {task!r} is not supported: the task should be one of {list(TASKS)}.")
        row.append(task_ids[task])
    elif language is not None and task_ids and not any(token in task_ids.values() for token in row):
        row.append(task_ids["transcribe"])


def detect_language(model, input_features=None, encoder_outputs=None, generation_config=None,
                    num_segment_frames: int = 3000) -> torch.Tensor:
    """The most likely language token id per row (B,): one decoder step from
    ``<|startoftranscript|>``, argmax over the ids of ``generation_config.lang_to_id``."""
    if (input_features is None) == (encoder_outputs is None):
        raise ValueError("detect_language needs input_features or encoder_outputs (one of them, not both).")
    config = generation_config if generation_config is not None else model.generation_config
    if getattr(config, "lang_to_id", None) is None:
        raise ValueError("detect_language needs generation_config.lang_to_id (the language tokens), which this "
                         "checkpoint lacks: it is probably English-only.")
    if input_features is not None:
        inputs = {"input_features": input_features[:, :, :num_segment_frames]}
        batch = input_features.shape[0]
    else:
        inputs = {"encoder_outputs": encoder_outputs}
        batch = encoder_outputs[0].shape[0]
    start = torch.full((batch, 1), config.decoder_start_token_id, dtype=torch.long, device=model.device)
    with torch.no_grad():
        logits = model(**inputs, decoder_input_ids=start, use_cache=False).logits[:, -1]  # (B, V)
    languages = torch.tensor(list(config.lang_to_id.values()), device=logits.device)
    allowed = torch.full_like(logits, float("-inf"))
    allowed[:, languages] = logits[:, languages]
    return allowed.argmax(-1)
