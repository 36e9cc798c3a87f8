"""CLAP against the reference (transformers 5.23): what the shared suite (test_models.py) does not run.

The fused audio tower (the crops of clips marked ``is_longer`` fused into the whole clip's patches, the
others not, in one batch; trained: gradients equal), the towers with their projections, the feature
extractor on spoken (espeak-ng) and noise audio in every truncation and padding mode, the processor,
and ``pipeline("zero-shot-audio-classification")`` on tiny random CLAPs saved by the reference with a
RoBERTa byte-level BPE tokenizer trained here.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import workbench
from workbench.models.registry import FAMILIES

from image_inputs import compare_outputs, text_ids
from reference import build_reference_model, load_reference_model, save_reference_model
from tolerance import assert_close_scaled

transformers = pytest.importorskip("transformers")

RATE = 48000
TINY = FAMILIES["clap"].tiny
FUSED = dict(TINY, audio_config=dict(TINY["audio_config"], enable_fusion=True, fusion_type="aff_2d"))
LABELS = ["a dog barking", "rain on a roof", "a car engine", "speech"]


def fused_inputs(is_longer: list[bool], seed: int = 0) -> dict:
    """Texts (the second padded) and (B, 4, 100, 8) features: the whole clip and 3 crops."""
    generator = torch.Generator().manual_seed(seed)
    batch = len(is_longer)
    return {**text_ids(dict(TINY["text_config"], pad_token_id=1), batch, 7, generator),
            "input_features": torch.randn(batch, 4, 100, 8, generator=generator),
            "is_longer": torch.tensor(is_longer)[:, None]}


@pytest.fixture(scope="module")
def fused(tmp_path_factory):
    reference = build_reference_model("clap", "ClapModel", FUSED)
    folder = save_reference_model(reference, str(tmp_path_factory.mktemp("fused")))
    return reference, workbench.ClapModel.from_pretrained(folder), folder


def test_fusion_of_the_longer_clips_matches_the_reference(fused):
    """Every output tensor (both towers' hidden states and attentions, the loss) of a batch mixing fused and
    unfused clips; a clip alone gives its row; the feature getters give the normalised embeddings."""
    reference, ours, _ = fused
    inputs = fused_inputs([True, False, True])
    options = dict(output_hidden_states=True, output_attentions=True, return_loss=True)
    with torch.no_grad():
        batched = ours(**inputs, **options)
        # loss, 2 logits, 2 embeddings; per tower: last, pooled, 3 hidden states, 2 attentions
        assert compare_outputs(batched, reference(**inputs, **options), "ClapModel") == 19
        alone = ours(**{k: v[1:2] for k, v in inputs.items()})
        assert_close_scaled(alone.audio_embeds, batched.audio_embeds[1:2], what="a clip alone")
        text, audio = {k: inputs[k] for k in ("input_ids", "attention_mask")}, {k: inputs[k] for k in ("input_features", "is_longer")}
        assert_close_scaled(ours.get_text_features(**text).pooler_output, batched.text_embeds, what="text features")
        assert_close_scaled(ours.get_audio_features(**audio).pooler_output, reference.get_audio_features(**audio).pooler_output,
                            what="audio features")


def test_training_the_fused_model_gives_the_reference_gradients(fused):
    """Training mode: the batch norms (the mel bins', the fusion's) normalise with the batch's statistics."""
    reference, ours = (copy.deepcopy(model).train() for model in fused[:2])
    inputs = fused_inputs([True, True], seed=1)
    for model in (reference, ours):
        model(**inputs, return_loss=True).loss.backward()
    theirs = dict(reference.named_parameters())
    for name, param in ours.named_parameters():
        assert (param.grad is None) == (theirs[name].grad is None), name
        if param.grad is not None:
            assert_close_scaled(param.grad, theirs[name].grad, what=name)


def test_each_tower_loads_from_the_joint_checkpoint(fused):
    """A workbench convenience (the reference's towers do not strip the joint model's key prefixes)."""
    _, joint, folder = fused
    inputs = fused_inputs([True, False])
    audio = {k: inputs[k] for k in ("input_features", "is_longer")}
    with torch.no_grad():
        expected = joint(**inputs)
        tower = workbench.ClapAudioModelWithProjection.from_pretrained(folder)
        assert_close_scaled(F.normalize(tower(**audio).audio_embeds, dim=-1), expected.audio_embeds, what="audio")
        text = workbench.ClapTextModel.from_pretrained(folder)(inputs["input_ids"], inputs["attention_mask"])
        assert_close_scaled(text.pooler_output, expected.text_model_output.pooler_output, what="text")


@pytest.mark.parametrize("model_type, head, inputs", [
    ("clap_text_model", "ClapTextModelWithProjection", "text"),
    ("clap_audio_model", "ClapAudioModelWithProjection", "audio")])
def test_towers_with_projection_match_the_reference_both_ways(model_type, head, inputs, tmp_path):
    reference = build_reference_model(model_type, head, FAMILIES[model_type].tiny)
    folder = save_reference_model(reference, str(tmp_path / "reference"))
    generator = torch.Generator().manual_seed(0)
    batch = (text_ids(dict(TINY["text_config"], pad_token_id=1), 2, 7, generator) if inputs == "text"
             else {"input_features": torch.randn(2, 1, 100, 8, generator=generator)})
    ours = getattr(workbench, head).from_pretrained(folder)
    ours.save_pretrained(tmp_path / "ours")
    options = dict(output_hidden_states=True, output_attentions=True)
    with torch.no_grad():
        expected = reference(**batch, **options)
        compare_outputs(ours(**batch, **options), expected, head)
        compare_outputs(load_reference_model(head, str(tmp_path / "ours"))(**batch, **options), expected, head)


# --- the feature extractor -------------------------------------------------------------------


@pytest.fixture(scope="module")
def sounds(tmp_path_factory) -> dict[str, np.ndarray]:
    """3.2 s of espeak-ng speech at 48 kHz (from its 22,050 Hz), 2 s of noise, and 12 s of speech."""
    signal = pytest.importorskip("scipy.signal")
    soundfile = pytest.importorskip("soundfile")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    path = str(tmp_path_factory.mktemp("speech") / "speech.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", path, "the quick brown fox jumps over the lazy dog"],
                   check=True)
    wave, rate = soundfile.read(path, dtype="float32")
    speech = signal.resample_poly(wave, RATE // 150, rate // 150).astype(np.float32)
    noise = (np.random.default_rng(0).standard_normal(2 * RATE) * 0.1).astype(np.float32)
    return {"speech": speech, "noise": noise, "long": np.tile(speech, 4)[: 12 * RATE]}


EXTRACTOR_CASES = [  # (settings, the clips: one, or a batch)
    ({}, "speech"),  # fusion, repeatpad: the one short clip is marked is_longer
    ({}, "long"),  # fusion: the squeezed clip and 3 random crops
    ({}, ["speech", "long", "noise"]),
    ({"truncation": "rand_trunc"}, "long"),  # a random 10 s crop, Slaney's filters
    ({"truncation": "rand_trunc", "padding": "pad"}, "noise"),
    ({"padding": "repeat"}, ["noise", "speech"]),
]


@pytest.mark.parametrize("settings, clips", EXTRACTOR_CASES, ids=[f"{s}-{c}" for s, c in EXTRACTOR_CASES])
def test_feature_extractor_matches_the_reference(sounds, settings, clips):
    audio = sounds[clips] if isinstance(clips, str) else [sounds[name] for name in clips]
    outputs = []
    for extractor in (workbench.ClapFeatureExtractor(**settings), transformers.ClapFeatureExtractor(**settings)):
        np.random.seed(7)  # the same random crops and marks for both
        outputs.append(extractor(audio, sampling_rate=RATE, return_tensors="pt"))
    ours, theirs = outputs
    assert ours["input_features"].shape == theirs["input_features"].shape
    torch.testing.assert_close(ours["input_features"], theirs["input_features"], rtol=1e-5, atol=1e-4)
    assert torch.equal(ours["is_longer"], theirs["is_longer"])


def test_feature_extractor_settings_round_trip_and_filters(tmp_path):
    theirs = transformers.ClapFeatureExtractor(feature_size=8, max_length_s=1, truncation="rand_trunc")
    theirs.save_pretrained(tmp_path / "theirs")
    ours = workbench.AutoFeatureExtractor.from_pretrained(str(tmp_path / "theirs"))
    assert type(ours).__name__ == "ClapFeatureExtractor"
    ours.save_pretrained(tmp_path / "ours")
    again = transformers.ClapFeatureExtractor.from_pretrained(str(tmp_path / "ours"))
    assert {k: v for k, v in again.to_dict().items() if k != "processor_class"} == \
        {k: v for k, v in theirs.to_dict().items() if k != "processor_class"}
    for name in ("mel_filters", "mel_filters_slaney"):
        np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(theirs, name), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="resample it first"):
        ours(np.zeros(16000, dtype=np.float32), sampling_rate=16000)


