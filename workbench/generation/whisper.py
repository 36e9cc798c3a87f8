"""Whisper's ``generate()``: the prompt Whisper expects, its logits rules, and its outputs.

    settings (language, task, timestamps, prompt_ids) ─► init tokens per row
        <|startoftranscript|> <|lang|> <|task|> [<|notimestamps|>]   (language detected when not given)
    ─► decoder prompt: [<|startofprev|> prompt tokens] + init tokens
    ─► processors: suppress, begin-suppress (generate() builds them), timestamp rules, the caller's
    ─► workbench.generation.generate on the 30 s window
    ─► per row: generated tokens (no prompt, no eos) split into segments at timestamp pairs,
       word-level times from the cross-attention of the alignment heads (DTW)

Audio of up to one window (``2 * max_source_positions`` mel frames, 30 s) is transcribed as the
reference's short form does: :class:`Transcription` runs windows (one, or more when the model closes
a segment early and the next window restarts there), :func:`decode_window` generates on one,
:func:`split_segments` cuts its tokens. Longer audio (the sequential long-form algorithm, with
temperature fallback and thresholds) is to build on these three.
"""

from __future__ import annotations

import logging

import torch
from torch.nn import functional as F

from .api import generate
from .configuration import GenerationConfig, merged_generation_config
from .logits_process import LogitsProcessorList
from .whisper_logits import WhisperTimeStampLogitsProcessor
from .whisper_prompt import init_tokens, set_language_and_task
from .whisper_timing import extract_token_timestamps

logger = logging.getLogger(__name__)

TIME_PRECISION = 0.02  # seconds per timestamp token (and per encoder frame)


def whisper_generate(model, input_features=None, generation_config=None, logits_processor=None,
                     stopping_criteria=None, return_timestamps=None, task=None, language=None,
                     is_multilingual=None, prompt_ids=None, prompt_condition_type=None,
                     return_token_timestamps=None, return_segments=False, return_dict_in_generate=None,
                     attention_mask=None, **kwargs):
    """``WhisperForConditionalGeneration.generate``; see its docstring."""
    temperature = kwargs.pop("temperature", None)  # Whisper's own setting: the config's is not read
    config, kwargs = _settings(model, generation_config, kwargs)
    _set_temperature(config, temperature)
    batch, frames = _input_shape(input_features, kwargs)
    window = _window_frames(model)
    if frames > window:
        raise NotImplementedError(f"The input has {frames} mel frames, more than one {window}-frame window (30 s): "
                                  "long-form transcription is not available in workbench yet. Cut the audio into "
                                  "30 s pieces, or use the automatic-speech-recognition pipeline.")
    wants_dict = _set_return_outputs(config, return_dict_in_generate, return_token_timestamps)
    _set_return_timestamps(config, return_timestamps)
    set_language_and_task(config, language, task, is_multilingual)
    _set_num_frames(config, return_token_timestamps, attention_mask)
    _set_prompt_condition_type(config, prompt_condition_type)
    init = init_tokens(model, input_features, batch, config, window, kwargs)
    processors = whisper_logits_processors(config, logits_processor, begin_index=init.shape[1])
    run = Transcription(model, config, processors, stopping_criteria, attention_mask, return_token_timestamps,
                        window, kwargs)
    run.expand_for_returns(input_features, init)
    segments, last_output = run.transcribe(frames, prompt_ids)
    if wants_dict and not config.return_timestamps:
        # the (last) generate() call's own output; a plain dict once token_timestamps join, as in the reference
        return dict(last_output.items()) if return_token_timestamps else last_output
    return _assemble(config, segments, wants_dict, return_segments, return_token_timestamps, init.device)


