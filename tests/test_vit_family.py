"""ViT, DeiT, DINOv2 and VisionEncoderDecoder beyond the shared suite (tests/test_models.py runs their
registry entries): images of another size than the position table was trained for, DeiT's
teacher-distilled classifier, DINOv2's mask token and backbone stages, and the image-to-text model's
generate(), cached decoding, loss and from_encoder_decoder_pretrained, each against the reference.
"""

from __future__ import annotations

import pytest
import torch

from workbench.auto import class_for_architecture
from workbench.models.registry import FAMILIES

from image_inputs import compare_outputs
from reference import build_reference_model, load_reference_model, save_reference_model
from tolerance import assert_close_scaled

VIT, DEIT, DINOV2 = (FAMILIES[name].tiny for name in ("vit", "deit", "dinov2"))
VED = FAMILIES["vision-encoder-decoder"].tiny


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(reference model, workbench model loaded from its checkpoint), built once per (model_type, class, config)."""
    built = {}

    def get(model_type, head, config):
        key = (model_type, head, repr(sorted(config.items())))
        if key not in built:
            reference = build_reference_model(model_type, head, config)
            folder = save_reference_model(reference, str(tmp_path_factory.mktemp(head)))
            built[key] = (reference, class_for_architecture(head).from_pretrained(folder), folder)
        return built[key]

    return get


def pixels(height, width, batch=2, seed=0):
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


def both(reference, ours, **inputs):
    with torch.no_grad():
        return (ours(**inputs, output_hidden_states=True, output_attentions=True),
                reference(**inputs, output_hidden_states=True, output_attentions=True))


# --- other image sizes ------------------------------------------------------------------------

SIZES = [(48, 48), (48, 32)]  # larger and square; not square (the position grid is resampled either way)


@pytest.mark.parametrize("size", SIZES, ids=["48x48", "48x32"])
@pytest.mark.parametrize("model_type,head,config", [
    ("vit", "ViTForImageClassification", VIT), ("deit", "DeiTModel", DEIT), ("vit", "ViTModel", VIT)])
def test_interpolate_pos_encoding_matches_the_reference(pair, model_type, head, config, size):
    """A model trained on 32x32 images runs on 48x48 (and 48x32) ones with interpolate_pos_encoding=True:
    the bicubically resampled position table, hence every output, equals the reference's."""
    reference, ours, _ = pair(model_type, head, config)
    inputs = {"pixel_values": pixels(*size), "interpolate_pos_encoding": True}
    assert compare_outputs(*both(reference, ours, **inputs), what=f"{head} at {size}") > 2


def test_another_image_size_without_interpolation_names_the_fix(pair):
    _, ours, _ = pair("vit", "ViTModel", VIT)
    with pytest.raises(ValueError, match="interpolate_pos_encoding=True"):
        ours(pixel_values=pixels(48, 48))


def test_dinov2_always_resamples_its_positions_in_float32(pair):
    """DINOv2 resamples for any image size (no flag), in float32 even when the model runs in bfloat16."""
    reference, ours, folder = pair("dinov2", "Dinov2Model", DINOV2)
    compare_outputs(*both(reference, ours, pixel_values=pixels(48, 40)), what="dinov2 at 48x40")
    half = class_for_architecture("Dinov2Model").from_pretrained(folder, dtype=torch.bfloat16)
    theirs = load_reference_model("Dinov2Model", folder, dtype=torch.bfloat16)
    image = pixels(48, 40).to(torch.bfloat16)
    with torch.no_grad():
        assert torch.equal(half.embeddings(image), theirs.embeddings(image))


# --- masks, heads and stages --------------------------------------------------------------------


def test_dinov2_mask_token_replaces_the_masked_patches(pair):
    reference, ours, _ = pair("dinov2", "Dinov2Model", DINOV2)
    masked = torch.rand(2, 16, generator=torch.Generator().manual_seed(3)) < 0.5
    ours_out, theirs = both(reference, ours, pixel_values=pixels(32, 32), bool_masked_pos=masked)
    compare_outputs(ours_out, theirs, what="dinov2 masked")
    plain, _ = both(reference, ours, pixel_values=pixels(32, 32))
    assert not torch.allclose(plain.last_hidden_state, ours_out.last_hidden_state)


