"""``token-classification`` (alias ``ner``): a label for every token, or entities grouped from them.

    text ─► tokenizer (offsets, special-token mask; windows of model_max_length with ``stride``)
         ─► model ─► softmax over labels per token
         ─► tokens: {"entity", "score", "index", "word", "start", "end"}      aggregation_strategy="none"
         ─► words (first | average | max) ─► entities: {"entity_group", "score", "word", "start", "end"}

``start``/``end`` index the original text (``text[start:end]``); ``word`` is the token as the
vocabulary spells it (``"##ing"``), or for a group the tokens decoded together (lowercased by an
uncased tokenizer: use ``start``/``end`` for the exact text).

Aggregation, as in the reference:

* ``"simple"``: neighbouring tokens with the same tag join one entity (``B-X`` starts a new one);
  the entity's score is the mean of its tokens' scores.
* ``"first"`` / ``"average"`` / ``"max"``: first make every word agree on one label (the first
  token's, the label of the averaged scores, or the label of the most confident token), then
  group as ``"simple"``. A "word" is what the tokenizer marks as a continuation (WordPiece's
  ``##``); for tokenizers without such a marker, a token glued to the previous character.

``stride=n`` runs texts longer than ``tokenizer.model_max_length`` in overlapping windows (``n``
tokens shared) and keeps, where entities of two windows overlap, the longer one (on a tie the
more confident). It needs an aggregation other than ``"none"`` (window token indices would
mean nothing). ``is_split_into_words=True`` takes a list of words, joined with ``delimiter``
(one list of words in gives a list holding its answer, as the reference does). An empty text
has no entities (``[]``).
"""

from __future__ import annotations

import warnings

import torch

from ..tokenization.options import LARGE_INTEGER
from .base import Pipeline

STRATEGIES = ("none", "simple", "first", "average", "max")
WORD_STRATEGIES = ("first", "average", "max")
_NOT_MODEL_INPUTS = ("special_tokens_mask", "offset_mapping", "overflow_to_sample_mapping")


