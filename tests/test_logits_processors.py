"""Each logits processor and stopping criterion gives the reference's output on random inputs."""

from __future__ import annotations

import time

import pytest
import torch

import workbench.generation as ours

from tolerance import assert_close_scaled

BATCH, LENGTH, VOCAB = 4, 9, 30
EOS = [3, 7]

# (class name, constructor arguments); the same arguments build the reference's class of that name
PROCESSORS = [
    ("MinLengthLogitsProcessor", dict(min_length=12, eos_token_id=EOS)),
    ("MinLengthLogitsProcessor", dict(min_length=5, eos_token_id=3)),
    ("MinNewTokensLengthLogitsProcessor", dict(prompt_length_to_skip=4, min_new_tokens=8, eos_token_id=EOS)),
    ("MinNewTokensLengthLogitsProcessor", dict(prompt_length_to_skip=4, min_new_tokens=2, eos_token_id=EOS)),
    ("TemperatureLogitsWarper", dict(temperature=0.6)),
    ("RepetitionPenaltyLogitsProcessor", dict(penalty=1.7)),
    ("RepetitionPenaltyLogitsProcessor", dict(penalty=0.8, prompt_ignore_length=3)),
    ("RepetitionPenaltyLogitsProcessor", dict(penalty=1.4, prompt_ignore_length=torch.tensor([0, 2, 5, 9]))),
    ("TopKLogitsWarper", dict(top_k=5)),
    ("TopKLogitsWarper", dict(top_k=1, min_tokens_to_keep=3)),
    ("TopPLogitsWarper", dict(top_p=0.7)),
    ("TopPLogitsWarper", dict(top_p=0.2, min_tokens_to_keep=2)),
    ("MinPLogitsWarper", dict(min_p=0.1)),
    ("MinPLogitsWarper", dict(min_p=0.9, min_tokens_to_keep=3)),
    ("TypicalLogitsWarper", dict(mass=0.8)),
    ("NoRepeatNGramLogitsProcessor", dict(ngram_size=2)),
    ("NoRepeatNGramLogitsProcessor", dict(ngram_size=3)),
    ("NoBadWordsLogitsProcessor", dict(bad_words_ids=[[5], [3], [1, 2], [4, 6, 8]], eos_token_id=EOS)),
    ("SuppressTokensLogitsProcessor", dict(suppress_tokens=[0, 5, 29])),
    ("SuppressTokensAtBeginLogitsProcessor", dict(begin_suppress_tokens=[1, 2], begin_index=LENGTH)),
    ("SuppressTokensAtBeginLogitsProcessor", dict(begin_suppress_tokens=[1, 2], begin_index=2)),
    ("ForcedBOSTokenLogitsProcessor", dict(bos_token_id=4)),
    ("ForcedEOSTokenLogitsProcessor", dict(max_length=LENGTH + 1, eos_token_id=EOS)),
    ("InfNanRemoveLogitsProcessor", dict()),
    ("LogitNormalization", dict()),
]


def random_inputs(seed: int):
    """Ids with repeats (so n-gram and repetition rules fire) and scores with some -inf, like a beam step."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, 10, (BATCH, LENGTH), generator=generator)
    input_ids[0, -2:] = torch.tensor([1, 2])  # ends with a bad-words prefix
    input_ids[1, -3:] = torch.tensor([4, 6, 4])
    scores = torch.randn(BATCH, VOCAB, generator=generator) * 3
    scores[2, 11] = -float("inf")
    return input_ids, scores


@pytest.mark.parametrize("name,kwargs", PROCESSORS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(PROCESSORS)])
@pytest.mark.parametrize("seed", [0, 1])
def test_processor_matches_reference(name, kwargs, seed):
    import transformers.generation.logits_process as reference

    input_ids, scores = random_inputs(seed)
    if name == "ForcedBOSTokenLogitsProcessor":
        input_ids = input_ids[:, :1]
    if name == "InfNanRemoveLogitsProcessor":
        scores[0, 0], scores[1, 1] = float("nan"), float("inf")
    expected = getattr(reference, name)(**kwargs)(input_ids, scores.clone())
    original = scores.clone()
    actual = getattr(ours, name)(**kwargs)(input_ids, scores)
    assert_close_scaled(actual, expected, what=name)
    assert torch.equal(scores.nan_to_num(), original.nan_to_num()), "the input scores were changed in place"


def test_list_applies_in_order_and_passes_extra_arguments():
    input_ids, scores = random_inputs(0)

    class AddStep(ours.LogitsProcessor):
        def __call__(self, input_ids, scores, step):
            return scores + step

    chain = ours.LogitsProcessorList([ours.TemperatureLogitsWarper(0.5), AddStep()])
    assert_close_scaled(chain(input_ids, scores, step=1.0), scores / 0.5 + 1.0)
    with pytest.raises(ValueError, match="step"):
        chain(input_ids, scores)


@pytest.mark.parametrize("name,kwargs,message", [
    ("TemperatureLogitsWarper", dict(temperature=0.0), "temperature.*do_sample=False"),
    ("TopKLogitsWarper", dict(top_k=0), "top_k"),
    ("TopPLogitsWarper", dict(top_p=1.2), "top_p"),
    ("MinPLogitsWarper", dict(min_p=-0.1), "min_p"),
    ("TypicalLogitsWarper", dict(mass=1.0), "typical_p"),
    ("RepetitionPenaltyLogitsProcessor", dict(penalty=0.0), "penalty"),
    ("NoRepeatNGramLogitsProcessor", dict(ngram_size=0), "ngram_size"),
    ("NoBadWordsLogitsProcessor", dict(bad_words_ids=[1, 2]), "bad_words_ids"),
    ("MinLengthLogitsProcessor", dict(min_length=-1, eos_token_id=2), "min_length"),
])
def test_bad_arguments_are_named(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(ours, name)(**kwargs)


def test_stopping_criteria_match_reference():
    import transformers.generation.stopping_criteria as reference

    input_ids, _ = random_inputs(0)
    input_ids[1, -1] = 7
    started = time.time() - 5
    for name, kwargs in [("MaxLengthCriteria", dict(max_length=LENGTH)), ("MaxLengthCriteria", dict(max_length=LENGTH + 1)),
                         ("EosTokenCriteria", dict(eos_token_id=EOS)), ("EosTokenCriteria", dict(eos_token_id=torch.tensor(7))),
                         ("MaxTimeCriteria", dict(max_time=1.0, initial_timestamp=started)),
                         ("MaxTimeCriteria", dict(max_time=60.0, initial_timestamp=started))]:
        expected = getattr(reference, name)(**kwargs)(input_ids, None)
        assert torch.equal(getattr(ours, name)(**kwargs)(input_ids, None), expected), name
    criteria = ours.StoppingCriteriaList([ours.MaxLengthCriteria(50), ours.EosTokenCriteria(7)])
    assert criteria(input_ids, None).tolist() == [False, True, False, False] and criteria.max_length == 50


@pytest.mark.parametrize("pieces,stops", [
    (["st", "op"], True), (["stop"], True), (["st", "opera"], True), (["las", "topper"], True),
    (["s", "to", "pped"], True), (["stop", "at"], False), (["st", "op", "at"], False), (["xyz"], False),
])
def test_stop_string_must_reach_into_the_last_token(pieces, stops):
    vocab = sorted({p for p in pieces})

    class PieceTokenizer:
        def decode(self, ids):
            return "".join(vocab[i] for i in ids)

    ids = torch.tensor([[vocab.index(p) for p in pieces]])
    assert bool(ours.StopStringCriteria(PieceTokenizer(), ["stop", "zzz"])(ids, None)) is stops
