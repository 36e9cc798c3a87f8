"""``generate()``: from the caller's arguments to a decoding strategy.

    settings (kwargs > generation_config > model.generation_config > defaults)
    ─► the prompt (ids, special tokens, mask, positions, copies for beams/samples; an
       encoder-decoder encodes its input once and prompts its decoder with the start token)
    ─► lengths (max_new_tokens / max_length, min_new_tokens / min_length)
    ─► logits processors and stopping criteria from the settings, merged with the caller's
    ─► greedy_search / sample / beam_search / assisted_decoding

``PreTrainedModel.generate`` hands over to :func:`generate` here.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

import torch

from ..nn.cache import EncoderDecoderCache
from .assisted import assisted_decoding
from .beam_search import beam_search
from .caching import prepare_cache
from .configuration import GenerationConfig, merged_generation_config
from .decoding import greedy_search, sample
from .inputs import (
    InputNames, SpecialTokens, check_model_kwargs, decoder_prompt, encode_once, expand_batch, forward_accepts,
    infer_attention_mask, positions_from_mask, special_tokens, start_ids, warn_if_right_padded,
)
from .logits_process import (
    ForcedBOSTokenLogitsProcessor, ForcedEOSTokenLogitsProcessor, InfNanRemoveLogitsProcessor, LogitNormalization,
    LogitsProcessorList, MinLengthLogitsProcessor, MinNewTokensLengthLogitsProcessor, MinPLogitsWarper,
    NoBadWordsLogitsProcessor, NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor,
    SuppressTokensAtBeginLogitsProcessor, SuppressTokensLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper,
    TopPLogitsWarper, TypicalLogitsWarper,
)
from .stopping_criteria import (
    EosTokenCriteria, MaxLengthCriteria, MaxTimeCriteria, StoppingCriteria, StoppingCriteriaList, StopStringCriteria,
)

logger = logging.getLogger(__name__)

STRATEGIES = {"greedy_search": greedy_search, "sample": sample, "beam_search": beam_search, "beam_sample": beam_search}
# settings workbench reads but does not act on yet: a non-neutral value is reported, not silently dropped
UNSUPPORTED = {"epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "sequence_bias": None, "guidance_scale": None,
               "exponential_decay_length_penalty": None, "encoder_repetition_penalty": 1.0,
               "encoder_no_repeat_ngram_size": 0,
               "penalty_alpha": None, "num_beam_groups": 1, "dola_layers": None}


@torch.no_grad()
def generate(model, input_ids=None, attention_mask=None, generation_config=None, logits_processor=None,
             stopping_criteria=None, streamer=None, assistant_model=None, **kwargs):
    """Generate token ids for ``input_ids`` (B, T); see ``PreTrainedModel.generate``.

    ``logits_observer=fn`` (workbench only, not in the reference) calls ``fn(processor, input_ids,
    before, after)`` after each logits processor at each step (``LogitsProcessorList.observer``)."""
    if attention_mask is not None and not isinstance(attention_mask, torch.Tensor) and generation_config is None:
        attention_mask, generation_config = None, attention_mask  # the reference's order: (inputs, generation_config)
    if "inputs" in kwargs:  # the reference's name for the prompt
        if input_ids is not None:
            raise ValueError("Pass the prompt once: as input_ids or as inputs, not both.")
        input_ids = kwargs.pop("inputs")
    main_input = getattr(model, "main_input_name", "input_ids")
    if main_input != "input_ids" and main_input in kwargs:  # generate(input_features=...) for Whisper
        if input_ids is not None:
            raise ValueError(f"Pass the input once: positionally or as {main_input}=, not both.")
        input_ids = kwargs.pop(main_input)
    if isinstance(input_ids, Mapping):
        input_ids, attention_mask = _unpack_encoding(input_ids, attention_mask, kwargs)
    tokenizer = kwargs.pop("tokenizer", None)
    logits_observer = kwargs.pop("logits_observer", None)  # workbench's own: see LogitsProcessorList.observer
    if kwargs.get("inputs_embeds") is not None:
        raise NotImplementedError("generate(inputs_embeds=...) is not supported yet: pass input_ids.")
    explicit_max = _set_somewhere("max_length", kwargs, generation_config, model)
    explicit_min = _set_somewhere("min_length", kwargs, generation_config, model)
    config, model_kwargs = merged_generation_config(_model_generation_config(model), generation_config, kwargs)
    check_model_kwargs(model, model_kwargs)
    mode = config.get_generation_mode(assistant_model)
    if mode == "assisted_generation" and assistant_model is None:
        raise NotImplementedError("Prompt-lookup decoding (prompt_lookup_num_tokens=) is not available in workbench yet: "
                                  "drop it, or pass an assistant_model.")
    if mode == "assisted_generation" and _is_encoder_decoder(model):
        raise NotImplementedError("Assisted generation is not available for encoder-decoders in workbench yet: "
                                  "drop assistant_model.")
    if assistant_model is not None and mode != "assisted_generation":
        logger.warning("assistant_model is used with greedy decoding only; with %s it is ignored.", mode)
    if streamer is not None and config.num_beams > 1:
        raise ValueError("Streaming is not available with beam search (num_beams > 1): set num_beams=1 or drop streamer.")
    _report_unsupported(config)

    input_ids, model_kwargs, tokens = _prepare_prompt(model, input_ids, attention_mask, config, model_kwargs)
    input_ids, model_kwargs = expand_batch(input_ids, model_kwargs, max(config.num_beams, config.num_return_sequences))
    prompt_len = input_ids.shape[1]
    _set_lengths(model, config, prompt_len, explicit_max, explicit_min)
    _prepare_model_kwargs(model, config, model_kwargs)

    # the repetition penalty skips the left padding of the prompt the model continues (the decoder's)
    prompt_mask = model_kwargs.get(InputNames.for_model(model).mask)
    processors = build_logits_processors(config, tokens, prompt_len, prompt_mask, logits_processor)
    processors.observer = logits_observer
    criteria = build_stopping_criteria(config, tokens, model, tokenizer, stopping_criteria)
    if streamer is not None:
        streamer.put(input_ids.cpu())
    if mode == "assisted_generation":
        return assisted_decoding(model, input_ids, processors, criteria, config, tokens, model_kwargs, assistant_model,
                                 streamer=streamer)
    strategy = STRATEGIES[mode]
    return strategy(model, input_ids, processors, criteria, config, tokens, model_kwargs, streamer=streamer)


def _unpack_encoding(encoding: Mapping, attention_mask, kwargs: dict):
    """``generate(tokenizer(...))``: a tokenizer's output (a ``BatchEncoding``, which is what
    ``apply_chat_template(..., return_tensors="pt")`` returns) passed where the ids go."""
    if "input_ids" not in encoding:
        raise ValueError(f"generate() got a mapping without input_ids as its prompt (keys: {sorted(encoding)}): "
                         "pass the token ids, or the tokenizer's output with **inputs.")
    for key, value in encoding.items():
        if key == "attention_mask":
            attention_mask = value if attention_mask is None else attention_mask
        elif key != "input_ids":  # as generate(**encoding) would pass them
            kwargs.setdefault(key, value)
    return encoding["input_ids"], attention_mask


# ---------------------------------------------------------------------------------------------
# settings


def _model_generation_config(model) -> GenerationConfig:
    config = getattr(model, "generation_config", None)
    return config if config is not None else GenerationConfig.from_model_config(model.config)


def _set_somewhere(name: str, kwargs: dict, passed: GenerationConfig | None, model) -> bool:
    """Whether the caller or the model chose ``name`` (else the model-agnostic default applies)."""
    model_config = getattr(model, "generation_config", None)
    return any(getattr(c, name, None) is not None for c in (passed, model_config)) or kwargs.get(name) is not None


def _report_unsupported(config: GenerationConfig) -> None:
    used = [n for n, neutral in UNSUPPORTED.items() if getattr(config, n, None) not in (None, neutral)]
    if used:
        logger.warning("workbench does not implement these generation settings yet and ignores them: %s.", used)


def _set_lengths(model, config: GenerationConfig, prompt_len: int, explicit_max: bool, explicit_min: bool) -> None:
    """Turn max_new_tokens / min_new_tokens into total lengths, the unit the criteria count in."""
    if config.max_new_tokens is not None:
        if explicit_max:
            logger.warning("Both max_new_tokens (=%d) and max_length (=%d) are set: max_new_tokens wins.",
                           config.max_new_tokens, config.max_length)
        config.max_length = prompt_len + config.max_new_tokens
    elif not explicit_max:
        warnings.warn(f"Using the default max_length (={config.max_length}) new tokens: set max_new_tokens to "
                      "control how much is generated.", UserWarning, stacklevel=3)
        config.max_length += prompt_len
        limit = getattr(model.config, "max_position_embeddings", None)
        if limit is not None:
            config.max_length = min(config.max_length, limit)
    if config.min_new_tokens is not None:
        if explicit_min:
            logger.warning("Both min_new_tokens (=%d) and min_length (=%d) are set: min_new_tokens wins.",
                           config.min_new_tokens, config.min_length)
        config.min_length = prompt_len + config.min_new_tokens
    if prompt_len >= config.max_length:
        raise ValueError(f"The prompt has {prompt_len} tokens, but max_length is {config.max_length}: nothing would be "
                         "generated. Set max_new_tokens (tokens to add after the prompt) instead.")
    if config.min_length > config.max_length:
        warnings.warn(f"min_length ({config.min_length}, prompt included) is more than max_length ({config.max_length}): "
                      "generation stops at max_length. Lower min_new_tokens or raise max_new_tokens.", UserWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------------
# the prompt


def _is_encoder_decoder(model) -> bool:
    return bool(getattr(model.config, "is_encoder_decoder", False))


def _prepare_prompt(model, input_ids, attention_mask, config, model_kwargs):
    """Ids, special tokens, attention mask and positions for the prompt (before beam copies)."""
    if _is_encoder_decoder(model):
        return _prepare_encoder_decoder_prompt(model, input_ids, attention_mask, config, model_kwargs)
    if input_ids is None:
        bos = torch.as_tensor(config.bos_token_id) if config.bos_token_id is not None else None
        input_ids = start_ids(model, bos, model_kwargs)
    input_ids = input_ids.to(model.device)
    attention_mask = attention_mask.to(model.device) if attention_mask is not None else None
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}: "
                         "for one prompt use input_ids[None] or the tokenizer's return_tensors='pt'.")
    tokens = special_tokens(config, input_ids.device, input_ids.shape[0], attention_mask is not None)
    warn_if_right_padded(input_ids, attention_mask, tokens.pad)
    if attention_mask is None and forward_accepts(model, "attention_mask"):
        attention_mask = infer_attention_mask(input_ids, tokens)
    if attention_mask is not None and attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must be 2-D (batch, length) 0/1, got shape {tuple(attention_mask.shape)}.")
    if attention_mask is not None and model_kwargs.get("position_ids") is None and forward_accepts(model, "position_ids"):
        model_kwargs["position_ids"] = positions_from_mask(attention_mask)
    if attention_mask is not None and not bool(attention_mask.all()):
        model_kwargs["attention_mask"] = attention_mask  # an all-ones mask changes nothing: leave it out
    return input_ids, model_kwargs, tokens


def _prepare_encoder_decoder_prompt(model, input_ids, attention_mask, config, model_kwargs):
    """Encode ``input_ids`` once; the returned ids are the decoder's prompt (the start token).

    As in the reference, no attention mask is inferred from pad tokens here: pass the tokenizer's
    ``attention_mask`` with a padded batch."""
    if input_ids is not None:
        input_ids = input_ids.to(model.device)
        if input_ids.dim() != 2 and getattr(model, "main_input_name", "input_ids") == "input_ids":
            raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}: "
                             "for one input use input_ids[None] or the tokenizer's return_tensors='pt'.")
    if attention_mask is not None:
        model_kwargs["attention_mask"] = attention_mask.to(model.device)  # the encoder's, and cross-attention's
    model_kwargs = encode_once(model, input_ids, config, model_kwargs)
    batch = model_kwargs["encoder_outputs"][0].shape[0]
    tokens = special_tokens(config, model.device, batch, attention_mask is not None)
    decoder_ids, model_kwargs = decoder_prompt(model, config, batch, model_kwargs)
    return decoder_ids, model_kwargs, tokens


def _prepare_model_kwargs(model, config: GenerationConfig, model_kwargs: dict[str, Any]) -> None:
    """Forward arguments that stay the same every step."""
    if forward_accepts(model, "logits_to_keep"):
        model_kwargs.setdefault("logits_to_keep", 1)  # only the last position's logits are needed
    model_kwargs["use_cache"] = bool(config.use_cache)
    if _is_encoder_decoder(model):
        if config.use_cache and model_kwargs.get("past_key_values") is None:
            model_kwargs["past_key_values"] = EncoderDecoderCache()
    else:
        prepare_cache(model, config, model_kwargs)
    for flag in ("output_attentions", "output_hidden_states"):
        if getattr(config, flag):
            model_kwargs[flag] = True


# ---------------------------------------------------------------------------------------------
# processors and criteria


def build_logits_processors(config: GenerationConfig, tokens: SpecialTokens, prompt_len: int,
                            attention_mask: torch.Tensor | None, custom: LogitsProcessorList | None) -> LogitsProcessorList:
    """The processors the settings ask for, in the reference's order; the caller's list replaces
    those of the same class and adds the rest before the sampling warpers."""
    eos, device = tokens.eos, tokens.eos.device if tokens.eos is not None else "cpu"
    found = LogitsProcessorList()
    if config.repetition_penalty is not None and config.repetition_penalty != 1.0:
        # left padding is not part of the text: leave it out of the penalty
        padding = (attention_mask != 0).int().argmax(1) if attention_mask is not None else None
        found.append(RepetitionPenaltyLogitsProcessor(float(config.repetition_penalty), prompt_ignore_length=padding))
    if config.no_repeat_ngram_size:
        found.append(NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size))
    if config.bad_words_ids is not None:
        found.append(NoBadWordsLogitsProcessor(config.bad_words_ids, eos))
    if eos is not None and config.min_length:
        found.append(MinLengthLogitsProcessor(config.min_length, eos, device=device))
    if eos is not None and config.min_new_tokens:
        found.append(MinNewTokensLengthLogitsProcessor(prompt_len, config.min_new_tokens, eos, device=device))
    if config.forced_bos_token_id is not None:
        found.append(ForcedBOSTokenLogitsProcessor(config.forced_bos_token_id))
    if config.forced_eos_token_id is not None:
        found.append(ForcedEOSTokenLogitsProcessor(config.max_length, config.forced_eos_token_id, device=device))
    if config.remove_invalid_values:
        found.append(InfNanRemoveLogitsProcessor())
    if config.suppress_tokens is not None:
        found.append(SuppressTokensLogitsProcessor(config.suppress_tokens, device=device))
    if config.begin_suppress_tokens is not None:
        begin = prompt_len + 1 if prompt_len <= 1 and config.forced_bos_token_id is not None else prompt_len
        found.append(SuppressTokensAtBeginLogitsProcessor(config.begin_suppress_tokens, begin, device=device))
    processors = merge_with_custom(found, custom or LogitsProcessorList())
    if config.do_sample:
        processors.extend(_warpers(config, tokens))
    if config.renormalize_logits:
        processors.append(LogitNormalization())
    return processors


def _warpers(config: GenerationConfig, tokens: SpecialTokens) -> list:
    # beam sampling keeps one token more than there are eos tokens, so a beam can always go on
    keep = (tokens.eos.shape[0] + 1 if tokens.eos is not None else 2) if config.num_beams > 1 else 1
    warpers = []
    if config.temperature is not None and config.temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(float(config.temperature)))
    if config.top_k:
        warpers.append(TopKLogitsWarper(config.top_k, min_tokens_to_keep=keep))
    if config.top_p is not None and config.top_p < 1.0:
        warpers.append(TopPLogitsWarper(config.top_p, min_tokens_to_keep=keep))
    if config.min_p is not None:  # after temperature, as llama.cpp does
        warpers.append(MinPLogitsWarper(config.min_p, min_tokens_to_keep=keep))
    if config.typical_p is not None and config.typical_p < 1.0:
        warpers.append(TypicalLogitsWarper(config.typical_p, min_tokens_to_keep=keep))
    return warpers


def build_stopping_criteria(config: GenerationConfig, tokens: SpecialTokens, model, tokenizer,
                            custom: StoppingCriteriaList | None) -> StoppingCriteriaList:
    found = StoppingCriteriaList()
    if config.max_length is not None:
        found.append(MaxLengthCriteria(config.max_length, getattr(model.config, "max_position_embeddings", None)))
    if config.max_time is not None:
        found.append(MaxTimeCriteria(config.max_time))
    if config.stop_strings is not None:
        if tokenizer is None:
            raise ValueError("stop_strings need the tokenizer to read the generated text: pass tokenizer=... to generate().")
        found.append(StopStringCriteria(tokenizer, config.stop_strings))
    if tokens.eos is not None:
        found.append(EosTokenCriteria(tokens.eos))
    return merge_with_custom(found, custom or StoppingCriteriaList())


def merge_with_custom(defaults: list, custom: list) -> list:
    """The caller's processor or criterion replaces a built one of exactly the same class (with
    a warning); the caller's others follow the built ones."""
    merged = type(defaults)()
    for built in defaults:
        same = next((c for c in custom if type(c) is type(built)), None)
        if same is not None:
            kind = "stopping criterion" if isinstance(same, StoppingCriteria) else "logits processor"
            logger.warning("The %s %s passed to generate() replaces the one built from the generation settings.",
                           kind, type(same).__name__)
        merged.append(same if same is not None else built)
    merged.extend(c for c in custom if c not in merged)
    return merged
