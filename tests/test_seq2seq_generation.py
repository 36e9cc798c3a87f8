"""generate() with encoder-decoders against the reference, on tiny random BART, mBART, Marian and Pegasus.

The reference builds a random model and saves it; workbench loads the same folder. Greedy and beam
search must pick the same tokens (forced bos/eos, n-gram blocking and length penalties included),
and per-step scores, attentions and hidden states must agree within 1e-5 (relative where they
exceed 1: tests/tolerance.py). Token ids are compared exactly although float32 rounding differs
between CPUs: it could flip a token only where two candidates tie within ~1e-6, which these random
models do not do. The encoder runs once per call, and the cross-attention keys and values are
projected once per call.
"""

from __future__ import annotations

import pytest
import torch

import workbench
from workbench.nn.cache import EncoderDecoderCache

from model_registry import TINY_MARIAN, TINY_PEGASUS, TINY_SEQ2SEQ
from reference import build_reference_model, load_reference_model, save_reference_model
from tolerance import assert_close_scaled

# untied output layers: a tiny random model whose output layer is its input embedding mostly
# repeats the token it was given, which would leave little for generation to get wrong (tied
# heads are checked by the model suite)
UNTIED = {"tie_word_embeddings": False}
MODELS = {
    "bart": ("bart", "BartForConditionalGeneration", TINY_SEQ2SEQ | UNTIED),
    "mbart": ("mbart", "MBartForConditionalGeneration", TINY_SEQ2SEQ | UNTIED),
    "marian": ("marian", "MarianMTModel", TINY_MARIAN | UNTIED),
    "pegasus": ("pegasus", "PegasusForConditionalGeneration", TINY_PEGASUS | UNTIED),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """name -> (workbench model, reference model), built on first use."""
    built = {}

    def get(name):
        if name not in built:
            model_type, class_name, config = MODELS[name]
            folder = save_reference_model(build_reference_model(model_type, class_name, config),
                                          str(tmp_path_factory.mktemp(name)))
            ours = workbench.AutoModelForSeq2SeqLM.from_pretrained(folder, attn_implementation="eager")
            built[name] = (ours, load_reference_model(class_name, folder))
        return built[name]

    return get


def source(name):
    """Two inputs ending in eos, the second right-padded by two (as the families' tokenizers pad)."""
    config = MODELS[name][2]
    eos, pad = config["eos_token_id"], config["pad_token_id"]
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, eos], [11, 12, 13, 14, eos, pad, pad]])
    return ids, (ids != pad).long()


def both(name, models, **kwargs):
    ours, reference = models(name)
    ids, mask = source(name)
    kwargs.setdefault("attention_mask", mask)
    return ours.generate(ids, **kwargs), reference.generate(ids, **kwargs)


def emitted_token(name, models, row=0, step=3):
    """A token greedy search really produces (as eos, it ends that row early); not the config's
    forced eos, which would take the last step."""
    ours, _ = models(name)
    ids, mask = source(name)
    out = ours.generate(ids, attention_mask=mask, max_new_tokens=step + 1, forced_eos_token_id=None)
    return int(out[row, 1 + step])


def assert_steps_close(ours, theirs, what):
    assert len(ours) == len(theirs), f"{what}: {len(ours)} steps, reference {len(theirs)}"
    for step, (a, b) in enumerate(zip(ours, theirs)):
        assert_close_scaled(a, b, what=f"{what}[{step}]")


# ---------------------------------------------------------------------------------------------
# greedy search


@pytest.mark.parametrize("name", MODELS)
def test_greedy_matches_reference(name, models):
    ours, theirs = both(name, models, max_new_tokens=12)
    assert torch.equal(ours, theirs)
    start = MODELS[name][2]["decoder_start_token_id"]
    assert (ours[:, 0] == start).all()  # the decoder starts from decoder_start_token_id


@pytest.mark.parametrize("name", MODELS)
def test_default_lengths_and_forced_eos_match_reference(name, models):
    """No max_new_tokens: at most 20 new tokens (after the start token); config.forced_eos_token_id
    (the eos token) ends every row that is still running at the last step."""
    ours, theirs = both(name, models)
    assert torch.equal(ours, theirs)
    forced = MODELS[name][2]["forced_eos_token_id"]
    assert ours.shape[1] <= 21 and all(forced in row[1:] for row in ours.tolist())


