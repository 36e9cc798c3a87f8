"""Processors against the reference: folders saved by the reference's WhisperProcessor (transformers 5:
processor_config.json with the feature extractor nested) and 4.x-style folders written by hand
(preprocessor_config.json beside the tokenizer files) load in workbench with the same features, ids
and text; what workbench saves loads in the reference; AutoProcessor picks what the reference picks;
chat templates in every file they have lived in; the speech pipeline on a transformers-5 folder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

import workbench
from workbench import (AutoFeatureExtractor, AutoProcessor, AutoTokenizer, BatchFeature, PreTrainedTokenizerFast,
                       WhisperFeatureExtractor, WhisperProcessor)
from workbench.errors import CheckpointNotFoundError, UnsupportedModelError

from tolerance import assert_close_scaled

transformers = pytest.importorskip("transformers")

RATE = 16000
SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]
CORPUS = ["the quick brown fox jumps over the lazy dog", "hello world, how are you today?",
          "please enter your password followed by the pound key", "speech to text with a tiny model"] * 4
TEXTS = ["hello world", "the lazy fox, today!"]
TEMPLATE = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
CHAT = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "world"}]
# the feature extractor of the tiny model below: 8 mel bins, 1-second windows (100 frames)
FEATURES = dict(feature_size=8, chunk_length=1)


def build_tokenizer() -> Tokenizer:
    """A byte-level BPE trained on CORPUS, framing text the way Whisper's tokenizer does."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS, trainer)
    prefix = ["<|startoftranscript|>", "<|notimestamps|>"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=" ".join(prefix) + " $A <|endoftext|>", pair=" ".join(prefix) + " $A $B <|endoftext|>",
        special_tokens=[(token, tokenizer.token_to_id(token)) for token in prefix + ["<|endoftext|>"]])
    return tokenizer


def chirp(seconds: float, seed: int = 0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * np.sin(2 * np.pi * 300 * t * (1 + t)) + 0.01 * noise).astype(np.float32)


AUDIO = [chirp(0.7), chirp(0.4, seed=1)]


def reference_processor():
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=build_tokenizer(), eos_token="<|endoftext|>",
                                                     pad_token="<|endoftext|>", bos_token="<|startoftranscript|>")
    return transformers.WhisperProcessor(feature_extractor=transformers.WhisperFeatureExtractor(**FEATURES),
                                         tokenizer=tokenizer)


@pytest.fixture(scope="module")
def reference_folder(tmp_path_factory):
    """What transformers 5 writes for a WhisperProcessor."""
    folder = tmp_path_factory.mktemp("saved-by-transformers-5")
    reference_processor().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def v4_folder(reference_folder, tmp_path_factory):
    """A folder as transformers 4.x wrote it: preprocessor_config.json (with processor_class and the
    mel filters 4.2x saved), tokenizer.json, a tokenizer_config.json with the template in it, and
    special_tokens_map.json; no processor_config.json."""
    folder = tmp_path_factory.mktemp("written-as-4x")
    nested = json.loads((reference_folder / "processor_config.json").read_text())["feature_extractor"]
    mel = transformers.WhisperFeatureExtractor(**FEATURES).mel_filters.tolist()
    (folder / "preprocessor_config.json").write_text(json.dumps({**nested, "processor_class": "WhisperProcessor",
                                                                 "mel_filters": mel}))
    shutil.copy(reference_folder / "tokenizer.json", folder)
    special = {"bos_token": "<|startoftranscript|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    (folder / "tokenizer_config.json").write_text(json.dumps({
        **special, "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1024,
        "processor_class": "WhisperProcessor", "chat_template": TEMPLATE, "clean_up_tokenization_spaces": False}))
    (folder / "special_tokens_map.json").write_text(json.dumps(special))
    return folder


