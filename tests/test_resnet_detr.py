"""ResNet's backbone (out_features / out_indices, feature maps) and DETR's losses against the reference.

The shared suite (test_models.py) already compares every output of every head on the registry's tiny
configs, DETR with a right-padded pixel_mask; here: what it does not reach (labels and the set loss,
auxiliary decoder losses, a backbone's chosen stages, config validation).
"""

from __future__ import annotations

import pytest
import torch

import workbench
from workbench.models.registry import FAMILIES

from image_inputs import build_inputs, compare_outputs
from model_registry import CASES
from reference import build_reference_model, save_reference_model
from tolerance import assert_close_scaled

TINY_RESNET = FAMILIES["resnet"].tiny
NO_STAGES = {k: v for k, v in TINY_RESNET.items() if k != "out_features"}
TINY_DETR = FAMILIES["detr"].tiny
DETR_CASE = next(case for case in CASES if case.name == "detr")


@pytest.fixture(scope="module")
def resnet_backbone_folder(tmp_path_factory):
    reference = build_reference_model("resnet", "ResNetBackbone", TINY_RESNET)
    return save_reference_model(reference, str(tmp_path_factory.mktemp("resnet-backbone")))


def test_backbone_out_features_override_picks_the_reference_stages(resnet_backbone_folder):
    """out_features given at load time replace the checkpoint's, out_indices follow, and the feature
    maps are the reference's for those stages (the stem's included)."""
    import transformers

    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    wanted = ["stem", "stage2"]
    ours = workbench.AutoBackbone.from_pretrained(resnet_backbone_folder, out_features=wanted)
    # (the reference's AutoBackbone asks the Hub whether a local folder is a repo: its class directly)
    theirs = transformers.ResNetBackbone.from_pretrained(resnet_backbone_folder, out_features=wanted).eval()
    assert ours.config.out_indices == theirs.config.out_indices == [0, 2]
    assert ours.channels == theirs.channels == [8, 16]
    with torch.no_grad():
        mine, reference = ours(pixels), theirs(pixels)
    assert [tuple(m.shape) for m in mine.feature_maps] == [(2, 8, 8, 8), (2, 16, 4, 4)]
    compare_outputs(mine, reference, what="backbone")


def test_backbone_config_writes_what_the_reference_writes():
    """stage_names, out_features and out_indices in config.json, either given by the other."""
    import transformers

    for given in (dict(out_indices=[1, -1]), dict(out_features=["stage1", "stage4"])):
        ours = workbench.AutoConfig.for_model("resnet", **NO_STAGES | given).to_dict()
        theirs = transformers.AutoConfig.for_model("resnet", **NO_STAGES | given).to_dict()
        for key in ("stage_names", "out_features", "out_indices"):
            assert ours[key] == theirs[key], key
    assert workbench.AutoConfig.for_model("resnet", **NO_STAGES).out_features == ["stage4"]


@pytest.mark.parametrize("given", [dict(out_features=["stage9"]), dict(out_features=["stage2", "stage1"]),
                                   dict(out_indices=[1, 1]), dict(out_features=["stage1"], out_indices=[2])])
def test_backbone_config_rejects_stages_it_does_not_have(given):
    with pytest.raises(ValueError, match="stage"):
        workbench.AutoConfig.for_model("resnet", **NO_STAGES | given)


def test_detr_with_a_timm_backbone_says_how_to_use_its_own():
    config = workbench.AutoConfig.for_model("detr", **{k: v for k, v in TINY_DETR.items()
                                                       if k not in ("use_timm_backbone", "backbone_config")})
    assert config.backbone_config["model_type"] == "timm_backbone"
    with pytest.raises(ValueError, match="use_timm_backbone=False"):
        workbench.DetrModel.from_config(config)


