"""The automatic-speech-recognition pipeline: Whisper, other speech encoder-decoders, and CTC models.

    audio (a file, bytes, an array at the model's rate, {"raw"/"array": samples, "sampling_rate": rate}, ...)
      ─► mono float32 at the feature extractor's rate (workbench.audio)
      ─► windows of chunk_length_s overlapping by stride_length_s (when chunking), each its features
      ─► batches of batch_size windows ─► generate() (encoder-decoders) or logits argmax (CTC)
      ─► the windows merged into one text on their overlaps, with times when asked

Three routes, by model, as in the reference: ``"seq2seq_whisper"`` (Whisper: ``return_timestamps``
True for segments or ``"word"`` for words, ``return_language``), ``"seq2seq"`` (other encoder-decoders:
windows merged on the longest common token run) and ``"ctc"`` (logits cut at the strides, then
concatenated: ``return_timestamps`` ``"char"`` or ``"word"``).

Chunking: a window of ``chunk_length_s`` seconds advances by ``chunk_length_s - 2 × stride_length_s``
(the stride defaults to a sixth of the window), so each boundary is heard whole by two windows:

    |─────────── window 1 ───────────|
                          |─────────── window 2 ───────────|
                          └ stride ┘ └ stride ┘  (right of window 1, left of window 2)

Whisper audio over 30 s without ``chunk_length_s`` goes whole to generate(), which runs Whisper's
own sequential long-form decoding.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from ..audio import audio_stride, load_audio, resample  # noqa: F401  (resample: importable from here)
from .audio_inputs import AudioInputs
from .base import Pipeline, _pad, with_generation_defaults

# generate() settings the pipeline uses when neither the call nor the model's generation config sets them
# (the reference's: Whisper's beam search of 5, as openai's implementation does)
DEFAULT_GENERATION = {"max_new_tokens": 256, "num_beams": 5}


class AutomaticSpeechRecognitionPipeline(AudioInputs, Pipeline):
    """``pipe("speech.wav")`` -> ``{"text": " Hello there."}``; see the module docstring.

    Options (at construction or per call): ``chunk_length_s``, ``stride_length_s`` (seconds, or a
    (left, right) pair), ``return_timestamps`` (Whisper: True or "word"; CTC: "char" or "word"; the
    answer gains ``"chunks"``: ``[{"text", "timestamp": (start, end)}, ...]``), ``return_language``
    (Whisper), ``generate_kwargs={...}``; any other keyword goes to generate() (``max_new_tokens``,
    ``num_beams``, ``language``, ``task``, ...).

    >>> asr = pipeline("automatic-speech-recognition", model="openai/whisper-tiny.en")    # doctest: +SKIP
    >>> asr("meeting.wav", chunk_length_s=30, batch_size=4, return_timestamps=True)       # doctest: +SKIP
    {'text': ' Good morning...', 'chunks': [{'text': ' Good morning.', 'timestamp': (0.0, 1.4)}, ...]}
    """

    task = "automatic-speech-recognition"
    sequence_outputs = ()  # generated ids are never cut back to an input length

    def __init__(self, model, tokenizer=None, *, feature_extractor=None, **kwargs: Any) -> None:
        if feature_extractor is None:
            raise ValueError("The automatic-speech-recognition pipeline needs a feature extractor: pass "
                             "feature_extractor= (an instance, or a folder with processor_config.json or preprocessor_config.json).")
        if tokenizer is None:
            raise ValueError("The automatic-speech-recognition pipeline needs the model's tokenizer: pass tokenizer=.")
        self.feature_extractor = feature_extractor
        self.type = model_route(model)
        super().__init__(model, tokenizer, **kwargs)

    # --- parameters ---------------------------------------------------------------------------

    def _sanitize_parameters(self, chunk_length_s=None, stride_length_s=None, ignore_warning=None,
                             return_timestamps=None, return_language=None, generate_kwargs: dict | None = None,
                             decoder_kwargs=None, **kwargs):
        # ignore_warning: accepted as the reference does; workbench gives no "chunking is experimental" warning
        pre = {key: value for key, value in (("chunk_length_s", chunk_length_s), ("stride_length_s", stride_length_s))
               if value is not None}
        forward, post = {**(generate_kwargs or {}), **kwargs}, {}
        if decoder_kwargs is not None:
            raise NotImplementedError("decoder_kwargs is for language-model CTC decoding (pyctcdecode), which "
                                      "workbench does not have: drop it.")
        if return_language is not None:
            if self.type != "seq2seq_whisper":
                raise ValueError("return_language is for Whisper models only: drop it.")
            forward["return_language"] = post["return_language"] = return_language
        return_timestamps = return_timestamps or getattr(getattr(self.model, "generation_config", None),
                                                         "return_timestamps", None) or None
        if return_timestamps is not None:
            _check_timestamps(self.type, return_timestamps)
            forward["return_timestamps"] = post["return_timestamps"] = return_timestamps
        return pre, forward, post



    # --- preprocess: windows ------------------------------------------------------------------

    def preprocess(self, item, chunk_length_s: float = 0, stride_length_s=None) -> Iterator[tuple[dict, Any]]:
        """(features, stride or None) per window; stride = (samples in the window, left, right)."""
        rate = self.feature_extractor.sampling_rate
        audio = load_audio(item, rate)
        stride = audio_stride(item, len(audio), rate)
        if chunk_length_s:
            if stride is not None:
                raise ValueError("An input with its own 'stride' cannot be chunked again: drop chunk_length_s or the stride.")
            chunk, left, right = window_sizes(chunk_length_s, stride_length_s, rate, self._align_to)
            for features, window_stride in chunk_iter(audio, self.feature_extractor, chunk, left, right):
                yield self._cast(features), window_stride
            return
        if stride is not None and self.type != "ctc":
            raise ValueError("A 'stride' in the input is for CTC models only: drop it.")
        long_form = self.type == "seq2seq_whisper" and len(audio) > self.feature_extractor.n_samples
        options = dict(truncation=False, padding="longest") if long_form else {}
        features = self.feature_extractor(audio, sampling_rate=rate, return_tensors="pt", return_attention_mask=True,
                                          **options)
        yield self._cast(dict(features)), stride

    @property
    def _align_to(self) -> int:
        """Samples per model output step: a CTC model's logits come every ``inputs_to_logits_ratio``
        samples, so windows and strides are whole steps; 1 for encoder-decoders."""
        return int(getattr(self.model.config, "inputs_to_logits_ratio", 1) or 1)

    def _cast(self, features: dict) -> dict:
        tensors = {key: torch.as_tensor(value) for key, value in features.items()}
        return {key: value.to(self.model.dtype) if value.is_floating_point() else value
                for key, value in tensors.items()}

    def _collate(self, chunks: list) -> tuple:
        """Windows into one batch: each input padded (with zeros, on the right) to the longest."""
        indices, lasts, inputs, metas = zip(*chunks)
        batch = {}
        for key in inputs[0]:
            longest = max(x[key].shape[-1] for x in inputs)
            batch[key] = torch.cat([_pad_last(x[key], longest) for x in inputs], dim=0)
        return indices, lasts, batch, metas, [None] * len(inputs)

    # --- forward ----------------------------------------------------------------------------------

    def _forward(self, model_inputs: dict, return_timestamps=None, return_language=None, **generate_kwargs) -> dict:
        attention_mask = model_inputs.get("attention_mask")
        if self.type == "ctc":
            name = self.model.main_input_name
            logits = self.model(model_inputs[name], attention_mask=attention_mask).logits
            return {"tokens": logits.argmax(dim=-1)}
        features = model_inputs.get("input_features", model_inputs.get("input_values"))
        if self.type == "seq2seq_whisper":
            if return_timestamps:
                generate_kwargs["return_timestamps"] = True
            if return_timestamps == "word":
                generate_kwargs.update(return_token_timestamps=True, return_segments=True)
            if return_language:
                generate_kwargs["return_segments"] = True
        output = self.model.generate(features, attention_mask=attention_mask, **self._generate_kwargs(generate_kwargs))
        return self._read_generated(output, return_timestamps, return_language)

    def _generate_kwargs(self, kwargs: dict) -> dict:
        """The call's generate() arguments, plus the pipeline's defaults for what neither they nor the
        model's generation config set (a generation_config passed to the call stands alone)."""
        if "generation_config" in kwargs:
            return kwargs
        config = getattr(self.model, "generation_config", None)
        chosen = {**({} if config is None else config.to_diff_dict()), **kwargs}
        return with_generation_defaults(kwargs, chosen, DEFAULT_GENERATION, self.tokenizer)

    def _read_generated(self, output, return_timestamps, return_language) -> dict:
        """generate()'s output as tensors with the batch first: ``tokens``, and ``token_timestamps``
        for word times, ``lang_id`` for the language (from the unstripped sequences of the segments)."""
        if not isinstance(output, dict) and not hasattr(output, "sequences"):
            return {"tokens": output}
        sequences = output["sequences"]
        out = {"tokens": sequences}
        segments = output.get("segments") if isinstance(output, dict) else getattr(output, "segments", None)
        if return_timestamps == "word" and self.type == "seq2seq_whisper":
            if segments is None:
                out["token_timestamps"] = output["token_timestamps"]
            else:  # long-form: each row's segments' token times, end to end
                rows = [torch.cat([segment["token_timestamps"] for segment in row]) for row in segments]
                out["token_timestamps"] = _stack_padded(rows, sequences.shape[-1])
        if return_language and segments:
            out["lang_id"] = self._language_ids(segments, sequences.device)
        return out

    def _language_ids(self, segments, device) -> torch.Tensor:
        """(B, 1): each row's language token (-1 when it has none), read off its first segment's tokens."""
        languages = set(getattr(self.model.generation_config, "lang_to_id", {}).values())
        ids = []
        for row in segments:
            result = row[0]["result"] if row else None
            tokens = [] if result is None else (result["sequences"] if isinstance(result, dict) else result).tolist()
            ids.append(next((token for token in tokens if token in languages), -1))
        return torch.tensor(ids, device=device).unsqueeze(1)

    # --- postprocess: one text --------------------------------------------------------------------

    def postprocess(self, chunks, return_timestamps=None, return_language=None):
        outputs = [{**{key: value.cpu() for key, value in out.items()}, **({"stride": stride} if stride else {})}
                   for out, stride in chunks]
        whisper_tokenizer = hasattr(self.tokenizer, "_decode_asr")
        if self.type == "seq2seq_whisper" and (whisper_tokenizer or return_timestamps or return_language):
            if not whisper_tokenizer:
                raise ValueError(f"Whisper's timestamps and languages are read by WhisperTokenizer, and this model's "
                                 f"tokenizer is a {type(self.tokenizer).__name__}: set \"tokenizer_class\": "
                                 "\"WhisperTokenizer\" in its tokenizer_config.json, or drop return_timestamps/return_language.")
            return self._whisper_answer(outputs, return_timestamps, return_language)
        if self.type != "ctc":  # another encoder-decoder, or Whisper with a plain tokenizer
            if len(outputs) > 1:
                tokens = _merge_windows([out["tokens"] for out in outputs], set(self.tokenizer.all_special_ids))
            else:
                tokens = outputs[0]["tokens"][0].tolist()
            return {"text": self.tokenizer.decode(tokens, skip_special_tokens=True)}
        return self._ctc_answer(outputs, return_timestamps)

    def _whisper_answer(self, outputs: list[dict], return_timestamps, return_language) -> dict:
        rate = self.feature_extractor.sampling_rate
        precision = self.feature_extractor.chunk_length / self.model.config.max_source_positions
        for out in outputs:
            if "stride" in out:  # samples -> seconds
                out["stride"] = tuple(value / rate for value in out["stride"])
            if return_language and "lang_id" in out and int(out["lang_id"][0, 0]) >= 0:
                # generate() drops the prompt, language included: put it back where _decode_asr looks for it
                out["tokens"] = torch.cat([out["lang_id"][:1].to(out["tokens"].dtype), out["tokens"]], dim=-1)
        text, optional = self.tokenizer._decode_asr(outputs, return_timestamps=return_timestamps,
                                                    return_language=return_language, time_precision=precision)
        return {"text": text, **optional}

    def _ctc_answer(self, outputs: list[dict], return_timestamps) -> dict:
        """Each window's ids with its strides cut off (in logit frames), end to end, then CTC decoding."""
        from .ctc_decoding import decode_ctc

        return decode_ctc([out["tokens"] for out in outputs], self.tokenizer,
                          strides=[out.get("stride") for out in outputs], return_timestamps=return_timestamps,
                          inputs_to_logits_ratio=self._align_to, sampling_rate=self.feature_extractor.sampling_rate)