def assert_same_outputs(ours, theirs):
    """Features, ids, labels and decoded text of two processors agree on the same inputs."""
    mine = ours(AUDIO, sampling_rate=RATE, text=TEXTS, padding="longest", return_tensors="pt")
    expected = theirs(AUDIO, sampling_rate=RATE, text=TEXTS, padding="longest", return_tensors="pt")
    assert sorted(mine) == sorted(expected) == ["input_features", "labels"]
    assert_close_scaled(mine["input_features"], expected["input_features"], tol=1e-6)
    assert mine["labels"].tolist() == expected["labels"].tolist()
    for text in TEXTS:
        assert ours(text=text)["input_ids"] == theirs(text=text)["input_ids"]
    ids = expected["labels"].tolist()
    assert ours.batch_decode(ids, skip_special_tokens=True) == theirs.batch_decode(ids, skip_special_tokens=True)
    assert ours.decode(ids[0]) == theirs.decode(ids[0])


# --- what the reference writes ------------------------------------------------------------------

def test_the_reference_writes_the_transformers_5_layout(reference_folder, tmp_path):
    """The ground these tests stand on: a processor nests its feature extractor in processor_config.json;
    a bare feature extractor still writes preprocessor_config.json."""
    assert not (reference_folder / "preprocessor_config.json").exists()
    saved = json.loads((reference_folder / "processor_config.json").read_text())
    assert saved["processor_class"] == "WhisperProcessor" and saved["feature_extractor"]["feature_size"] == 8
    transformers.WhisperFeatureExtractor().save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preprocessor_config.json"]


# --- loading both layouts -----------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["transformers-5", "4.x"])
def test_both_layouts_load_with_the_reference_outputs(layout, reference_folder, v4_folder):
    folder = reference_folder if layout == "transformers-5" else v4_folder
    ours = AutoProcessor.from_pretrained(folder)
    theirs = transformers.AutoProcessor.from_pretrained(folder)
    assert type(ours) is WhisperProcessor and type(theirs).__name__ == "WhisperProcessor"
    assert isinstance(ours.feature_extractor, WhisperFeatureExtractor) and ours.feature_extractor.feature_size == 8
    assert_same_outputs(ours, theirs)
    assert WhisperProcessor.from_pretrained(folder).to_dict() == ours.to_dict()


@pytest.mark.parametrize("layout", ["transformers-5", "4.x"])
def test_feature_extractor_alone_reads_both_layouts(layout, reference_folder, v4_folder):
    folder = reference_folder if layout == "transformers-5" else v4_folder
    expected = transformers.AutoFeatureExtractor.from_pretrained(folder)(AUDIO, sampling_rate=RATE)["input_features"]
    for ours in (AutoFeatureExtractor.from_pretrained(folder), WhisperFeatureExtractor.from_pretrained(folder)):
        assert type(ours) is WhisperFeatureExtractor and ours.n_samples == RATE
        assert_close_scaled(ours(AUDIO, sampling_rate=RATE)["input_features"], expected, tol=1e-6)
    assert "mel_filters" not in AutoFeatureExtractor.from_pretrained(folder).to_dict()  # 4.2x saves had them


def test_the_nested_entry_wins_over_preprocessor_config(reference_folder, tmp_path):
    """Both files present (a 5.x save over a 4.x folder): the reference reads the nested entry."""
    shutil.copytree(reference_folder, tmp_path, dirs_exist_ok=True)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"feature_extractor_type": "WhisperFeatureExtractor",
                                                                   "feature_size": 128}))
    assert transformers.AutoFeatureExtractor.from_pretrained(tmp_path).feature_size == 8
    assert AutoFeatureExtractor.from_pretrained(tmp_path).feature_size == 8


# --- saving -------------------------------------------------------------------------------------

def test_saved_by_workbench_loads_in_the_reference(reference_folder, tmp_path):
    ours = AutoProcessor.from_pretrained(reference_folder)
    written = ours.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["processor_config.json", "special_tokens_map.json",
                                                          "tokenizer.json", "tokenizer_config.json"]
    assert str(tmp_path / "processor_config.json") in written
    assert (json.loads((tmp_path / "processor_config.json").read_text())
            == json.loads((reference_folder / "processor_config.json").read_text()))  # the same file, key for key
    for loader in (transformers.AutoProcessor, transformers.WhisperProcessor):
        theirs = loader.from_pretrained(tmp_path)
        assert type(theirs).__name__ == "WhisperProcessor"
        assert_same_outputs(ours, theirs)


