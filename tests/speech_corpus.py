"""Speech with known text, for the speech tests: sentences spoken by espeak-ng, the alsa-utils
recordings, and a synthetic meeting with known sentence boundaries.

    corpus(directory)  -> [Utterance]: SENTENCES, each spoken with one of VOICES at one of SPEEDS,
                          as 16 kHz float32 (espeak-ng writes 22,050 Hz; workbench.audio resamples)
    alsa_recordings()  -> [Utterance]: /usr/share/sounds/alsa/*.wav but Noise.wav (48 kHz, a person
                          saying the file's name: "Front Center")
    meeting(seconds)   -> (16 kHz waveform, [(start_s, end_s, sentence)]): corpus sentences with
                          pauses of 0.6-2.0 s between them
    normalize(text)    -> the text as WER compares it

Each builder runs once per process (memoised), so every test module of a session shares one build.
A test module typically wraps them in a fixture::

    @pytest.fixture(scope="module")
    def utterances(tmp_path_factory):
        return speech_corpus.corpus(tmp_path_factory.getbasetemp() / "speech_corpus")
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.audio import load_audio

RATE = 16000
# Harvard sentences (IEEE 1969 recommended practice for speech quality measurements): phonetically
# balanced everyday English, the usual test sentences for speech systems
SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
]
# espeak-ng voices (`espeak-ng --voices=en`; "+f3" and "+m3" are variants of the base voice)
VOICES = ["en-us", "en", "en+f3", "en-gb", "en-gb-scotland", "en+m3", "en-029", "en-us+f2"]
SPEEDS = [130, 145, 160, 175, 190]  # words per minute
ALSA_SOUNDS = Path("/usr/share/sounds/alsa")


@dataclass(frozen=True)
class Utterance:
    text: str  # what was said
    audio: np.ndarray  # (samples,) float32 at 16 kHz
    path: Path  # the file as written (espeak-ng: 22,050 Hz 16-bit mono; alsa: 48 kHz)
    voice: str = ""
    speed: int = 0


_BUILT: dict[str, object] = {}


def corpus(directory: str | Path | None = None) -> list[Utterance]:
    """Every sentence of SENTENCES spoken by espeak-ng, voice and speed rotating through VOICES and
    SPEEDS, written as WAV files into ``directory`` (default: a new temporary folder) and read back at
    16 kHz. Built once per process: later calls return the first build, whatever their directory."""
    if "corpus" not in _BUILT:
        espeak = shutil.which("espeak-ng")
        if espeak is None:
            raise RuntimeError("espeak-ng is not installed (bash scripts/setup-system.sh installs it).")
        folder = Path(directory or tempfile.mkdtemp(prefix="speech_corpus_"))
        folder.mkdir(parents=True, exist_ok=True)
        utterances = []
        for index, text in enumerate(SENTENCES):
            voice, speed = VOICES[index % len(VOICES)], SPEEDS[index % len(SPEEDS)]
            path = folder / f"{index:02d}.wav"
            subprocess.run([espeak, "-v", voice, "-s", str(speed), "-w", str(path), text], check=True,
                           capture_output=True)
            utterances.append(Utterance(text, load_audio(path, RATE), path, voice, speed))
        _BUILT["corpus"] = utterances
    return _BUILT["corpus"]


def alsa_recordings() -> list[Utterance]:
    """The alsa-utils speaker-test recordings (a person saying "Front Center", ...) at 16 kHz; Noise.wav
    (no speech) left out. Empty when alsa-utils' sounds are not installed."""
    paths = sorted(path for path in ALSA_SOUNDS.glob("*.wav") if path.stem != "Noise")
    return [Utterance(path.stem.replace("_", " "), load_audio(path, RATE), path) for path in paths]


def trimmed(audio: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """``audio`` without the near-silent samples espeak-ng leaves before and after the speech."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    return audio[loud[0]:loud[-1] + 1] if loud.size else audio[:0]


def meeting(seconds: float = 180.0, seed: int = 0, directory: str | Path | None = None,
            ) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """A synthetic meeting of ``seconds`` at 16 kHz: corpus sentences in order (starting over when
    they run out, ~95 s per round), each trimmed to its speech and followed by a pause of digital
    silence of 0.6-2.0 s (seeded, whole 10 ms steps); silence pads the end to exactly ``seconds``.

    Returns the waveform (float32) and, per sentence, ``(start, end, text)`` in seconds: where its
    speech starts and ends in the waveform. A first pause of 0.6-2.0 s opens the meeting too.
    """
    utterances = corpus(directory)
    rng = np.random.default_rng(seed)
    total = int(round(seconds * RATE))
    pieces, boundaries, position, index = [], [], 0, 0
    while True:
        pause = int(rng.integers(60, 201)) * RATE // 100  # 0.6-2.0 s in 10 ms steps
        speech = trimmed(utterances[index % len(utterances)].audio)
        if position + pause + len(speech) > total:
            break
        pieces += [np.zeros(pause, np.float32), speech]
        boundaries.append(((position + pause) / RATE, (position + pause + len(speech)) / RATE,
                           utterances[index % len(utterances)].text))
        position, index = position + pause + len(speech), index + 1
    pieces.append(np.zeros(total - position, np.float32))
    return np.concatenate(pieces), boundaries


def normalize(text: str) -> str:
    """Text as word error rates compare it: lowercase, punctuation dropped (an apostrophe inside a
    word stays: "it's"), hyphens and other separators turned into spaces, whitespace collapsed."""
    text = re.sub(r"[^a-z0-9' ]+", " ", text.lower())
    text = re.sub(r"(?<![a-z0-9])'|'(?![a-z0-9])", " ", text)  # quotes, not apostrophes
    return " ".join(text.split())