class Transcription:
    """The windows of one generate() call: each row's window starts where its last complete
    segment ended (``seek``, in mel frames), until every row has reached its audio's end.

    For audio of up to one window this is the reference's short-form decoding: one window, or
    more when the model closed a segment before the end (it then restarts from that timestamp).
    """

    def __init__(self, model, config, processors, stopping_criteria, attention_mask, return_token_timestamps,
                 window: int, model_kwargs: dict):
        self.model, self.config, self.processors, self.criteria = model, config, processors, stopping_criteria
        self.attention_mask, self.word_times, self.window = attention_mask, return_token_timestamps, window
        self.model_kwargs = model_kwargs
        encoder = model.model.encoder
        self.input_stride = encoder.conv1.stride[0] * encoder.conv2.stride[0]  # mel frames per decoder timestamp step

    def expand_for_returns(self, input_features, init: torch.Tensor) -> None:
        """Several sequences per input (``num_return_sequences``) decode as copies of the row."""
        copies = self.config.num_return_sequences or 1
        self.features, self.init = input_features, init
        if copies > 1:  # (with beams, copies of the best one, as in the reference)
            self.features = input_features.repeat_interleave(copies, dim=0) if input_features is not None else None
            self.init = init.repeat_interleave(copies, dim=0)
            if self.model_kwargs.get("decoder_input_ids") is not None:
                self.model_kwargs["decoder_input_ids"] = self.model_kwargs["decoder_input_ids"].repeat_interleave(
                    copies, dim=0)
            self.config.num_return_sequences = 1

    def transcribe(self, frames: int, prompt_ids):
        """Windows until every row's ``seek`` reaches ``frames``; returns each row's segments and
        the last window's generate() output."""
        rows = self.init.shape[0]
        seek = torch.zeros(rows, dtype=torch.long)
        max_frames = torch.full((rows,), frames, dtype=torch.long)
        segments = [[] for _ in range(rows)]
        out = None
        while bool((seek < max_frames).any()):
            active = [i for i in range(rows) if seek[i] < max_frames[i]]
            time_offset = seek.to(torch.float64) * TIME_PRECISION / self.input_stride
            seek_frames = (max_frames - seek).clamp(max=self.window)
            decoder_ids = self._decoder_prompt(active, prompt_ids)
            sequences, results, out = self.decode(self._window_input(active, seek, seek_frames), decoder_ids,
                                                  seek, active)
            for k, i in enumerate(active):
                found, advance = split_segments(sequences[k], results[k], decoder_ids.shape[-1], self.config,
                                                int(seek_frames[i]), self.word_times, time_offset[i],
                                                self.input_stride)
                seek[i] += advance
                segments[i] += found
        return segments, out

    def _window_input(self, active: list[int], seek, seek_frames):
        if self.features is None:
            return None
        pieces = [self.features[i:i + 1, :, seek[i]:seek[i] + seek_frames[i]] for i in active]
        return torch.cat([_pad_window(piece, self.window) for piece in pieces])

    def _decoder_prompt(self, active: list[int], prompt_ids) -> torch.Tensor:
        given = self.model_kwargs.pop("decoder_input_ids", None)  # the caller's, for the first window (as the reference)
        if given is not None:
            return given.to(self.init.device)
        ids = self.init[active]
        if prompt_ids is not None:
            ids = torch.cat([prompt_ids.to(ids.device)[None].expand(ids.shape[0], -1), ids], dim=-1)
        return ids

    def decode(self, segment_input, decoder_ids: torch.Tensor, seek, active: list[int]):
        """One window for the ``active`` rows: lengths and processors' begin index set for this prompt."""
        _set_max_length(self.model, self.config, decoder_ids.shape[-1])
        for processor in self.processors:
            if hasattr(processor, "set_begin_index"):
                processor.set_begin_index(decoder_ids.shape[-1])
        num_frames = self.config.num_frames
        if num_frames is not None:
            num_frames = (num_frames - seek)[active]
        kwargs = {k: v for k, v in self.model_kwargs.items() if k != "decoder_input_ids"}
        return decode_window(self.model, segment_input, decoder_ids, self.config, self.processors, self.criteria,
                             self.attention_mask, self.word_times, num_frames, kwargs)


# ---------------------------------------------------------------------------------------------
# settings


def _settings(model, generation_config, kwargs):
    """This call's settings (a copy: kwargs > generation_config > the model's), and the model inputs left."""
    if generation_config is not None and not isinstance(generation_config, GenerationConfig):
        raise TypeError(f"generation_config must be a GenerationConfig, not {type(generation_config).__name__}.")
    base = model.generation_config if model.generation_config is not None else GenerationConfig()
    config, rest = merged_generation_config(base, generation_config, kwargs)
    return config, rest