# --- processor and pipeline --------------------------------------------------------------------


def roberta_tokenizer(folder: str):
    """A byte-level BPE trained on the label texts, RoBERTa's specials at RoBERTa's ids (<s> 0, <pad> 1, </s> 2)."""
    from tokenizers import ByteLevelBPETokenizer

    corpus = [f"This is a sound of {label}." for label in LABELS] + ["A recording of a bird, music and silence."]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus * 5, vocab_size=300, min_frequency=1, show_progress=False,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(folder)
    return transformers.RobertaTokenizer(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, str]:
    """Fused (the extractor's default truncation, "fusion") and unfused ("rand_trunc") tiny CLAPs with their
    processors, saved by the reference: 8 mel bins, 1-second clips (101 frames)."""
    root = tmp_path_factory.mktemp("pipelines")
    tokenizer = roberta_tokenizer(str(root))
    folders = {}
    for name, config, truncation in (("fused", FUSED, "fusion"), ("unfused", TINY, "rand_trunc")):
        config = dict(config, text_config=dict(config["text_config"], vocab_size=len(tokenizer)))
        folder = save_reference_model(build_reference_model("clap", "ClapModel", config), str(root / name))
        extractor = transformers.ClapFeatureExtractor(feature_size=8, max_length_s=1, truncation=truncation)
        transformers.ClapProcessor(extractor, tokenizer).save_pretrained(folder)
        folders[name] = folder
    return folders


