"""Whisper's sequential long-form transcription: audio longer than one 30-second window, decoded
window by window, as OpenAI's ``transcribe()`` and the reference's ``WhisperForConditionalGeneration.generate``
do for more than 3,000 feature frames.

    features (B, mels, frames), seek = 0 per row
    while some row has seek < its frames:
        window = frames [seek, seek + 3000) of each unfinished row (zero-padded)
        prompt = [<|startofprev|> previous text]  <|startoftranscript|> ...      (condition_on_prev_tokens)
        for temperature in temperatures:                                          (fallback)
            tokens = generate(window, prompt)  with timestamp rules: num_beams beams at 0, sampling above 0
                                               (sampling drops the beams for the windows after, as the reference)
            needs another try: zlib compression ratio of the token ids too high, or mean log-prob too low;
            skipped as silence: no-speech probability high and mean log-prob low
        segments = text between timestamp pairs; seek moves to the last complete timestamp
                   (or past the window when the text ends with a single timestamp)

``generate_long_form`` returns the segments' tokens joined per row (right-padded with the pad token);
``num_return_sequences`` copies of each row are rows of their own. With
``return_segments=True`` / ``return_dict_in_generate=True`` it returns a dict that also holds
``segments``: per row a list of ``{"start", "end", "tokens", "idxs", "result"}`` (times in seconds).
The prompt, the timestamp rules and the segment cutting are short form's (:mod:`.whisper`,
:mod:`.whisper_prompt`, :mod:`.whisper_logits`); this module adds the seek loop, the fallback and
the no-speech check.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from .api import STRATEGIES, _model_generation_config, _prepare_model_kwargs, build_logits_processors
from .api import build_stopping_criteria
from .configuration import GenerationConfig, merged_generation_config
from .inputs import encode_once, expand_batch, positions_from_mask, special_tokens
from .logits_process import (
    LogitsProcessor, LogitsProcessorList, SuppressTokensAtBeginLogitsProcessor, SuppressTokensLogitsProcessor,
)
from .whisper import TIME_PRECISION, _row_of, split_segments
from .whisper_logits import WhisperTimeStampLogitsProcessor
from .whisper_prompt import init_tokens as whisper_init_tokens, set_language_and_task


def window_frames(model) -> tuple[int, int]:
    """(feature frames per encoder position, frames in one window): (2, 3000) for every Whisper."""
    encoder = model.get_encoder()
    stride = encoder.conv1.stride[0] * encoder.conv2.stride[0]
    return stride, stride * model.config.max_source_positions


def is_long_form(model, input_features: torch.Tensor | None) -> bool:
    """Whether ``input_features`` hold more than one window, which ``generate`` decodes sequentially."""
    return input_features is not None and input_features.shape[-1] > window_frames(model)[1]


class WhisperNoSpeechDetection(LogitsProcessor):
    """Records the probability of the no-speech token (``<|nocaptions|>``/``<|nospeech|>``) at the
    start-of-transcript position, from the first step's unprocessed logits; changes no scores.

    When the prompt holds more than the start token (language, task), the logits at the start
    token's position are computed by running the model on the window set by :meth:`set_inputs`."""

    def __init__(self, no_speech_token: int, begin_index: int, scores_is_logprobs: bool = False, model=None):
        self.no_speech_token = no_speech_token
        self.start_of_trans_offset = begin_index  # tokens in the prompt up to and with <|startoftranscript|>...
        self.begin_index = begin_index  # ...and the running prompt length, previous text included
        self.is_scores_logprobs = scores_is_logprobs
        self.model, self.inputs = model, None
        self._no_speech_prob = [0.0]

    def set_inputs(self, inputs: dict) -> None:
        """The window and decoder prompt of the coming call (``input_features``, ``decoder_input_ids``, ...)."""
        self.inputs = inputs

    def set_begin_index(self, begin_index: int) -> None:
        self.begin_index = begin_index

    @property
    def no_speech_prob(self):
        """(B,) probabilities of the last call's first step."""
        return self._no_speech_prob

    def __call__(self, input_ids, scores):
        if input_ids.shape[1] != self.begin_index:
            return scores
        logprobs = self.is_scores_logprobs
        if self.start_of_trans_offset > 1:
            with torch.no_grad():
                logits = self.model(**self.inputs).logits  # (B, T, V)
            scores_at_start, logprobs = logits[:, self.begin_index - self.start_of_trans_offset], False
        else:
            scores_at_start = scores
        probs = scores_at_start.exp() if logprobs else scores_at_start.float().softmax(dim=-1)
        self._no_speech_prob = probs[:, self.no_speech_token]
        return scores