def test_deit_classifier_with_teacher_averages_its_two_heads(pair):
    reference, ours, _ = pair("deit", "DeiTForImageClassificationWithTeacher", DEIT)
    ours_out, theirs = both(reference, ours, pixel_values=pixels(32, 32))
    compare_outputs(ours_out, theirs, what="DeiTForImageClassificationWithTeacher")
    assert_close_scaled(ours_out.logits, (ours_out.cls_logits + ours_out.distillation_logits) / 2)


@pytest.mark.parametrize("stages", [dict(out_indices=[0, -1]), dict(out_features=["stem"], apply_layernorm=False,
                                                                     reshape_hidden_states=False)],
                         ids=["stem-and-last-by-index", "stem-tokens-unnormed"])
def test_dinov2_backbone_stages(pair, stages):
    config = {k: v for k, v in DINOV2.items() if k != "out_features"} | stages
    reference, ours, _ = pair("dinov2", "Dinov2Backbone", config)
    assert ours.config.out_features == reference.config.out_features
    assert ours.config.out_indices == reference.config.out_indices and ours.channels == reference.channels
    compare_outputs(*both(reference, ours, pixel_values=pixels(32, 32)), what=f"backbone {stages}")


def test_backbone_stage_names_must_exist():
    from workbench.models.dinov2 import Dinov2Config

    with pytest.raises(ValueError, match="stage names"):
        Dinov2Config(num_hidden_layers=2, out_features=["stage7"])


# --- the image-to-text encoder-decoder ----------------------------------------------------------


@pytest.fixture(scope="module")
def ved(pair):
    return pair("vision-encoder-decoder", "VisionEncoderDecoderModel", VED)


@pytest.mark.parametrize("settings", [dict(num_beams=1), dict(num_beams=3, num_return_sequences=2)],
                         ids=["greedy", "beam"])
def test_generate_gives_the_reference_tokens(ved, settings):
    reference, ours, _ = ved
    image = pixels(32, 32, batch=2, seed=5)
    # the tiny decoder starts from its eos token (98), which its tied embeddings then repeat at once:
    # another start token gives several steps to compare
    options = dict(max_new_tokens=8, do_sample=False, decoder_start_token_id=5, **settings)
    with torch.no_grad():
        expected = reference.generate(pixel_values=image, **options)
        got = ours.generate(pixel_values=image, **options)
    assert got.tolist() == expected.tolist()
    assert expected.shape[1] > 3  # not stopped at once: the comparison covers several steps