def detection_labels(with_masks: bool) -> list[dict]:
    """Two images: two objects, then one (normalized cx, cy, w, h boxes)."""
    generator = torch.Generator().manual_seed(3)
    labels = [{"class_labels": torch.tensor([0, 2]), "boxes": torch.tensor([[0.3, 0.4, 0.2, 0.3], [0.6, 0.5, 0.4, 0.2]])},
              {"class_labels": torch.tensor([1]), "boxes": torch.tensor([[0.5, 0.5, 0.5, 0.6]])}]
    if with_masks:
        for target in labels:
            target["masks"] = (torch.rand(len(target["boxes"]), 64, 96, generator=generator) > 0.5).float()
    return labels


@pytest.mark.parametrize("head,auxiliary", [("DetrForObjectDetection", False), ("DetrForObjectDetection", True),
                                            ("DetrForSegmentation", False)])
def test_detr_loss_matches_the_reference(head, auxiliary, tmp_path):
    """The Hungarian-matched set loss, each of its parts, and with ``auxiliary_loss`` each decoder
    layer's predictions and losses; the segmentation head adds the masks' focal and Dice losses."""
    config = dict(TINY_DETR, auxiliary_loss=auxiliary)
    reference = build_reference_model("detr", head, config)
    folder = save_reference_model(reference, str(tmp_path))
    ours = getattr(workbench, head).from_pretrained(folder)
    inputs = build_inputs(DETR_CASE, head)
    labels = detection_labels(head == "DetrForSegmentation")
    with torch.no_grad():
        mine = ours(**inputs, labels=labels)
        theirs = reference(**inputs, labels=labels)
    assert mine.loss_dict.keys() == theirs.loss_dict.keys()
    for name, value in theirs.loss_dict.items():
        assert_close_scaled(mine.loss_dict[name], value, what=name)
    assert_close_scaled(mine.loss, theirs.loss, what="loss")
    assert (mine.auxiliary_outputs is None) == (not auxiliary)
    if auxiliary:
        assert len(mine.auxiliary_outputs) == config["decoder_layers"] - 1
        compare_outputs(mine.auxiliary_outputs, theirs.auxiliary_outputs, what="auxiliary_outputs")


def test_detr_loss_reaches_the_transformer_but_not_the_frozen_backbone():
    """Training from labels: gradients reach the projection, encoder, decoder and heads; the ResNet's
    parameters stay frozen (requires_grad False), as in the reference."""
    torch.manual_seed(0)
    model = workbench.DetrForObjectDetection.from_config(workbench.AutoConfig.for_model("detr", **TINY_DETR)).train()
    model(**build_inputs(DETR_CASE, "DetrForObjectDetection"), labels=detection_labels(False)).loss.backward()
    backbone = {name for name, _ in model.named_parameters() if name.startswith("model.backbone.")}
    assert backbone and all(not model.get_parameter(name).requires_grad for name in backbone)
    assert model.model.input_projection.weight.grad is not None
    assert model.bbox_predictor.layers[-1].weight.grad.abs().sum() > 0


def test_detr_learned_positions_and_embedded_inputs_match_the_reference(tmp_path):
    """Paths the registry's case does not take: learned row/column position embeddings, and a
    flattened feature map given as ``inputs_embeds`` (with a pixel_mask sampled down to it) in place
    of the backbone's."""
    config = dict(TINY_DETR, position_embedding_type="learned")
    reference = build_reference_model("detr", "DetrModel", config)
    ours = workbench.DetrModel.from_pretrained(save_reference_model(reference, str(tmp_path)))
    inputs = build_inputs(DETR_CASE, "DetrModel")
    generator = torch.Generator().manual_seed(5)
    mask = torch.ones(2, 64, 64, dtype=torch.long)
    mask[1, :, 30:] = 0  # sampled at columns 0, 21, 42 of a 3x3 map: the second image's last column is padding
    embedded = {"inputs_embeds": torch.randn(2, 9, 32, generator=generator), "pixel_mask": mask}
    for given in (inputs, embedded):
        with torch.no_grad():
            mine = ours(**given, output_hidden_states=True, output_attentions=True)
            theirs = reference(**given, output_hidden_states=True, output_attentions=True)
        compare_outputs(mine, theirs, what=", ".join(given))
