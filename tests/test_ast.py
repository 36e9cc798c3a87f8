"""The Audio Spectrogram Transformer beyond the shared suite (which runs its heads: tests/test_models.py):
its feature extractor against the reference's on speech and noise, its settings file both ways, the
real model's patch grid, and the audio-classification pipeline against the reference's."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch

import workbench
from workbench.models.registry import FAMILIES
from workbench.processing import ASTFeatureExtractor, AutoFeatureExtractor

from reference import build_reference_model, save_reference_model

SENTENCE = "The quick brown fox jumps over the lazy dog."
# 7 labels: the default top_k (5) is below the label count, top_k=10 is cut to it
TINY = dict(FAMILIES["audio-spectrogram-transformer"].tiny, num_labels=7)
TINY_FEATURES = dict(num_mel_bins=TINY["num_mel_bins"], max_length=TINY["max_length"])


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """(the espeak-ng WAV at 22,050 Hz, its samples resampled to 16 kHz as the reference needs them)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bash scripts/setup-system.sh)")
    import soundfile
    from scipy.signal import resample_poly

    path = tmp_path_factory.mktemp("speech") / "fox.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(path), SENTENCE], check=True,
                   capture_output=True)
    samples, rate = soundfile.read(path, dtype="float32")
    assert rate == 22050
    return path, resample_poly(samples, 320, 441).astype(np.float32)  # 22,050 * 320 / 441 = 16,000


@pytest.fixture(scope="module")
def noise():
    return (np.random.default_rng(0).standard_normal(12000) * 0.1).astype(np.float32)


# --- the feature extractor ------------------------------------------------------------------


@pytest.mark.parametrize("settings", [{}, dict(TINY_FEATURES, do_normalize=False)], ids=["default", "tiny-raw"])
def test_features_match_the_reference(settings, speech, noise):
    """The default 1,024 frames pad the 3-second sentence; the tiny 24 frames cut it and the noise."""
    from transformers import ASTFeatureExtractor as Reference

    ours, theirs = ASTFeatureExtractor(**settings), Reference(**settings)
    for audio in (speech[1], noise, [speech[1][:7000], noise]):
        expected = theirs(audio, sampling_rate=16000, return_tensors="np")["input_values"]
        actual = ours(audio, sampling_rate=16000, return_tensors="np")["input_values"]
        assert actual.shape == expected.shape and actual.dtype == np.float32
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-4)


def test_settings_load_both_ways(tmp_path, noise):
    from transformers import ASTFeatureExtractor as Reference

    settings = dict(TINY_FEATURES, mean=-3.0, std=2.5, return_attention_mask=True)
    Reference(**settings).save_pretrained(tmp_path / "theirs")
    ours = AutoFeatureExtractor.from_pretrained(tmp_path / "theirs")
    assert isinstance(ours, ASTFeatureExtractor) and ours.mean == -3.0 and ours.max_length == 24
    ours.save_pretrained(tmp_path / "ours")
    written = json.loads((tmp_path / "ours" / "preprocessor_config.json").read_text())
    assert written == json.loads((tmp_path / "theirs" / "preprocessor_config.json").read_text())
    theirs = Reference.from_pretrained(tmp_path / "ours")
    expected = theirs(noise, sampling_rate=16000, return_tensors="np")
    assert list(expected) == ["input_values"]  # return_attention_mask is saved, never used
    actual = ours(noise, sampling_rate=16000, return_tensors="pt")
    assert list(actual) == ["input_values"]
    np.testing.assert_allclose(actual["input_values"].numpy(), expected["input_values"], rtol=1e-5, atol=1e-4)


def test_the_wrong_sampling_rate_is_an_error_that_says_so():
    with pytest.raises(ValueError, match="sampled at 22050 Hz but this feature extractor expects 16000 Hz"):
        ASTFeatureExtractor()(np.zeros(4000, dtype=np.float32), sampling_rate=22050)


# --- the model ------------------------------------------------------------------------------------