def _input_shape(input_features, kwargs) -> tuple[int, int]:
    if input_features is not None:
        return input_features.shape[0], input_features.shape[-1]
    if kwargs.get("encoder_outputs") is not None:
        states = kwargs["encoder_outputs"][0]
        return states.shape[0], states.shape[1] * 2  # the encoder halves the frames
    raise ValueError("Whisper's generate() needs input_features (the log-mel spectrogram of the audio, from "
                     "WhisperFeatureExtractor) or encoder_outputs.")


def _window_frames(model) -> int:
    """Mel frames of one window: the encoder's positions times its convolutions' stride (3000 = 30 s)."""
    encoder = model.model.encoder
    return encoder.conv1.stride[0] * encoder.conv2.stride[0] * model.config.max_source_positions


def _set_return_outputs(config, return_dict_in_generate, return_token_timestamps) -> bool:
    """Whether the caller asked for a dict; word timestamps need the per-step cross-attentions."""
    if return_dict_in_generate is None:
        return_dict_in_generate = bool(config.return_dict_in_generate)
    config.return_dict_in_generate = return_dict_in_generate
    config.return_token_timestamps = return_token_timestamps
    if return_token_timestamps:
        config.return_dict_in_generate = True
        config.output_attentions = True
        config.output_scores = True
    return return_dict_in_generate


def _set_temperature(config, temperature) -> None:
    """Sampling happens at a temperature above 0 and only then (``do_sample`` alone is not enough,
    as in the reference). A sequence of temperatures is the long-form fallback: its first is used."""
    if isinstance(temperature, (list, tuple)):
        if len(temperature) > 1:
            raise NotImplementedError("A sequence of temperatures (the fallback of long-form transcription) is not "
                                      "available in workbench yet: pass one temperature.")
        temperature = temperature[0]
    config.do_sample = temperature is not None and temperature > 0.0
    config.temperature = temperature if config.do_sample else 1.0
    if config.do_sample:
        config.num_beams = 1


def _set_return_timestamps(config, return_timestamps) -> None:
    if return_timestamps is None:
        return_timestamps = getattr(config, "return_timestamps", None)
    if return_timestamps and getattr(config, "no_timestamps_token_id", None) is None:
        raise ValueError("return_timestamps=True needs generation_config.no_timestamps_token_id (the id of "
                         "<|notimestamps|>; timestamp tokens follow it): set it on model.generation_config.")
    config.return_timestamps = return_timestamps


def _set_num_frames(config, return_token_timestamps, attention_mask) -> None:
    config.num_frames = None
    if not return_token_timestamps:
        return
    if getattr(config, "task", None) == "translate":
        logger.warning("Token-level timestamps may not be reliable for task 'translate'.")
    if getattr(config, "alignment_heads", None) is None:
        raise ValueError("return_token_timestamps=True needs generation_config.alignment_heads, the [layer, head] "
                         "pairs of cross-attention that follow the audio; this checkpoint has none: set them.")
    if attention_mask is not None:
        config.num_frames = attention_mask.sum(-1).cpu()  # the audio's own frames, not the padding


def _set_prompt_condition_type(config, prompt_condition_type) -> None:
    allowed = ("first-segment", "all-segments")
    prompt_condition_type = prompt_condition_type or allowed[0]
    if prompt_condition_type not in allowed:
        raise ValueError(f"prompt_condition_type={prompt_condition_type!r} is not one of {allowed}.")
    if prompt_condition_type == "all-segments" and getattr(config, "condition_on_prev_tokens", None) is not True:
        raise ValueError("prompt_condition_type='all-segments' needs condition_on_prev_tokens=True.")
    config.prompt_condition_type = prompt_condition_type


