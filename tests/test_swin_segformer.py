"""Swin and SegFormer paths the shared suite's base case (32x32 images, no labels) does not take:
images whose sides are not multiples of the patch or the window (padding, odd patch merging), position
tables interpolated to another size, the masked-image-modeling and segmentation losses, a backbone's
out_features chosen when loading, and SegFormer's last stage left as tokens. Each compares every
tensor of the output with the reference's on the same checkpoint."""

from __future__ import annotations

import pytest
import torch

import workbench
from workbench.auto import class_for_architecture
from workbench.models.registry import FAMILIES

from image_inputs import compare_outputs
from reference import build_reference_model, save_reference_model
from tolerance import assert_close_scaled

SWIN = FAMILIES["swin"].tiny
SEGFORMER = FAMILIES["segformer"].tiny


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(reference, ours) for (model_type, head, config overrides), built once per key. Each key gets its
    own reference model: the reference's Swin layers remember the window they clamped to."""
    built = {}

    def get(model_type, head, **overrides):
        key = (model_type, head, tuple(sorted((k, repr(v)) for k, v in overrides.items())))
        if key not in built:
            config = {**FAMILIES[model_type].tiny, **overrides}
            reference = build_reference_model(model_type, head, config)
            folder = save_reference_model(reference, str(tmp_path_factory.mktemp(head)))
            built[key] = (reference, class_for_architecture(head).from_pretrained(folder), folder)
        return built[key]

    return get


def both(reference, ours, **inputs):
    with torch.no_grad():
        return (ours(**inputs, output_hidden_states=True, output_attentions=True),
                reference(**inputs, output_hidden_states=True, output_attentions=True))


def pixels(height, width, batch=2, seed=0):
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("head", ["SwinForImageClassification", "SwinBackbone"])
def test_swin_pads_images_to_patches_and_windows(pair, head):
    """38x45 pixels: padded to 40x48 for 4x4 patches; the 10x12 grid padded to 12x12 for windows of 4
    (shifted, masked), merged to 5x6 (odd: padded), padded again to 8x8. The classifier and the
    backbone (which keeps shifting windows at every size) both match."""
    reference, ours, _ = pair("swin", head, use_absolute_embeddings=False)
    mine, theirs = both(reference, ours, pixel_values=pixels(38, 45))
    assert compare_outputs(mine, theirs, head) > 5


def test_swin_interpolates_its_position_table(pair):
    """A 40x48 image has a 10x12 patch grid: the 8x8 position table is resized (bicubic) to it."""
    reference, ours, _ = pair("swin", "SwinModel")
    mine, theirs = both(reference, ours, pixel_values=pixels(40, 48), interpolate_pos_encoding=True)
    assert mine.last_hidden_state.shape == (2, 5 * 6, 32)
    compare_outputs(mine, theirs, "SwinModel")


def test_swin_masked_image_modeling_loss(pair):
    """Masked patches take the mask token; the L1 loss counts masked pixels only."""
    reference, ours, _ = pair("swin", "SwinForMaskedImageModeling")
    masked = torch.rand(2, 64, generator=torch.Generator().manual_seed(1)) < 0.5
    mine, theirs = both(reference, ours, pixel_values=pixels(32, 32), bool_masked_pos=masked)
    assert mine.loss is not None and mine.reconstruction.shape == (2, 3, 32, 32)
    compare_outputs(mine, theirs, "SwinForMaskedImageModeling")
    unmasked = both(reference, ours, pixel_values=pixels(32, 32))[0].reconstruction
    assert not torch.allclose(unmasked, mine.reconstruction)  # the mask token changes what the model sees


def test_swin_classifier_loss(pair):
    reference, ours, _ = pair("swin", "SwinForImageClassification")
    labels = torch.tensor([2, 0])
    mine, theirs = both(reference, ours, pixel_values=pixels(32, 32), labels=labels)
    assert_close_scaled(mine.loss, theirs.loss, what="loss")


def test_auto_backbone_takes_out_features_when_loading(pair):
    """out_features given to from_pretrained picks the maps (and sets out_indices to match)."""
    import transformers

    _, _, folder = pair("swin", "SwinBackbone")
    ours = workbench.AutoBackbone.from_pretrained(folder, out_features=["stage1"])
    # the reference's AutoBackbone asks the Hub whether a local folder is a repo: its class loads it
    theirs = transformers.SwinBackbone.from_pretrained(folder, out_features=["stage1"], attn_implementation="eager").eval()
    assert ours.config.out_indices == [1] and ours.channels == [16]
    mine, reference = both(theirs, ours, pixel_values=pixels(32, 32))
    assert len(mine.feature_maps) == 1
    compare_outputs(mine, reference, "SwinBackbone")