@pytest.mark.parametrize("name", MODELS)
def test_greedy_outputs_match_reference(name, models):
    ours, theirs = both(name, models, max_new_tokens=6, return_dict_in_generate=True, output_scores=True,
                        output_logits=True, output_attentions=True, output_hidden_states=True)
    assert type(ours).__name__ == type(theirs).__name__ == "GenerateEncoderDecoderOutput"
    assert torch.equal(ours.sequences, theirs.sequences)
    assert_steps_close(ours.scores, theirs.scores, "scores")
    assert_steps_close(ours.logits, theirs.logits, "logits")
    assert_steps_close(ours.encoder_hidden_states, theirs.encoder_hidden_states, "encoder_hidden_states")
    _, mask = source(name)
    for a, b in zip(ours.encoder_attentions, theirs.encoder_attentions):  # padded queries are left out
        queries = mask.bool()[:, None, :, None].expand_as(a)
        assert_close_scaled(a[queries], b[queries], what="encoder_attentions")
    for field in ("decoder_attentions", "cross_attentions", "decoder_hidden_states"):
        for step, (a, b) in enumerate(zip(getattr(ours, field), getattr(theirs, field))):
            assert_steps_close(a, b, f"{field}[{step}]")
    assert isinstance(ours.past_key_values, EncoderDecoderCache)
    assert ours.past_key_values.get_seq_length() == ours.sequences.shape[1] - 1


def token_ending_one_row_first(name, models, steps=12):
    """A token greedy search produces in one row some steps before it appears in the other."""
    ours, _ = models(name)
    ids, mask = source(name)
    rows = ours.generate(ids, attention_mask=mask, max_new_tokens=steps, forced_eos_token_id=None)[:, 1:].tolist()
    first = lambda row, token: row.index(token) if token in row else steps
    for token in rows[0] + rows[1]:
        if first(rows[0], token) + 1 < first(rows[1], token) or first(rows[1], token) + 1 < first(rows[0], token):
            return token
    pytest.skip("the tiny model produced no token that ends one row first")


@pytest.mark.parametrize("name", MODELS)
def test_eos_finishes_rows_and_pads_them(name, models):
    eos = token_ending_one_row_first(name, models)
    ours, theirs = both(name, models, max_new_tokens=12, eos_token_id=eos, forced_eos_token_id=None)
    assert torch.equal(ours, theirs)
    pad = MODELS[name][2]["pad_token_id"]
    rows = ours[:, 1:].tolist()
    row = min(rows, key=lambda r: r.index(eos) if eos in r else len(r))  # the row that ended first
    end = row.index(eos)
    assert end + 1 < len(row) and row[end + 1:] == [pad] * (len(row) - end - 1)


def test_forced_bos_token_matches_reference(models):
    """mBART translation: the first generated token is the target language id."""
    ours, theirs = both("mbart", models, max_new_tokens=8, forced_bos_token_id=42)
    assert torch.equal(ours, theirs) and (ours[:, 1] == 42).all()


@pytest.mark.parametrize("name", ["bart", "pegasus"])
def test_no_repeat_ngram_and_repetition_penalty_match_reference(name, models):
    for kwargs in (dict(no_repeat_ngram_size=2), dict(repetition_penalty=1.5), dict(min_new_tokens=8)):
        ours, theirs = both(name, models, max_new_tokens=14, **kwargs)
        assert torch.equal(ours, theirs), kwargs
    ours, _ = both(name, models, max_new_tokens=14, no_repeat_ngram_size=2)
    for row in ours.tolist():
        pairs = list(zip(row[1:], row[2:]))
        assert len(pairs) == len(set(pairs))


@pytest.mark.parametrize("name", ["bart", "marian"])
def test_decoder_prompt_matches_reference(name, models):
    """decoder_input_ids continue a prefix; without the start token in front, it is put there."""
    start = MODELS[name][2]["decoder_start_token_id"]
    for prefix in ([[start, 20, 21], [start, 30, 31]], [[20, 21], [30, 31]]):
        ours, theirs = both(name, models, max_new_tokens=6, decoder_input_ids=torch.tensor(prefix))
        assert torch.equal(ours, theirs) and ours[:, 0].tolist() == [start, start]
    # a start token per row
    ours, theirs = both(name, models, max_new_tokens=6, decoder_start_token_id=[7, 9])
    assert torch.equal(ours, theirs) and ours[:, 0].tolist() == [7, 9]


