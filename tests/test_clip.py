"""CLIP and SigLIP beyond the shared suite: the features, the pooling rules, the losses, zero-shot
probabilities, other image sizes, the projection-only models and loading one tower from a joint checkpoint,
each against the reference."""

from __future__ import annotations

import json
import os

import pytest
import torch

import workbench
from workbench.models.registry import FAMILIES

from reference import build_reference_model, load_reference_model, save_reference_model
from tolerance import assert_close_scaled

CLIP, SIGLIP = FAMILIES["clip"].tiny, FAMILIES["siglip"].tiny


@pytest.fixture(scope="module")
def joint(tmp_path_factory):
    """(reference, workbench) joint models, CLIP and SigLIP, built once; workbench loads the reference's save."""
    built = {}
    for model_type, name, config in (("clip", "CLIPModel", CLIP), ("siglip", "SiglipModel", SIGLIP)):
        reference = build_reference_model(model_type, name, config)
        folder = save_reference_model(reference, str(tmp_path_factory.mktemp(model_type)))
        built[model_type] = (reference, getattr(workbench, name).from_pretrained(folder), folder)
    return built


def texts(config: dict, pad: bool = True, seed: int = 0) -> dict:
    """Three texts ending with eos (the second and third right-padded) as CLIP's tokenizer writes them."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 90, (3, 7), generator=generator)
    mask = torch.ones_like(ids)
    if pad:
        mask[1, -2:] = 0
        mask[2, -4:] = 0
        ids[mask == 0] = config["pad_token_id"]
    ids[torch.arange(3), mask.sum(-1) - 1] = config["eos_token_id"]
    return {"input_ids": ids, "attention_mask": mask}


def images(count: int = 2, height: int = 32, width: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.randn(count, 3, height, width, generator=torch.Generator().manual_seed(seed))


def both(reference, ours, method: str, **inputs):
    with torch.no_grad():
        return getattr(reference, method)(**inputs), getattr(ours, method)(**inputs)


@pytest.mark.parametrize("model_type", ["clip", "siglip"])
def test_text_and_image_features_match_the_reference(joint, model_type):
    reference, ours, _ = joint[model_type]
    config = CLIP if model_type == "clip" else SIGLIP
    text = texts(config["text_config"], pad=model_type == "clip")  # SigLIP pools the last position: unpadded
    theirs, mine = both(reference, ours, "get_text_features", **text)
    assert mine.pooler_output.shape == theirs.pooler_output.shape
    assert_close_scaled(mine.pooler_output, theirs.pooler_output, what="text features")
    assert_close_scaled(mine.last_hidden_state, theirs.last_hidden_state, what="text states")
    theirs, mine = both(reference, ours, "get_image_features", pixel_values=images())
    assert_close_scaled(mine.pooler_output, theirs.pooler_output, what="image features")
    # other image sizes: the position table resampled bicubically (a larger square, and a non-square image)
    for height, width in ((48, 48), (32, 48)):
        theirs, mine = both(reference, ours, "get_image_features", pixel_values=images(height=height, width=width),
                            interpolate_pos_encoding=True)
        assert_close_scaled(mine.pooler_output, theirs.pooler_output, what=f"image features at {height}x{width}")
    with pytest.raises(ValueError, match="interpolate_pos_encoding=True"):
        ours.get_image_features(pixel_values=images(height=48, width=48))


@pytest.mark.parametrize("eos_token_id", [98, 2])
def test_text_tower_pools_where_the_reference_does(tmp_path, eos_token_id):
    """The configured eos id pools at its first occurrence (padding may be that token too); a legacy
    config (eos_token_id=2) pools at each row's highest id."""
    config = dict(FAMILIES["clip_text_model"].tiny, eos_token_id=eos_token_id, pad_token_id=98)
    reference = build_reference_model("clip_text_model", "CLIPTextModel", config)
    ours = workbench.CLIPTextModel.from_pretrained(save_reference_model(reference, str(tmp_path)))
    inputs = texts(config)
    if eos_token_id == 2:  # a row whose highest id is not its last token, so the two rules differ
        inputs["input_ids"][0, 1] = 95
    theirs, mine = both(reference, ours, "forward", **inputs)
    rows = torch.arange(3)
    expected_positions = (inputs["input_ids"].argmax(-1) if eos_token_id == 2
                          else inputs["attention_mask"].sum(-1) - 1)
    assert_close_scaled(mine.pooler_output, mine.last_hidden_state[rows, expected_positions], what="pooled position")
    assert_close_scaled(mine.pooler_output, theirs.pooler_output, what="pooler_output")