@dataclass
class _Run:
    """The settings one long-form call reads everywhere."""

    config: GenerationConfig
    timestamp_begin: int
    input_stride: int
    window: int
    max_target_positions: int
    vocab_size: int
    condition_on_prev_tokens: bool
    prompt_ids: torch.Tensor | None
    prev_sot: int | None
    processors: list = field(default_factory=list)
    stopping_criteria: object = None

    def processor(self, kind):
        return next((p for p in self.processors if isinstance(p, kind)), None)


@torch.no_grad()
def generate_long_form(model, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None,
                       generation_config: GenerationConfig | None = None, logits_processor=None, stopping_criteria=None,
                       temperature: float | tuple[float, ...] | None = None,
                       compression_ratio_threshold: float | None = None, logprob_threshold: float | None = None,
                       no_speech_threshold: float | None = None, condition_on_prev_tokens: bool | None = None,
                       prompt_ids: torch.Tensor | None = None, prompt_condition_type: str | None = None,
                       language: str | list[str] | None = None, task: str | None = None,
                       is_multilingual: bool | None = None, return_timestamps: bool | None = None,
                       return_segments: bool = False, return_dict_in_generate: bool | None = None,
                       return_token_timestamps: bool | None = None, **kwargs):
    """Transcribe ``input_features`` (B, mels, frames > 3000) window by window; see the module docstring.

    ``attention_mask`` (B, frames) (the feature extractor's, with ``return_attention_mask=True``)
    gives each row its length; a batch needs it. ``temperature``: one value or a tuple tried in turn
    while a window fails the thresholds (0 or None decodes greedily, above 0 samples). ``language``,
    ``task``, ``is_multilingual`` and ``prompt_ids`` as in short-form ``generate``."""
    _check_returns(return_timestamps, return_token_timestamps)
    run, init_tokens, return_dict_in_generate = _settings(
        model, input_features, generation_config, kwargs, logits_processor, stopping_criteria, temperature,
        compression_ratio_threshold, logprob_threshold, no_speech_threshold, condition_on_prev_tokens, prompt_ids,
        prompt_condition_type, dict(language=language, task=task, is_multilingual=is_multilingual),
        return_dict_in_generate)
    config, batch = run.config, input_features.shape[0]
    temperatures = list(temperature) if isinstance(temperature, (list, tuple)) else [temperature]
    if batch > 1 and attention_mask is None:
        raise ValueError("A batch of long-form inputs needs their attention_mask: make the features with "
                         "feature_extractor(audios, truncation=False, padding='longest', return_attention_mask=True).")
    max_frames = (attention_mask.sum(-1).cpu().long() if batch > 1
                  else torch.full((batch,), input_features.shape[-1], dtype=torch.long))
    input_features, max_frames, init_tokens = _expand_for_returns(config, input_features, max_frames, init_tokens)
    batch = input_features.shape[0]
    seek = torch.zeros(batch, dtype=torch.long)
    rows, features = list(range(batch)), input_features  # rows: the original index of each row still decoding
    condition = [run.condition_on_prev_tokens] * batch
    segments = _first_segments(run, batch)
    while bool((seek < max_frames).any()):
        features, rows = _drop_finished(features, seek, max_frames, rows)
        time_offset = seek.double() * TIME_PRECISION / run.input_stride
        frames = (max_frames - seek).clamp(max=run.window)
        window = _windows(features, seek, frames, run.window, rows)
        decoder_ids, decoder_mask = _decoder_prompt(run, init_tokens, segments, rows, condition)
        _set_lengths(run, decoder_ids.shape[-1])
        for processor in run.processors:
            if hasattr(processor, "set_begin_index"):
                processor.set_begin_index(decoder_ids.shape[-1])
        sequences, outputs, skip = _generate_with_fallback(model, run, window, decoder_ids, decoder_mask, temperatures,
                                                           condition, rows)
        for i, sequence in enumerate(sequences):
            row = rows[i]
            if skip[i]:
                seek[row] += frames[row]
                continue
            found, advance = split_segments(sequence, outputs[i], decoder_ids.shape[-1], config, int(frames[row]),
                                            False, time_offset=time_offset[row], input_stride=run.input_stride)
            seek[row] += advance
            segments[row] += found
    return _finish(run, segments, input_features.device, return_segments,
                   return_dict_in_generate and config.return_dict_in_generate)


