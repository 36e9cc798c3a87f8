"""The CTC speech models' processing against the reference: Wav2Vec2CTCTokenizer (encoding, CTC
decoding with frame offsets, save/load both ways), Wav2Vec2FeatureExtractor (padding, truncation and
normalization bit for bit, on random and on spoken audio), Wav2Vec2Processor, the Auto classes, and
the ASR pipeline's CTC decoding helper against the reference pipeline's own postprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import types

import numpy as np
import pytest
import torch

from workbench import (
    AutoFeatureExtractor,
    AutoProcessor,
    AutoTokenizer,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Processor,
)
from workbench.pipelines.ctc_decoding import decode_ctc

transformers = pytest.importorskip("transformers")

VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4,
         **{char: 5 + index for index, char in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ'")}}
TEXTS = ["HELLO WORLD", "hello world", "HI <s> THERE", "A<unk>B", "  X  Y ", "A\nB", "é", "HI</s>", "A|B", "IT'S"]
DECODE_OPTIONS = [{}, {"skip_special_tokens": True}, {"output_char_offsets": True}, {"output_word_offsets": True},
                  {"output_char_offsets": True, "output_word_offsets": True, "skip_special_tokens": True},
                  {"group_tokens": False, "output_char_offsets": True}, {"spaces_between_special_tokens": True}]


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ctc_vocab") / "vocab.json"
    path.write_text(json.dumps(VOCAB))
    return str(path)


@pytest.fixture(scope="module")
def tokenizers(vocab_file):
    return Wav2Vec2CTCTokenizer(vocab_file), transformers.Wav2Vec2CTCTokenizer(vocab_file)


def frame_ids(rng: np.random.Generator, frames: int) -> list[int]:
    """Model-like argmax ids: runs of one id (repeats), blanks between and inside words."""
    ids = []
    while len(ids) < frames:
        index = 0 if rng.random() < 0.4 else int(rng.integers(1, len(VOCAB)))
        ids += [index] * int(rng.integers(1, 4))
    return ids[:frames]


def plain(value):
    """A reference output (ModelOutput with numpy ints) as plain Python."""
    return json.loads(json.dumps(dict(value) if not isinstance(value, str) else value, default=int))


# --- tokenizer ------------------------------------------------------------------------------------


def test_encoding_matches_the_reference(tokenizers):
    ours, reference = tokenizers
    for text in TEXTS:
        assert dict(ours(text)) == dict(reference(text)), text
        assert ours.tokenize(text) == reference.tokenize(text), text
    batch = dict(padding=True, return_tensors="pt")
    mine, theirs = ours(TEXTS[:3], **batch), reference(TEXTS[:3], **batch)
    assert all(torch.equal(mine[key], theirs[key]) for key in theirs)
    assert ours.all_special_tokens == reference.all_special_tokens == ["<s>", "</s>", "<unk>", "<pad>", "|"]
    assert (ours.word_delimiter_token_id, ours.pad_token_id, len(ours)) == (4, 0, len(reference))


def test_lower_case_vocabulary_and_output(vocab_file):
    ours = Wav2Vec2CTCTokenizer(vocab_file, do_lower_case=True)
    reference = transformers.Wav2Vec2CTCTokenizer(vocab_file, do_lower_case=True)
    assert ours("hello World").input_ids == reference("hello World").input_ids
    assert ours("hello World").input_ids == [12, 9, 16, 16, 19, 4, 27, 19, 22, 16, 8]
    assert ours.tokenize("hi there") == reference.tokenize("hi there")
    ids = [12, 12, 0, 9, 4, 27]
    assert ours.decode(ids) == reference.decode(ids) == "he w"


def test_ctc_decoding_matches_the_reference(tokenizers):
    ours, reference = tokenizers
    rng = np.random.default_rng(0)
    for _ in range(60):
        ids = frame_ids(rng, int(rng.integers(0, 40)))
        for options in DECODE_OPTIONS:
            assert plain(ours.decode(ids, **options)) == plain(reference.decode(ids, **options)), (ids, options)
    grid = torch.tensor([frame_ids(rng, 30) for _ in range(4)])  # a batch, as a tensor
    assert ours.batch_decode(grid) == reference.batch_decode(grid)
    mine = ours.batch_decode(grid, output_char_offsets=True, output_word_offsets=True)
    theirs = reference.batch_decode(grid, output_char_offsets=True, output_word_offsets=True)
    assert plain(mine) == plain(theirs) and mine.word_offsets == plain(theirs)["word_offsets"]


def test_ctc_grouping_on_a_known_sequence(tokenizers):
    ours, _ = tokenizers
    # H H _ E L L _ L O | | W : the blank splits the double L, repeats collapse
    out = ours.decode([12, 12, 0, 9, 16, 16, 0, 16, 19, 4, 4, 27], output_word_offsets=True)
    assert out.text == "HELLO W"
    assert out.word_offsets == [{"word": "HELLO", "start_offset": 0, "end_offset": 9},
                                {"word": "W", "start_offset": 11, "end_offset": 12}]


def test_tokenizer_saves_and_loads_both_ways(tokenizers, tmp_path):
    ours, reference = tokenizers
    ours.save_pretrained(tmp_path / "ours")
    assert not (tmp_path / "ours" / "tokenizer.json").exists()  # the reference writes vocab.json alone
    loaded = transformers.AutoTokenizer.from_pretrained(tmp_path / "ours")
    assert type(loaded) is transformers.Wav2Vec2CTCTokenizer
    reference.save_pretrained(tmp_path / "theirs")
    back = AutoTokenizer.from_pretrained(tmp_path / "theirs")
    assert type(back) is Wav2Vec2CTCTokenizer
    ids = frame_ids(np.random.default_rng(1), 40)
    for text in TEXTS:
        assert loaded(text).input_ids == back(text).input_ids == reference(text).input_ids
    assert plain(loaded.decode(ids, output_word_offsets=True)) == plain(back.decode(ids, output_word_offsets=True))


def test_multilingual_vocabulary_switches_language(vocab_file, tmp_path):
    french = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "É": 5, "A": 6, "B": 7}
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps({"eng": VOCAB, "fra": french}))
    ours = Wav2Vec2CTCTokenizer(path, target_lang="eng")
    reference = transformers.Wav2Vec2CTCTokenizer(path, target_lang="eng")
    assert ours("ÉAB AB").input_ids == reference("ÉAB AB").input_ids == [3, 5, 6, 4, 5, 6]
    ours.set_target_lang("fra")
    reference.set_target_lang("fra")
    assert ours("ÉAB AB").input_ids == reference("ÉAB AB").input_ids == [5, 6, 7, 4, 6, 7]
    assert ours.decode([5, 5, 0, 6, 4, 7]) == reference.decode([5, 5, 0, 6, 4, 7]) == "ÉA B"
    ours.save_pretrained(tmp_path / "saved")
    assert transformers.AutoTokenizer.from_pretrained(tmp_path / "saved")("ÉAB").input_ids == [5, 6, 7]


def test_auto_tokenizer_goes_by_model_type(vocab_file, tmp_path):
    shutil.copy(vocab_file, tmp_path / "vocab.json")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "hubert"}))
    assert type(AutoTokenizer.from_pretrained(tmp_path)) is Wav2Vec2CTCTokenizer


# --- feature extractor ----------------------------------------------------------------------------


def assert_same_features(mine, theirs):
    assert sorted(mine) == sorted(theirs)
    for key in theirs:
        assert type(mine[key]) is type(theirs[key]), key
        for a, b in zip(mine[key], theirs[key]):
            a, b = np.asarray(a), np.asarray(b)
            assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), key


@pytest.mark.parametrize("settings", [{}, {"do_normalize": False}, {"return_attention_mask": True},
                                      {"padding_side": "left", "padding_value": -1.0}])
def test_feature_extractor_matches_the_reference(settings):
    rng = np.random.default_rng(0)
    rows = [rng.standard_normal(n).astype(np.float32) * 3 + 1 for n in (10, 7, 13)]
    inputs = [rows[0], rows, [rng.standard_normal(9), rows[0]], np.stack([rows[0], rows[0]]),
              [rows[0].tolist(), rows[1].tolist()]]
    calls = [{}, {"padding": True}, {"padding": True, "return_attention_mask": True},
             {"padding": "max_length", "max_length": 14}, {"padding": True, "pad_to_multiple_of": 4},
             {"padding": "max_length", "max_length": 8, "truncation": True, "return_attention_mask": True},
             {"padding": True, "return_tensors": "np"}]
    ours, reference = Wav2Vec2FeatureExtractor(**settings), transformers.Wav2Vec2FeatureExtractor(**settings)
    for raw in inputs:
        for call in calls:
            assert_same_features(ours(raw, sampling_rate=16000, **call), reference(raw, sampling_rate=16000, **call))
    mine = ours(rows, sampling_rate=16000, padding=True, return_tensors="pt")
    theirs = reference(rows, sampling_rate=16000, padding=True, return_tensors="pt")
    assert all(torch.equal(mine[key], theirs[key]) for key in theirs)


def test_feature_extractor_errors_name_the_fix():
    extractor = Wav2Vec2FeatureExtractor()
    with pytest.raises(ValueError, match="resample"):
        extractor(np.zeros(10), sampling_rate=8000)
    with pytest.raises(ValueError, match="padding=True"):
        extractor([np.zeros(3), np.zeros(5)], sampling_rate=16000, return_tensors="pt")
    with pytest.raises(ValueError, match="max_length"):
        extractor(np.zeros(3), sampling_rate=16000, truncation=True)


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Two spoken sentences (espeak-ng, 22,050 Hz) resampled to 16 kHz."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    import soundfile
    from scipy.signal import resample_poly

    folder = tmp_path_factory.mktemp("speech")
    waves = []
    for index, text in enumerate(["hello world", "the quick brown fox jumps over the lazy dog"]):
        path = folder / f"{index}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(path), text], check=True)
        samples, rate = soundfile.read(path, dtype="float32")
        waves.append(resample_poly(samples, 160, rate // 100).astype(np.float32))
    return waves


def test_feature_extractor_on_speech(speech):
    call = dict(sampling_rate=16000, padding=True, return_attention_mask=True, return_tensors="pt")
    mine = Wav2Vec2FeatureExtractor()(speech, **call)
    theirs = transformers.Wav2Vec2FeatureExtractor()(speech, **call)
    assert all(torch.equal(mine[key], theirs[key]) for key in theirs)
    short = int(mine.attention_mask[0].sum())
    assert short == len(speech[0]) and abs(float(mine.input_values[0, :short].std())) == pytest.approx(1, abs=1e-3)


def test_feature_extractor_saves_and_loads_both_ways(tmp_path):
    ours = Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=False)
    ours.save_pretrained(tmp_path / "ours")
    loaded = transformers.AutoFeatureExtractor.from_pretrained(tmp_path / "ours")
    assert type(loaded).__name__ == "Wav2Vec2FeatureExtractor" and loaded.to_dict() == ours.to_dict()
    loaded.save_pretrained(tmp_path / "theirs")
    back = AutoFeatureExtractor.from_pretrained(tmp_path / "theirs")
    assert type(back) is Wav2Vec2FeatureExtractor and back.to_dict() == loaded.to_dict()


@pytest.mark.parametrize("model_type", ["wav2vec2", "hubert", "wavlm"])
def test_auto_feature_extractor_goes_by_model_type(tmp_path, model_type):
    settings = {key: value for key, value in Wav2Vec2FeatureExtractor().to_dict().items()
                if key != "feature_extractor_type"}  # an old save that names no class
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(settings))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    assert type(AutoFeatureExtractor.from_pretrained(tmp_path)) is Wav2Vec2FeatureExtractor


# --- processor ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def processors(vocab_file):
    ours = Wav2Vec2Processor(Wav2Vec2FeatureExtractor(return_attention_mask=True), Wav2Vec2CTCTokenizer(vocab_file))
    reference = transformers.Wav2Vec2Processor(transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True),
                                               transformers.Wav2Vec2CTCTokenizer(vocab_file))
    return ours, reference


def test_processor_matches_the_reference(processors):
    ours, reference = processors
    rng = np.random.default_rng(2)
    audio = [rng.standard_normal(12).astype(np.float32), rng.standard_normal(8).astype(np.float32)]
    call = dict(audio=audio, text=["HI", "HELLO THERE"], sampling_rate=16000, padding=True, return_tensors="pt")
    mine, theirs = ours(**call), reference(**call)
    assert sorted(mine) == sorted(theirs) == ["attention_mask", "input_values", "labels"]
    assert all(torch.equal(mine[key], theirs[key]) for key in theirs)
    assert dict(ours(text="HI YOU")) == dict(reference(text="HI YOU"))
    assert ours.model_input_names == reference.model_input_names
    ids = frame_ids(rng, 30)
    assert ours.batch_decode([ids]) == reference.batch_decode([ids])
    features = [{"input_values": row} for row in audio]
    labels = [{"input_ids": [5, 6]}, {"input_ids": [5, 6, 7]}]
    mine = ours.pad(features, labels=labels, padding=True, return_tensors="pt")
    theirs = reference.pad(features, labels=labels, padding=True, return_tensors="pt")
    assert all(torch.equal(mine[key], theirs[key]) for key in theirs)


def test_processor_saves_and_loads_both_ways(processors, tmp_path):
    ours, reference = processors
    ours.save_pretrained(tmp_path / "ours")
    loaded = transformers.AutoProcessor.from_pretrained(tmp_path / "ours")
    assert type(loaded).__name__ == "Wav2Vec2Processor"
    assert type(loaded.tokenizer).__name__ == "Wav2Vec2CTCTokenizer" and loaded.feature_extractor.return_attention_mask
    reference.save_pretrained(tmp_path / "theirs")
    back = AutoProcessor.from_pretrained(tmp_path / "theirs")
    assert type(back) is Wav2Vec2Processor and back.feature_extractor.to_dict() == ours.feature_extractor.to_dict()
    assert back(text="HELLO").input_ids == reference(text="HELLO").input_ids


def test_auto_processor_reads_a_4x_folder_by_model_type(processors, tmp_path):
    ours, _ = processors
    ours.tokenizer.save_pretrained(tmp_path)
    ours.feature_extractor.save_pretrained(tmp_path)  # preprocessor_config.json, naming no processor
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "wavlm"}))
    assert type(AutoProcessor.from_pretrained(tmp_path)) is Wav2Vec2Processor


# --- the pipeline's CTC decoding ------------------------------------------------------------------


def reference_postprocess(tokenizer, outputs, return_timestamps, ratio):
    """The reference ASR pipeline's postprocess for a CTC model, run on the given chunk outputs."""
    from transformers.pipelines.automatic_speech_recognition import AutomaticSpeechRecognitionPipeline

    pipeline = types.SimpleNamespace(type="ctc", tokenizer=tokenizer, _align_to=ratio,
                                     feature_extractor=types.SimpleNamespace(sampling_rate=16000))
    return AutomaticSpeechRecognitionPipeline.postprocess(pipeline, outputs, return_timestamps=return_timestamps)