def test_the_real_configs_patch_grid_and_a_wrong_input_size():
    """MIT/ast-finetuned-audioset's layout: 16 x 16 patches every 10 bins and 10 frames of 128 x 1024
    (12 x 101 patches), positions for them and the two prefix tokens, as the reference's."""
    from transformers import ASTConfig as ReferenceConfig, ASTModel as ReferenceModel

    with torch.device("meta"):
        ours = workbench.ASTModel(workbench.ASTConfig(num_hidden_layers=1))
        theirs = ReferenceModel(ReferenceConfig(num_hidden_layers=1))
    assert ours.embeddings.position_embeddings.shape == theirs.embeddings.position_embeddings.shape == (1, 1214, 768)
    tiny = workbench.ASTForAudioClassification(workbench.ASTConfig(**TINY))
    with pytest.raises(ValueError, match="input_values are 30 frames x 16 mel bins, the model takes 24 x 16"):
        tiny(torch.zeros(1, 30, 16))


# --- the audio-classification pipeline -----------------------------------------------------------


@pytest.fixture(scope="module")
def classifier_folder(tmp_path_factory):
    """A tiny random AST classifier with 7 labels and its feature extractor, saved by the reference."""
    from transformers import ASTFeatureExtractor as Reference

    folder = str(tmp_path_factory.mktemp("ast-classifier"))
    model = build_reference_model("audio-spectrogram-transformer", "ASTForAudioClassification", TINY)
    model.config.id2label = {i: name for i, name in enumerate(["dog", "cat", "speech", "music", "rain", "car", "bird"])}
    model.config.label2id = {name: i for i, name in model.config.id2label.items()}
    save_reference_model(model, folder)
    Reference(**TINY_FEATURES).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pipelines(classifier_folder):
    import transformers

    return (workbench.pipeline("audio-classification", model=classifier_folder),
            transformers.pipeline("audio-classification", model=classifier_folder))


def assert_same_answers(actual, expected):
    assert [[a["label"] for a in answer] for answer in actual] == [[e["label"] for e in answer] for answer in expected]
    for ours, theirs in zip(actual, expected):
        assert list(ours[0]) == ["score", "label"]
        np.testing.assert_allclose([a["score"] for a in ours], [e["score"] for e in theirs], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("options", [
    dict(top_k=5), dict(top_k=None), dict(top_k=10, function_to_apply="sigmoid"),
    dict(top_k=3, function_to_apply="none"),
], ids=["top5", "every-label", "sigmoid-cut-to-7", "none"])
def test_pipeline_matches_the_reference(options, pipelines, speech, noise):
    ours, theirs = pipelines
    clips = [speech[1], noise]
    expected = theirs(clips, **options)
    assert_same_answers([ours(clip, **options) for clip in clips], expected)  # one at a time
    assert_same_answers(ours(clips, batch_size=2, **options), expected)  # batched


def test_pipeline_inputs_and_defaults(pipelines, speech, classifier_folder):
    """A WAV path and a dict at 22,050 Hz are resampled to the 16 kHz the reference is given; a call
    without top_k gives 5 labels (the reference's documented default; its calls give every label);
    the task follows from the model's architecture."""
    ours, theirs = pipelines
    path, at_16k = speech
    import soundfile

    samples, rate = soundfile.read(path, dtype="float32")
    expected = theirs(at_16k, top_k=5)
    assert_same_answers([ours(path), ours({"array": samples, "sampling_rate": rate})], [expected, expected])
    with open(path, "rb") as file:  # a file object and its bytes are one clip each, not a batch of lines
        assert_same_answers([ours(file), ours(path.read_bytes())], [expected, expected])
    assert len(ours(at_16k.tolist())) == 5  # a list of floats is one clip
    inferred = workbench.pipeline(model=classifier_folder, top_k=2)
    assert type(inferred).__name__ == "AudioClassificationPipeline" and len(inferred(at_16k)) == 2
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        ours(at_16k, top_k=0)


@pytest.mark.parametrize("class_name", ["ASTForAudioClassification", "Wav2Vec2ForSequenceClassification"])
def test_audio_classifiers_map_to_the_audio_classification_task(class_name):
    from workbench.tasks import TASKS, task_for_class

    assert task_for_class(class_name) == "audio-classification"
    assert TASKS["audio-classification"].auto_class == "AutoModelForAudioClassification"