def model_route(model) -> str:
    """How the pipeline runs ``model``: "seq2seq_whisper", "seq2seq" (another encoder-decoder) or "ctc"."""
    config = model.config
    if config.model_type == "whisper":
        return "seq2seq_whisper"
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    return "ctc"


def _check_timestamps(route: str, value) -> None:
    if route == "seq2seq" and value:
        raise ValueError("return_timestamps is available for Whisper and CTC models only, not other encoder-decoders.")
    if route == "ctc" and value not in ("char", "word"):
        raise ValueError(f"return_timestamps={value!r}: a CTC model gives 'char' (per character) or 'word' "
                         "(per word) timestamps.")
    if route == "seq2seq_whisper" and value not in (True, False, "word"):
        raise ValueError(f"return_timestamps={value!r}: Whisper gives True (segments) or 'word' (per word) "
                         "timestamps, not per character.")


def window_sizes(chunk_length_s: float, stride_length_s, rate: int, align_to: int = 1) -> tuple[int, int, int]:
    """(window, left stride, right stride) in samples, each a whole number of ``align_to`` steps.
    The stride defaults to a sixth of the window; a single number is both sides."""
    if stride_length_s is None:
        stride_length_s = chunk_length_s / 6
    if isinstance(stride_length_s, (int, float)):
        stride_length_s = (stride_length_s, stride_length_s)
    chunk, left, right = (int(round(seconds * rate / align_to) * align_to)
                          for seconds in (chunk_length_s, *stride_length_s))
    if chunk < left + right:
        raise ValueError(f"chunk_length_s={chunk_length_s} is shorter than its two strides {tuple(stride_length_s)}: "
                         "pass a longer chunk_length_s or a shorter stride_length_s.")
    return chunk, left, right