@pytest.mark.parametrize("return_timestamps", [None, "char", "word"])
def test_ctc_decoding_helper_matches_the_reference_pipeline(tokenizers, return_timestamps):
    from transformers.pipelines.automatic_speech_recognition import rescale_stride

    ours, reference = tokenizers
    ratio, generator = 320, torch.Generator().manual_seed(3)
    # three overlapping chunks of one audio: (samples, left, right) as the pipeline cuts them
    strides = [(16000, 0, 3200), (16000, 3200, 3200), (9600, 3200, 0)]
    logits = [torch.randn(1, round(samples / ratio) + 1, len(VOCAB), generator=generator) * 3
              for samples, _, _ in strides]  # one frame more than the stride counts, as padding gives
    outputs = [{"tokens": chunk.argmax(-1), "stride": rescale_stride([stride], 1 / ratio)[0]}
               for chunk, stride in zip(logits, strides)]
    theirs = reference_postprocess(reference, outputs, return_timestamps, ratio)
    mine = decode_ctc(logits, ours, strides=strides, return_timestamps=return_timestamps, inputs_to_logits_ratio=ratio)
    assert mine == theirs and mine["text"]
    whole = decode_ctc(logits[0], ours, return_timestamps=return_timestamps, inputs_to_logits_ratio=ratio)
    assert whole == reference_postprocess(reference, [{"tokens": logits[0].argmax(-1)}], return_timestamps, ratio)
    assert decode_ctc(logits[0].argmax(-1), ours)["text"] == whole["text"]  # argmax ids work as well


def test_ctc_decoding_helper_errors(tokenizers):
    ours, _ = tokenizers
    with pytest.raises(ValueError, match="'char' or 'word'"):
        decode_ctc(torch.zeros(1, 3, len(VOCAB)), ours, return_timestamps=True)
    with pytest.raises(ValueError, match="one audio at a time"):
        decode_ctc(torch.zeros(2, 3, len(VOCAB)), ours)
    with pytest.raises(ValueError, match="one stride per chunk"):
        decode_ctc([torch.zeros(1, 3, len(VOCAB))] * 2, ours, strides=[(960, 0, 0)])