def test_cached_decoding_equals_the_full_decoder_forward(ved):
    """The image is encoded once; the decoder takes its ids three, then one at a time through the cache
    (cross-attention keys from the first step; zeros passed as encoder states afterwards) and gives the
    full forward's logits."""
    _, ours, _ = ved
    image = pixels(32, 32, seed=6)
    ids = torch.randint(3, 98, (2, 7), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        full = ours(pixel_values=image, decoder_input_ids=ids, use_cache=False).logits
        encoded = ours.get_encoder()(pixel_values=image)
        out = ours(encoder_outputs=encoded, decoder_input_ids=ids[:, :3], use_cache=True)
        steps, zeros = [out.logits], (torch.zeros_like(encoded.last_hidden_state),)
        for t in range(3, ids.shape[1]):
            out = ours(encoder_outputs=zeros, decoder_input_ids=ids[:, t : t + 1], past_key_values=out.past_key_values)
            steps.append(out.logits)
    assert out.past_key_values.get_seq_length() == ids.shape[1]
    assert_close_scaled(torch.cat(steps, dim=1), full)


def test_labels_give_the_reference_loss_and_decoder_inputs(ved):
    reference, ours, _ = ved
    labels = torch.randint(3, 98, (2, 6), generator=torch.Generator().manual_seed(7))
    labels[1, -2:] = -100
    image = pixels(32, 32, seed=7)
    with torch.no_grad():
        got, expected = ours(pixel_values=image, labels=labels), reference(pixel_values=image, labels=labels)
    assert_close_scaled(got.loss, expected.loss, what="loss")
    assert_close_scaled(got.logits, expected.logits)
    assert torch.equal(ours.prepare_decoder_input_ids_from_labels(labels),
                       reference.prepare_decoder_input_ids_from_labels(labels))


def test_from_encoder_decoder_pretrained_joins_two_checkpoints(tmp_path):
    """A ViT checkpoint and a GPT-2 checkpoint without cross-attention: the encoder's and the decoder's
    weights come from them, the cross-attention blocks are new, and the joined model saves a checkpoint
    the reference loads and computes the same outputs from."""
    encoder_config = {k: v for k, v in VED["encoder"].items() if k != "model_type"}
    decoder_config = {k: v for k, v in VED["decoder"].items() if k not in ("model_type", "is_decoder", "add_cross_attention")}
    vit = build_reference_model("vit", "ViTModel", encoder_config)
    gpt2 = build_reference_model("gpt2", "GPT2LMHeadModel", decoder_config)
    save_reference_model(vit, str(tmp_path / "vit"))
    save_reference_model(gpt2, str(tmp_path / "gpt2"))
    cls = class_for_architecture("VisionEncoderDecoderModel")
    model = cls.from_encoder_decoder_pretrained(str(tmp_path / "vit"), str(tmp_path / "gpt2"),
                                                decoder_start_token_id=98, pad_token_id=0).eval()
    assert model.config.decoder.add_cross_attention and model.config.decoder.is_decoder
    assert torch.equal(model.encoder.encoder.layer[0].attention.attention.query.weight,
                       vit.get_parameter("layers.0.attention.q_proj.weight"))
    assert torch.equal(model.decoder.transformer.h[1].mlp.c_fc.weight, gpt2.transformer.h[1].mlp.c_fc.weight)
    assert model.decoder.lm_head.weight is model.decoder.transformer.wte.weight
    model.save_pretrained(tmp_path / "joined")
    reference = load_reference_model("VisionEncoderDecoderModel", str(tmp_path / "joined"))
    ids = torch.tensor([[98, 5, 6, 7], [98, 8, 9, 10]])
    compare_outputs(*both(reference, model, pixel_values=pixels(32, 32), decoder_input_ids=ids), what="joined")


def test_gpt2_cross_attention_with_a_padded_encoder_matches_the_reference(pair):
    """GPT-2 built with add_cross_attention, on its own: encoder states whose second row has three padded
    positions (encoder_attention_mask) give the reference's logits and attention maps."""
    config = {k: v for k, v in VED["decoder"].items() if k != "model_type"}
    reference, ours, _ = pair("gpt2", "GPT2LMHeadModel", config)
    generator = torch.Generator().manual_seed(8)
    states = torch.randn(2, 9, config["n_embd"], generator=generator)
    encoder_mask = torch.ones(2, 9, dtype=torch.long)
    encoder_mask[1, -3:] = 0
    inputs = dict(input_ids=torch.randint(3, 98, (2, 5), generator=generator), encoder_hidden_states=states,
                  encoder_attention_mask=encoder_mask)
    got, expected = both(reference, ours, **inputs)
    for name in ("logits", "cross_attentions", "attentions", "hidden_states"):
        compare_outputs({name: getattr(got, name)}, {name: getattr(expected, name)}, what=name)


def test_attn_implementation_reaches_both_halves(ved):
    _, _, folder = ved
    model = class_for_architecture("VisionEncoderDecoderModel").from_pretrained(folder, attn_implementation="eager")
    assert model.encoder.config._attn_implementation == model.decoder.config._attn_implementation == "eager"