def test_swin_backbone_saves_the_reference_layout(pair, tmp_path):
    """The stem and the encoder are saved without the ``swin.`` prefix, as the reference writes them."""
    from safetensors.torch import load_file

    _, ours, folder = pair("swin", "SwinBackbone")
    ours.save_pretrained(tmp_path)
    assert sorted(load_file(tmp_path / "model.safetensors")) == sorted(load_file(f"{folder}/model.safetensors"))


@pytest.mark.parametrize("num_labels", [3, 1])
def test_segformer_loss_upsamples_logits_to_the_labels(pair, num_labels):
    """Logits stay at 1/4 of the image; the loss compares them upsampled to the 32x32 labels, skipping
    the ignore index (255); one label: binary cross-entropy over the valid pixels."""
    reference, ours, _ = pair("segformer", "SegformerForSemanticSegmentation", num_labels=num_labels)
    labels = torch.randint(0, num_labels if num_labels > 1 else 2, (2, 32, 32), generator=torch.Generator().manual_seed(2))
    labels[:, :4] = 255
    mine, theirs = both(reference, ours, pixel_values=pixels(32, 32), labels=labels)
    assert mine.logits.shape == (2, num_labels, 8, 8)
    assert_close_scaled(mine.loss, theirs.loss, what="loss")
    compare_outputs(mine, theirs, "SegformerForSemanticSegmentation")


def test_segformer_last_stage_as_tokens(pair):
    """reshape_last_stage=False: the last stage's output stays (B, N, C); the classifier reads it as the
    reference does, and the decode head (where the reference's reshape breaks) gives the same logits
    as with the map."""
    reference, ours, _ = pair("segformer", "SegformerForImageClassification", reshape_last_stage=False)
    mine, theirs = both(reference, ours, pixel_values=pixels(32, 32))
    assert mine.hidden_states[-1].dim() == 3
    compare_outputs(mine, theirs, "SegformerForImageClassification")
    _, segmenter, folder = pair("segformer", "SegformerForSemanticSegmentation")
    tokens = workbench.SegformerForSemanticSegmentation.from_pretrained(folder, reshape_last_stage=False)
    with torch.no_grad():
        assert torch.equal(tokens(pixels(32, 32)).logits, segmenter(pixels(32, 32)).logits)


def test_segformer_on_a_non_square_image(pair):
    """48x32 pixels: 12x8 then 6x4 maps, keys shrunk to 6x4 in the first stage."""
    reference, ours, _ = pair("segformer", "SegformerForSemanticSegmentation")
    mine, theirs = both(reference, ours, pixel_values=pixels(48, 32))
    assert mine.logits.shape == (2, 3, 12, 8)
    compare_outputs(mine, theirs, "SegformerForSemanticSegmentation")


def test_window_primitives():
    """Partition and merge invert each other; the shift mask blocks exactly the pairs the roll brought
    together; a window smaller than the bias table's (a map smaller than the window) reads the
    table's biases for the same offsets."""
    from workbench.nn.windows import relative_position_index, shifted_window_mask, window_merge, window_partition

    grid = torch.arange(2 * 8 * 12 * 3, dtype=torch.float32).reshape(2, 8, 12, 3)
    windows = window_partition(grid, 4)
    assert windows.shape == (2 * 2 * 3, 16, 3) and torch.equal(windows[1, 0], grid[0, 0, 4])
    assert torch.equal(window_merge(windows, 4, 8, 12), grid)
    mask = shifted_window_mask(8, 8, 4, 2, torch.float32, torch.device("cpu"))
    assert mask.shape == (4, 16, 16) and not mask[0].any()  # the top-left window holds one region
    assert (mask[3] != 0).sum() == 16 * 16 - 4 * 16  # the corner window: 4 regions of 4 positions
    full, small = relative_position_index(4), relative_position_index(3, 4)
    inside = torch.tensor([r * 4 + c for r in range(3) for c in range(3)])
    assert torch.equal(small, full[inside][:, inside])


@pytest.mark.parametrize("model_type", ["swin", "segformer"])
def test_every_reference_head_is_registered(model_type):
    """Every Auto class the reference maps the family to (AutoBackbone included) picks the same class here."""
    import transformers

    from test_encoder_heads import reference_picks

    family = FAMILIES[model_type]
    backbones = transformers.AutoBackbone._model_mapping._model_mapping
    expected = {**reference_picks(model_type), **({"AutoBackbone": backbones[model_type]} if model_type in backbones else {})}
    assert {**family.heads, **family.also_auto} == expected


def test_swin_other_size_without_interpolation_names_the_fix(pair):
    _, ours, _ = pair("swin", "SwinModel")
    with pytest.raises(ValueError, match="interpolate_pos_encoding=True"):
        ours(pixels(40, 48))