@pytest.mark.parametrize("model_type", ["clip", "siglip"])
def test_loss_and_logits_match_the_reference(joint, model_type):
    """CLIP's symmetric cross-entropy and SigLIP's sigmoid loss (with its logit_bias), and their gradients
    with respect to logit_scale."""
    reference, ours, _ = joint[model_type]
    config = CLIP if model_type == "clip" else SIGLIP
    inputs = dict(texts(config["text_config"], pad=model_type == "clip"), pixel_values=images(3), return_loss=True)
    theirs, mine = reference(**inputs), ours(**inputs)
    assert mine.loss.shape == theirs.loss.shape == ()
    assert_close_scaled(mine.loss, theirs.loss, what="loss")
    assert_close_scaled(mine.logits_per_text, theirs.logits_per_text, what="logits_per_text")
    theirs.loss.backward()
    mine.loss.backward()
    assert_close_scaled(ours.logit_scale.grad, reference.logit_scale.grad, what="logit_scale gradient")
    if model_type == "siglip":
        assert_close_scaled(ours.logit_bias.grad, reference.logit_bias.grad, what="logit_bias gradient")
        assert ours.logit_bias.abs().item() > 0  # the bias is in the logits: the comparison above saw it
    for model in (reference, ours):
        model.zero_grad()


def test_zero_shot_probabilities(joint):
    """softmax over logits_per_image: the reference's label probabilities; relabelling the candidates
    reorders them and changes nothing else; each image alone gets the probabilities it gets in a batch."""
    reference, ours, _ = joint["clip"]
    labels = texts(CLIP["text_config"], seed=3)
    pixels = images(2)
    with torch.no_grad():
        probs = ours(**labels, pixel_values=pixels).logits_per_image.softmax(dim=-1)
        expected = reference(**labels, pixel_values=pixels).logits_per_image.softmax(dim=-1)
        order = torch.tensor([2, 0, 1])
        shuffled = ours(**{k: v[order] for k, v in labels.items()}, pixel_values=pixels).logits_per_image.softmax(-1)
        alone = ours(**labels, pixel_values=pixels[1:]).logits_per_image.softmax(-1)
    assert probs.shape == (2, 3)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2))
    assert_close_scaled(probs, expected, what="zero-shot probabilities")
    assert_close_scaled(shuffled, probs[:, order], what="probabilities of reordered labels")
    assert_close_scaled(alone, probs[1:], what="an image alone")
    assert type(workbench.AutoModelForZeroShotImageClassification.from_pretrained(joint["clip"][2])).__name__ == "CLIPModel"


def test_one_tower_loads_from_a_joint_checkpoint(joint):
    """CLIPTextModel / CLIPVisionModel / the projection models (and SigLIP's towers) from a joint checkpoint:
    the tower's config is read from text_config / vision_config, its weights from text_model.* /
    vision_model.*, and the outputs are the reference's for the same load."""
    import transformers

    cases = [("clip", "CLIPTextModel", "text"), ("clip", "CLIPTextModelWithProjection", "text"),
             ("clip", "CLIPVisionModel", "image"), ("clip", "CLIPVisionModelWithProjection", "image"),
             ("siglip", "SiglipTextModel", "text"), ("siglip", "SiglipVisionModel", "image")]
    for model_type, name, kind in cases:
        folder = joint[model_type][2]
        ours = getattr(workbench, name).from_pretrained(folder)
        theirs = getattr(transformers, name).from_pretrained(folder).eval()
        config = CLIP if model_type == "clip" else SIGLIP
        assert ours.config.hidden_size == config[f"{'text' if kind == 'text' else 'vision'}_config"]["hidden_size"]
        inputs = (texts(config["text_config"], pad=model_type == "clip") if kind == "text"
                  else {"pixel_values": images()})
        with torch.no_grad():
            mine, expected = ours(**inputs), theirs(**inputs)
        for key, tensor in expected.items():
            if isinstance(tensor, torch.Tensor):
                assert_close_scaled(mine[key], tensor, what=f"{name}.{key}")


