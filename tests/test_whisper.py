"""Whisper against the reference on a tiny random checkpoint: logits, hidden states and attentions,
the loss from labels, checkpoints both ways, greedy and beam generation from input features, the
fixed encoder positions, and the error for features of the wrong shape."""

from __future__ import annotations

import pytest
import torch

import workbench
from workbench import AutoModelForSpeechSeq2Seq, WhisperConfig, WhisperForConditionalGeneration, WhisperModel

from tolerance import assert_close_scaled

transformers = pytest.importorskip("transformers")

# 8 mel bins, 60 frames -> 30 encoder positions; 2 encoder layers x 4 heads, 2 decoder layers x 2 heads
TINY = dict(vocab_size=99, num_mel_bins=8, encoder_layers=2, encoder_attention_heads=4, decoder_layers=2,
            decoder_attention_heads=2, decoder_ffn_dim=37, encoder_ffn_dim=41, d_model=32, max_source_positions=30,
            max_target_positions=40, pad_token_id=0, bos_token_id=1, eos_token_id=1, decoder_start_token_id=2,
            begin_suppress_tokens=None)
PROMPT = torch.tensor([[2, 3], [2, 3]])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    torch.manual_seed(0)
    config = transformers.WhisperConfig(**TINY)
    config._attn_implementation = "eager"
    reference = transformers.WhisperForConditionalGeneration(config).eval()
    path = tmp_path_factory.mktemp("whisper")
    reference.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def models(folder):
    reference = transformers.WhisperForConditionalGeneration.from_pretrained(folder, attn_implementation="eager").eval()
    ours = AutoModelForSpeechSeq2Seq.from_pretrained(folder, attn_implementation="eager").eval()
    return reference, ours


@pytest.fixture(scope="module")
def features():
    return torch.randn(2, 8, 60, generator=torch.Generator().manual_seed(1))


def test_auto_picks_whisper(models):
    assert type(models[1]) is WhisperForConditionalGeneration
    assert isinstance(models[1].config, WhisperConfig)


def test_outputs_match_the_reference(models, features):
    reference, ours = models
    decoder_ids = torch.tensor([[2, 5, 6, 7, 8], [2, 9, 10, 11, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    with torch.no_grad():
        theirs = reference(input_features=features, decoder_input_ids=decoder_ids, decoder_attention_mask=mask,
                           output_hidden_states=True, output_attentions=True)
        mine = ours(input_features=features, decoder_input_ids=decoder_ids, decoder_attention_mask=mask,
                    output_hidden_states=True, output_attentions=True)
    assert_close_scaled(mine.logits[:, :4], theirs.logits[:, :4])
    assert_close_scaled(mine.logits[0], theirs.logits[0])
    assert_close_scaled(mine.encoder_last_hidden_state, theirs.encoder_last_hidden_state)
    for name in ("encoder_hidden_states", "encoder_attentions", "decoder_attentions", "cross_attentions"):
        ours_, theirs_ = getattr(mine, name), getattr(theirs, name)
        assert len(ours_) == len(theirs_) > 0, name
        for a, b in zip(ours_, theirs_):
            assert_close_scaled(a[0], b[0])  # row 0 has no decoder padding
    for a, b in zip(mine.decoder_hidden_states, theirs.decoder_hidden_states):
        assert_close_scaled(a[0], b[0])


def test_loss_from_labels_matches_the_reference(models, features):
    reference, ours = models
    labels = torch.tensor([[5, 6, 7, 1], [8, 9, 1, -100]])
    with torch.no_grad():
        theirs, mine = reference(input_features=features, labels=labels), ours(input_features=features, labels=labels)
    assert_close_scaled(mine.loss, theirs.loss)
    assert_close_scaled(mine.logits, theirs.logits)


def test_saved_by_workbench_loads_in_the_reference(models, features, tmp_path):
    _, ours = models
    ours.save_pretrained(tmp_path)
    again = transformers.WhisperForConditionalGeneration.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        expected = ours(input_features=features, decoder_input_ids=PROMPT).logits
        assert_close_scaled(again(input_features=features, decoder_input_ids=PROMPT).logits, expected)
    assert again.proj_out.weight.data_ptr() == again.model.decoder.embed_tokens.weight.data_ptr()  # still tied


@pytest.mark.parametrize("settings", [dict(do_sample=False), dict(num_beams=3)], ids=["greedy", "beam"])
def test_generation_matches_the_reference(models, features, settings):
    reference, ours = models
    with torch.no_grad():  # Whisper's generate: the tokens after the given decoder prompt (more in test_whisper_generation.py)
        theirs = reference.generate(features, decoder_input_ids=PROMPT, max_new_tokens=12, **settings)
        mine = ours.generate(features, decoder_input_ids=PROMPT, max_new_tokens=12, **settings)
        by_name = ours.generate(input_features=features, decoder_input_ids=PROMPT, max_new_tokens=12, **settings)
    assert mine.tolist() == theirs.tolist() == by_name.tolist()


def test_fresh_model_has_the_reference_encoder_positions():
    ours = WhisperModel.from_config(WhisperConfig(**TINY))
    theirs = transformers.WhisperModel(transformers.WhisperConfig(**TINY))
    assert_close_scaled(ours.encoder.embed_positions.weight, theirs.encoder.embed_positions.weight, tol=1e-6)
    assert not ours.encoder.embed_positions.weight.requires_grad


@pytest.mark.parametrize("shape", [(2, 8, 59), (2, 7, 60), (8, 60)])
def test_features_of_the_wrong_shape_name_the_fix(models, shape):
    _, ours = models
    with pytest.raises(ValueError, match=r"input_features of shape \(batch, 8, 60\).*WhisperFeatureExtractor"):
        ours(input_features=torch.zeros(shape), decoder_input_ids=PROMPT[:1])


def test_the_model_alone_needs_decoder_inputs(models, features):
    model = WhisperModel.from_config(WhisperConfig(**TINY))
    with pytest.raises(ValueError, match="needs decoder_input_ids"):
        model(input_features=features)
    assert workbench.WhisperModel is WhisperModel


def test_the_pipeline_task_is_inferred_from_the_class():
    from workbench.pipelines import infer_task

    assert infer_task("WhisperForConditionalGeneration") == "automatic-speech-recognition"
    assert infer_task("T5ForConditionalGeneration") == "text2text-generation"  # text models keep theirs
