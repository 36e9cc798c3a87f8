"""workbench/nn/patches.py, layer_scale.py and backbone.py on their own (the families using them are
compared with the reference in tests/test_vit_family.py and the shared suite)."""

from __future__ import annotations

import pytest
import torch

import workbench
from workbench.nn.backbone import aligned_out_features
from workbench.nn.layer_scale import LayerScale
from workbench.nn.patches import PatchEmbeddings, interpolate_positions, mask_patches


def test_patch_embeddings_cut_row_major_patches():
    """Patch (row 0, col 1) of a 2x3 grid is token 1; each token is the linear map of its own pixels only."""
    embed = PatchEmbeddings(image_size=(8, 12), patch_size=4, num_channels=1, hidden_size=2)
    image = torch.zeros(1, 1, 8, 12)
    image[0, 0, 0:4, 4:8] = 1.0
    with torch.no_grad():
        tokens = embed(image) - embed.projection.bias
    assert embed.num_patches == 6 and tokens.shape == (1, 6, 2)
    moved = tokens.abs().sum(-1)[0]
    assert moved[1] > 0 and torch.count_nonzero(moved) == 1
    with pytest.raises(ValueError, match="num_channels"):
        embed(torch.zeros(1, 3, 8, 12))


def test_interpolation_keeps_the_prefix_and_is_the_identity_on_the_trained_grid():
    table = torch.randn(1, 2 + 16, 8)
    assert interpolate_positions(table, 2, 32, 32, 8) is table
    resized = interpolate_positions(table, 2, 48, 32, 8)
    assert resized.shape == (1, 2 + 6 * 4, 8) and torch.equal(resized[:, :2], table[:, :2])
    # a grid of the trained size, forced through the resampling, comes back unchanged
    assert torch.allclose(interpolate_positions(table, 2, 32, 32, 8, always=True), table, atol=1e-6)


def test_mask_patches_swaps_only_the_masked_ones():
    patches, token = torch.randn(2, 4, 3), torch.full((1, 1, 3), 7.0)
    masked = torch.tensor([[True, False, False, True], [False] * 4])
    out = mask_patches(patches, masked, token)
    assert torch.equal(out[0, 0], token[0, 0]) and torch.equal(out[0, 1], patches[0, 1]) and torch.equal(out[1], patches[1])
    with pytest.raises(ValueError, match="mask token"):
        mask_patches(patches, masked, None)


def test_layer_scale():
    # (DropPath against the reference's: tests/test_convnext_mobilenet.py)
    scale = LayerScale(3, 0.5)
    assert torch.equal(scale(torch.ones(2, 3)), torch.full((2, 3), 0.5))


@pytest.mark.parametrize("features,indices,expected", [
    (None, None, (["stage2"], [2])), (None, [0, -1], (["stem", "stage2"], [0, -1])),
    (["stage1"], None, (["stage1"], [1]))])
def test_aligned_out_features(features, indices, expected):
    assert aligned_out_features(["stem", "stage1", "stage2"], features, indices) == expected


@pytest.mark.parametrize("features,indices,message", [
    (["stage9"], None, "not stage names"), (["stage2", "stem"], None, "order"), (None, [5], "out of range"),
    (None, [2, 2], "once"), (["stem"], [1], "different stages")])
def test_aligned_out_features_rejects_what_the_reference_rejects(features, indices, message):
    with pytest.raises(ValueError, match=message):
        aligned_out_features(["stem", "stage1", "stage2"], features, indices)


@pytest.mark.parametrize("model_type", ["resnet", "convnext", "swin", "dinov2"])
def test_stage_override_when_loading_a_config_re_derives_the_other_field(model_type, tmp_path):
    """AutoConfig.from_pretrained(folder, out_indices=...) on a config.json holding both fields: the
    override wins and out_features follows, as the reference's setters do (one mixin for every family)."""
    import transformers

    from workbench.models.registry import FAMILIES

    tiny = {k: v for k, v in FAMILIES[model_type].tiny.items() if k not in ("out_features", "out_indices")}
    workbench.AutoConfig.for_model(model_type, out_features=["stage1"], **tiny).save_pretrained(tmp_path)
    ours = workbench.AutoConfig.from_pretrained(tmp_path, out_indices=[0, -1])
    theirs = transformers.AutoConfig.from_pretrained(tmp_path, out_indices=[0, -1])
    assert (ours.stage_names, ours.out_features, ours.out_indices) == (
        theirs.stage_names, theirs.out_features, theirs.out_indices)