# ---------------------------------------------------------------------------------------------
# settings


def _check_returns(return_timestamps, return_token_timestamps) -> None:
    if return_timestamps is False:
        raise ValueError("More than 3000 mel frames (30 s) are decoded long-form, which needs timestamp tokens: "
                         "pass return_timestamps=True (or leave it out), or at most 3000 frames.")
    if return_token_timestamps:
        raise NotImplementedError("return_token_timestamps is not available for long-form (over 30 s) audio in "
                                  "workbench yet: use the pipeline with chunk_length_s=30 and return_timestamps='word'.")


def _settings(model, input_features, generation_config, kwargs, logits_processor, stopping_criteria, temperature,
              compression_ratio_threshold, logprob_threshold, no_speech_threshold, condition_on_prev_tokens,
              prompt_ids, prompt_condition_type, language_and_task, return_dict_in_generate):
    for unsupported in ("decoder_input_ids", "assistant_model", "streamer"):
        if kwargs.get(unsupported) not in (None, 1):
            raise NotImplementedError(f"Long-form generation (more than one 30-s window of features) does not take "
                                      f"{unsupported}= in workbench: drop it (previous text goes in prompt_ids=).")
    config, model_kwargs = merged_generation_config(_model_generation_config(model), generation_config, kwargs)
    model_kwargs.pop("return_timestamps", None)  # long-form always predicts timestamps
    if any(v is not None for v in model_kwargs.values()):
        raise ValueError(f"generate() got arguments long-form Whisper generation does not use: {sorted(model_kwargs)}.")
    if getattr(config, "no_timestamps_token_id", None) is None:
        raise ValueError("Long-form Whisper generation predicts timestamp tokens, but the generation config has no "
                         "no_timestamps_token_id: set generation_config.no_timestamps_token_id (the <|notimestamps|> "
                         "id; timestamps follow it).")
    if return_dict_in_generate is None:
        return_dict_in_generate = config.return_dict_in_generate
    config.return_dict_in_generate = return_dict_in_generate
    if logprob_threshold is not None:  # the mean log-prob is read from the scores
        config.return_dict_in_generate, config.output_scores = True, True
    config.return_timestamps = True
    set_language_and_task(config, **language_and_task)
    thresholds = dict(logprob_threshold=logprob_threshold, compression_ratio_threshold=compression_ratio_threshold,
                      no_speech_threshold=no_speech_threshold)
    for name, value in thresholds.items():
        setattr(config, name, value if value is not None else getattr(config, name, None))
    if config.no_speech_threshold is not None and config.logprob_threshold is None:
        raise ValueError("no_speech_threshold needs logprob_threshold too (a window is skipped as silence when both "
                         "its no-speech probability is high and its mean log-prob low): pass logprob_threshold=-1.0.")
    condition = condition_on_prev_tokens if condition_on_prev_tokens is not None else getattr(
        config, "condition_on_prev_tokens", None)
    config.condition_on_prev_tokens = bool(condition)
    config.prompt_condition_type = _prompt_condition_type(prompt_condition_type, config.condition_on_prev_tokens)
    stride, window = window_frames(model)
    suppress = list(config.suppress_tokens) if config.suppress_tokens is not None else None
    prev_sot = getattr(config, "prev_sot_token_id", None)
    if prev_sot is None and suppress is not None and len(suppress) >= 2:
        prev_sot = suppress[-2]  # old generation configs: <|startofprev|> sits there in Whisper's list
    init_tokens = whisper_init_tokens(model, input_features, input_features.shape[0], config, window, {})
    run = _Run(config, config.no_timestamps_token_id + 1, stride, window, model.config.max_target_positions,
               model.config.vocab_size, config.condition_on_prev_tokens,
               None if prompt_ids is None else torch.as_tensor(prompt_ids, device=model.device), prev_sot,
               stopping_criteria=stopping_criteria)
    run.processors = _processors(model, config, init_tokens.shape[1], logits_processor)
    return run, init_tokens, return_dict_in_generate


