"""Audio input as people have it, turned into what every speech and audio pipeline feeds its model.

    a file path, bytes or a file object (WAV, FLAC, MP3, OGG) ─► soundfile decodes ──────┐
    a datasets row {"path", "bytes"} (an Audio(decode=False) column) ─► the same ────────┤
    a torchcodec AudioDecoder (a decoded datasets column) ─► get_all_samples() ──────────┤
    {"raw" | "array": samples, "sampling_rate": rate} ───────────────────────────────────┼─► mono float32
    an array, tensor or list of samples (taken to be at the model's rate already) ───────┘   at the model's rate

- **Decoder: soundfile.** It wraps libsndfile, which ships inside soundfile's wheels (Linux, macOS,
  Windows), so ``pip install soundfile`` is all it takes to read WAV (8/16/24/32-bit PCM, float),
  FLAC, MP3 and OGG (Vorbis, Opus): no ffmpeg binary (the reference shells out to it), no
  torchaudio or torchcodec (large, and tied to one torch version each). PCM is scaled to [-1, 1]:
  16-bit samples are divided by 2**15, 24-bit by 2**23, 32-bit by 2**31, unsigned 8-bit shifted by
  128 and divided by 128; float files are read as they are.
- **Channels are averaged into one.** A file's channels come from its header; a 2-D array is
  read as (channels, samples) or (samples, channels), the shorter axis taken as the channels (the
  reference refuses (samples, channels) arrays and more than two channels; here both downmix).
- **Any rate is resampled** to the model's with ``scipy.signal.resample_poly`` (a polyphase
  filter, the rates' ratio reduced by their gcd). The reference resamples with torchaudio, which
  is not installed here; the two filters differ slightly, so parity tests feed both libraries
  audio already at the model's rate.
- **Integer PCM arrays** (uint8, int8, int16, int32: ``scipy.io.wavfile.read`` gives int16) are
  scaled by their type's range like PCM in a file; the reference would pass the raw integers to the
  feature extractor. Other integers (a list of Python ints) are taken as values.
- **Errors name the input and the fix**: a missing, empty, undecodable or digitally silent file
  (every sample zero: a muted microphone or an unplugged input), a dict without the keys,
  an input of another type. Silence is an error only for audio decoded from a file, bytes or a
  decoder; an array of zeros is taken as given (pass the samples as an array when the silence is
  intended). The reference has no such check.

datasets 5 decodes audio columns through torchcodec, which is not installed here: load a column
with ``Audio(decode=False)`` (rows ``{"path": ..., "bytes": ...}``), which this module decodes;
an ``AudioDecoder`` is recognised by its ``get_all_samples()`` method, without importing torchcodec.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

FORMATS = "WAV (8/16/24/32-bit PCM or float), FLAC, MP3 and OGG (Vorbis, Opus)"
_ACCEPTED = ("a path to a WAV/FLAC/MP3/OGG file, its bytes, a file object, an array of samples, "
             "{'raw' or 'array': samples, 'sampling_rate': rate}, a datasets audio row {'path', 'bytes'} "
             "or a torchcodec AudioDecoder")


def load_audio(item: Any, sampling_rate: int) -> np.ndarray:
    """One waveform as mono float32 samples at ``sampling_rate``, from any input :func:`check_audio` takes.

    >>> load_audio({"array": [0.0, 0.5, -0.5, 0.0], "sampling_rate": 8000}, 16000).shape
    (8,)
    """
    kind = check_audio(item)
    if kind == "samples":
        samples, rate, name = item, sampling_rate, "The audio array"
    elif kind == "dict samples":
        samples = item["raw"] if item.get("raw") is not None else item["array"]
        rate, name = item["sampling_rate"], f"The audio dict's {'raw' if item.get('raw') is not None else 'array'}"
    elif kind == "decoder":
        samples, rate, name = _decoder_samples(item)
    else:
        source, name = _encoded_source(item, kind)
        samples, rate = read_audio(source, name=name)
    samples = to_mono(samples, name)
    if kind in ("file", "bytes", "file object", "row", "decoder") and not np.any(samples):
        raise ValueError(f"{name} is silent: all {samples.size} samples are zero (a muted or unplugged input?). "
                         "Record it again; if the silence is intended, pass the samples as an array.")
    rate = _check_rate(rate, name)
    return samples if rate == sampling_rate else resample(samples, rate, sampling_rate)


def check_audio(item: Any) -> str:
    """Reject an input no audio pipeline can take, without decoding it; return its kind:
    ``"file"``, ``"bytes"``, ``"file object"``, ``"row"`` (datasets ``{"path", "bytes"}``),
    ``"decoder"`` (torchcodec), ``"dict samples"`` or ``"samples"``."""
    if isinstance(item, (str, os.PathLike)):
        path = os.fspath(item)
        if str(path).startswith(("http://", "https://")):
            raise ValueError(f"{path} is a URL: download the file first and pass its path (or its bytes).")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No audio file at {path}.")
        _check_not_empty(path)
        return "file"
    if isinstance(item, (bytes, bytearray, memoryview)):
        return "bytes"
    if isinstance(item, dict):
        return _dict_kind(item)
    if hasattr(item, "get_all_samples"):
        return "decoder"
    if hasattr(item, "read"):
        return "file object"
    if isinstance(item, (np.ndarray, list, tuple)) or type(item).__module__.split(".")[0] == "torch":
        return "samples"
    raise TypeError(f"Audio input must be {_ACCEPTED}; not {type(item).__name__}.")


def _dict_kind(item: dict) -> str:
    if item.get("raw") is not None or item.get("array") is not None:
        if "sampling_rate" not in item:
            raise ValueError(f"An audio dict needs the samples under 'raw' (or 'array') and their 'sampling_rate'; "
                             f"got keys {sorted(item)}. Add 'sampling_rate': the rate the samples were recorded at.")
        _check_rate(item["sampling_rate"], "The audio dict")
        return "dict samples"
    if item.get("bytes") is not None or item.get("path") is not None:
        if item.get("bytes") is None:
            check_audio(item["path"])
        return "row"
    raise ValueError(f"An audio dict needs the samples under 'raw' (or 'array') and their 'sampling_rate', or an "
                     f"encoded file under 'bytes' or 'path' (a datasets Audio(decode=False) row); got keys "
                     f"{sorted(item)} with none of them set.")


def _encoded_source(item: Any, kind: str) -> tuple[Any, str]:
    """What soundfile opens for an encoded input, and how errors name it."""
    if kind == "file":
        return os.fspath(item), os.fspath(item)
    if kind == "bytes":
        return io.BytesIO(bytes(item)), f"The audio bytes ({len(item)} bytes)"
    if kind == "file object":
        return item, str(getattr(item, "name", "The audio file object"))
    if item.get("bytes") is not None:  # a datasets row: its bytes are the file; its path may be only a name
        data, path = item["bytes"], item.get("path")
        return io.BytesIO(data), f"The audio row's bytes ({len(data)} bytes{f', {path}' if path else ''})"
    return os.fspath(item["path"]), os.fspath(item["path"])


def read_audio(source: Any, name: str | None = None) -> tuple[np.ndarray, int]:
    """An encoded audio file (a path or a binary file object) as mono float32 samples in [-1, 1]
    (its channels averaged) and its sampling rate, decoded by soundfile."""
    try:
        import soundfile
    except ImportError:
        raise ImportError("Reading audio files needs soundfile (pip install 'workbench[audio]'); or pass the "
                          "samples as {'array': samples, 'sampling_rate': rate}.") from None
    name = name or str(source)
    if isinstance(source, (str, os.PathLike)):
        _check_not_empty(source)
    if isinstance(source, io.BytesIO) and not source.getbuffer().nbytes:
        raise ValueError(f"{name} is empty: it holds no audio.")
    try:
        samples, rate = soundfile.read(source, dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, RuntimeError, EOFError) as error:
        reason = (getattr(error, "error_string", None) or str(error)).rstrip(".")
        base = os.path.basename(name) if isinstance(source, (str, os.PathLike)) else "<file>"
        raise ValueError(f"{name} could not be decoded as audio ({reason}). workbench reads {FORMATS} through "
                         f"soundfile; convert other formats first, e.g. ffmpeg -i {base} -ar 16000 -ac 1 out.wav, "
                         "or pass the samples as {'array': samples, 'sampling_rate': rate}.") from None
    if samples.size == 0:
        raise ValueError(f"{name} has no samples: the file is valid but holds 0 frames of audio.")
    # (frames, channels) from the file's header: the mean over channels, accumulated in float64
    return samples.mean(axis=1, dtype=np.float64).astype(np.float32), int(rate)


def _check_not_empty(path: str | os.PathLike) -> None:
    if os.path.getsize(path) == 0:
        raise ValueError(f"{os.fspath(path)} is empty (0 bytes): it holds no audio. Check that the file was "
                         "written completely.")


read_wav = read_audio  # its name when it lived in the ASR pipeline and read only PCM WAV


def _decoder_samples(decoder: Any) -> tuple[Any, Any, str]:
    """torchcodec's AudioDecoder: ``get_all_samples()`` -> ``.data`` (channels, samples) and ``.sample_rate``."""
    metadata = getattr(decoder, "metadata", None)
    name = str(getattr(metadata, "path", None) or "The AudioDecoder's audio")
    decoded = decoder.get_all_samples()
    data = _as_numpy(decoded.data)
    if data.ndim == 2:  # torchcodec's layout is always (channels, samples): no guessing
        data = data.mean(axis=0, dtype=np.float64).astype(np.float32)
    return data, decoded.sample_rate, name


