"""Wav2Vec2, HuBERT and WavLM beyond the shared suite (tests/test_models.py runs their heads' outputs):
losses and their gradients against the reference (CTC with -100-padded labels, the classifiers'),
config paths the base cases do not take, legacy weight-norm keys, and SpecAugment's rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import workbench
from workbench.auto import class_for_architecture
from workbench.models.registry import FAMILIES
from workbench.nn.spec_augment import mask_spans

from image_inputs import compare_outputs
from reference import build_reference_model, save_reference_model
from tolerance import assert_close_scaled

TINY = {name: FAMILIES[name].tiny for name in ("wav2vec2", "hubert", "wavlm")}


def waveforms(batch: int = 2, samples: int = 400, padded: int = 100, seed: int = 0) -> dict:
    """Raw audio, the last row's tail padded (zeros, mask 0)."""
    values = torch.randn(batch, samples, generator=torch.Generator().manual_seed(seed))
    mask = torch.ones(batch, samples, dtype=torch.long)
    values[-1, samples - padded :], mask[-1, samples - padded :] = 0.0, 0
    return {"input_values": values, "attention_mask": mask}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(reference, workbench) models of one (model_type, head, config overrides), built once each."""
    built = {}

    def get(model_type: str, head: str, **overrides):
        key = (model_type, head, tuple(sorted(overrides.items())))
        if key not in built:
            config = dict(TINY[model_type], **overrides)
            reference = build_reference_model(model_type, head, config)
            folder = save_reference_model(reference, str(tmp_path_factory.mktemp(head)))
            built[key] = (reference, class_for_architecture(head).from_pretrained(folder), folder)
        return built[key]

    return get


def ctc_labels() -> torch.Tensor:
    """Character ids from 3 up; the second row's padded with -100, and one pad id (the blank, 0) left
    inside the first row's tail, which the loss must skip too."""
    labels = torch.randint(3, 32, (2, 9), generator=torch.Generator().manual_seed(1))
    labels[0, -1] = 0
    labels[1, 5:] = -100
    return labels


def loss_and_gradients(model, inputs, labels) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad()
    loss = model(**inputs, **({"labels": labels} if labels is not None else {})).loss
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def assert_same_loss_and_gradients(reference, ours, inputs, labels) -> None:
    expected_loss, expected = loss_and_gradients(reference, inputs, labels)
    loss, grads = loss_and_gradients(ours, inputs, labels)
    assert torch.isfinite(loss)
    assert_close_scaled(loss, expected_loss, what="loss")
    assert grads.keys() == expected.keys()
    # a summed CTC loss (~190 here) makes gradients of order 1-100 whose float32 rounding scales with the
    # tensor's largest entry: each gradient is compared on that one scale
    for name, grad in expected.items():
        assert_close_scaled(grads[name], grad, what=f"{name}.grad", per_tensor=True)


# CTC: wav2vec2 sums by default, WavLM averages; an infinite loss (labels longer than the frames) zeroed
@pytest.mark.parametrize("model_type,overrides", [
    ("wav2vec2", {}), ("wavlm", {}), ("wav2vec2", {"ctc_loss_reduction": "mean", "do_stable_layer_norm": True}),
], ids=["wav2vec2-sum", "wavlm-mean", "wav2vec2-stable-mean"])
def test_ctc_loss_and_gradients_match_the_reference(pair, model_type, overrides):
    head = {"wav2vec2": "Wav2Vec2ForCTC", "wavlm": "WavLMForCTC"}[model_type]
    reference, ours, _ = pair(model_type, head, **overrides)
    assert_same_loss_and_gradients(reference, ours, waveforms(), ctc_labels())


def test_ctc_zero_infinity_zeroes_an_impossible_alignment(pair):
    """29 frames cannot emit 40 labels: the loss is infinite, or 0 with ``ctc_zero_infinity``."""
    reference, ours, _ = pair("wav2vec2", "Wav2Vec2ForCTC", ctc_loss_reduction="mean", ctc_zero_infinity=True)
    labels = torch.randint(3, 32, (2, 40), generator=torch.Generator().manual_seed(2))
    labels[0, 9:] = -100
    with torch.no_grad():
        loss, expected = ours(**waveforms(), labels=labels).loss, reference(**waveforms(), labels=labels).loss
    assert_close_scaled(loss, expected, what="loss")
    ours.config.ctc_zero_infinity = False
    try:
        with torch.no_grad():
            assert torch.isinf(ours(**waveforms(), labels=labels).loss)
    finally:
        ours.config.ctc_zero_infinity = True


