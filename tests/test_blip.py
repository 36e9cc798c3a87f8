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


def test_other_image_sizes_interpolate_the_positions_as_the_reference(models):
    """A 48 x 40 image (6 x 5 patches) with interpolate_pos_encoding: the 4 x 4 position grid is resampled
    bicubically; without it the position table is too short, which the error says."""
    reference, ours = models["BlipForConditionalGeneration"]
    pixels, ids = torch.randn(2, 3, 48, 40, generator=torch.Generator().manual_seed(6)), token_ids(2, 5)
    with torch.no_grad():
        expected = reference(pixel_values=pixels, input_ids=ids, interpolate_pos_encoding=True)
        actual = ours(pixel_values=pixels, input_ids=ids, interpolate_pos_encoding=True)
        assert actual.image_embeds.shape == (2, 31, 32)
        assert_close_scaled(actual.image_embeds, expected.image_embeds, what="image_embeds")
        assert_close_scaled(actual.logits, expected.logits, what="logits")
        with pytest.raises(ValueError, match="interpolate_pos_encoding=True"):
            ours(pixel_values=pixels, input_ids=ids)


@pytest.mark.parametrize("use_itm_head", [True, False], ids=["matching-head", "similarities"])
def test_image_text_retrieval_matches_the_reference(tmp_path, use_itm_head):
    """BlipForImageTextRetrieval (under no Auto class, so outside the shared suite): every output tensor,
    on a padded batch of texts, with the matching head and with the projected similarities; and the
    reference loads what workbench saves."""
    from workbench import BlipForImageTextRetrieval

    from image_inputs import compare_outputs, text_ids
    from reference import load_reference_model

    reference = build_reference_model("blip", "BlipForImageTextRetrieval", CONFIG)
    ours = BlipForImageTextRetrieval.from_pretrained(save_reference_model(reference, str(tmp_path / "reference")))
    inputs = dict(text_ids(TEXT, 2, 7, torch.Generator().manual_seed(7)), pixel_values=images(), use_itm_head=use_itm_head,
                  output_hidden_states=True, output_attentions=True)
    ours.save_pretrained(tmp_path / "ours")
    reloaded = load_reference_model("BlipForImageTextRetrieval", str(tmp_path / "ours"))
    with torch.no_grad():
        expected = reference(**inputs)
        assert compare_outputs(ours(**inputs), expected, what="retrieval") == 8
        compare_outputs(reloaded(**inputs), expected, what="reloaded by the reference")


def test_zero_shot_auto_class_picks_the_joint_model_and_the_config_nests_its_parts():
    import workbench

    config = workbench.AutoConfig.for_model("blip", **CONFIG)
    assert type(workbench.AutoModelForZeroShotImageClassification.from_config(config)).__name__ == "BlipModel"
    written = config.to_dict()
    assert written["text_config"]["model_type"] == "blip_text_model"
    assert written["vision_config"]["patch_size"] == 8
    assert written["text_config"]["encoder_hidden_size"] == CONFIG["vision_config"]["hidden_size"]
    assert workbench.AutoConfig.from_dict(written) == config
