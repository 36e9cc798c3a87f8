"""BLIP beyond the shared suite: captioning and visual question answering generate the reference's tokens
(greedy and beam search, with and without a caption prompt), and the captioning and VQA losses from
labels are the reference's. The shared suite (test_models.py) checks every head's forward outputs."""

from __future__ import annotations

import pytest
import torch

from workbench import BlipForConditionalGeneration, BlipForQuestionAnswering
from workbench.models.registry import FAMILIES

from reference import build_reference_model, save_reference_model
from tolerance import assert_close_scaled

CONFIG = FAMILIES["blip"].tiny
TEXT = CONFIG["text_config"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(reference, workbench) pairs of the captioning and VQA models, from one random checkpoint each."""
    pairs = {}
    for ours in (BlipForConditionalGeneration, BlipForQuestionAnswering):
        reference = build_reference_model("blip", ours.__name__, CONFIG)
        folder = save_reference_model(reference, str(tmp_path_factory.mktemp(ours.__name__)))
        pairs[ours.__name__] = (reference, ours.from_pretrained(folder))
    return pairs


def images(batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def token_ids(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    """Random ids from 3 up (never a special token), each row ending with the separator as BLIP's tokenizer ends it."""
    ids = torch.randint(3, TEXT["vocab_size"], (batch, length), generator=torch.Generator().manual_seed(seed))
    ids[:, -1] = TEXT["sep_token_id"]
    return ids


SETTINGS = {"greedy": dict(max_new_tokens=8), "beam": dict(max_new_tokens=8, num_beams=3),
            "beam-two-returned": dict(max_new_tokens=6, num_beams=3, num_return_sequences=2)}


@pytest.mark.parametrize("settings", list(SETTINGS), ids=list(SETTINGS))
def test_captions_are_the_reference_tokens(models, settings):
    reference, ours = models["BlipForConditionalGeneration"]
    pixels = images()
    expected = reference.generate(pixel_values=pixels, **SETTINGS[settings])
    actual = ours.generate(pixel_values=pixels, **SETTINGS[settings])
    assert actual[:, 0].eq(TEXT["bos_token_id"]).all()
    assert torch.equal(actual, expected)


@pytest.mark.parametrize("settings", ["greedy", "beam"])
def test_captions_continuing_a_prompt_are_the_reference_tokens(models, settings):
    """A tokenized prompt ("a picture of" [SEP]): its first token becomes bos, its [SEP] is dropped."""
    reference, ours = models["BlipForConditionalGeneration"]
    pixels, prompt = images(), token_ids(2, 5)
    mask = torch.ones_like(prompt)
    expected = reference.generate(pixel_values=pixels, input_ids=prompt.clone(), attention_mask=mask,
                                  **SETTINGS[settings])
    actual = ours.generate(pixel_values=pixels, input_ids=prompt, attention_mask=mask, **SETTINGS[settings])
    assert torch.equal(actual[:, 1:4], prompt[:, 1:4])  # the prompt continued, without its [SEP]
    assert torch.equal(actual, expected)


@pytest.mark.parametrize("settings", list(SETTINGS), ids=list(SETTINGS))
def test_answers_are_the_reference_tokens(models, settings):
    """A padded batch of questions (the second two tokens shorter) about two images."""
    reference, ours = models["BlipForQuestionAnswering"]
    pixels, question = images(seed=2), token_ids(2, 7, seed=3)
    mask = torch.ones_like(question)
    mask[1, -2:] = 0
    question[1, -2:] = TEXT["pad_token_id"]
    expected = reference.generate(input_ids=question, pixel_values=pixels, attention_mask=mask, **SETTINGS[settings])
    actual = ours.generate(input_ids=question, pixel_values=pixels, attention_mask=mask, **SETTINGS[settings])
    assert torch.equal(actual, expected)


def test_caption_and_answer_losses_are_the_reference_ones(models):
    labels = token_ids(2, 6, seed=4)
    labels[:, 0] = TEXT["bos_token_id"]
    reference, ours = models["BlipForConditionalGeneration"]
    with torch.no_grad():
        expected = reference(pixel_values=images(), input_ids=labels, labels=labels)
        actual = ours(pixel_values=images(), input_ids=labels, labels=labels)
    assert_close_scaled(actual.loss, expected.loss, what="caption loss")
    reference, ours = models["BlipForQuestionAnswering"]
    question = token_ids(2, 7, seed=5)
    with torch.no_grad():
        expected = reference(input_ids=question, pixel_values=images(), labels=labels)
        actual = ours(input_ids=question, pixel_values=images(), labels=labels)
    assert_close_scaled(actual.loss, expected.loss, what="answer loss")


def test_question_answering_without_answer_ids_says_what_to_pass(models):
    _, ours = models["BlipForQuestionAnswering"]
    with pytest.raises(ValueError, match="decoder_input_ids or labels"):
        ours(input_ids=token_ids(1, 4), pixel_values=images(1))


def test_captions_stop_at_the_separator_as_the_reference_ones(models):
    """With a separator the random model does write (84, by its greedy captions above), the rows stop at it
    at different steps and the finished one is filled with padding."""
    reference, ours = models["BlipForConditionalGeneration"]
    for model in (reference, ours):
        model.config.text_config.sep_token_id = 84
    try:
        expected = reference.generate(pixel_values=images(), max_new_tokens=8)
        actual = ours.generate(pixel_values=images(), max_new_tokens=8)
    finally:
        for model in (reference, ours):
            model.config.text_config.sep_token_id = TEXT["sep_token_id"]
    assert (actual == TEXT["pad_token_id"]).any(), "no row finished early: the check would not show a stop"
    assert torch.equal(actual, expected)