def test_ctc_labels_past_the_vocabulary_name_the_problem(pair):
    _, ours, _ = pair("wav2vec2", "Wav2Vec2ForCTC")
    with pytest.raises(ValueError, match="vocab_size"):
        ours(**waveforms(), labels=torch.full((2, 3), 40))


@pytest.mark.parametrize("head,labels", [
    ("Wav2Vec2ForSequenceClassification", torch.tensor([2, 0])),
    ("Wav2Vec2ForAudioFrameClassification", torch.eye(3)[torch.randint(0, 3, (2, 39), generator=torch.Generator().manual_seed(3))]),
    ("WavLMForXVector", torch.tensor([1, 2])),
])
def test_classifier_losses_and_gradients_match_the_reference(pair, head, labels):
    model_type = "wavlm" if head.startswith("WavLM") else "wav2vec2"
    reference, ours, _ = pair(model_type, head)
    inputs = waveforms() if not head.endswith("FrameClassification") else waveforms(padded=0)
    assert_same_loss_and_gradients(reference, ours, inputs, labels)


# config paths the shared suite's cases do not take: HuBERT's batch-normed positional conv without the
# projection's norm (pre-norm), WavLM's pre-norm stack, wav2vec2's strided adapter (projected to 24 wide)
@pytest.mark.parametrize("model_type,head,overrides", [
    ("hubert", "HubertForCTC", dict(conv_pos_batch_norm=True, feat_proj_layer_norm=False, do_stable_layer_norm=True,
                                    feat_extract_norm="layer")),
    ("wavlm", "WavLMForSequenceClassification", dict(do_stable_layer_norm=True, use_weighted_layer_sum=True)),
    ("wav2vec2", "Wav2Vec2ForCTC", dict(add_adapter=True, output_hidden_size=24, num_adapter_layers=2)),
], ids=["hubert-batch-norm-pre-norm", "wavlm-pre-norm-weighted", "wav2vec2-adapter"])
def test_other_layouts_match_the_reference(pair, model_type, head, overrides):
    reference, ours, _ = pair(model_type, head, **overrides)
    inputs = waveforms()
    with torch.no_grad():
        compare_outputs(ours(**inputs, output_hidden_states=True, output_attentions=True),
                        reference(**inputs, output_hidden_states=True, output_attentions=True), what=head)
    if overrides.get("add_adapter"):  # 39 frames -> 20 -> 10, and the CTC loss counts the adapter's frames
        assert ours(**inputs).logits.shape[1] == 10
        assert_same_loss_and_gradients(reference, ours, inputs, ctc_labels()[:, :4])