def chunk_iter(audio: np.ndarray, feature_extractor, chunk: int, left: int, right: int) -> Iterator[tuple[dict, tuple]]:
    """(features, (samples in the window, left stride, right stride)) per window of ``chunk`` samples,
    each starting ``chunk - left - right`` after the previous; the first has no left stride and the
    last no right one. A window holding nothing but the previous one's overlap is skipped."""
    step = chunk - left - right
    for start in range(0, len(audio), step):
        window = audio[start:start + chunk]
        is_last = start + chunk >= len(audio)
        stride = (len(window), 0 if start == 0 else left, 0 if is_last else right)
        if len(window) > stride[1]:
            features = feature_extractor(window, sampling_rate=feature_extractor.sampling_rate, return_tensors="pt",
                                         return_attention_mask=True)
            yield dict(features), stride
        if is_last:
            break


def _merge_windows(windows: list[torch.Tensor], special: set[int]) -> list[int]:
    """An encoder-decoder's windows (each (1, T) ids) as one id list: each next window joins at the
    overlap where most of its first tokens equal the last ones so far (more than one; ties to longer)."""
    merged = [token for token in windows[0][0].tolist() if token not in special]
    for window in windows[1:]:
        tokens = [token for token in window[0].tolist() if token not in special]
        start, best = 0, 0.0
        for length in range(1, len(tokens) + 1):
            matches = int(np.sum(np.array(merged[-length:]) == np.array(tokens[:length])))
            score = matches / length + length / 10000.0
            if matches > 1 and score > best:
                start, best = length, score
        merged.extend(tokens[start:])
    return merged


def _pad_last(tensor: torch.Tensor, length: int) -> torch.Tensor:
    """Zeros on the right of the last dimension (samples or feature frames) up to ``length``."""
    if tensor.shape[-1] == length:
        return tensor
    if tensor.dim() == 2:
        return _pad(tensor, length, 0, "right")
    return torch.nn.functional.pad(tensor, (0, length - tensor.shape[-1]))


def _stack_padded(rows: list[torch.Tensor], length: int) -> torch.Tensor:
    out = torch.zeros(len(rows), length, dtype=rows[0].dtype if rows else torch.float32)
    for index, row in enumerate(rows):
        out[index, : min(length, len(row))] = row[:length]
    return out