def to_mono(samples: Any, name: str = "The audio") -> np.ndarray:
    """1-D float32 samples: channels averaged, integer samples scaled to [-1, 1] by their type's range.

    A 2-D array is (channels, samples) or (samples, channels): the shorter axis is taken as channels.
    """
    samples = _as_numpy(samples)
    if samples.dtype in _PCM_SCALE:
        middle, scale = _PCM_SCALE[samples.dtype]
        samples = (samples.astype(np.float64) - middle) / scale
    elif samples.dtype.kind not in "fiu":
        raise TypeError(f"{name} holds {samples.dtype} values; pass float samples in [-1, 1] (or integer PCM).")
    if samples.ndim == 2:
        if samples.shape[0] == samples.shape[1]:
            raise ValueError(f"{name} has shape {samples.shape}: which axis holds the channels is ambiguous. Pass "
                             "mono samples (1-D), or average the channels yourself.")
        axis = 0 if samples.shape[0] < samples.shape[1] else 1
        samples = samples.mean(axis=axis, dtype=np.float64)
    if samples.ndim != 1:
        raise ValueError(f"Audio must be a mono waveform (1-D samples) or (channels, samples); {name} has shape "
                         f"{samples.shape}.")
    if samples.size == 0:
        raise ValueError(f"{name} has no samples: audio must be a non-empty mono waveform.")
    samples = samples.astype(np.float32, copy=False)
    if not np.isfinite(samples).all():
        raise ValueError(f"{name} contains NaN or infinite samples; audio must be finite values in [-1, 1].")
    return samples


