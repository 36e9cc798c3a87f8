"""Whisper's feature extractor against the reference's on synthetic audio (a chirp with noise), its
files both ways, a hand check of the mel scale, and the errors bad input gets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import workbench
from workbench import AutoFeatureExtractor, BatchFeature, WhisperFeatureExtractor

from tolerance import assert_close_scaled

transformers = pytest.importorskip("transformers")

RATE = 16000


def chirp(seconds: float, seed: int = 0) -> np.ndarray:
    """A rising tone with a little noise: every mel bin gets some energy."""
    t = np.arange(int(RATE * seconds)) / RATE
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * np.sin(2 * np.pi * 300 * t * (1 + t)) + 0.01 * noise).astype(np.float32)


@pytest.fixture(scope="module")
def pair():
    return WhisperFeatureExtractor(), transformers.WhisperFeatureExtractor()


def test_mel_filters_equal_the_reference(pair):
    ours, ref = pair
    assert_close_scaled(ours.mel_filters.numpy(), ref.mel_filters, tol=1e-12)
    big = WhisperFeatureExtractor(feature_size=128)  # large-v3's 128 bins
    assert_close_scaled(big.mel_filters.numpy(), transformers.WhisperFeatureExtractor(feature_size=128).mel_filters,
                        tol=1e-12)


AUDIO = {"one": chirp(3.0), "batch": [chirp(3.0), chirp(1.25, seed=1)[:20001] * 2], "long": chirp(31.5)}


@pytest.mark.parametrize("audio", AUDIO)
@pytest.mark.parametrize("options", [
    {}, {"padding": "longest"}, {"padding": "longest", "return_attention_mask": True},
    {"return_attention_mask": True}, {"do_normalize": True}, {"do_normalize": True, "padding": "longest"},
    {"padding": "longest", "pad_to_multiple_of": 1000, "return_attention_mask": True},
    {"max_length": 48000, "return_attention_mask": True},
], ids=lambda options: ",".join(f"{k}={v}" for k, v in options.items()) or "defaults")
def test_features_equal_the_reference(pair, audio, options):
    ours, ref = pair
    mine, theirs = ours(AUDIO[audio], sampling_rate=RATE, **options), ref(AUDIO[audio], sampling_rate=RATE, **options)
    assert_close_scaled(mine["input_features"], theirs["input_features"], tol=1e-6)
    if options.get("return_attention_mask"):
        np.testing.assert_array_equal(mine["attention_mask"], theirs["attention_mask"])
        assert mine["attention_mask"].shape[1] == mine["input_features"].shape[2]


def test_input_shapes_give_the_same_features(pair):
    ours, _ = pair
    a, b = chirp(2.0), chirp(2.0, seed=3)
    stacked = ours(np.stack([a, b]), sampling_rate=RATE)["input_features"]
    for other in ([a, b], [a.tolist(), b.tolist()], torch.from_numpy(np.stack([a, b])), [torch.from_numpy(a), b]):
        np.testing.assert_array_equal(ours(other, sampling_rate=RATE)["input_features"], stacked)
    np.testing.assert_array_equal(ours(a, sampling_rate=RATE)["input_features"], stacked[:1])


def test_a_pure_tone_lands_in_its_mel_bin(pair):
    """Hand check: a 1 kHz tone's energy peaks in the filter whose centre is nearest 1 kHz. On
    Slaney's scale 1 kHz is 15 mels; the 80 filters split 0-8 kHz (0-45.25 mels) evenly."""
    ours, _ = pair
    t = np.arange(RATE) / RATE
    features = ours(np.sin(2 * np.pi * 1000 * t).astype(np.float32), sampling_rate=RATE, padding="longest")["input_features"]
    top_mel = 15.0 + np.log(8000 / 1000) * 27 / np.log(6.4)  # 8 kHz in mels
    centres = np.linspace(0, top_mel, 82)[1:-1]
    expected = int(np.argmin(np.abs(centres - 15.0)))
    assert int(features[0, :, 10:-10].mean(-1).argmax()) == expected


def test_return_tensors_and_batch_feature(pair):
    ours, _ = pair
    batch = ours([chirp(1.0)], sampling_rate=RATE, return_tensors="pt", return_attention_mask=True)
    assert isinstance(batch, BatchFeature) and isinstance(batch.input_features, torch.Tensor)
    assert batch.input_features.dtype == torch.float32 and batch.input_features.shape == (1, 80, 3000)
    assert batch.attention_mask.sum().item() == 100  # one second = 100 frames of 10 ms
    assert batch.to("cpu") is batch
    assert isinstance(ours([chirp(1.0)], sampling_rate=RATE, return_tensors="np")["input_features"], np.ndarray)