def _expand_for_returns(config: GenerationConfig, input_features, max_frames, init_tokens):
    """``num_return_sequences`` copies of each row, each transcribed as a row of its own (as the
    reference: sampled copies differ, beam-searched ones are copies of the best)."""
    copies = config.num_return_sequences or 1
    if copies == 1:
        return input_features, max_frames, init_tokens
    config.num_return_sequences = 1
    return tuple(t.repeat_interleave(copies, dim=0) for t in (input_features, max_frames, init_tokens))


def _prompt_condition_type(value: str | None, condition: bool) -> str:
    value = value or "first-segment"
    if value not in ("first-segment", "all-segments"):
        raise ValueError(f"prompt_condition_type={value!r}: use 'first-segment' (prompt_ids before the first window "
                         "only) or 'all-segments' (before every window).")
    if value == "all-segments" and not condition:
        raise ValueError("prompt_condition_type='all-segments' needs condition_on_prev_tokens=True.")
    return value


def _processors(model, config: GenerationConfig, begin_index: int, custom) -> list:
    """Whisper's own processors, in the reference's order, before the caller's; the suppress
    lists move from the config into processors that follow the running prompt length."""
    processors = [WhisperTimeStampLogitsProcessor(config, begin_index=begin_index), *(custom or [])]
    if config.suppress_tokens is not None:
        processors.insert(0, SuppressTokensLogitsProcessor(config.suppress_tokens, device=model.device))
        config.suppress_tokens = None
    if config.begin_suppress_tokens is not None:
        processors.insert(0, SuppressTokensAtBeginLogitsProcessor(config.begin_suppress_tokens, begin_index,
                                                                   device=model.device))
        config.begin_suppress_tokens = None
    if config.no_speech_threshold is not None:
        processors.insert(0, WhisperNoSpeechDetection(config.no_timestamps_token_id - 1, begin_index,
                                                      scores_is_logprobs=(config.num_beams or 1) > 1, model=model))
    return processors


