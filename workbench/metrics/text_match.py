"""exact_match and squad: string comparisons that need no third-party library."""

from __future__ import annotations

import re
import string
import warnings
from collections import Counter

from .base import Metric, MetricError, check_strings


class ExactMatch(Metric):
    """Fraction of predictions equal to their reference after optional normalisation.

    The steps run in evaluate's order: ``regexes_to_ignore`` are deleted first (each with
    ``re.sub``), then ``ignore_case`` lowercases, ``ignore_punctuation`` deletes
    ``string.punctuation`` and ``ignore_numbers`` deletes digits.

    >>> load("exact_match").compute(predictions=["cat?", "theater"], references=["the cat", "theater"])
    {'exact_match': 0.5}
    """

    name = "exact_match"

    def _prepare_item(self, item, argument):
        return check_strings(item, argument, self.name)

    def _compute(self, predictions, references, regexes_to_ignore=None, ignore_case=False,
                 ignore_punctuation=False, ignore_numbers=False):
        if isinstance(regexes_to_ignore, str):
            regexes_to_ignore = [regexes_to_ignore]
        deleted = ""
        if ignore_punctuation:
            deleted += string.punctuation
        if ignore_numbers:
            deleted += string.digits
        table = str.maketrans("", "", deleted)

        def normalise(text: str) -> str:
            for pattern in regexes_to_ignore or ():
                text = re.sub(pattern, "", text)
            if ignore_case:
                text = text.lower()
            return text.translate(table)

        matches = [normalise(p) == normalise(r) for p, r in zip(predictions, references)]
        return {"exact_match": sum(matches) / len(matches)}


_PUNCTUATION = frozenset(string.punctuation)


def normalize_squad_answer(text: str) -> str:
    """SQuAD v1.1's answer normalisation: lowercase, drop punctuation and articles, collapse spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _squad_f1(prediction: str, truth: str) -> float:
    pred_tokens, true_tokens = normalize_squad_answer(prediction).split(), normalize_squad_answer(truth).split()
    common = sum((Counter(pred_tokens) & Counter(true_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(true_tokens)
    return 2 * precision * recall / (precision + recall)


class Squad(Metric):
    """SQuAD v1.1 exact match and token F1, in percent, each the best over an example's gold answers.

    Inputs are in evaluate's squad format: predictions ``{"id", "prediction_text"}`` and references
    ``{"id", "answers": {"text": [...], "answer_start": [...]}}`` (``answer_start`` is not used).
    Predictions are matched to references by ``id``; a reference with no prediction scores 0.

    >>> load("squad").compute(predictions=[{"id": "q1", "prediction_text": "1976"}],
    ...                       references=[{"id": "q1", "answers": {"text": ["1976"], "answer_start": [97]}}])
    {'exact_match': 100.0, 'f1': 100.0}
    """

    name = "squad"

    def _prepare_item(self, item, argument):
        fields = ("id", "prediction_text") if argument == "prediction" else ("id", "answers")
        if not isinstance(item, dict) or any(f not in item for f in fields):
            raise MetricError(
                f"squad: each {argument} must be a dict with keys {fields}, got {item!r:.100}; "
                "e.g. prediction {'id': 'q1', 'prediction_text': 'Denver'} and reference "
                "{'id': 'q1', 'answers': {'text': ['Denver'], 'answer_start': [0]}}"
            )
        if argument == "reference":
            answers = item["answers"]
            if isinstance(answers, list):  # a list of {"text": ..., "answer_start": ...} dicts
                answers = {"text": [a["text"] if isinstance(a, dict) else a for a in answers]}
            if not isinstance(answers, dict) or not isinstance(answers.get("text"), (list, tuple)):
                raise MetricError(
                    f"squad: reference {item['id']!r} needs answers={{'text': [...]}}, got {answers!r:.100}"
                )
            if not answers["text"]:
                raise MetricError(
                    f"squad: reference {item['id']!r} has no answer text; SQuAD v1.1 scoring needs at least one "
                    "gold answer per question (unanswerable questions are SQuAD v2, which is not implemented)"
                )
            texts = [check_strings(t, "answer text", self.name) for t in answers["text"]]
            return {"id": str(item["id"]), "answers": texts}
        return {"id": str(item["id"]), "prediction_text": check_strings(item["prediction_text"], argument, self.name)}

    def _compute(self, predictions, references):
        answer_by_id = {p["id"]: p["prediction_text"] for p in predictions}
        exact = f1 = 0.0
        missing = []
        for reference in references:
            if reference["id"] not in answer_by_id:
                missing.append(reference["id"])
                continue
            prediction, truths = answer_by_id[reference["id"]], reference["answers"]
            exact += max(float(normalize_squad_answer(prediction) == normalize_squad_answer(t)) for t in truths)
            f1 += max(_squad_f1(prediction, t) for t in truths)
        if missing:
            warnings.warn(f"squad: {len(missing)} question(s) have no prediction and score 0: {missing[:5]}",
                          stacklevel=3)
        return {"exact_match": 100.0 * exact / len(references), "f1": 100.0 * f1 / len(references)}
