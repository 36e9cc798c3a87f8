"""``question-answering``: the span of a context that answers a question (extractive QA).

    question, context ─► [CLS] question [SEP] context window [SEP]: windows of max_seq_len tokens,
                         doc_stride tokens shared by neighbours (one chunk each, batched like texts)
    ─► model ─► start and end logits per token
    ─► per window: softmax of each over the context tokens and [CLS]; a span (s, e) scores
       P(start=s) · P(end=e), with s <= e < s + max_answer_len and both in the context
    ─► the best spans of every window, widened to whole words, as characters of the context
    ─► {"score", "start", "end", "answer"}            context[start:end] == answer

>>> qa = pipeline("question-answering", model=path)                             # doctest: +SKIP
>>> qa(question="Where do I live?", context="My name is Wolfgang and I live in Berlin")  # doctest: +SKIP
{'score': 0.9, 'start': 34, 'end': 40, 'answer': 'Berlin'}

Transformers 5 removed this pipeline; this follows its 4.x algorithm (the last one, 4.53+),
and its parameters: ``top_k`` (1), ``doc_stride`` (min(max_seq_len // 2, 128)),
``max_answer_len`` (15 tokens), ``max_seq_len`` (min(model_max_length, 384)),
``handle_impossible_answer`` (False; True adds the empty answer ``{"start": 0, "end": 0,
"answer": ""}`` scored by the least [CLS]-[CLS] probability over the windows) and
``align_to_words`` (True; False keeps the exact token offsets). As there, the same answer text
(ignoring case) found in several windows or places is one answer whose scores add up.

Where workbench differs, on purpose:

* ``top_k=1`` gives a dict and ``top_k>1`` always a list (the reference gave a dict whenever only
  one answer was found); there may be fewer than ``top_k`` answers in a short context.
* ``max_question_len`` (64 tokens) really cuts long questions (the 4.x fast path ignored it),
  and a ``doc_stride`` that leaves no room to advance is lowered with a warning (tokenizers would
  panic). A question that leaves no room for context is a clear error.
* Tokenizers that pad on the left put the context first; only context tokens can answer (4.x let
  question tokens answer in that case).

Inputs: ``qa(question=..., context=...)`` (each a str or a list), ``qa(question, context)``, a dict
``{"question": ..., "context": ...}``, or a list / generator / dataset of such dicts (rows of a
SQuAD-like dataset work as they are: other keys are ignored).
"""

from __future__ import annotations

import logging

import torch

from .base import Pipeline

logger = logging.getLogger("workbench")

_NOT_MODEL_INPUTS = ("offset_mapping", "overflow_to_sample_mapping")
_MASKED = -10000.0  # logit of tokens that cannot answer (the reference's value, so scores agree)


