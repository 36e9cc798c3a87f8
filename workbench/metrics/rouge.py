"""rouge: ROUGE-N / ROUGE-L / ROUGE-Lsum F-measures from Google's ``rouge_score`` package."""

from __future__ import annotations

from .base import Metric, check_text_references, require


class _CallableTokenizer:
    """rouge_score wants an object with ``tokenize(text)``; users pass a plain function."""

    def __init__(self, function):
        self.tokenize = function


class Rouge(Metric):
    """ROUGE F-measures, as evaluate's rouge computes them.

    ``rouge_types`` defaults to rouge1, rouge2, rougeL and rougeLsum (rougeLsum splits sentences on
    "\\n"). A reference may be one string or a list of strings (the best-scoring one counts).
    ``use_aggregator=True`` returns, per type, the median of rouge_score's bootstrap resampling of
    the mean F-measure (``BootstrapAggregator().aggregate()[type].mid.fmeasure``, which draws from
    numpy's global random state exactly as evaluate does); ``use_aggregator=False`` returns the
    list of per-example F-measures. ``tokenizer`` is an optional ``str -> list[str]`` function.

    >>> load("rouge").compute(predictions=["hello there", "general kenobi"],
    ...                       references=["hello there", "general kenobi"])
    {'rouge1': 1.0, 'rouge2': 1.0, 'rougeL': 1.0, 'rougeLsum': 1.0}
    """

    name = "rouge"

    def _prepare_item(self, item, argument):
        return check_text_references(item, argument, self.name)

    def _compute(self, predictions, references, rouge_types=None, use_aggregator=True, use_stemmer=False,
                 tokenizer=None):
        rouge_scorer = require("rouge_score.rouge_scorer", "rouge_score", self.name)
        scoring = require("rouge_score.scoring", "rouge_score", self.name)
        rouge_types = list(rouge_types or ["rouge1", "rouge2", "rougeL", "rougeLsum"])
        scorer = rouge_scorer.RougeScorer(rouge_types=rouge_types, use_stemmer=use_stemmer,
                                          tokenizer=_CallableTokenizer(tokenizer) if tokenizer else None)
        # rouge_score takes (target, prediction): the reference first
        scores = [scorer.score_multi(ref, pred) if isinstance(ref, list) else scorer.score(ref, pred)
                  for pred, ref in zip(predictions, references)]
        if not use_aggregator:
            return {key: [float(s[key].fmeasure) for s in scores] for key in scores[0]}
        aggregator = scoring.BootstrapAggregator()
        for score in scores:
            aggregator.add_scores(score)
        return {key: float(value.mid.fmeasure) for key, value in aggregator.aggregate().items()}