def test_processor_matches_the_reference(checkpoints, sounds):
    folder = checkpoints["fused"]
    ours, theirs = workbench.AutoProcessor.from_pretrained(folder), transformers.AutoProcessor.from_pretrained(folder)
    assert type(ours).__name__ == "ClapProcessor"
    # clips under the checkpoint's 1 s: the reference squeezes longer ones to 64 mel bins whatever feature_size says
    options = dict(text=LABELS[:2], audio=[sounds["speech"][:RATE // 2], sounds["noise"][:RATE]], sampling_rate=RATE,
                   padding=True, return_tensors="pt")
    np.random.seed(0)
    mine = ours(**options)
    np.random.seed(0)
    expected = theirs(**options)
    assert sorted(mine) == sorted(expected) == ["attention_mask", "input_features", "input_ids", "is_longer"]
    for key, value in expected.items():
        torch.testing.assert_close(mine[key], value, rtol=1e-5, atol=1e-4)


def assert_same_ranking(ours: list[dict], theirs: list[dict]) -> None:
    assert [item["label"] for item in ours] == [item["label"] for item in theirs]
    np.testing.assert_allclose([item["score"] for item in ours], [item["score"] for item in theirs], atol=1e-5)


def test_pipeline_matches_the_reference(checkpoints, sounds):
    # fused: clips under its 1 s (see test_processor_matches_the_reference); unfused: a random crop of 12 s
    for name, clip in (("fused", "speech"), ("fused", "noise"), ("unfused", "long")):
        audio = sounds[clip] if name == "unfused" else sounds[clip][: RATE * 9 // 10]
        ours = workbench.pipeline("zero-shot-audio-classification", model=checkpoints[name])
        theirs = transformers.pipeline("zero-shot-audio-classification", model=checkpoints[name])
        every = [dict(candidate_labels=LABELS), dict(candidate_labels=LABELS[:1]),
                 dict(candidate_labels=LABELS[1:], hypothesis_template="A recording of {}")]
        for options in every if clip == "speech" else every[:1]:
            results = []
            for classifier in (ours, theirs):
                np.random.seed(3)  # the same random crop of the long clip
                results.append(classifier(audio, **options))
            assert_same_ranking(*results)
            assert abs(sum(item["score"] for item in results[0]) - 1) < 1e-5


def test_pipeline_batches_files_and_errors(checkpoints, sounds, tmp_path):
    soundfile = pytest.importorskip("soundfile")
    classifier = workbench.pipeline("zero-shot-audio-classification", model=checkpoints["fused"],
                                    candidate_labels=LABELS)
    clips = [sounds["speech"][:RATE // 2], sounds["noise"][:RATE], sounds["speech"][RATE:RATE * 19 // 10]]  # no crops
    alone = [classifier(clip) for clip in clips]
    for batched, expected in zip(classifier(clips, batch_size=2), alone):
        assert_same_ranking(batched, expected)
    path = str(tmp_path / "clip.wav")
    soundfile.write(path, clips[1], RATE, subtype="PCM_16")
    assert_same_ranking(classifier(path), classifier(soundfile.read(path, dtype="float32")[0]))
    # another rate is resampled to the extractor's
    resampled = classifier({"array": clips[1][::3], "sampling_rate": RATE // 3})
    assert sorted(item["label"] for item in resampled) == sorted(LABELS)
    bare = workbench.pipeline("zero-shot-audio-classification", model=checkpoints["fused"])
    with pytest.raises(ValueError, match="needs candidate_labels"):
        bare(sounds["noise"])
    with pytest.raises(TypeError, match="candidate_labels must be a list of strings"):
        bare(sounds["noise"], candidate_labels="dog, rain")
