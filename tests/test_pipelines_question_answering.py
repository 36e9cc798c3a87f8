"""question-answering on tiny random checkpoints, against a hand computation from the reference's logits.

Transformers 5 has no question-answering pipeline, so ``hand_answers`` redoes its 4.x algorithm
step by step, in plain Python over every span: the reference tokenizer cuts the context into
windows, the reference model gives start/end logits, each window's softmax runs over the context
tokens and [CLS], spans are scored P(start)·P(end) and widened to whole words, and equal answers
found in several windows add up.
"""

import logging
import math

import pytest
import torch
import transformers

from pipeline_models import close, save_tiny
from workbench import KeyDataset, pipeline

CONTEXT = ("My name is Wolfgang and I live in Berlin. Berlin is the capital of Germany, and Wolfgang has "
           "lived there since the wall came down in 1989, working as a carpenter near the Spree.")
QUESTIONS = ["Where do I live?", "What is my name?", "When did the wall come down?"]
SHORT = {"question": "Which city, of all the cities in the whole wide world, is the capital of Germany?",
         "context": "Berlin."}  # a context shorter than its question


@pytest.fixture(scope="module", params=["bert", "distilbert", "roberta"])
def checkpoint(request, tmp_path_factory, minilm_path):
    return save_tiny(tmp_path_factory.mktemp(request.param), minilm_path, request.param, "ForQuestionAnswering",
                     tokenizer_kwargs=dict(model_max_length=128))


@pytest.fixture(scope="module")
def bert(tmp_path_factory, minilm_path):
    return save_tiny(tmp_path_factory.mktemp("bert"), minilm_path, "bert", "ForQuestionAnswering",
                     tokenizer_kwargs=dict(model_max_length=128))


