"""``SpeechInspector``: hear what a speech model heard. One view of an audio clip on a shared time
axis: the waveform, its log-mel spectrogram, and the transcript's chunks (segments, words or
characters) placed at the times the model gave them, over a window you move through the audio.

>>> from workbench import pipeline
>>> from workbench.widgets import SpeechInspector
>>> asr = pipeline("automatic-speech-recognition", model=whisper_folder)              # doctest: +SKIP
>>> SpeechInspector("meeting.wav", asr, return_timestamps="word")  # runs the pipeline  # doctest: +SKIP
>>> SpeechInspector("meeting.wav", result=asr("meeting.wav", return_timestamps=True))  # doctest: +SKIP

The audio is decoded once (any file or array the pipelines take, at the pipeline's sampling rate,
16 kHz without one) and, given a pipeline and no ``result=``, transcribed once: ``**pipeline_kwargs``
go to that call (``return_timestamps=True`` unless given, ``chunk_length_s=``...). Moving the window
redraws; nothing is recomputed. State, for code and tests: ``.samples``, ``.sampling_rate``,
``.duration``, ``.result``, ``.chunks`` (:class:`~workbench.widgets.speech_figure.Chunk`), ``.mel``
(80, frames), ``.start`` and ``.seconds`` (settable), ``.warnings``.
"""

from __future__ import annotations

from html import escape

from ..theme import VIEW_CSS
from ._display import Displayable, import_ipywidgets
from .speech_figure import FIGURE_CSS, Chunk, chunks_of, log_mel, speech_svg

WINDOWS = (5.0, 10.0, 30.0, 60.0)  # seconds the view can show at once, besides the whole clip
MAX_ROWS = 400  # chunk table rows in the view; the rest are counted
STYLE = """
.wb-speech .head{margin:4px 0 6px}
.wb-speech .text{margin:4px 0 8px;font-style:italic}
.wb-speech table{border-collapse:collapse;font-size:12px}
.wb-speech th,.wb-speech td{border-bottom:1px solid var(--wb-border);padding:1px 8px;text-align:left}
.wb-speech td.num{text-align:right;font-variant-numeric:tabular-nums}
.wb-speech tr.in td{background:var(--wb-bg-alt)}
.wb-speech .warn{background:var(--wb-warn-bg);color:var(--wb-warn-fg);padding:2px 6px;margin:4px 0}
.wb-speech .scroll{max-height:260px;overflow-y:auto}
"""