def test_built_by_hand_saves_like_the_reference(tmp_path):
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=build_tokenizer(), eos_token="<|endoftext|>",
                                        pad_token="<|endoftext|>", bos_token="<|startoftranscript|>")
    ours = WhisperProcessor(WhisperFeatureExtractor(**FEATURES), tokenizer)
    ours.save_pretrained(tmp_path / "ours")
    reference_processor().save_pretrained(tmp_path / "theirs")
    assert (json.loads((tmp_path / "ours" / "processor_config.json").read_text())
            == json.loads((tmp_path / "theirs" / "processor_config.json").read_text()))
    for folder in ("ours", "theirs"):  # the tokenizer names its processor, as the reference's does
        assert json.loads((tmp_path / folder / "tokenizer_config.json").read_text())["processor_class"] == "WhisperProcessor"
    assert_same_outputs(AutoProcessor.from_pretrained(tmp_path / "ours"),
                        transformers.AutoProcessor.from_pretrained(tmp_path / "ours"))


def test_a_bare_feature_extractor_saves_preprocessor_config(tmp_path):
    WhisperFeatureExtractor(**FEATURES).save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preprocessor_config.json"]


# --- calling ------------------------------------------------------------------------------------

def test_call_routes_like_the_reference(reference_folder):
    ours, theirs = AutoProcessor.from_pretrained(reference_folder), transformers.AutoProcessor.from_pretrained(reference_folder)
    audio_only = ours(audio=AUDIO[0], sampling_rate=RATE, return_tensors="pt")
    assert isinstance(audio_only, BatchFeature) and list(audio_only) == ["input_features"]
    torch.testing.assert_close(audio_only.input_features, ours(AUDIO[0], sampling_rate=RATE, return_tensors="pt").input_features)
    assert_close_scaled(audio_only.input_features,
                        theirs(audio=AUDIO[0], sampling_rate=RATE, return_tensors="pt").input_features, tol=1e-6)
    text_only = ours(text=TEXTS, padding=True, return_tensors="pt")
    expected = theirs(text=TEXTS, padding=True, return_tensors="pt")
    assert sorted(text_only) == sorted(expected) == ["attention_mask", "input_ids"]
    assert text_only["input_ids"].tolist() == expected["input_ids"].tolist()
    assert text_only["attention_mask"].tolist() == expected["attention_mask"].tolist()
    assert ours.model_input_names == theirs.model_input_names == ["input_features", "input_ids", "attention_mask"]


def test_call_errors_name_the_fix(reference_folder):
    ours = AutoProcessor.from_pretrained(reference_folder)
    with pytest.raises(ValueError, match="needs an input: pass text= or audio="):
        ours()
    with pytest.raises(TypeError, match=r"no part given an input takes \['do_normalize'\]"):
        ours(text="hello", do_normalize=True)
    with pytest.raises(TypeError, match="one positional argument"):
        ours(AUDIO[0], "hello")
    with pytest.raises(TypeError, match="feature_extractor must be a FeatureExtractionMixin.*order"):
        WhisperProcessor(ours.tokenizer, ours.feature_extractor)


def test_the_generic_call_merges_the_parts(reference_folder):
    """ProcessorMixin's own __call__ (a processor without Whisper's labels rule) merges both outputs;
    each keyword goes to the parts that take it, ``<input>_kwargs`` to one part only."""

    class Pair(workbench.ProcessorMixin):
        attributes = ("feature_extractor", "tokenizer")

    whisper = AutoProcessor.from_pretrained(reference_folder)
    pair = Pair(whisper.feature_extractor, whisper.tokenizer)
    merged = pair(text=TEXTS, audio=AUDIO, sampling_rate=RATE, padding="longest", return_tensors="pt",
                  text_kwargs={"add_special_tokens": False})
    assert list(merged) == ["input_ids", "attention_mask", "input_features"]
    plain = whisper.tokenizer(TEXTS, padding="longest", add_special_tokens=False, return_tensors="pt")
    assert merged["input_ids"].tolist() == plain["input_ids"].tolist()
    torch.testing.assert_close(merged["input_features"],
                               whisper(AUDIO, sampling_rate=RATE, padding="longest", return_tensors="pt").input_features)


