"""``text2text-generation``, ``summarization`` and ``translation``: text in, text out, with an encoder-decoder.

    "the text" ─► prefix (config.task_specific_params[task]["prefix"], e.g. "summarize: ")
              ─► tokenizer ─► batches padded on the right (the encoder's mask hides the padding)
              ─► model.generate() ─► each row cut after its eos ─► decode, special tokens skipped
              ─► [{"generated_text" | "summary_text" | "translation_text": ...}]   (a dict per sequence)

>>> summarizer = pipeline("summarization", model="google-t5/t5-small")                     # doctest: +SKIP
>>> summarizer("The tower is 324 metres tall, about the same height as an 81-storey building ...")
[{'summary_text': 'the tower is 324 metres tall ...'}]
>>> pipeline("translation_en_to_fr", model="google-t5/t5-small")("How old are you?")      # doctest: +SKIP
[{'translation_text': 'Quel âge avez-vous?'}]

The reference library dropped these pipelines in 5.0; workbench keeps its 4.x behaviour:

* T5-style checkpoints carry per-task settings in ``config.task_specific_params`` (``"summarization"``,
  ``"translation_en_to_de"``, ...): their ``prefix`` goes before every input and the rest are
  generation settings. ``translation`` without languages uses the first ``translation_*`` entry.
* Generation settings, strongest first: the call's keywords, the pipeline's, the task's
  ``task_specific_params``, the model's generation config, then the pipeline defaults
  ``max_new_tokens=256, num_beams=4`` (a ``max_length`` set anywhere replaces the first).
* One string gives a list of dicts (one per returned sequence); a list of strings gives a dict
  per string (a list of dicts per string with ``num_return_sequences > 1``).
* ``return_tensors=True`` gives the token ids (``..._token_ids``, a tensor) instead of the text;
  ``return_text=True`` as well keeps both. ``clean_up_tokenization_spaces`` defaults to False and
  ``truncation`` goes to the tokenizer.

Each row of a batch is cut after its own eos before decoding, so a batched call returns exactly
what one-at-a-time calls return, token ids included.
"""

from __future__ import annotations

import enum
import logging
import warnings

import torch

from ..generation.configuration import FIELDS
from .base import Pipeline, with_generation_defaults

logger = logging.getLogger("workbench")

# used when neither the call, the task nor the model's generation config sets them (the reference's 4.x defaults)
DEFAULT_GENERATION = {"max_new_tokens": 256, "num_beams": 4}


class ReturnType(enum.Enum):
    TENSORS = 0
    TEXT = 1