def test_legacy_weight_norm_keys_load_and_saving_writes_parametrizations(pair, tmp_path):
    """Checkpoints from before torch's parametrizations hold ``weight_g``/``weight_v``; workbench loads them
    and writes what the reference writes, ``parametrizations.weight.original0/1``."""
    reference, _, folder = pair("wav2vec2", "Wav2Vec2ForCTC")
    weights = load_file(f"{folder}/model.safetensors")
    legacy = {k.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1",
                                                                                 "weight_v"): v for k, v in weights.items()}
    assert "wav2vec2.encoder.pos_conv_embed.conv.weight_g" in legacy
    save_file(legacy, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    (tmp_path / "config.json").write_text(open(f"{folder}/config.json").read())
    model, info = workbench.Wav2Vec2ForCTC.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    inputs = waveforms()
    with torch.no_grad():
        assert_close_scaled(model(**inputs).logits, reference(**inputs).logits)
    model.save_pretrained(tmp_path / "again")
    assert set(load_file(str(tmp_path / "again" / "model.safetensors"))) == set(weights)


def test_given_mask_time_indices_replace_those_frames_as_the_reference_does(pair):
    """Pre-training passes the frames to mask; they take ``masked_spec_embed`` even in eval mode."""
    reference, ours, _ = pair("wav2vec2", "Wav2Vec2Model")
    mask = torch.zeros(2, 39, dtype=torch.bool)
    mask[0, 3:13], mask[1, 20:25] = True, True
    inputs = waveforms()
    with torch.no_grad():
        compare_outputs(ours(**inputs, mask_time_indices=mask), reference(**inputs, mask_time_indices=mask))
        assert not torch.allclose(ours(**inputs, mask_time_indices=mask).last_hidden_state,
                                  ours(**inputs).last_hidden_state)


def test_spec_augment_spans_follow_the_rules():
    """Random spans are ``mask_length`` long, inside each row's valid frames, at least ``min_masks`` of
    them, and about ``mask_prob * length / mask_length`` (an upper bound: spans may overlap)."""
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        mask = mask_spans((2, 50), mask_prob=0.5, mask_length=5, lengths=[50, 30], min_masks=2, generator=generator)
        assert not mask[1, 30:].any()
        for row, length in enumerate((50, 30)):
            starts = [t for t in range(50) if mask[row, t] and (t == 0 or not mask[row, t - 1])]
            ends = [t for t in range(50) if mask[row, t] and (t == 49 or not mask[row, t + 1])]
            assert all(end - start + 1 >= 5 for start, end in zip(starts, ends))  # merged spans are longer
            # at least min_masks spans (which may overlap), at most the expected count rounded up
            assert 5 + 1 <= int(mask[row].sum()) <= 5 * int(0.5 * length / 5 + 1)
    assert not mask_spans((2, 50), 0.0, 5, min_masks=0).any()
    with pytest.raises(ValueError, match="longer than the sequence"):
        mask_spans((1, 4), 0.5, 5)


def test_training_masks_frames_and_padding_stays_out(pair):
    """In training, SpecAugment masks frames with ``masked_spec_embed`` (gradients reach it); wav2vec2
    keeps the spans inside each clip's real frames (HuBERT, as its reference, ignores the padding)."""
    _, ours, _ = pair("wav2vec2", "Wav2Vec2Model", hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                      feat_proj_dropout=0.0, mask_time_prob=0.5, mask_time_length=4)
    seen = {}
    handle = ours.encoder.register_forward_pre_hook(lambda module, args: seen.update(hidden=args[0].detach()))
    try:
        ours.train()
        out = ours(**waveforms())
        out.last_hidden_state.square().mean().backward()
    finally:
        handle.remove()
        ours.eval()
    masked = (seen["hidden"] == ours.masked_spec_embed.detach()).all(-1)  # (B, frames)
    assert masked[0].sum() >= 4 and masked[1].sum() >= 4
    assert not masked[1, 29:].any()  # the padded clip's 10 padded frames
    assert ours.masked_spec_embed.grad is not None and ours.masked_spec_embed.grad.abs().sum() > 0


def test_pre_training_loss_and_gradients_match_the_reference(pair):
    """Contrastive + diversity loss on given masked frames and negatives (eval mode: the quantizer
    takes the argmax, so both sides pick the same codevectors)."""
    from transformers.models.wav2vec2.modeling_wav2vec2 import _sample_negative_indices

    reference, ours, _ = pair("wav2vec2", "Wav2Vec2ForPreTraining")
    mask = torch.zeros(2, 39, dtype=torch.bool)
    mask[0, 2:14], mask[1, 5:12], mask[1, 20:26] = True, True, True
    np.random.seed(0)  # the reference's sampler draws from numpy
    negatives = torch.tensor(_sample_negative_indices((2, 39), 5, mask.numpy()), dtype=torch.long)
    inputs = dict(waveforms(), mask_time_indices=mask, sampled_negative_indices=negatives)
    assert_same_loss_and_gradients(reference, ours, inputs, None)
    with torch.no_grad():
        compare_outputs(ours(**inputs), reference(**inputs), what="Wav2Vec2ForPreTraining")


def test_sampled_negatives_are_other_masked_frames_of_the_same_row():
    from workbench.nn.spec_augment import sample_negative_indices

    mask = torch.zeros(2, 30, dtype=torch.bool)
    mask[0, 3:9], mask[1, 10:25] = True, True
    negatives = sample_negative_indices((2, 30), 4, mask, generator=torch.Generator().manual_seed(0))
    assert negatives.shape == (2, 30, 4)
    for row in range(2):
        for frame in mask[row].nonzero().flatten().tolist():
            picked = negatives[row, frame] - row * 30
            assert mask[row, picked].all() and not (picked == frame).any()
    with pytest.raises(ValueError, match="at least 2"):
        sample_negative_indices((1, 5), 2, torch.tensor([[True, False, False, False, False]]))