# --- AutoProcessor's choice ---------------------------------------------------------------------

def copy_files(source, target, names):
    target.mkdir()
    for name in names:
        shutil.copy(source / name, target)
    return target


def test_a_folder_with_one_part_gives_that_part(reference_folder, v4_folder, tmp_path):
    """As the reference: without a processor_class, a tokenizer-only folder gives the tokenizer and a
    feature-extractor-only folder the feature extractor."""
    only_tokenizer = copy_files(reference_folder, tmp_path / "tokenizer", ["tokenizer.json"])
    (only_tokenizer / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|endoftext|>"}))
    assert type(transformers.AutoProcessor.from_pretrained(only_tokenizer)).__name__ == "TokenizersBackend"
    assert isinstance(AutoProcessor.from_pretrained(only_tokenizer), PreTrainedTokenizerFast)
    only_features = tmp_path / "features"
    only_features.mkdir()
    nested = json.loads((reference_folder / "processor_config.json").read_text())["feature_extractor"]
    (only_features / "preprocessor_config.json").write_text(json.dumps(nested))
    assert type(transformers.AutoProcessor.from_pretrained(only_features)).__name__ == "WhisperFeatureExtractor"
    assert type(AutoProcessor.from_pretrained(only_features)) is WhisperFeatureExtractor


def test_the_model_type_picks_the_processor(v4_folder, tmp_path):
    """No processor_class anywhere: config.json's model_type decides, as in the reference."""
    folder = copy_files(v4_folder, tmp_path / "by-model-type", ["tokenizer.json", "special_tokens_map.json"])
    settings = json.loads((v4_folder / "preprocessor_config.json").read_text())
    settings.pop("processor_class")
    (folder / "preprocessor_config.json").write_text(json.dumps(settings))
    (folder / "config.json").write_text(json.dumps({"model_type": "whisper"}))
    assert type(transformers.AutoProcessor.from_pretrained(folder)).__name__ == "WhisperProcessor"
    assert type(AutoProcessor.from_pretrained(folder)) is WhisperProcessor


def test_an_empty_folder_names_the_files_looked_for(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "whisper"}))
    with pytest.raises(CheckpointNotFoundError, match=r"processor_config.json \(transformers 5\), "
                                                      r"preprocessor_config.json \(4.x\).*tokenizer.json.*It holds: config.json"):
        AutoProcessor.from_pretrained(tmp_path)
    with pytest.raises(CheckpointNotFoundError, match="looked for processor_config.json with a 'feature_extractor' entry"):
        AutoFeatureExtractor.from_pretrained(tmp_path)
    with pytest.raises(CheckpointNotFoundError, match="preprocessor_config.json"):
        WhisperProcessor.from_pretrained(tmp_path)


def test_a_processor_workbench_lacks_is_named(reference_folder, tmp_path):
    folder = copy_files(reference_folder, tmp_path / "llava", ["tokenizer.json", "tokenizer_config.json"])
    (folder / "processor_config.json").write_text(json.dumps({"processor_class": "LlavaProcessor"}))
    with pytest.raises(UnsupportedModelError, match="'LlavaProcessor', which workbench does not implement.*AutoTokenizer"):
        AutoProcessor.from_pretrained(folder)


def test_from_pretrained_routes_overrides(reference_folder):
    processor = WhisperProcessor.from_pretrained(reference_folder, feature_size=16, padding_side="left")
    assert processor.feature_extractor.feature_size == 16 and processor.feature_extractor.mel_filters.shape == (201, 16)
    assert processor.tokenizer.padding_side == processor.feature_extractor.padding_side == "left"  # both have it
    assert "feature_size" not in processor.tokenizer.init_kwargs