class QuestionAnsweringPipeline(Pipeline):
    task = "question-answering"
    sequence_outputs = ("start_logits", "end_logits")

    def _sanitize_parameters(self, top_k=None, doc_stride=None, max_answer_len=None, max_seq_len=None,
                             max_question_len=None, handle_impossible_answer=None, align_to_words=None):
        for name, value in (("top_k", top_k), ("max_answer_len", max_answer_len), ("max_seq_len", max_seq_len),
                            ("max_question_len", max_question_len)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if doc_stride is not None and (not isinstance(doc_stride, int) or doc_stride < 0):
            raise ValueError(f"doc_stride must be an int >= 0, got {doc_stride!r}.")
        pre = {"doc_stride": doc_stride, "max_seq_len": max_seq_len, "max_question_len": max_question_len}
        post = {"top_k": top_k, "max_answer_len": max_answer_len, "align_to_words": align_to_words,
                "handle_impossible_answer": handle_impossible_answer}
        return _given(pre), {}, _given(post)

    def __call__(self, *args, question=None, context=None, **kwargs):
        if question is not None or context is not None:
            if args or question is None or context is None:
                raise ValueError("Pass question= and context= together (and no positional inputs), or dicts "
                                 "{'question': ..., 'context': ...}.")
            inputs = _pairs(question, context)
        elif len(args) == 2 and all(isinstance(arg, str) for arg in args):
            inputs = {"question": args[0], "context": args[1]}
        elif len(args) == 1:
            inputs = args[0]
        else:
            raise ValueError("question-answering takes question= and context=, or a dict {'question': ..., "
                             "'context': ...}, or a list of such dicts.")
        return super().__call__(inputs, **kwargs)

    def check_input(self, item) -> None:
        if not isinstance(item, dict) or not {"question", "context"} <= set(item):  # other keys (id, title) stay unread
            got = f"keys {sorted(item)}" if isinstance(item, dict) else type(item).__name__
            raise ValueError(f"question-answering takes dicts with keys 'question' and 'context', got {got}: "
                             f"{item!r:.60}")
        for key in ("question", "context"):
            if not isinstance(item[key], str):
                raise ValueError(f"The {key} must be a str, got {type(item[key]).__name__}: {item[key]!r:.60}")
            if not item[key].strip():
                raise ValueError(f"The {key} is empty: pass a non-blank {key}.")

    # --- windows ---------------------------------------------------------------------------------

    def preprocess(self, item, doc_stride=None, max_seq_len=None, max_question_len=64):
        tokenizer = self.tokenizer
        max_seq_len = max_seq_len or min(tokenizer.model_max_length, 384)
        doc_stride = min(max_seq_len // 2, 128) if doc_stride is None else doc_stride
        if doc_stride > max_seq_len:
            raise ValueError(f"doc_stride ({doc_stride}) is larger than max_seq_len ({max_seq_len}).")
        question, context = _cut(tokenizer, item["question"], max_question_len), item["context"]
        question_tokens = len(tokenizer(question, add_special_tokens=False)["input_ids"])
        room = max_seq_len - question_tokens - tokenizer.num_special_tokens_to_add(pair=True)
        if room < 1:
            raise ValueError(
                f"The question is {question_tokens} tokens, which leaves no room for the context in max_seq_len="
                f"{max_seq_len} tokens: raise max_seq_len or lower max_question_len (now {max_question_len})."
            )
        if doc_stride >= room:
            logger.warning("doc_stride=%d leaves windows of %d context tokens nothing to advance by: using %d.",
                           doc_stride, room, room - 1)
            doc_stride = room - 1
        question_first = tokenizer.padding_side == "right"
        encoded = tokenizer(question if question_first else context, context if question_first else question,
                            truncation="only_second" if question_first else "only_first", max_length=max_seq_len,
                            stride=doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True)
        context_index = 1 if question_first else 0
        for row, window in enumerate(encoded.encodings):
            # the context's tokens can answer; [CLS] takes part in the softmax (it scores "no answer")
            allowed = [sequence == context_index or token == tokenizer.cls_token_id
                       for sequence, token in zip(window.sequence_ids, window.ids)]
            if context_index not in window.sequence_ids:
                raise ValueError(f"The context {context!r:.60} gives no tokens: there is nothing to search.")
            inputs = {key: torch.tensor([values[row]]) for key, values in encoded.items()
                      if key not in _NOT_MODEL_INPUTS}
            yield inputs, {"window": window, "allowed": allowed, "context": context, "context_index": context_index}

    def _forward(self, model_inputs: dict) -> dict:
        out = self.model(**model_inputs)
        return {"start_logits": out.start_logits, "end_logits": out.end_logits}

    # --- answers ---------------------------------------------------------------------------------

    def postprocess(self, chunks, top_k=1, handle_impossible_answer=False, max_answer_len=15, align_to_words=True):
        null_score = 1e6
        answers: dict[str, dict] = {}  # lowercased answer text -> answer
        for outputs, meta in chunks:
            allowed = torch.tensor(meta["allowed"])
            start = outputs["start_logits"][0].float().masked_fill(~allowed, _MASKED).softmax(-1)  # (T,)
            end = outputs["end_logits"][0].float().masked_fill(~allowed, _MASKED).softmax(-1)
            null_score = min(null_score, (start[0] * end[0]).item())
            for score, first, last in _best_spans(start, end, allowed, top_k, max_answer_len):
                begin, finish = _characters(meta, first, last, align_to_words)
                text = meta["context"][begin:finish]
                if text.lower() in answers:
                    answers[text.lower()]["score"] += score
                else:
                    answers[text.lower()] = {"score": score, "start": begin, "end": finish, "answer": text}
        found = list(answers.values())
        if handle_impossible_answer:
            found.append({"score": null_score, "start": 0, "end": 0, "answer": ""})
        found.sort(key=lambda answer: answer["score"], reverse=True)
        return found[0] if top_k == 1 else found[:top_k]


def _best_spans(start: torch.Tensor, end: torch.Tensor, allowed: torch.Tensor, k: int, max_answer_len: int):
    """The ``k`` best (score, first token, last token) spans of one window, best first."""
    length = start.shape[0]
    usable = allowed.clone()
    usable[0] = False  # position 0 ([CLS]) only scores the empty answer
    scores = start[:, None] * end[None, :]  # (T, T): P(start=s) * P(end=e)
    s, e = torch.arange(length)[:, None], torch.arange(length)[None, :]
    valid = usable[:, None] & usable[None, :] & (e >= s) & (e - s < max_answer_len)
    flat = scores.masked_fill(~valid, -1.0).flatten()
    values, indices = flat.topk(min(k, int(valid.sum())))
    return [(value, index // length, index % length) for value, index in zip(values.tolist(), indices.tolist())]


def _characters(meta: dict, first: int, last: int, align_to_words: bool) -> tuple[int, int]:
    """Character span in the context of tokens ``first..last``, widened to whole words if asked."""
    window = meta["window"]
    if align_to_words:
        try:
            words = window.token_to_word(first), window.token_to_word(last)
            return (window.word_to_chars(words[0], sequence_index=meta["context_index"])[0],
                    window.word_to_chars(words[1], sequence_index=meta["context_index"])[1])
        except TypeError:  # a token outside any word (no word ids): keep its own offsets
            pass
    return window.offsets[first][0], window.offsets[last][1]


def _cut(tokenizer, question: str, max_tokens: int | None) -> str:
    """The question, cut after its ``max_tokens``-th token."""
    if max_tokens is None:
        return question
    offsets = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return question[: offsets[max_tokens - 1][1]] if len(offsets) > max_tokens else question


def _pairs(question, context):
    """question=/context= keyword inputs as the dict(s) the pipeline runs on."""
    if isinstance(question, str) and isinstance(context, str):
        return {"question": question, "context": context}
    if isinstance(question, (list, tuple)) and isinstance(context, str):
        return [{"question": q, "context": context} for q in question]
    if isinstance(question, str) and isinstance(context, (list, tuple)):
        return [{"question": question, "context": c} for c in context]
    if isinstance(question, (list, tuple)) and isinstance(context, (list, tuple)):
        if len(question) != len(context):
            raise ValueError(f"{len(question)} questions and {len(context)} contexts: pass as many of each, "
                             "or one context for all the questions.")
        return [{"question": q, "context": c} for q, c in zip(question, context)]
    raise ValueError(f"question= and context= take str or lists of str, got {type(question).__name__} and "
                     f"{type(context).__name__}.")


def _given(params: dict) -> dict:
    return {key: value for key, value in params.items() if value is not None}