def test_saved_by_workbench_loads_in_the_reference_and_back(tmp_path, pair):
    ours = WhisperFeatureExtractor(feature_size=128, chunk_length=20)
    ours.save_pretrained(tmp_path / "ours")
    theirs = transformers.AutoFeatureExtractor.from_pretrained(tmp_path / "ours")
    assert type(theirs).__name__ == "WhisperFeatureExtractor" and theirs.feature_size == 128 and theirs.n_samples == 320000
    audio = chirp(2.0)
    assert_close_scaled(ours(audio, sampling_rate=RATE)["input_features"],
                        theirs(audio, sampling_rate=RATE)["input_features"], tol=1e-6)

    theirs.save_pretrained(tmp_path / "theirs")
    again = AutoFeatureExtractor.from_pretrained(tmp_path / "theirs")
    assert isinstance(again, WhisperFeatureExtractor) and again.feature_size == 128 and again.chunk_length == 20
    saved = json.loads((tmp_path / "theirs" / "preprocessor_config.json").read_text())
    again.save_pretrained(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "preprocessor_config.json").read_text()) == saved  # nothing lost


@pytest.mark.parametrize("key", ["feature_extractor", "audio_processor"])
def test_the_transformers_5_layout_and_a_settings_file_load_as_in_the_reference(tmp_path, key):
    """processor_config.json nests the settings (under "feature_extractor", or "audio_processor" in some
    saves); a path to a settings file loads too. Each as the reference reads it; a path to a
    processor_config.json file (which the reference reads as flat settings, and fails on) gives its entry."""
    settings = WhisperFeatureExtractor(feature_size=128, chunk_length=20).to_dict()
    (tmp_path / "processor_config.json").write_text(json.dumps({key: settings, "processor_class": "WhisperProcessor"}))
    (tmp_path / "alone.json").write_text(json.dumps(settings))
    audio = chirp(1.0)
    assert AutoFeatureExtractor.from_pretrained(tmp_path / "processor_config.json").to_dict() == settings
    for location in (tmp_path, tmp_path / "alone.json"):
        theirs = transformers.AutoFeatureExtractor.from_pretrained(location)
        for ours in (AutoFeatureExtractor.from_pretrained(location), WhisperFeatureExtractor.from_pretrained(location)):
            assert ours.to_dict() == theirs.to_dict()
            assert_close_scaled(ours(audio, sampling_rate=RATE)["input_features"],
                                theirs(audio, sampling_rate=RATE)["input_features"], tol=1e-6)


def test_a_folder_without_settings_names_the_files_looked_for(tmp_path):
    (tmp_path / "processor_config.json").write_text(json.dumps({"processor_class": "SomeProcessor", "size": 3}))
    with pytest.raises(workbench.errors.CheckpointNotFoundError,
                       match=r"looked for processor_config.json with a 'feature_extractor' entry \(what transformers 5 "
                             r"saves\) and preprocessor_config.json .*has no 'feature_extractor' entry \(keys: "
                             r"processor_class, size\)"):
        AutoFeatureExtractor.from_pretrained(tmp_path)


def test_auto_falls_back_to_the_model_type(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"feature_size": 80, "sampling_rate": 16000}))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "whisper"}))
    assert isinstance(AutoFeatureExtractor.from_pretrained(tmp_path), WhisperFeatureExtractor)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "encodec"}))
    with pytest.raises(workbench.errors.UnsupportedModelError, match="has no feature extractor in workbench"):
        AutoFeatureExtractor.from_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"feature_extractor_type": "CLAPFeatureExtractor"}))
    with pytest.raises(workbench.errors.UnsupportedModelError, match="'CLAPFeatureExtractor' is not implemented"):
        AutoFeatureExtractor.from_pretrained(tmp_path)


@pytest.mark.parametrize("audio, options, error, match", [
    (chirp(1.0), {"sampling_rate": 44100}, ValueError, "sampled at 44100 Hz but this feature extractor expects 16000"),
    (np.zeros((2, 2, 100), np.float32), {}, ValueError, "only mono audio"),
    ([], {}, ValueError, "empty list"),
    ("a.wav", {}, TypeError, "not str"),
    ([chirp(1.0), np.zeros(0, np.float32)], {}, ValueError, "non-empty 1-D"),
    ([chirp(1.0), chirp(2.0)], {"padding": False}, ValueError, "different lengths and padding=False"),
    (chirp(1.0), {"padding": "all"}, ValueError, "padding='all'"),
    (chirp(1.0), {"return_tensors": "tf"}, ValueError, "return_tensors='tf' is not supported"),
])
def test_bad_input_names_the_fix(pair, audio, options, error, match):
    ours, _ = pair
    with pytest.raises(error, match=match):
        ours(audio, **{"sampling_rate": RATE, **options})


def test_a_missing_sampling_rate_is_warned_about(pair, caplog):
    ours, _ = pair
    with caplog.at_level("WARNING", logger="workbench"):
        ours(chirp(0.5))
    assert "Pass sampling_rate=16000" in caplog.text