# --- chat templates -----------------------------------------------------------------------------

class ReferencePair(transformers.ProcessorMixin):
    """A reference processor that holds a chat template of its own (WhisperProcessor takes none)."""

    def __init__(self, feature_extractor, tokenizer, chat_template=None):
        super().__init__(feature_extractor, tokenizer, chat_template=chat_template)


class Pair(workbench.ProcessorMixin):
    attributes = ("feature_extractor", "tokenizer")


@pytest.fixture(scope="module")
def template_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("with-template")
    whisper = reference_processor()
    ReferencePair(whisper.feature_extractor, whisper.tokenizer, chat_template=TEMPLATE).save_pretrained(folder)
    return folder


def test_a_processor_template_saved_by_the_reference(template_folder):
    assert (template_folder / "chat_template.jinja").read_text() == TEMPLATE
    ours, theirs = Pair.from_pretrained(template_folder), ReferencePair.from_pretrained(template_folder)
    assert ours.chat_template == theirs.chat_template == TEMPLATE
    text = ours.apply_chat_template(CHAT, add_generation_prompt=True)
    assert text == theirs.apply_chat_template(CHAT, add_generation_prompt=True) == "<user>hello\n<assistant>world\n<assistant>"
    assert ours.apply_chat_template(CHAT, tokenize=True) == theirs.apply_chat_template(CHAT, tokenize=True)
    options = dict(tokenize=True, return_dict=True, return_tensors="pt", processor_kwargs={"padding": True})
    batch, expected = ours.apply_chat_template([CHAT, CHAT[:1]], **options), theirs.apply_chat_template([CHAT, CHAT[:1]], **options)
    assert batch["input_ids"].tolist() == expected["input_ids"].tolist()
    assert batch["attention_mask"].tolist() == expected["attention_mask"].tolist()


def test_processor_templates_round_trip_both_ways(template_folder, tmp_path):
    named = {"default": TEMPLATE, "short": "{{ messages[0]['content'] }}"}
    ours = Pair.from_pretrained(template_folder, chat_template=named)
    ours.save_pretrained(tmp_path)
    assert (tmp_path / "chat_template.jinja").read_text() == TEMPLATE
    assert (tmp_path / "additional_chat_templates" / "short.jinja").read_text() == named["short"]
    theirs = ReferencePair.from_pretrained(tmp_path)
    assert theirs.chat_template == Pair.from_pretrained(tmp_path).chat_template == named
    assert ours.apply_chat_template(CHAT, chat_template="short") == theirs.apply_chat_template(CHAT, chat_template="short") == "hello"
    assert transformers.AutoTokenizer.from_pretrained(tmp_path).chat_template == AutoTokenizer.from_pretrained(tmp_path).chat_template


def test_whisper_leaves_the_template_to_its_tokenizer(tmp_path):
    """The reference's WhisperProcessor takes no chat_template: a template in its folder is the
    tokenizer's. Workbench's processor formats with it where the reference's needs it passed in."""
    theirs = reference_processor()
    theirs.tokenizer.chat_template = TEMPLATE
    theirs.save_pretrained(tmp_path)
    theirs = transformers.AutoProcessor.from_pretrained(tmp_path)
    ours = AutoProcessor.from_pretrained(tmp_path)
    assert ours.chat_template is None and theirs.chat_template is None
    assert ours.tokenizer.chat_template == theirs.tokenizer.chat_template == TEMPLATE
    assert ours.apply_chat_template(CHAT) == theirs.apply_chat_template(CHAT, chat_template=TEMPLATE)
    assert ours.apply_chat_template(CHAT, tokenize=True) == theirs.apply_chat_template(CHAT, chat_template=TEMPLATE, tokenize=True)
    with pytest.raises(TypeError, match="takes no chat_template"):
        WhisperProcessor(ours.feature_extractor, ours.tokenizer, chat_template=TEMPLATE)
    ours.save_pretrained(tmp_path / "again")
    assert (tmp_path / "again" / "chat_template.jinja").read_text() == TEMPLATE