def _set_lengths(run: _Run, prompt_length: int) -> None:
    """The reference's lengths per window: ``max_length`` grows by the prompt (up to the decoder's
    ``max_target_positions``; it keeps what it grew, window after window), ``max_new_tokens`` is capped."""
    config, limit = run.config, run.max_target_positions
    if (config.max_new_tokens or 0) + prompt_length > limit:
        raise ValueError(f"The decoder prompt (start tokens, prompt_ids and previous text) has {prompt_length} tokens "
                         f"and max_new_tokens is {config.max_new_tokens}: together more than the decoder's "
                         f"{limit} positions. Lower max_new_tokens or shorten prompt_ids.")
    if config.max_new_tokens is None and config.max_length is not None:
        config.max_length = min(config.max_length + min(limit // 2 - 1, prompt_length), limit)
    elif config.max_new_tokens is not None and config.max_new_tokens + prompt_length > limit:
        config.max_new_tokens = limit - prompt_length


# ---------------------------------------------------------------------------------------------
# the batch and the decoder prompt


def _first_segments(run: _Run, batch: int) -> list[list[dict]]:
    """Per row, the segments so far: ``prompt_ids`` count as the first one (first-segment mode)."""
    if run.prompt_ids is None or run.config.prompt_condition_type != "first-segment":
        return [[] for _ in range(batch)]
    prompt = run.prompt_ids[1:] if int(run.prompt_ids[0]) == run.prev_sot else run.prompt_ids
    return [[{"tokens": prompt}] for _ in range(batch)]


def _drop_finished(features, seek, max_frames, rows):
    keep = [i for i, row in enumerate(rows) if seek[row] < max_frames[row]]
    return features[keep], [rows[i] for i in keep]


def _windows(features, seek, frames, window: int, rows) -> torch.Tensor:
    """(B, mels, window): each row's frames from its seek on, zero-padded to a whole window."""
    out = []
    for i, row in enumerate(rows):
        piece = features[i:i + 1, :, seek[row]:seek[row] + frames[row]]
        out.append(F.pad(piece, (0, window - piece.shape[-1])))
    return torch.cat(out, dim=0)


def _decoder_prompt(run: _Run, init_tokens, segments, rows, condition):
    """(B, T) decoder prompt and its mask: [<|startofprev|> previous tokens (left-padded)] + init tokens."""
    config, ids = run.config, init_tokens[rows]
    if any(condition) and len(segments[0]) > 0:  # as the reference: row 0's history decides for the batch
        active = [segments[row] if condition[row] else None for row in rows]
        if run.prompt_ids is not None and config.prompt_condition_type == "all-segments":
            start = run.prompt_ids
        else:
            start = None if run.prev_sot is None else torch.tensor([run.prev_sot], device=ids.device)
        previous = _pad(active, config.pad_token_id, ids.device, left=True, start=start,
                        cut_off=run.max_target_positions // 2 - 1, timestamp_begin=run.timestamp_begin)
        ids = torch.cat([previous, ids], dim=-1)
        return ids, ids != config.pad_token_id
    if run.prompt_ids is not None:
        return torch.cat([run.prompt_ids[None].expand(ids.shape[0], -1), ids], dim=-1), None
    return ids, None


def _pad(rows: list, pad_token_id: int, device, left: bool = False, start=None, cut_off: int | None = None,
         timestamp_begin: int | None = None) -> torch.Tensor:
    """Each row's segment tokens joined, (B, longest) padded with ``pad_token_id``.

    As previous text (``timestamp_begin`` given): a segment ending in two timestamps gives only the
    first, the last ``cut_off`` tokens are kept and ``start`` (<|startofprev|> or the prompt) leads."""
    sequences = []
    for segments in rows:
        if segments:
            pieces = [s["tokens"][:-1] if timestamp_begin is not None and len(s["tokens"]) > 2
                      and s["tokens"][-2] >= timestamp_begin else s["tokens"] for s in segments]
            sequence = torch.cat(pieces, dim=-1)
            sequence = sequence[-cut_off:] if cut_off is not None else sequence
            sequence = torch.cat([start, sequence]) if start is not None else sequence
        else:
            sequence = start if start is not None else torch.zeros(0, dtype=torch.long, device=device)
        sequences.append(sequence)
    longest = max(len(s) for s in sequences)
    return torch.stack([F.pad(s, (longest - len(s), 0) if left else (0, longest - len(s)), value=pad_token_id)
                        for s in sequences])


def _finish(run: _Run, segments: list[list[dict]], device, return_segments: bool, wants_dict: bool):
    """The output ids: per row its segments' tokens (both closing timestamps kept), right-padded;
    with the segments when asked for (``return_dict_in_generate``: the per-window outputs live in
    the segments' "result")."""
    if run.prompt_ids is not None and run.config.prompt_condition_type == "first-segment":
        segments = [row[1:] for row in segments]  # the prompt was held as the first segment
    sequences = _pad(segments, run.config.pad_token_id, device)
    return {"sequences": sequences, "segments": segments} if return_segments or wants_dict else sequences


# ---------------------------------------------------------------------------------------------
# one window: generate, check, fall back to the next temperature


def _generate_with_fallback(model, run: _Run, window, decoder_ids, decoder_mask, temperatures, condition, rows):
    """Per row of the window: its new tokens (no padding, no eos), its outputs and whether it is
    skipped as silence. Rows that fail the thresholds are decoded again at the next temperature."""
    config, batch = run.config, decoder_ids.shape[0]
    sequences, outputs = [None] * batch, [None] * batch
    needs_fallback, skip = [False] * batch, [False] * batch
    retry = list(range(batch))  # the window rows in this attempt
    detector = run.processor(WhisperNoSpeechDetection)
    if detector is not None:
        detector.set_inputs(_model_inputs(window, decoder_ids, decoder_mask))
    for attempt, temperature in enumerate(temperatures):
        config.do_sample = temperature is not None and temperature > 0.0
        config.temperature = temperature if config.do_sample else 1.0
        if config.do_sample:  # as the reference: sampling drops the beams, for this window and the ones after
            config.num_beams = 1
        generated = _generate_segment(model, run, window, decoder_ids, decoder_mask)
        new_tokens, per_row = _split(generated, decoder_ids.shape[-1])
        again = []
        for i, sequence in enumerate(new_tokens):
            sequence = _strip_padding(sequence, config)
            needs_fallback[i], skip[i] = _need_fallback(run, sequence, per_row[i], i, temperature)
            if sequence[-1] == config.eos_token_id:
                sequence = sequence[:-1]
            sequences[retry[i]], outputs[retry[i]] = sequence, per_row[i]
            # as the reference: the flag is kept at the window row's index, read at the original row's
            condition[retry[i]] = config.condition_on_prev_tokens and (temperature is None or temperature < 0.5)
            if needs_fallback[i]:
                again.append(i)
        if not again or attempt == len(temperatures) - 1:
            break
        retry = [retry[i] for i in again]
        window, decoder_ids = window[again], decoder_ids[again]
        decoder_mask = decoder_mask[again] if decoder_mask is not None else None
    return sequences, outputs, skip


def _model_inputs(window, decoder_ids, decoder_mask) -> dict:
    """The forward arguments of the window's prompt; left-padded rows count positions from their first token."""
    inputs = {"input_features": window, "decoder_input_ids": decoder_ids}
    if decoder_mask is not None:
        inputs.update(decoder_attention_mask=decoder_mask, decoder_position_ids=positions_from_mask(decoder_mask))
    return inputs


def _generate_segment(model, run: _Run, window, decoder_ids, decoder_mask):
    """One ``generate()`` over the windows, continuing ``decoder_ids`` as given (Whisper's prompt may
    start with <|startofprev|>, so no start token is put in front)."""
    config = run.config
    model_kwargs = {k: v for k, v in _model_inputs(window, decoder_ids, decoder_mask).items() if k.startswith("decoder_")}
    model_kwargs.pop("decoder_input_ids")
    model_kwargs = encode_once(model, window, config, model_kwargs)
    tokens = special_tokens(config, decoder_ids.device, decoder_ids.shape[0], decoder_mask is not None)
    # beams (or several samples) decode copies of each row, next to each other: (B * N, T)
    decoder_ids, model_kwargs = expand_batch(decoder_ids, model_kwargs,
                                             max(config.num_beams or 1, config.num_return_sequences or 1))
    if config.max_new_tokens is not None:
        config.max_length = decoder_ids.shape[-1] + config.max_new_tokens
    _prepare_model_kwargs(model, config, model_kwargs)
    processors = build_logits_processors(config, tokens, decoder_ids.shape[-1],
                                         model_kwargs.get("decoder_attention_mask"), LogitsProcessorList(run.processors))
    criteria = build_stopping_criteria(config, tokens, model, None, run.stopping_criteria)
    strategy = STRATEGIES[config.get_generation_mode()]
    return strategy(model, decoder_ids, processors, criteria, config, tokens, model_kwargs)


def _split(generated, prompt_length: int):
    """(new tokens (B, T'), per-row results): the row of the ids (prompt included), or with
    ``return_dict_in_generate`` a dict per row (its sequence, and its scores/logits per step)."""
    if isinstance(generated, torch.Tensor):
        return generated[:, prompt_length:], list(generated)
    per_row = [_row_of(generated, i) for i in range(generated.sequences.shape[0])]
    for row in per_row:
        row.pop("past_key_values", None)  # as the reference: too costly to keep for every window
    return generated.sequences[:, prompt_length:], per_row


def _strip_padding(sequence: torch.Tensor, config) -> torch.Tensor:
    """Drop the pad tokens of a row that ended early, keeping one eos when pad and eos are the same
    token (its log-prob counts). As the reference, every pad token in the row is counted."""
    if sequence[-1] != config.pad_token_id:
        return sequence
    count = int((sequence == config.pad_token_id).sum())
    if config.pad_token_id == config.eos_token_id:
        count -= 1
    return sequence[:-count] if count else sequence


def _need_fallback(run: _Run, sequence, result, index: int, temperature) -> tuple[bool, bool]:
    """(decode again at the next temperature, skip the window as silence)."""
    config, needs, skip = run.config, False, False
    if config.compression_ratio_threshold is not None:
        needs = compression_ratio(sequence, run.vocab_size) > config.compression_ratio_threshold
    if config.logprob_threshold is not None:
        logprob = average_logprob(result["scores"], sequence, temperature)
        needs = needs or bool(logprob < config.logprob_threshold)
        detector = run.processor(WhisperNoSpeechDetection)
        if detector is not None and logprob < config.logprob_threshold and \
                detector.no_speech_prob[index] > config.no_speech_threshold:
            needs, skip = False, True
    return needs, skip


def compression_ratio(tokens: torch.Tensor, vocab_size: int) -> float:
    """Bytes of the token ids over bytes of their zlib compression (repetitive output compresses
    well). The ids are written little-endian in the fewest whole bytes that hold ``vocab_size``."""
    width = int(math.log2(vocab_size) / 8) + 1
    raw = b"".join(t.to_bytes(width, "little") for t in tokens.tolist())
    return len(raw) / len(zlib.compress(raw))


def average_logprob(scores: list[torch.Tensor], tokens: torch.Tensor, temperature: float | None) -> torch.Tensor:
    """Mean log-probability of ``tokens`` (eos included) under the per-step ``scores`` (V,), undoing
    the temperature the scores were divided by."""
    rescale = temperature if temperature is not None and temperature > 0.0 else 1
    scores = torch.stack(scores).to(tokens.device)  # (steps, V)
    if scores.shape[0] > tokens.shape[0]:
        scores = scores[:tokens.shape[0]]
    else:
        tokens = tokens[-scores.shape[0]:]
    logprobs = F.log_softmax((scores * rescale).float(), dim=-1).to(scores.dtype)
    chosen = logprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).cpu()
    total = chosen[0]
    for value in chosen[1:]:  # one by one in float32, the order the reference sums in
        total = total + value
    return total / len(tokens)