@pytest.mark.parametrize("name", ["CLIPTextModelWithProjection", "CLIPVisionModelWithProjection"])
def test_projection_models_both_ways(tmp_path, name):
    """The projection models (no Auto class, so not in the shared suite): the reference's checkpoint loads
    and matches, and workbench's save loads in the reference."""
    model_type = "clip_text_model" if "Text" in name else "clip_vision_model"
    config = FAMILIES[model_type].tiny
    reference = build_reference_model(model_type, name, config)
    ours = getattr(workbench, name).from_pretrained(save_reference_model(reference, str(tmp_path / "reference")))
    inputs = texts(config) if "Text" in name else {"pixel_values": images()}
    ours.save_pretrained(tmp_path / "ours")
    again = load_reference_model(name, str(tmp_path / "ours"))
    with torch.no_grad():
        expected = reference(**inputs, output_hidden_states=True)
        for model in (ours, again):
            out = model(**inputs, output_hidden_states=True)
            embeds = "text_embeds" if "Text" in name else "image_embeds"
            assert_close_scaled(out[embeds], expected[embeds], what=embeds)
            for i, (a, b) in enumerate(zip(out.hidden_states, expected.hidden_states, strict=True)):
                assert_close_scaled(a, b, what=f"hidden_states[{i}]")


def test_composite_config_round_trip(joint, tmp_path):
    """text_config / vision_config: dicts in config.json, config classes in memory; a tower's config reads
    its part of a joint config.json; attn_implementation reaches both parts."""
    folder = joint["clip"][2]
    config = workbench.AutoConfig.from_pretrained(folder)
    assert type(config.text_config).__name__ == "CLIPTextConfig" and config.text_config.eos_token_id == 98
    assert type(config.vision_config).__name__ == "CLIPVisionConfig" and config.vision_config.patch_size == 8
    config.save_pretrained(tmp_path)
    with open(os.path.join(tmp_path, "config.json")) as handle:
        written = json.load(handle)
    assert written["text_config"]["model_type"] == "clip_text_model" and written["vision_config"]["image_size"] == 32
    assert workbench.AutoConfig.from_pretrained(tmp_path) == config
    text = workbench.CLIPTextConfig.from_pretrained(folder)
    assert text.model_type == "clip_text_model" and text.vocab_size == 99
    assert workbench.CLIPConfig().text_config.vocab_size == 49408  # parts from their defaults when absent
    model = workbench.CLIPModel.from_pretrained(folder, attn_implementation="eager")
    assert model.config.text_config._attn_implementation == "eager"
    assert model.config.vision_config._attn_implementation == "eager"


def test_legacy_config_dict_parts_override_as_in_the_reference():
    """Configs written before transformers 4.27 hold text_config_dict / vision_config_dict beside the parts:
    those win, completed by their defaults (eos_token_id 2 becomes 49407, as in the reference)."""
    import transformers

    legacy = {"text_config": dict(FAMILIES["clip_text_model"].tiny, eos_token_id=2),
              "vision_config": dict(FAMILIES["clip_vision_model"].tiny),  # a copy: the reference updates it in place
              "text_config_dict": {"hidden_size": 48, "num_attention_heads": 4},
              "vision_config_dict": {"patch_size": 16}, "projection_dim": 24}
    theirs, ours = transformers.CLIPConfig(**legacy), workbench.CLIPConfig(**legacy)
    for part in ("text_config", "vision_config"):
        expected, got = getattr(theirs, part).to_dict(), getattr(ours, part).to_dict()
        for key in ("hidden_size", "num_attention_heads", "eos_token_id", "vocab_size", "patch_size", "image_size"):
            assert got.get(key) == expected.get(key), (part, key)
    assert "text_config_dict" not in ours.to_dict()