class SpeechInspector(Displayable):
    """``audio`` (a path, samples, or ``{"raw"|"array": samples, "sampling_rate": rate}``) with the
    chunks of ``result`` (an ASR pipeline's output) or of ``pipeline(audio, **pipeline_kwargs)``.
    ``sampling_rate=`` gives the rate of bare samples. ``start`` and ``seconds`` choose the window
    (``seconds=None``: the whole clip)."""

    def __init__(self, audio, pipeline=None, *, result=None, sampling_rate: int | None = None, start: float = 0.0,
                 seconds: float | None = 30.0, **pipeline_kwargs) -> None:
        from ..audio import load_audio

        if pipeline_kwargs and pipeline is None:
            raise TypeError(f"{sorted(pipeline_kwargs)} go to the pipeline's call, but no pipeline was given: pass "
                            "one as the second argument, or its output as result=.")
        extractor = getattr(pipeline, "feature_extractor", None)
        self.sampling_rate = int(getattr(extractor, "sampling_rate", None) or sampling_rate or 16000)
        if sampling_rate is not None and not isinstance(audio, (str, dict)) and not hasattr(audio, "__fspath__"):
            audio = {"raw": audio, "sampling_rate": sampling_rate}
        self.samples = load_audio(audio, self.sampling_rate)
        self.duration = len(self.samples) / self.sampling_rate
        if result is None and pipeline is not None:
            pipeline_kwargs.setdefault("return_timestamps", True)
            result = pipeline({"raw": self.samples, "sampling_rate": self.sampling_rate}, **pipeline_kwargs)
        self.result = result
        self.chunks: list[Chunk] = chunks_of(result)
        self.warnings = self._check_chunks()
        self.mel = log_mel(self.samples, self.sampling_rate)
        self._start, self._seconds = 0.0, None
        self._set_window(start, seconds)
        self._build_widget()
        self._redraw()

    # --- state ---------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        return (self.result or {}).get("text", "")

    @property
    def start(self) -> float:
        return self._start

    @start.setter
    def start(self, value: float) -> None:
        self._set_window(value, self._seconds)
        self._sync_controls()
        self._redraw()

    @property
    def seconds(self) -> float:
        """The window's length in seconds (the whole clip when set to None)."""
        return self._seconds

    @seconds.setter
    def seconds(self, value: float | None) -> None:
        self._set_window(self._start, value)
        self._sync_controls()
        self._redraw()

    def visible_chunks(self) -> list[Chunk]:
        end = self._start + self._seconds
        return [c for c in self.chunks if c.start < end and (c.end if c.end is not None else self.duration) > self._start]

    def _set_window(self, start: float, seconds: float | None) -> None:
        seconds = self.duration if seconds is None else float(seconds)
        if seconds <= 0:
            raise ValueError(f"seconds={seconds}: the window must be longer than 0 s (None shows the whole clip).")
        seconds = min(seconds, self.duration) or self.duration
        if not 0 <= start < max(self.duration, 1e-9):
            raise ValueError(f"start={start}: the clip is {self.duration:.2f} s long; pick a start in "
                             f"[0, {self.duration:.2f}).")
        self._seconds = seconds
        self._start = float(min(start, self.duration - seconds))

    def _check_chunks(self) -> list[str]:
        """Chunks the audio cannot hold, and times that go backwards, said rather than drawn silently."""
        notes = []
        late = [c for c in self.chunks if c.start > self.duration + 0.02 or (c.end or 0) > self.duration + 0.02]
        if late:
            notes.append(f"{len(late)} chunk(s) end after the audio ({self.duration:.2f} s), first {late[0].text!r} "
                         f"at {late[0].start:.2f}-{late[0].end} s: were they made from other audio?")
        backwards = [c for c in self.chunks if c.end is not None and c.end < c.start]
        if backwards:
            notes.append(f"{len(backwards)} chunk(s) end before they start, first {backwards[0].text!r}.")
        if self.result is not None and not self.chunks:
            notes.append("The result has no chunks: transcribe with return_timestamps=True (segments), \"word\" "
                         "or \"char\" (CTC models) to see the text placed in time.")
        return notes

    # --- widget --------------------------------------------------------------------------------

    def _build_widget(self) -> None:
        widgets = import_ipywidgets()
        choices = [(f"{w:g} s", w) for w in WINDOWS if w < self.duration] + [(f"all ({self.duration:.1f} s)", None)]
        self.window_menu = widgets.Dropdown(options=choices, description="show", layout=widgets.Layout(width="200px"))
        self.start_slider = widgets.FloatSlider(min=0.0, max=max(self.duration, 0.01), step=0.1, description="from (s)",
                                                continuous_update=False, readout_format=".1f",
                                                layout=widgets.Layout(width="420px"))
        self.output = widgets.HTML()
        self._sync_controls()
        self.window_menu.observe(self._on_controls, names="value")
        self.start_slider.observe(self._on_controls, names="value")
        self.widget = widgets.VBox([widgets.HBox([self.window_menu, self.start_slider]), self.output])

    def _sync_controls(self) -> None:
        if getattr(self, "window_menu", None) is None:
            return
        self._syncing = True
        try:
            whole = self._seconds >= self.duration
            values = [value for _, value in self.window_menu.options]
            if not whole and self._seconds not in values:  # a window set from code joins the menu
                options = [(label, v) for label, v in self.window_menu.options if v is not None] + [
                    (f"{self._seconds:g} s", self._seconds)]
                options.sort(key=lambda option: option[1])
                self.window_menu.options = options + [(f"all ({self.duration:.1f} s)", None)]
            self.window_menu.value = None if whole else self._seconds
            self.start_slider.value = self._start
        finally:
            self._syncing = False

    def _on_controls(self, change) -> None:
        if getattr(self, "_syncing", False):
            return
        seconds = self.window_menu.value
        start = min(self.start_slider.value, max(self.duration - (seconds or self.duration), 0.0))
        self._set_window(start, seconds)
        self._redraw()

    def _redraw(self) -> None:
        if getattr(self, "output", None) is not None:
            self.output.value = self._body()
            self.refresh_saved_view()

    # --- views ---------------------------------------------------------------------------------

    def _body(self) -> str:
        end = self._start + self._seconds
        title = f"{self._start:.1f}-{end:.1f} s of {self.duration:.1f} s: waveform, log-mel and tokens"
        parts = [f'<div class="head"><b>SpeechInspector</b>: {self.duration:.2f} s at {self.sampling_rate} Hz, '
                 f'{len(self.chunks)} chunks; showing {self._start:.1f}-{end:.1f} s</div>']
        if self.text:
            parts.append(f'<div class="text">{escape(self.text.strip())}</div>')
        parts += [f'<div class="warn" role="alert">{escape(note)}</div>' for note in self.warnings]
        svg = speech_svg(self.samples, self.sampling_rate, self._start, self._seconds, self.chunks, self.mel, title)
        parts.append(f'<div class="wb-speech-figure">{svg}</div>')
        parts.append(self._table())
        return f'<div class="wb-view wb-speech"><style>{VIEW_CSS}{FIGURE_CSS}{STYLE}</style>{"".join(parts)}</div>'

    def _table(self) -> str:
        if not self.chunks:
            return ""
        shown = set(map(id, self.visible_chunks()))
        rows = []
        for index, chunk in enumerate(self.chunks[:MAX_ROWS]):
            end = "-" if chunk.end is None else f"{chunk.end:.2f}"
            css = ' class="in"' if id(chunk) in shown else ""
            rows.append(f'<tr{css}><td class="num">{index}</td><td class="num">{chunk.start:.2f}</td>'
                        f'<td class="num">{end}</td><td>{escape(chunk.text)}</td></tr>')
        more = (f"<div>... and {len(self.chunks) - MAX_ROWS} more chunks.</div>" if len(self.chunks) > MAX_ROWS
                else "")
        return ('<div class="scroll"><table><thead><tr><th>#</th><th>start (s)</th><th>end (s)</th><th>text</th>'
                f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div>{more}')

    def to_html(self) -> str:
        """The static view: the current window's figure and every chunk with its times."""
        return self._body()

    def to_text(self) -> str:
        lines = [f"SpeechInspector: {self.duration:.2f} s at {self.sampling_rate} Hz, {len(self.chunks)} chunks, "
                 f"window {self._start:.1f}-{self._start + self._seconds:.1f} s"]
        if self.text:
            lines.append(f"text: {self.text.strip()}")
        lines += [f"{c.start:7.2f} - {'   -   ' if c.end is None else f'{c.end:7.2f}'}  {c.text.strip()}"
                  for c in self.chunks[:MAX_ROWS]]
        lines += [f"warning: {note}" for note in self.warnings]
        return "\n".join(lines)