def test_the_4x_template_files(v4_folder, tmp_path):
    """4.x kept a tokenizer's template in tokenizer_config.json and a processor's in chat_template.json."""
    tokenizer = AutoTokenizer.from_pretrained(v4_folder)
    assert tokenizer.chat_template == transformers.AutoTokenizer.from_pretrained(v4_folder).chat_template == TEMPLATE
    assert AutoProcessor.from_pretrained(v4_folder).apply_chat_template(CHAT) == tokenizer.apply_chat_template(CHAT, tokenize=False)
    folder = copy_files(v4_folder, tmp_path / "json", ["tokenizer.json", "special_tokens_map.json"])
    settings = json.loads((v4_folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**settings, "processor_class": "ReferencePair"}))
    other = "{{ messages | length }} messages"
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": other}))
    ours, theirs = Pair.from_pretrained(folder), ReferencePair.from_pretrained(folder)
    assert ours.chat_template == theirs.chat_template == other
    assert ours.apply_chat_template(CHAT) == theirs.apply_chat_template(CHAT) == "2 messages"
    # workbench's tokenizer reads chat_template.json too, last (the reference's leaves it to the processor),
    # and saves it the transformers-5 way, which the reference's tokenizer reads
    assert AutoTokenizer.from_pretrained(folder).chat_template == other
    AutoTokenizer.from_pretrained(folder).save_pretrained(tmp_path / "resaved")
    assert (tmp_path / "resaved" / "chat_template.jinja").read_text() == other
    assert transformers.AutoTokenizer.from_pretrained(tmp_path / "resaved").chat_template == other


def test_media_in_a_conversation_is_not_tokenized_silently(template_folder):
    processor = Pair.from_pretrained(template_folder)
    chat = [{"role": "user", "content": [{"type": "audio", "path": "a.wav"}, {"type": "text", "text": "hi"}]}]
    with pytest.raises(NotImplementedError, match="audio parts"):
        processor.apply_chat_template(chat, chat_template="{{ messages[0]['content'][1]['text'] }}", tokenize=True)


# --- the speech pipeline on a transformers-5 folder ---------------------------------------------

@pytest.fixture(scope="module")
def speech_model_folder(tmp_path_factory):
    """A tiny random Whisper saved by the reference with its processor (the transformers-5 layout)."""
    processor = reference_processor()
    ids = {token: processor.tokenizer.convert_tokens_to_ids(token) for token in SPECIALS}
    config = transformers.WhisperConfig(
        vocab_size=len(processor.tokenizer), num_mel_bins=8, encoder_layers=2, encoder_attention_heads=4,
        decoder_layers=2, decoder_attention_heads=2, decoder_ffn_dim=37, encoder_ffn_dim=41, d_model=32,
        max_source_positions=50, max_target_positions=40, pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|endoftext|>"],
        decoder_start_token_id=ids["<|startoftranscript|>"], begin_suppress_tokens=None, suppress_tokens=None)
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(config).eval()
    folder = tmp_path_factory.mktemp("tiny-whisper")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    assert not (folder / "preprocessor_config.json").exists()
    return folder


def test_the_speech_pipeline_runs_on_a_transformers_5_folder(speech_model_folder):
    pipe = workbench.pipeline("automatic-speech-recognition", model=str(speech_model_folder))
    assert isinstance(pipe.feature_extractor, WhisperFeatureExtractor)
    audio = chirp(0.8)
    result = pipe(audio, max_new_tokens=6)
    reference = transformers.WhisperForConditionalGeneration.from_pretrained(speech_model_folder).eval()
    processor = transformers.AutoProcessor.from_pretrained(speech_model_folder)
    features = processor(audio, sampling_rate=RATE, return_tensors="pt").input_features
    with torch.no_grad():  # the reference's plain generate (its Whisper generate adds language and timestamp logic)
        ids = transformers.GenerationMixin.generate(reference, features, max_new_tokens=6)
    assert result == {"text": processor.batch_decode(ids, skip_special_tokens=True)[0]}
    assert result["text"]  # the random model says something, so the comparison is not of two empty strings