class Text2TextGenerationPipeline(Pipeline):
    """Generate text from text with an encoder-decoder (T5, BART, ...); see the module docstring.

    Options (at construction or per call): ``return_tensors``, ``return_text``, ``return_type``,
    ``clean_up_tokenization_spaces``, ``truncation``, ``stop_sequence`` (its first token ends a
    sequence, as in the reference); every other keyword goes to ``generate()`` (``num_beams``,
    ``max_new_tokens``, ``num_return_sequences``, ``do_sample``, ...).
    """

    task = "text2text-generation"
    return_name = "generated"  # the answer's keys: generated_text / generated_token_ids
    padding_side = "right"  # encoder inputs: BART's absolute positions need the text first

    def __init__(self, model, tokenizer=None, **kwargs):
        if tokenizer is None:
            raise ValueError(f"The {kwargs.get('task') or self.task} pipeline needs a tokenizer: pass tokenizer= "
                             "(an instance or a path).")
        if kwargs.pop("assistant_model", None) is not None:
            raise NotImplementedError("Assisted generation is not available for encoder-decoders in workbench yet: "
                                      "drop assistant_model.")
        self.model, self.tokenizer = model, tokenizer  # _task_settings reads them before Pipeline.__init__
        self.prefix, self.task_settings = self._task_settings(kwargs.get("task") or self.task, kwargs)
        super().__init__(model, tokenizer, **kwargs)

    def _task_settings(self, task: str, kwargs: dict) -> tuple[str, dict]:
        """The input prefix and the generation settings ``config.task_specific_params[task]`` holds."""
        params = dict((getattr(self.model.config, "task_specific_params", None) or {}).get(task) or {})
        prefix = params.pop("prefix", None)
        if prefix is None:
            prefix = getattr(self.model.config, "prefix", None)
        return prefix or "", {k: v for k, v in params.items() if k in FIELDS}

    # --- parameters ----------------------------------------------------------------------------

    def _sanitize_parameters(self, return_tensors=None, return_text=None, return_type=None,
                             clean_up_tokenization_spaces=None, truncation=None, stop_sequence=None,
                             **generate_kwargs):
        pre = {"truncation": truncation} if truncation is not None else {}
        if stop_sequence is not None:
            ids = self.tokenizer.encode(stop_sequence, add_special_tokens=False)
            if not ids:
                raise ValueError(f"stop_sequence={stop_sequence!r} has no tokens: pass a non-empty string.")
            if len(ids) > 1:
                warnings.warn(f"stop_sequence={stop_sequence!r} is {len(ids)} tokens: generation stops at its first "
                              "token, as in the reference.", UserWarning, stacklevel=3)
            generate_kwargs["eos_token_id"] = ids[0]
        post = {}
        returned = _returned(return_tensors, return_text, return_type)
        if returned is not None:
            post["returned"] = returned
        if clean_up_tokenization_spaces is not None:
            post["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        return pre, generate_kwargs, post

    def _generate_kwargs(self, call_kwargs: dict) -> dict:
        """This call's generate() arguments (``call_kwargs``: the call's over the pipeline's) over the
        task's, then the pipeline defaults for what nobody (the model's generation config included)
        set. A generation_config passed to the call stands alone, as in the reference."""
        if "generation_config" in call_kwargs:
            return dict(call_kwargs)
        kwargs = dict(call_kwargs)
        task = dict(self.task_settings)
        for pair in (("max_length", "max_new_tokens"), ("min_length", "min_new_tokens")):
            if any(name in kwargs for name in pair):  # the caller's limit replaces the task's, in either unit
                for name in pair:
                    task.pop(name, None)
        kwargs = {**task, **kwargs}
        chosen = {**self._model_settings(), **kwargs}
        return with_generation_defaults(kwargs, chosen, DEFAULT_GENERATION, self.tokenizer)

    def _model_settings(self) -> dict:
        config = getattr(self.model, "generation_config", None)
        return {} if config is None else {k: v for k, v in config.to_diff_dict().items() if v is not None}

    # --- the three stages ----------------------------------------------------------------------

    def __call__(self, inputs, **kwargs):
        result = super().__call__(inputs, **kwargs)
        if isinstance(inputs, (list, tuple)) and all(len(records) == 1 for records in result):
            return [records[0] for records in result]  # one sequence per text: a dict per text
        return result

    def check_input(self, item) -> None:
        if not isinstance(item, str):
            raise TypeError(f"The {self.task} pipeline takes a string or a list of strings, got "
                            f"{type(item).__name__}: {item!r:.60}")
        if not item.strip():
            raise ValueError(f"The {self.task} pipeline got an empty string: there is nothing to work on.")

    def preprocess(self, text, truncation=None):
        options = {"truncation": truncation} if truncation is not None else {}
        inputs = self.tokenizer(self.prefix + text, return_tensors="pt", **options)
        yield {k: inputs[k] for k in ("input_ids", "attention_mask") if k in inputs}, None

    def _forward(self, model_inputs: dict, **generate_kwargs) -> dict:
        rows, length = model_inputs["input_ids"].shape
        kwargs = self._generate_kwargs(generate_kwargs)
        self.check_inputs(length, *self._length_limits(kwargs))
        output = self.model.generate(**model_inputs, **kwargs)
        sequences = output if isinstance(output, torch.Tensor) else output.sequences  # (rows * n, L)
        n = sequences.shape[0] // rows
        eos = self._eos_ids(kwargs)
        return {"rows": [[_trim(sequence, eos) for sequence in sequences[row * n : (row + 1) * n]]
                         for row in range(rows)]}

    def _unbatch(self, outputs: dict, row: int, length: int | None, batch: dict) -> dict:
        return {"sequences": outputs["rows"][row]}  # _forward already cut each row's padding

    def postprocess(self, chunks, returned=(ReturnType.TEXT,), clean_up_tokenization_spaces=False):
        (outputs, _), = chunks
        records = []
        for sequence in outputs["sequences"]:
            record = {}
            if ReturnType.TEXT in returned:
                record[f"{self.return_name}_text"] = self.tokenizer.decode(
                    sequence.tolist(), skip_special_tokens=True, clean_up_tokenization_spaces=clean_up_tokenization_spaces)
            if ReturnType.TENSORS in returned:
                record[f"{self.return_name}_token_ids"] = sequence
            records.append(record)
        return records

    # --- lengths -------------------------------------------------------------------------------

    def _settings(self, kwargs: dict) -> dict:
        """The generation settings this call's generate() will see (model's, passed config's, keywords)."""
        settings = self._model_settings()
        if kwargs.get("generation_config") is not None:
            settings.update(kwargs["generation_config"].to_diff_dict())
        settings.update(kwargs)
        return {k: v for k, v in settings.items() if v is not None and not k.startswith("_")}

    def _length_limits(self, kwargs: dict) -> tuple[str, int, int]:
        """(the name of the limit in force, the shortest and the longest output it allows)."""
        settings = self._settings(kwargs)
        minimum = settings.get("min_new_tokens", settings.get("min_length", 0))
        if "max_new_tokens" in settings:
            return "max_new_tokens", minimum, settings["max_new_tokens"]
        return "max_length", minimum, settings.get("max_length", 20)

    def check_inputs(self, input_length: int, name: str, min_length: int, max_length: int) -> None:
        """Warn about lengths that look wrong for the task (the summary and translation pipelines do)."""

    def _eos_ids(self, kwargs: dict) -> set[int]:
        """The ids that end a row (after them, a row of a batch gets pad tokens while the others go on)."""
        eos = self._settings(kwargs).get("eos_token_id")
        return set() if eos is None else {eos} if isinstance(eos, int) else set(eos)

    def _pad_value(self, key: str) -> int:
        if key == "input_ids":
            return getattr(self.tokenizer, "pad_token_id", None) or 0
        return 0


class SummarizationPipeline(Text2TextGenerationPipeline):
    """Summarize texts: ``[{"summary_text": ...}]``. T5 checkpoints get their ``"summarize: "`` prefix and
    summary settings from ``config.task_specific_params["summarization"]``."""

    task = "summarization"
    return_name = "summary"

    def check_inputs(self, input_length: int, name: str, min_length: int, max_length: int) -> None:
        if max_length < min_length:
            logger.warning("Your min_length=%d must be inferior than your %s=%d.", min_length, name, max_length)
        if input_length < max_length:
            logger.warning(
                "Your %s is set to %d, but your input_length is only %d. Since this is a summarization task, where "
                "outputs shorter than the input are typically wanted, you might consider decreasing %s manually, "
                "e.g. summarizer('...', %s=%d)", name, max_length, input_length, name, name, input_length // 2)


class TranslationPipeline(Text2TextGenerationPipeline):
    """Translate texts: ``[{"translation_text": ...}]``.

    ``pipeline("translation_en_to_fr", ...)`` names the languages (as does ``src_lang="en",
    tgt_lang="fr"``); T5 checkpoints then take the prefix and settings of
    ``config.task_specific_params["translation_en_to_fr"]``. A multilingual tokenizer that builds
    translation inputs itself (the reference's ``_build_translation_inputs(text, src_lang=...,
    tgt_lang=...)`` hook, as mBART's and NLLB's do) gets the languages, and its
    ``forced_bos_token_id`` (the target language) goes to ``generate()``.
    """

    task = "translation"
    return_name = "translation"

    def _task_settings(self, task: str, kwargs: dict) -> tuple[str, dict]:
        source, target = kwargs.get("src_lang"), kwargs.get("tgt_lang")
        params = getattr(self.model.config, "task_specific_params", None) or {}
        if source and target:
            task = f"translation_{source}_to_{target}"
        elif task == "translation":  # the reference's fallback: the checkpoint's first translation task
            task = next((key for key in params if key.startswith("translation")), task)
            if task != "translation":
                warnings.warn(f'"translation" task was used, instead of "translation_XX_to_YY", defaulting to '
                              f'"{task}"', UserWarning, stacklevel=4)
                source, _, target = task.removeprefix("translation_").partition("_to_")
                kwargs.setdefault("src_lang", source)
                kwargs.setdefault("tgt_lang", target)
        kwargs["task"] = task
        return super()._task_settings(task, kwargs)

    def _sanitize_parameters(self, src_lang=None, tgt_lang=None, **kwargs):
        pre, fwd, post = super()._sanitize_parameters(**kwargs)
        if src_lang is not None:
            pre["src_lang"] = src_lang
        if tgt_lang is not None:
            pre["tgt_lang"] = tgt_lang
        return pre, fwd, post

    def _check_parameters(self, pre: dict, fwd: dict, post: dict) -> None:
        # the stages are this call's own copies: the target language's forced first token joins
        # the generate() arguments here, once the call's languages are merged with the pipeline's
        if hasattr(self.tokenizer, "_build_translation_inputs") and "forced_bos_token_id" not in fwd:
            built = self.tokenizer._build_translation_inputs("", return_tensors="pt", src_lang=pre.get("src_lang"),
                                                             tgt_lang=pre.get("tgt_lang"))
            if built.get("forced_bos_token_id") is not None:
                fwd["forced_bos_token_id"] = int(built["forced_bos_token_id"])

    def preprocess(self, text, truncation=None, src_lang=None, tgt_lang=None):
        if not hasattr(self.tokenizer, "_build_translation_inputs"):
            yield from super().preprocess(text, truncation=truncation)
            return
        options = {"truncation": truncation} if truncation is not None else {}
        inputs = self.tokenizer._build_translation_inputs(self.prefix + text, return_tensors="pt", src_lang=src_lang,
                                                          tgt_lang=tgt_lang, **options)
        yield {k: inputs[k] for k in ("input_ids", "attention_mask") if k in inputs}, None

    def check_inputs(self, input_length: int, name: str, min_length: int, max_length: int) -> None:
        if input_length > 0.9 * max_length:  # a translation is about as long as its source
            logger.warning("Your input_length: %d is bigger than 0.9 * %s: %d. You might consider increasing your %s "
                           "manually, e.g. translator('...', %s=400)", input_length, name, max_length, name, name)


def _returned(tensors, text, return_type) -> tuple[ReturnType, ...] | None:
    """What each record holds: the text, the token ids, or both (``return_text=True, return_tensors=True``)."""
    if return_type is not None:
        return (ReturnType(getattr(return_type, "value", return_type)),)
    if tensors is None and text is None:
        return None
    wanted = tuple(kind for kind, on in ((ReturnType.TEXT, text if text is not None else not tensors),
                                        (ReturnType.TENSORS, bool(tensors))) if on)
    if not wanted:
        raise ValueError("return_text=False and return_tensors=False leave nothing to return: set one to True.")
    return wanted


def _trim(sequence: torch.Tensor, eos: set[int]) -> torch.Tensor:
    """A row up to its first eos after the decoder's start token (BART starts from eos itself):
    after it come pad tokens only while other rows of the batch go on."""
    ids = sequence.tolist()
    for position in range(1, len(ids)):
        if ids[position] in eos:
            return sequence[: position + 1].clone()
    return sequence.clone()