@pytest.mark.parametrize("name", ["bart", "pegasus"])
def test_without_cache_matches_reference(name, models):
    ours, theirs = both(name, models, max_new_tokens=6, use_cache=False)
    assert torch.equal(ours, theirs)


# ---------------------------------------------------------------------------------------------
# beam search

BEAM_SETTINGS = [  # num_beams, length_penalty, early_stopping, num_return_sequences
    (2, 1.0, False, 1),
    (3, 0.5, True, 2),
    (4, 2.0, "never", 3),
]


@pytest.mark.parametrize("beams,penalty,early,returns", BEAM_SETTINGS)
@pytest.mark.parametrize("name", MODELS)
def test_beam_search_matches_reference(name, beams, penalty, early, returns, models):
    eos = emitted_token(name, models)  # some beams finish early, so the finished-beam logic runs
    ours, theirs = both(name, models, max_new_tokens=10, num_beams=beams, length_penalty=penalty, early_stopping=early,
                        num_return_sequences=returns, eos_token_id=eos, forced_eos_token_id=None,
                        return_dict_in_generate=True, output_scores=True)
    assert type(ours).__name__ == type(theirs).__name__ == "GenerateBeamEncoderDecoderOutput"
    # exact ids (see the module docstring on ties); the scores are sums of log-probabilities
    assert torch.equal(ours.sequences, theirs.sequences)
    assert_close_scaled(ours.sequences_scores, theirs.sequences_scores, what="sequences_scores")
    assert torch.equal(ours.beam_indices.long(), theirs.beam_indices.long())
    assert_steps_close(ours.scores, theirs.scores, "scores")


@pytest.mark.parametrize("name", MODELS)
def test_beam_search_with_model_defaults_and_ngrams_matches_reference(name, models):
    """The config's forced eos, no_repeat_ngram_size and forced bos (mBART) under beam search."""
    extra = {"forced_bos_token_id": 42} if name == "mbart" else {}
    ours, theirs = both(name, models, max_new_tokens=9, num_beams=3, no_repeat_ngram_size=2, **extra)
    assert torch.equal(ours, theirs)


def test_beam_sampling_runs_and_is_repeatable(models):
    ours, _ = models("bart")
    ids, mask = source("bart")
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        runs.append(ours.generate(ids, attention_mask=mask, max_new_tokens=6, num_beams=3, do_sample=True))
    assert torch.equal(*runs) and runs[0].shape[0] == 2


# ---------------------------------------------------------------------------------------------
# the encoder once, the cross-attention projections once


def count_calls(module) -> list:
    calls = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


@pytest.mark.parametrize("beams", [1, 3])
def test_encoder_and_cross_attention_projections_run_once(beams, models):
    ours, _ = models("pegasus")
    ids, mask = source("pegasus")
    ours = type(ours)(ours.config).eval()  # a fresh copy: hooks stay off the shared model
    encoder_calls = count_calls(ours.get_encoder())
    cross_key_calls = count_calls(ours.get_decoder().layers[0].encoder_attn.k_proj)
    self_key_calls = count_calls(ours.get_decoder().layers[0].self_attn.k_proj)
    out = ours.generate(ids, attention_mask=mask, max_new_tokens=5, num_beams=beams, forced_eos_token_id=None)
    assert len(encoder_calls) == 1 and len(cross_key_calls) == 1
    assert len(self_key_calls) == out.shape[1] - 1  # the self-attention cache grows one token a step


def test_encoder_outputs_can_be_passed_in(models):
    ours, _ = models("marian")
    ids, mask = source("marian")
    with torch.no_grad():
        encoded = ours.get_encoder()(input_ids=ids, attention_mask=mask)
    expected = ours.generate(ids, attention_mask=mask, max_new_tokens=6, num_beams=2)
    passed = ours.generate(encoder_outputs=encoded, attention_mask=mask, max_new_tokens=6, num_beams=2)
    assert torch.equal(expected, passed)


def test_errors_name_the_fix(models):
    ours, _ = models("mbart")
    ids, mask = source("mbart")
    with pytest.raises(ValueError, match="decoder_start_token_id"):
        ours.generate(ids, attention_mask=mask, max_new_tokens=3, decoder_start_token_id=None, bos_token_id=None)
    with pytest.raises(NotImplementedError, match="encoder-decoders"):
        ours.generate(ids, attention_mask=mask, max_new_tokens=3, assistant_model=ours)
