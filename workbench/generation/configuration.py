"""``GenerationConfig``: how ``generate()`` decodes, as an object and as generation_config.json.

Every field starts unset (``None``). A ``generate()`` call fills the unset fields in this order:
the keyword arguments of the call, the ``generation_config=`` passed to it, ``model.generation_config``
(read from generation_config.json, or built from config.json), then :data:`GLOBAL_DEFAULTS`.
generation_config.json holds only the fields that are set, so the files stay short and a
default can change without rewriting them.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from typing import Any

from ..atomic_folder import staged_save
from ..errors import ConfigError
from ..hub import HubOptions, resolve_file
from ..hub_push import PushToHubMixin
from ..io import atomic_write_text

logger = logging.getLogger(__name__)

GENERATION_CONFIG_NAME = "generation_config.json"

# every field a GenerationConfig knows, grouped as the reference documents them
FIELDS: tuple[str, ...] = (
    # length and stopping
    "max_length", "max_new_tokens", "min_length", "min_new_tokens", "early_stopping", "max_time", "stop_strings",
    # strategy and cache
    "do_sample", "num_beams", "use_cache", "cache_implementation", "compile_config", "disable_compile",
    # logits manipulation
    "temperature", "top_k", "top_p", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff", "repetition_penalty",
    "encoder_repetition_penalty", "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size",
    "bad_words_ids", "renormalize_logits", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "sequence_bias", "guidance_scale",
    # what generate() returns
    "num_return_sequences", "output_attentions", "output_hidden_states", "output_scores", "output_logits",
    "return_dict_in_generate",
    # special tokens
    "pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id",
    # assisted decoding
    "is_assistant", "num_assistant_tokens", "num_assistant_tokens_schedule", "assistant_confidence_threshold",
    "prompt_lookup_num_tokens", "max_matching_ngram_size",
)

# what an unset field means when generate() runs (the reference's model-agnostic defaults)
GLOBAL_DEFAULTS: dict[str, Any] = {
    "max_length": 20,
    "min_length": 0,
    "do_sample": False,
    "use_cache": True,
    "early_stopping": False,
    "num_beams": 1,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "typical_p": 1.0,
    "repetition_penalty": 1.0,
    "length_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "num_return_sequences": 1,
    "output_scores": False,
    "return_dict_in_generate": False,
    "remove_invalid_values": False,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
    "encoder_repetition_penalty": 1.0,
    "num_assistant_tokens": 20,
    "num_assistant_tokens_schedule": "constant",
    "assistant_confidence_threshold": 0.4,
}

# sampling-only and beam-only flags: set without sampling / beams they do nothing (a warning says so)
SAMPLING_FLAGS = {"temperature": 1.0, "top_p": 1.0, "top_k": 50, "min_p": None, "typical_p": 1.0}
BEAM_FLAGS = {"early_stopping": False, "length_penalty": 1.0}
EXTRA_OUTPUT_FLAGS = ("output_attentions", "output_hidden_states", "output_scores", "output_logits")
# arguments of generate() itself, which people sometimes put in the config by mistake
GENERATE_ARGUMENTS = ("logits_processor", "stopping_criteria", "prefix_allowed_tokens_fn", "assistant_model",
                      "streamer", "synced_gpus", "negative_prompt_ids", "negative_prompt_attention_mask")
# written by the reference for its own bookkeeping; never a generation setting
_METADATA = ("transformers_version", "_commit_hash", "_original_object_hash")


class CompileConfig:
    """How ``generate()`` compiles the decode step (``torch.compile`` arguments), as in the reference.

    Compiling happens with a static cache (``cache_implementation="static"``) on an accelerator,
    or on the CPU when a ``compile_config`` is passed (compiling a model takes seconds to minutes
    there, and pays off only over long generations)::

        model.generate(ids, cache_implementation="static", compile_config=CompileConfig(), max_new_tokens=256)
    """

    def __init__(self, fullgraph: bool = False, dynamic: bool | None = False, backend: str = "inductor",
                 mode: str | None = "reduce-overhead", options: dict | None = None) -> None:
        self.fullgraph, self.dynamic, self.backend, self.mode, self.options = fullgraph, dynamic, backend, mode, options

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.__dict__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompileConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"CompileConfig({self.to_dict()})"


class GenerationConfig(PushToHubMixin):
    """The settings of a ``generate()`` call.

    >>> config = GenerationConfig(max_new_tokens=8, do_sample=True, top_p=0.9)
    >>> config.num_beams is None  # unset: generate() will use GLOBAL_DEFAULTS["num_beams"] == 1
    True

    Strategies: greedy (the default), sampling (``do_sample=True``), beam search (``num_beams > 1``)
    and beam sampling (both). Unknown keyword arguments are kept as attributes (a checkpoint's
    generation_config.json may carry keys of its own), and :meth:`validate` rejects settings that
    cannot work together, naming the argument and the fix.
    """

    def __init__(self, **kwargs: Any) -> None:
        user_set = set(kwargs)
        for name in FIELDS:
            setattr(self, name, kwargs.pop(name, None))
        for name in _METADATA:
            kwargs.pop(name, None)
        self._from_model_config = bool(kwargs.pop("_from_model_config", False))
        for name, value in kwargs.items():  # keys of the checkpoint's own
            setattr(self, name, value)
        self.validate(user_set=user_set)

    # ------------------------------------------------------------------------------------------
    # building

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any) -> "GenerationConfig":
        return cls(**{**config_dict, **kwargs})

    @classmethod
    def from_model_config(cls, model_config: Any) -> "GenerationConfig":
        """The generation settings a model's config.json implies: its special tokens, plus any
        generation field an old config.json still carries (``max_length``, ``num_beams``, ...)."""
        values = model_config if isinstance(model_config, dict) else model_config.to_dict()
        known = {k: v for k, v in values.items() if k in FIELDS and v is not None}
        for nested in ("decoder", "text_config", "generator"):  # composite models keep them one level down
            inner = values.get(nested)
            if isinstance(inner, dict):
                for key, value in inner.items():
                    if key in FIELDS and value is not None:
                        known.setdefault(key, value)
        config = cls(**known)
        config._from_model_config = True
        return config

    @classmethod
    def from_pretrained(cls, pretrained_model_name: str | os.PathLike, config_file_name: str | None = None,
                        **kwargs: Any) -> "GenerationConfig":
        """Read generation_config.json from a folder or Hub repo; keyword arguments override its keys."""
        options = HubOptions.pop_from(kwargs)
        path = resolve_file(pretrained_model_name, config_file_name or GENERATION_CONFIG_NAME, options)
        return cls.from_dict(_read_json(path), **kwargs)

    def update(self, **kwargs: Any) -> dict[str, Any]:
        """Set the keyword arguments that are generation fields; return the others (model inputs)."""
        used = {k: v for k, v in kwargs.items() if k in FIELDS or k in self.__dict__ and not k.startswith("_")}
        for name, value in used.items():
            setattr(self, name, value)
        self.validate(user_set=set(used))
        return {k: v for k, v in kwargs.items() if k not in used}

    # ------------------------------------------------------------------------------------------
    # checking

    def validate(self, user_set: set[str] | None = None) -> None:
        """Raise ``ValueError`` for settings that cannot work; warn about flags that do nothing.

        ``user_set`` names the fields the caller set just now: only those trigger the
        "this flag does nothing here" warnings, so a checkpoint's own defaults stay quiet.
        """
        for check in (_check_lengths, _check_strategy, _check_sampling, _check_penalties, _check_tokens,
                      _check_not_generate_arguments):
            check(self)
        _warn_unused_flags(self, user_set)

    def get_generation_mode(self, assistant_model: Any = None) -> str:
        """"greedy_search", "sample", "beam_search", "beam_sample" or "assisted_generation"."""
        beams = self.num_beams or 1
        if beams > 1:
            return "beam_sample" if self.do_sample else "beam_search"
        if assistant_model is not None or self.prompt_lookup_num_tokens is not None:
            return "assisted_generation"
        return "sample" if self.do_sample else "greedy_search"

    # ------------------------------------------------------------------------------------------
    # dict, JSON and files

    def to_dict(self) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in self.__dict__.items() if not k.startswith("_")}
        if self._from_model_config:
            out["_from_model_config"] = True
        return out

    def to_diff_dict(self) -> dict[str, Any]:
        """Only the fields that are set (every default is ``None``)."""
        return {k: v for k, v in self.to_dict().items() if v is not None}

    def to_json_string(self, use_diff: bool = True) -> str:
        values = self.to_diff_dict() if use_diff else self.to_dict()
        values.pop("compile_config", None)  # an object of this process, not a setting to save (as in the reference)
        return json.dumps(values, indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file_path: str | os.PathLike, use_diff: bool = True) -> None:
        atomic_write_text(json_file_path, self.to_json_string(use_diff))

    def save_pretrained(self, save_directory: str | os.PathLike, config_file_name: str | None = None,
                        push_to_hub: bool = False, **kwargs: Any) -> None:
        """Write generation_config.json (the set fields only), after checking the settings;
        ``push_to_hub=True`` then uploads it (``repo_id=``, ``token=``, ...)."""
        pending_push = self._start_push(save_directory, push_to_hub, kwargs)
        self.validate()
        with staged_save(save_directory) as folder:  # the folder's other files are kept
            self.to_json_file(os.path.join(folder, config_file_name or GENERATION_CONFIG_NAME))
        if pending_push is not None:
            pending_push.finish()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GenerationConfig) and self.to_diff_dict() == other.to_diff_dict()

    def __hash__(self) -> int:
        return hash(self.to_json_string())

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"


def merged_generation_config(
    model_config: GenerationConfig | None, passed: GenerationConfig | None, kwargs: dict[str, Any]
) -> tuple[GenerationConfig, dict[str, Any]]:
    """The settings of one ``generate()`` call, and the keyword arguments left for the model.

    Precedence: ``kwargs`` > ``passed`` > ``model_config`` > :data:`GLOBAL_DEFAULTS`. Nothing
    given is modified: the call works on a copy.
    """
    config = copy.deepcopy(passed) if passed is not None else GenerationConfig()
    for name, value in (model_config.to_dict() if model_config is not None else {}).items():
        if getattr(config, name, None) is None and not name.startswith("_"):
            setattr(config, name, copy.deepcopy(value))
    for name, value in GLOBAL_DEFAULTS.items():
        if getattr(config, name) is None:
            setattr(config, name, value)
    model_kwargs = config.update(**kwargs)
    return config, model_kwargs


# ---------------------------------------------------------------------------------------------
# checks (each raises ValueError naming the argument and the fix)


def _check_lengths(c: GenerationConfig) -> None:
    for name in ("max_length", "max_new_tokens"):
        value = getattr(c, name)
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise ValueError(f"`{name}` must be a positive integer, but is {value!r}.")
    for name in ("min_length", "min_new_tokens", "no_repeat_ngram_size"):
        value = getattr(c, name)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ValueError(f"`{name}` must be a non-negative integer, but is {value!r}.")
    if c.max_time is not None and not c.max_time > 0:
        raise ValueError(f"`max_time` must be a positive number of seconds, but is {c.max_time!r}.")
    if c.stop_strings is not None:
        strings = [c.stop_strings] if isinstance(c.stop_strings, str) else c.stop_strings
        if not strings or not all(isinstance(s, str) and s for s in strings):
            raise ValueError(f"`stop_strings` must be a non-empty string or list of non-empty strings, not {c.stop_strings!r}.")


def _check_strategy(c: GenerationConfig) -> None:
    if c.early_stopping not in (None, True, False, "never"):
        raise ValueError(f"`early_stopping` must be True, False or 'never', but is {c.early_stopping!r}.")
    if c.num_beams is not None and (not isinstance(c.num_beams, int) or c.num_beams < 1):
        raise ValueError(f"`num_beams` must be a positive integer, but is {c.num_beams!r}.")
    returns = c.num_return_sequences
    if returns is not None and (not isinstance(returns, int) or returns < 1):
        raise ValueError(f"`num_return_sequences` must be a positive integer, but is {returns!r}.")
    if returns is not None and returns > 1:
        beams = c.num_beams or 1
        if beams == 1 and not c.do_sample:
            raise ValueError(
                f"Greedy decoding returns one sequence per prompt, but `num_return_sequences` is {returns}. "
                f"Set `do_sample=True` (several samples) or `num_beams>={returns}` (the best beams)."
            )
        if beams > 1 and returns > beams:
            raise ValueError(
                f"`num_return_sequences` ({returns}) must be at most `num_beams` ({beams}): beam search can only "
                f"return the beams it keeps. Raise `num_beams` to {returns} or lower `num_return_sequences`."
            )


def _check_sampling(c: GenerationConfig) -> None:
    if c.do_sample is not True:
        return
    if c.temperature is not None and (not isinstance(c.temperature, (int, float)) or c.temperature <= 0):
        hint = " For greedy decoding set `do_sample=False` instead." if c.temperature == 0 else ""
        raise ValueError(f"`temperature` must be a strictly positive float when sampling (`do_sample=True`), "
                         f"but is {c.temperature!r}.{hint}")
    if c.top_p is not None and not 0 < c.top_p <= 1:
        raise ValueError(f"`top_p` must be in (0, 1] when sampling, but is {c.top_p!r}. Use 1.0 to turn nucleus filtering off.")
    if c.top_k is not None and (not isinstance(c.top_k, int) or c.top_k < 0):
        raise ValueError(f"`top_k` must be a non-negative integer (0 turns it off), but is {c.top_k!r}.")
    if c.min_p is not None and not 0 <= c.min_p <= 1:
        raise ValueError(f"`min_p` must be in [0, 1], but is {c.min_p!r}.")
    if c.typical_p is not None and not 0 < c.typical_p <= 1:
        raise ValueError(f"`typical_p` must be in (0, 1], but is {c.typical_p!r}. Use 1.0 to turn it off.")


def _check_penalties(c: GenerationConfig) -> None:
    if c.repetition_penalty is not None and not c.repetition_penalty > 0:
        raise ValueError(f"`repetition_penalty` must be strictly positive (1.0 means no penalty), "
                         f"but is {c.repetition_penalty!r}.")
    if c.bad_words_ids is not None:
        words = c.bad_words_ids
        if not isinstance(words, list) or not words or not all(
            isinstance(w, list) and w and all(isinstance(t, int) and t >= 0 for t in w) for w in words
        ):
            raise ValueError(f"`bad_words_ids` must be a non-empty list of lists of token ids, like [[12], [7, 8]], "
                             f"but is {words!r}.")


def _check_tokens(c: GenerationConfig) -> None:
    if c.pad_token_id is not None and isinstance(c.pad_token_id, int) and c.pad_token_id < 0:
        logger.warning("`pad_token_id` is %s; a negative pad token breaks batched generation. Set "
                       "model.generation_config.pad_token_id to a real token id.", c.pad_token_id)
    if c.suppress_tokens is None:
        return
    for name in ("forced_bos_token_id", "forced_eos_token_id"):
        forced = getattr(c, name)
        if forced is None:
            continue
        forced = {forced} if isinstance(forced, int) else set(forced)
        if forced and forced <= set(c.suppress_tokens):
            raise ValueError(
                f"Every token of `{name}` ({sorted(forced)}) is also in `suppress_tokens`, so no token could be "
                f"generated at that step. Remove them from one of the two (to delay the end, use `min_new_tokens`)."
            )


def _check_not_generate_arguments(c: GenerationConfig) -> None:
    for name in GENERATE_ARGUMENTS:
        if name in c.__dict__:
            raise ValueError(f"`{name}` is an argument of generate(), not a GenerationConfig field: "
                             "pass it to generate() directly.")


def _warn_unused_flags(c: GenerationConfig, user_set: set[str] | None) -> None:
    unused = []
    if c.do_sample is not True:
        unused += [n for n, neutral in SAMPLING_FLAGS.items() if getattr(c, n) not in (None, neutral)]
    if (c.num_beams or 1) == 1:
        unused += [n for n, neutral in BEAM_FLAGS.items() if getattr(c, n) not in (None, neutral)]
    if c.return_dict_in_generate is not True:
        unused += [n for n in EXTRA_OUTPUT_FLAGS if getattr(c, n) is True]
    unused = [n for n in unused if user_set is None or n in user_set]
    if unused:
        logger.warning(
            "These generation flags do nothing with the current settings and are ignored: %s. Sampling flags need "
            "`do_sample=True`, beam flags `num_beams>1`, output flags `return_dict_in_generate=True`.", unused,
        )


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            values = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid JSON ({error}). "
                          "Re-save it with GenerationConfig.save_pretrained(folder).") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a JSON object of generation settings, not {type(values).__name__}.")
    return values


def load_generation_config(model_config: Any, source: str | os.PathLike | None = None,
                           options: HubOptions | None = None) -> GenerationConfig:
    """A model's generation settings: generation_config.json in ``source`` when there is one,
    else what its config implies (:meth:`GenerationConfig.from_model_config`)."""
    if source is not None:
        path = resolve_file(source, GENERATION_CONFIG_NAME, options, required=False)
        if path is not None:
            return GenerationConfig.from_dict(_read_json(path))
    return GenerationConfig.from_model_config(model_config)