def _set_max_length(model, config, prompt_length: int) -> None:
    """The reference's lengths: max_new_tokens must fit the decoder's positions; a max_length
    counts the generated tokens after a prompt of up to half the positions."""
    positions = model.config.max_target_positions
    new = config.max_new_tokens or 0
    if new + prompt_length > positions:
        raise ValueError(f"The decoder prompt ({prompt_length} tokens: start tokens and prompt_ids) plus "
                         f"max_new_tokens ({new}) is more than the {positions} positions Whisper's decoder has: "
                         "shorten the prompt or lower max_new_tokens.")
    if config.max_new_tokens is None and config.max_length is not None:
        config.max_length = min(config.max_length + min(positions // 2 - 1, prompt_length), positions)


def whisper_logits_processors(config, custom, begin_index: int) -> LogitsProcessorList:
    """The timestamp rules (when timestamps are on), then the caller's processors. generate()
    adds the config's ``suppress_tokens`` and ``begin_suppress_tokens`` (at the prompt's end)
    before them, so the timestamps' probability mass is measured after suppression."""
    processors = LogitsProcessorList()
    if config.return_timestamps:
        processors.append(WhisperTimeStampLogitsProcessor(config, begin_index=begin_index))
    processors.extend(custom or [])
    return processors


def _pad_window(features: torch.Tensor, window: int) -> torch.Tensor:
    return F.pad(features, (0, window - features.shape[-1])) if features.shape[-1] < window else features


# ---------------------------------------------------------------------------------------------
# one window


def decode_window(model, segment_input, decoder_input_ids, config, processors, stopping_criteria, attention_mask,
                  return_token_timestamps, num_frames, kwargs):
    """Generate on one window; returns per row the generated tokens (prompt, padding and eos
    removed) and that row's output (its full sequence, or a dict of its share of each output),
    and generate()'s output for the batch."""
    extra = {"attention_mask": attention_mask} if attention_mask is not None else {}
    out = generate(model, segment_input, generation_config=config, logits_processor=processors,
                   stopping_criteria=stopping_criteria, decoder_input_ids=decoder_input_ids, **extra, **kwargs)
    start = decoder_input_ids.shape[-1]
    if isinstance(out, torch.Tensor):
        rows = list(out)
    else:
        if return_token_timestamps:
            out["token_timestamps"] = extract_token_timestamps(
                out, config.alignment_heads, model.config.median_filter_width, num_frames=num_frames,
                num_input_ids=start, time_precision=TIME_PRECISION)
        rows = [_row_of(out, i) for i in range(out.sequences.shape[0])]
    sequences = [_strip(row if isinstance(row, torch.Tensor) else row["sequences"], start, config) for row in rows]
    return sequences, rows, out


def _strip(sequence: torch.Tensor, start: int, config) -> torch.Tensor:
    """Generated tokens without the prompt, the padding of a finished row, and the final eos."""
    sequence = sequence[start:]
    if len(sequence) and sequence[-1] == config.pad_token_id:
        paddings = int((sequence == config.pad_token_id).sum())
        if config.pad_token_id == config.eos_token_id:
            paddings -= 1  # keep the eos, removed below
        if paddings:
            sequence = sequence[:-paddings]
    if len(sequence) and sequence[-1] == config.eos_token_id:
        sequence = sequence[:-1]
    return sequence


def _row_of(out, i: int) -> dict:
    """Row ``i``'s share of a generate() output, as the reference splits it per row."""
    row, beam_indices = {}, out.get("beam_indices")
    for key, value in out.items():
        if key == "scores" and beam_indices is not None:
            # with beams: each step's scores of the beam the returned sequence came through (as the
            # reference, an index of -1 (after the sequence's end) reads the last beam's row)
            row[key] = [v[b] for v, b in zip(value, beam_indices[i][:len(value)].tolist())]
        elif key in ("scores", "logits", "encoder_attentions", "encoder_hidden_states"):
            row[key] = [v[i] for v in value]
        elif key in ("decoder_attentions", "decoder_hidden_states", "cross_attentions"):
            row[key] = tuple(tuple(w[i][None] for w in v) for v in value)
        elif key == "past_key_values":
            row[key] = value  # the batch's cache: one object for every row
        elif isinstance(value, torch.Tensor) and value.dim() > 0:
            row[key] = value[i]
        else:
            row[key] = value
    return row


def split_segments(tokens, result, prompt_length: int, config, seek_frames: int, return_token_timestamps,
                   time_offset=0.0, input_stride: int = 2) -> tuple[list[dict], int]:
    """Cut one window's generated ``tokens`` into segments at timestamp pairs; returns them and
    how many mel frames the next window starts after this one's start.

    Each segment is ``{"start", "end", "tokens", "idxs", "result"}`` (+ ``"token_timestamps"``):
    times in seconds (float64 tensors), ``idxs`` the span in the window's full sequence. Without a
    pair the whole window is one segment ending at its last timestamp (or the window's end). A
    window that does not end on a lone timestamp stops at its last pair: the next one restarts there."""
    no_stamps = getattr(config, "no_timestamps_token_id", None)
    begin = no_stamps + 1 if no_stamps is not None else float("inf")
    is_stamp = [t >= begin for t in tokens.tolist()]
    single_ending = is_stamp[-2:] == [False, True]
    cuts = [i + 1 for i in range(len(is_stamp) - 1) if is_stamp[i] and is_stamp[i + 1]]
    times = result["token_timestamps"] if return_token_timestamps else None
    offset = torch.as_tensor(time_offset, dtype=torch.float64)

    def seconds(position) -> torch.Tensor:
        return offset + torch.as_tensor(position).to(torch.float64) * TIME_PRECISION

    def segment(first: int, last: int, start, end) -> dict:
        found = {"start": start, "end": end, "tokens": tokens[first:last],
                 "idxs": (prompt_length + first, prompt_length + last), "result": result}
        if times is not None:
            found["token_timestamps"] = times[prompt_length + first:prompt_length + last] + offset
        return found

    if not cuts:
        end = int(seek_frames * 0.01 / TIME_PRECISION)  # mel frames are 10 ms
        stamps = [i for i, stamp in enumerate(is_stamp) if stamp]
        if stamps and tokens[stamps[-1]] != begin:
            end = tokens[stamps[-1]] - begin
        return [segment(0, len(tokens), offset, seconds(end))], seek_frames
    if single_ending:
        cuts.append(len(tokens))
    else:
        cuts[-1] += 1  # the last segment keeps its closing pair's second timestamp
    segments, first = [], 0
    for n, cut in enumerate(cuts):
        closing = -1 if n < len(cuts) - 1 or single_ending else -2
        piece = tokens[first:cut]
        segments.append(segment(first, cut, seconds(piece[0] - begin), seconds(piece[closing] - begin)))
        first = cut
    if single_ending:
        return segments, seek_frames  # nothing was said after the last timestamp
    return segments, int(tokens[first - 2] - begin) * input_stride


# ---------------------------------------------------------------------------------------------
# the output


def _assemble(config, segments, wants_dict, return_segments, return_token_timestamps, device):
    """The reference's short-form return value: the tokens of all segments (right-padded), or a
    dict with ``token_timestamps`` and/or ``segments`` when asked."""
    sequences, times = _pad_segments(segments, config.pad_token_id, device, return_token_timestamps)
    if wants_dict:
        logger.warning("return_dict_in_generate=True with return_timestamps=True returns the segments "
                       "(return_segments=True): each segment's 'result' holds its generate() output.")
        return_segments = True
    if not return_segments and not return_token_timestamps:
        return sequences
    found = {"sequences": sequences}
    if return_token_timestamps:
        found["token_timestamps"] = times
    if return_segments:
        found["segments"] = segments
    return found


def _pad_segments(segments, pad_token_id, device, with_times):
    """Each row's segment tokens joined, right-padded to the longest (timestamps padded with their last value)."""
    rows, times = [], []
    for row in segments:
        rows.append(torch.cat([s["tokens"] for s in row]) if row else torch.tensor([], dtype=torch.long, device=device))
        if with_times:
            times.append(torch.cat([s["result"]["token_timestamps"][s["idxs"][0]:s["idxs"][1]] for s in row])
                         if row else torch.tensor([], device=device))
    longest = max(len(r) for r in rows)
    sequences = torch.stack([F.pad(r, (0, longest - len(r)), value=pad_token_id) for r in rows]).to(device)
    if not with_times:
        return sequences, None
    padded = [F.pad(t, (0, longest - len(t)), value=float(t[-1]) if len(t) else 0.0) for t in times]
    return sequences, torch.stack(padded).to(device)
