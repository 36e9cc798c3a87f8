"""The ``SpeechInspector`` figure: one window of audio as three panels on a shared time axis.

    waveform   the samples as a min/max envelope (one column per pixel), each chunk's span shaded
    log-mel    what the model hears: log-mel bands every 10 ms over the same seconds
    tokens     each chunk's text at its start time, with a bar to its end

Drawn inside :func:`~workbench.theme.figure_theme`, so text and axes follow the notebook's theme; the
spans use matplotlib's colour cycle at low opacity, readable on light and dark pages alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..processing.whisper import mel_filter_bank
from ..theme import figure_svg, figure_theme
from ._display import figure_png, new_figure

ENVELOPE_COLUMNS = 1200  # the waveform is drawn as this many min/max pairs, whatever its length
MEL_BINS, N_FFT, HOP = 80, 400, 160  # Whisper's log-mel at 16 kHz: 80 bands every 10 ms
SPAN_ALPHA = 0.22
FIGURE_CSS = ".wb-speech-figure svg{max-width:100%;height:auto}"


@dataclass
class Chunk:
    """A piece of the transcript and where it sits: seconds from the start of the audio. ``end`` is
    None where the model gave no end (Whisper's last segment, cut by the window)."""

    text: str
    start: float
    end: float | None


def chunks_of(result: dict | None) -> list[Chunk]:
    """The chunks of an automatic-speech-recognition pipeline's output (``return_timestamps=True``,
    ``"word"`` or ``"char"``): ``{"text", "chunks": [{"text", "timestamp": (start, end)}]}``."""
    if not result:
        return []
    if not isinstance(result, dict) or "text" not in result:
        raise TypeError("result= takes what pipeline('automatic-speech-recognition') returns for one input: a dict "
                        f"with 'text' (and 'chunks' when return_timestamps is set), not {type(result).__name__}.")
    chunks = []
    for index, chunk in enumerate(result.get("chunks") or []):
        start, end = chunk.get("timestamp", (None, None))
        if start is None:
            raise ValueError(f"Chunk {index} ({chunk.get('text')!r}) has no start time: its timestamp is "
                             f"{chunk.get('timestamp')!r}. Pass the pipeline's output with return_timestamps set.")
        chunks.append(Chunk(str(chunk["text"]), float(start), None if end is None else float(end)))
    return chunks


def log_mel(samples: np.ndarray, rate: int) -> torch.Tensor:
    """(80, frames) log10 mel power every 10 ms (Whisper's bands and scaling, without its 30-s
    padding), for any rate: the filters span 0 Hz to min(8 kHz, rate / 2)."""
    n_fft, hop = N_FFT * rate // 16000, HOP * rate // 16000
    waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    if waveform.numel() < n_fft:
        waveform = torch.nn.functional.pad(waveform, (0, n_fft - waveform.numel()))
    spectrum = torch.stft(waveform, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True)
    power = spectrum.abs() ** 2  # (bins, frames)
    filters = mel_filter_bank(1 + n_fft // 2, MEL_BINS, rate, 0.0, min(8000.0, rate / 2)).to(torch.float32)
    log = torch.clamp(filters.T @ power, min=1e-10).log10()
    return torch.maximum(log, log.max() - 8.0)


def envelope(samples: np.ndarray, columns: int = ENVELOPE_COLUMNS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions in [0, 1), minima, maxima) of ``samples`` split into at most ``columns`` runs."""
    count = min(columns, len(samples))
    if count == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    edges = np.linspace(0, len(samples), count + 1).astype(int)
    low = np.minimum.reduceat(samples, edges[:-1])
    high = np.maximum.reduceat(samples, edges[:-1])
    return edges[:-1] / len(samples), low, high


def draw(samples: np.ndarray, rate: int, start: float, seconds: float, chunks: list[Chunk], mel: torch.Tensor):
    """The figure of ``seconds`` of audio from ``start`` (seconds), with ``mel`` the whole audio's log-mel."""
    figure = new_figure(9.0, 4.6, layout=None)
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.1, top=0.97, hspace=0.12)
    wave_ax, mel_ax, token_ax = figure.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": (1.1, 1.4, 0.9)})
    end = start + seconds
    window = samples[int(start * rate):int(end * rate)]
    positions, low, high = envelope(window)
    times = start + positions * len(window) / rate
    wave_ax.fill_between(times, low, high, color="#0a0b0c", linewidth=0.4, step="post")
    peak = float(np.abs(window).max()) if window.size else 1.0
    wave_ax.set(ylabel="amplitude", ylim=(-1.05 * (peak or 1.0), 1.05 * (peak or 1.0)))
    frames = slice(int(start * 100), int(np.ceil(end * 100)))  # 100 frames a second
    shown = mel[:, frames]
    if shown.numel():
        mel_ax.imshow(shown.numpy(), origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
                      extent=(frames.start / 100, frames.start / 100 + shown.shape[1] / 100, 0, mel.shape[0]))
    mel_ax.set(ylabel="mel band")
    _draw_tokens(token_ax, wave_ax, chunks, start, end, len(samples) / rate)
    token_ax.set(xlabel="seconds", xlim=(start, end), yticks=[])
    return figure


def _draw_tokens(token_ax, wave_ax, chunks: list[Chunk], start: float, end: float, duration: float) -> None:
    """Chunks overlapping [start, end): shaded on the waveform, labelled at their start below it,
    alternating between two rows so neighbouring words do not overwrite each other."""
    visible = [c for c in chunks if c.start < end and (c.end if c.end is not None else duration) > start]
    for index, chunk in enumerate(visible):
        stop = chunk.end if chunk.end is not None else duration
        colour = f"C{index % 10}"
        wave_ax.axvspan(chunk.start, stop, color=colour, alpha=SPAN_ALPHA, linewidth=0)
        row = 0.7 if index % 2 == 0 else 0.25
        token_ax.plot([chunk.start, stop], [row - 0.12, row - 0.12], color=colour, linewidth=3, solid_capstyle="butt")
        token_ax.text(max(chunk.start, start), row, chunk.text.strip(), fontsize=8, clip_on=True, va="bottom")
    token_ax.set_ylim(0, 1)
    token_ax.set_ylabel("tokens" if visible else "no tokens", rotation=0, ha="right", va="center")


def speech_svg(samples, rate, start, seconds, chunks, mel, title: str) -> str:
    with figure_theme():
        figure = draw(samples, rate, start, seconds, chunks, mel)
        return figure_svg(figure, title)


def speech_png(samples, rate, start, seconds, chunks, mel) -> bytes:
    """The same figure as PNG bytes in matplotlib's default (light) style, for files and reports."""
    return figure_png(draw(samples, rate, start, seconds, chunks, mel))