# integer PCM as arrays hold it (wave, scipy.io.wavfile): (value of silence, full scale)
_PCM_SCALE = {np.dtype(np.uint8): (128, 128), np.dtype(np.int8): (0, 2**7), np.dtype(np.int16): (0, 2**15),
              np.dtype(np.int32): (0, 2**31)}


def _as_numpy(samples: Any) -> np.ndarray:
    if type(samples).__module__.split(".")[0] == "torch":  # a tensor: no torch import needed to recognise it
        samples = samples.detach().cpu()
        return (samples.float() if samples.is_floating_point() else samples).numpy()
    return np.asarray(samples)


def _check_rate(rate: Any, name: str) -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer, float)) or rate <= 0 or int(rate) != rate:
        raise ValueError(f"{name}: sampling_rate must be a positive whole number of samples per second, not {rate!r}.")
    return int(rate)


def audio_stride(item: Any, length: int, sampling_rate: int) -> tuple[int, int, int] | None:
    """A dict input's ``"stride": (left, right)`` (samples at the dict's rate, the context a CTC model
    sees but whose text is dropped), as the reference's pipeline passes it on: ``(length, left,
    right)`` at ``sampling_rate``, where ``length`` is the samples' count after :func:`load_audio`.
    None when the input has no stride."""
    if not isinstance(item, dict) or item.get("stride") is None:
        return None
    left, right = item["stride"]
    ratio = sampling_rate / _check_rate(item.get("sampling_rate", sampling_rate), "The audio dict")
    left, right = int(round(left * ratio)), int(round(right * ratio))
    if left < 0 or right < 0 or left + right > length:
        raise ValueError(f"The audio dict's stride {tuple(item['stride'])} is larger than its {length} samples "
                         f"(at {sampling_rate} Hz): left + right must fit inside the audio.")
    return length, left, right


def resample(samples: np.ndarray, source_rate: int, rate: int) -> np.ndarray:
    """``samples`` at ``source_rate`` Hz resampled to ``rate`` Hz with scipy's polyphase filter, as float32."""
    try:
        from scipy.signal import resample_poly
    except ImportError:
        raise ImportError(f"The audio is at {source_rate} Hz and the model wants {rate} Hz: resampling needs scipy "
                          "(pip install 'workbench[audio]'), or pass audio at the model's rate.") from None
    divisor = np.gcd(source_rate, rate)
    return resample_poly(samples, rate // divisor, source_rate // divisor).astype(np.float32)