class TokenClassificationPipeline(Pipeline):
    task = "token-classification"
    sequence_outputs = ("logits",)

    def _sanitize_parameters(self, ignore_labels=None, aggregation_strategy=None, stride=None,
                             is_split_into_words=None, delimiter=None):
        pre, post = {}, {}
        if is_split_into_words is not None:
            pre["is_split_into_words"] = bool(is_split_into_words)
        if delimiter is not None:
            pre["delimiter"] = delimiter
        if stride is not None:
            limit = self.tokenizer.model_max_length - self.tokenizer.num_special_tokens_to_add(pair=False)
            if not isinstance(stride, int) or isinstance(stride, bool) or not 0 <= stride < limit:
                raise ValueError(
                    f"stride must be an int from 0 to {limit - 1} (the window, tokenizer.model_max_length="
                    f"{self.tokenizer.model_max_length}, less its special tokens), got {stride!r}."
                )
            pre["stride"] = stride
        if aggregation_strategy is not None:
            name = str(getattr(aggregation_strategy, "value", aggregation_strategy)).lower()
            if name not in STRATEGIES:
                raise ValueError(f"aggregation_strategy={aggregation_strategy!r} is not one of {STRATEGIES}.")
            post["aggregation_strategy"] = name
        if ignore_labels is not None:
            post["ignore_labels"] = [ignore_labels] if isinstance(ignore_labels, str) else list(ignore_labels)
        return pre, {}, post

    def _check_parameters(self, pre: dict, fwd: dict, post: dict) -> None:
        if pre.get("stride") is not None and post.get("aggregation_strategy", "none") == "none":
            raise ValueError(
                "stride= splits long texts into windows, which needs aggregation_strategy='simple', 'first', "
                "'average' or 'max' (with 'none' the token indices of different windows would clash)."
            )

    def __call__(self, inputs, **kwargs):
        split = kwargs.get("is_split_into_words", self._defaults[0].get("is_split_into_words", False))
        if split and isinstance(inputs, (list, tuple)) and all(isinstance(word, str) for word in inputs):
            return [super().__call__([inputs], **kwargs)[0]]  # one list of words; the reference's shape
        return super().__call__(inputs, **kwargs)

    def check_input(self, item) -> None:
        if isinstance(item, str):
            return
        if isinstance(item, (list, tuple)) and all(isinstance(word, str) for word in item):
            return  # words; preprocess insists on is_split_into_words
        raise ValueError(f"{self.task} takes strings (or lists of words), got {type(item).__name__}: {item!r:.60}")

    def preprocess(self, item, stride=None, is_split_into_words=False, delimiter=" "):
        if is_split_into_words and isinstance(item, str):
            raise ValueError(f"is_split_into_words=True takes lists of words, got the string {item!r:.60}")
        if not is_split_into_words and not isinstance(item, str):
            raise ValueError(f"A list of words needs is_split_into_words=True, got {item!r:.60}")
        text, word_starts = item, None
        if is_split_into_words:
            text, word_starts = delimiter.join(item), _word_starts(item, delimiter)
        limited = self.tokenizer.model_max_length < LARGE_INTEGER  # else nothing to cut texts at
        options = dict(truncation=limited, return_special_tokens_mask=True, return_offsets_mapping=True,
                       is_split_into_words=is_split_into_words)
        if stride is not None:
            options.update(return_overflowing_tokens=True, stride=stride)
        encoded = self.tokenizer(list(item) if is_split_into_words else item, **options)
        rows = encoded["input_ids"] if stride is not None else [encoded["input_ids"]]
        for row in range(len(rows)):
            window = {key: value[row] if stride is not None else value for key, value in encoded.items()}
            inputs = {key: torch.tensor([value]) for key, value in window.items() if key not in _NOT_MODEL_INPUTS}
            offsets = [tuple(span) for span in window["offset_mapping"]]
            if word_starts is not None:  # offsets count from each word's start: make them index the joined text
                word_ids = encoded.word_ids(row)
                offsets = [(s + word_starts[w], e + word_starts[w]) if w is not None else (s, e)
                           for (s, e), w in zip(offsets, word_ids)]
            yield inputs, {"text": text, "input_ids": window["input_ids"], "offsets": offsets,
                           "special": window["special_tokens_mask"]}

    def _forward(self, model_inputs: dict) -> dict:
        return {"logits": self.model(**model_inputs).logits}

    def postprocess(self, chunks, aggregation_strategy="none", ignore_labels=None):
        ignore = ["O"] if ignore_labels is None else ignore_labels
        entities = []
        for outputs, meta in chunks:
            scores = outputs["logits"][0].float().softmax(-1)  # (T, num_labels)
            tokens = self._tokens(meta, scores, warn=aggregation_strategy in WORD_STRATEGIES)
            found = self._aggregate(tokens, aggregation_strategy)
            entities += [e for e in found if e.get("entity", e.get("entity_group")) not in ignore]
        return _drop_overlaps(entities) if len(chunks) > 1 else entities

    # --- from tokens to entities ---------------------------------------------------------------

    def _tokens(self, meta: dict, scores: torch.Tensor, warn: bool) -> list[dict]:
        """One record per non-special token: its vocabulary string, scores, character span, and
        whether it continues the previous token's word."""
        text = meta["text"]
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        word_aware = bool(getattr(getattr(backend, "model", None), "continuing_subword_prefix", None))
        if warn and not word_aware:
            warnings.warn("The tokenizer does not mark word pieces: words are guessed from spaces in the text.",
                          UserWarning, stacklevel=2)
        tokens = []
        rows = zip(meta["input_ids"], meta["special"], meta["offsets"])
        for index, (token_id, special, (start, end)) in enumerate(rows):
            if special:
                continue
            word, piece = self.tokenizer.convert_ids_to_tokens(token_id), text[start:end]
            if word_aware:
                continues = len(word) != len(piece)  # "##ing" spells 3 characters with 5
            else:
                continues = start > 0 and " " not in text[start - 1 : start + 1]
            if token_id == self.tokenizer.unk_token_id:
                word, continues = piece, False
            tokens.append({"word": word, "scores": scores[index], "start": start, "end": end, "index": index,
                           "continues": continues})
        return tokens

    def _label(self, index: int) -> str:
        return self.model.config.id2label.get(index, f"LABEL_{index}")

    def _aggregate(self, tokens: list[dict], strategy: str) -> list[dict]:
        if strategy in ("none", "simple"):
            labelled = []
            for token in tokens:
                score, best = token["scores"].max(-1)
                labelled.append({"entity": self._label(best.item()), "score": score.item(), "index": token["index"],
                                 "word": token["word"], "start": token["start"], "end": token["end"]})
            if strategy == "none":
                return labelled
        else:
            labelled = [self._word(group, strategy) for group in _words(tokens)]
        return [self._group(run) for run in _runs(labelled)]

    def _word(self, pieces: list[dict], strategy: str) -> dict:
        if strategy == "first":
            scores = pieces[0]["scores"]
        elif strategy == "max":
            scores = max(pieces, key=lambda piece: piece["scores"].max().item())["scores"]
        else:  # average
            scores = torch.stack([piece["scores"] for piece in pieces]).mean(0)
        score, best = scores.max(-1)
        return {"entity": self._label(best.item()), "score": score.item(),
                "word": self.tokenizer.convert_tokens_to_string([piece["word"] for piece in pieces]),
                "start": pieces[0]["start"], "end": pieces[-1]["end"]}

    def _group(self, run: list[dict]) -> dict:
        return {"entity_group": _tag(run[0]["entity"])[1], "score": sum(e["score"] for e in run) / len(run),
                "word": self.tokenizer.convert_tokens_to_string([e["word"] for e in run]),
                "start": run[0]["start"], "end": run[-1]["end"]}


def _word_starts(words: list[str], delimiter: str) -> list[int]:
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word) + len(delimiter)
    return starts


def _words(tokens: list[dict]) -> list[list[dict]]:
    """Tokens grouped into words: a token that continues a word joins the one before it."""
    words: list[list[dict]] = []
    for token in tokens:
        if words and token["continues"]:
            words[-1].append(token)
        else:
            words.append([token])
    return words


def _tag(label: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; a label without a B-/I- prefix continues like I-."""
    if label.startswith(("B-", "I-")):
        return label[0], label[2:]
    return "I", label


def _runs(entities: list[dict]) -> list[list[dict]]:
    """Neighbours with the same tag, a ``B-`` starting a new run."""
    runs: list[list[dict]] = []
    for entity in entities:
        position, tag = _tag(entity["entity"])
        if runs and position != "B" and tag == _tag(runs[-1][-1]["entity"])[1]:
            runs[-1].append(entity)
        else:
            runs.append([entity])
    return runs


def _drop_overlaps(entities: list[dict]) -> list[dict]:
    """Entities of overlapping windows, by start; of two that overlap the longer (then the more confident) stays."""
    kept: list[dict] = []
    for entity in sorted(entities, key=lambda e: e["start"]):
        if kept and kept[-1]["start"] <= entity["start"] < kept[-1]["end"]:
            previous = kept[-1]
            longer = entity["end"] - entity["start"], entity["score"]
            if longer > (previous["end"] - previous["start"], previous["score"]):
                kept[-1] = entity
        else:
            kept.append(entity)
    return kept


NerPipeline = TokenClassificationPipeline