def hand_answers(folder, question, context, *, max_seq_len=128, doc_stride=None, max_answer_len=15, top_k=1,
                 handle_impossible_answer=False, align_to_words=True):
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    doc_stride = min(max_seq_len // 2, 128) if doc_stride is None else doc_stride
    windows = tokenizer(question, context, truncation="only_second", max_length=max_seq_len, stride=doc_stride,
                        return_overflowing_tokens=True, return_offsets_mapping=True)
    answers, null = {}, math.inf
    for i, ids in enumerate(windows["input_ids"]):
        inputs = {name: torch.tensor([windows[name][i]]) for name in tokenizer.model_input_names}
        with torch.no_grad():
            out = model(**inputs)
        can = [seq == 1 or token == tokenizer.cls_token_id for seq, token in zip(windows.sequence_ids(i), ids)]

        def probabilities(logits):
            masked = [x if ok else -10000.0 for x, ok in zip(logits[0].tolist(), can)]
            exps = [math.exp(x - max(masked)) for x in masked]
            return [x / sum(exps) for x in exps]

        p_start, p_end = probabilities(out.start_logits), probabilities(out.end_logits)
        null = min(null, p_start[0] * p_end[0])
        spans = [(p_start[s] * p_end[e], s, e) for s in range(1, len(ids)) for e in range(s, len(ids))
                 if can[s] and can[e] and e - s < max_answer_len]
        for score, s, e in sorted(spans, reverse=True)[:top_k]:
            if align_to_words:
                first = windows.word_to_chars(i, windows.token_to_word(i, s), sequence_index=1).start
                last = windows.word_to_chars(i, windows.token_to_word(i, e), sequence_index=1).end
            else:
                first, last = windows["offset_mapping"][i][s][0], windows["offset_mapping"][i][e][1]
            answer = answers.setdefault(context[first:last].lower(),
                                        {"score": 0.0, "start": first, "end": last, "answer": context[first:last]})
            answer["score"] += score
    found = list(answers.values()) + [{"score": null, "start": 0, "end": 0, "answer": ""}] * handle_impossible_answer
    found = sorted(found, key=lambda answer: answer["score"], reverse=True)
    return found[0] if top_k == 1 else found[:top_k]


def test_matches_the_hand_computation(checkpoint):
    qa = pipeline("question-answering", model=checkpoint)
    for options in ({}, {"top_k": 3}, {"max_answer_len": 2, "top_k": 2}, {"handle_impossible_answer": True, "top_k": 2},
                    {"align_to_words": False, "top_k": 3}):
        ours = qa(question=QUESTIONS[0], context=CONTEXT, **options)
        assert close(ours, hand_answers(checkpoint, QUESTIONS[0], CONTEXT, **options)), options
        for answer in ours if isinstance(ours, list) else [ours]:
            assert CONTEXT[answer["start"]:answer["end"]] == answer["answer"]


@pytest.mark.parametrize("options", [dict(max_seq_len=24, doc_stride=6), dict(max_seq_len=30, top_k=4),
                                     dict(max_seq_len=24, doc_stride=0, top_k=2, handle_impossible_answer=True)])
def test_long_contexts_in_windows_match_the_hand_computation(bert, options):
    qa = pipeline("question-answering", model=bert)
    for question in QUESTIONS[:2]:
        assert close(qa(question=question, context=CONTEXT, **options), hand_answers(bert, question, CONTEXT, **options))


def test_short_context_and_long_question(bert):
    qa = pipeline("question-answering", model=bert)
    assert close(qa(SHORT), hand_answers(bert, SHORT["question"], SHORT["context"]))
    assert qa(SHORT)["answer"] == "Berlin."  # the only word there is
    # max_question_len cuts the question at its 5th token
    assert close(qa(SHORT, max_question_len=5), hand_answers(bert, "Which city, of all", SHORT["context"]))


def test_input_forms(bert):
    qa = pipeline("question-answering", model=bert, max_seq_len=40)
    one = qa(question=QUESTIONS[0], context=CONTEXT)
    pairs = [{"question": q, "context": CONTEXT} for q in QUESTIONS]
    assert qa(QUESTIONS[0], CONTEXT) == one and qa({"question": QUESTIONS[0], "context": CONTEXT}) == one
    many = qa(pairs)
    assert isinstance(many, list) and many[0] == one
    assert qa(question=QUESTIONS, context=CONTEXT) == many == qa(question=QUESTIONS, context=[CONTEXT] * 3)
    assert qa(question=QUESTIONS[0], context=[CONTEXT, CONTEXT]) == [one, one]
    assert close(list(qa(pair for pair in pairs)), many)
    datasets = pytest.importorskip("datasets")
    assert close(list(qa(KeyDataset(datasets.Dataset.from_dict({"qa": pairs}), "qa"), batch_size=2)), many)
    squad_like = datasets.Dataset.from_dict({"id": ["a", "b", "c"], "question": QUESTIONS, "context": [CONTEXT] * 3})
    assert close(list(qa(squad_like)), many)  # whole rows: the id is ignored


def test_batched_equals_one_at_a_time(bert):
    qa = pipeline("question-answering", model=bert, max_seq_len=24, doc_stride=4, top_k=2)  # many windows each
    pairs = [{"question": q, "context": CONTEXT[: 40 * (i + 1)]} for i, q in enumerate(QUESTIONS)] + [SHORT]
    assert close(qa(pairs, batch_size=4), [qa(pair) for pair in pairs])


def test_errors_and_documented_results(bert, caplog):
    qa = pipeline("question-answering", model=bert)
    with pytest.raises(ValueError, match="Input 1: The context is empty"):
        qa([{"question": "Who?", "context": "Me."}, {"question": "Who?", "context": "  "}])
    with pytest.raises(ValueError, match="The question is empty"):
        qa(question="", context=CONTEXT)
    with pytest.raises(ValueError, match="The context must be a str, got int"):
        qa({"question": "Who?", "context": 3})
    with pytest.raises(ValueError, match="take str or lists of str, got str and int"):
        qa(question="Who?", context=3)
    with pytest.raises(ValueError, match="keys 'question' and 'context', got keys \\['context', 'q'\\]"):
        qa({"q": "Who?", "context": CONTEXT})
    with pytest.raises(ValueError, match="keys 'question' and 'context', got str"):
        qa("Who?")
    with pytest.raises(ValueError, match="2 questions and 3 contexts"):
        qa(question=QUESTIONS[:2], context=[CONTEXT] * 3)
    with pytest.raises(ValueError, match="Pass question= and context= together"):
        qa(question="Who?")
    with pytest.raises(ValueError, match="leaves no room for the context in max_seq_len=12"):
        qa(SHORT, max_seq_len=12)
    with pytest.raises(ValueError, match="doc_stride \\(20\\) is larger than max_seq_len \\(16\\)"):
        qa(question="Who?", context=CONTEXT, max_seq_len=16, doc_stride=20)
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        qa(question="Who?", context=CONTEXT, top_k=0)
    with caplog.at_level(logging.WARNING, logger="workbench"):
        lowered = qa(question="Who?", context=CONTEXT, max_seq_len=16, doc_stride=14)
    assert "doc_stride=14 leaves windows of 11 context tokens nothing to advance by: using 10" in caplog.text
    assert close(lowered, hand_answers(bert, "Who?", CONTEXT, max_seq_len=16, doc_stride=10))
    # fewer spans than top_k: all of them ("Me", "Me.", ".")
    assert sorted(a["answer"] for a in qa(question="Who?", context="Me.", top_k=50)) == [".", "Me", "Me."]
    assert qa(question="Who?", context="Me.")["answer"]  # usable after errors


def test_left_padding_tokenizer_puts_the_context_first(bert):
    from workbench import AutoTokenizer

    qa = pipeline("question-answering", model=bert, tokenizer=AutoTokenizer.from_pretrained(bert, padding_side="left"),
                  max_seq_len=24, top_k=3)
    # questions of words the contexts lack: an answer holding one would come from the question
    pairs = [{"question": f"Zebras {q}", "context": CONTEXT[: 50 * (i + 1)]} for i, q in enumerate(["or", "and"])]
    alone = [qa(pair) for pair in pairs]
    assert close(qa(pairs, batch_size=4), alone)  # batches still pad on the right, as BERT's positions need
    for pair, answers in zip(pairs, alone):
        for answer in answers:
            assert pair["context"][answer["start"]:answer["end"]] == answer["answer"]
            assert "zebra" not in answer["answer"].lower()
