"""bleu (evaluate's corpus BLEU, tensorflow/nmt style) and sacrebleu (the ``sacrebleu`` package's corpus BLEU)."""

from __future__ import annotations

import math
from collections import Counter

from .base import Metric, MetricError, as_reference_lists, check_text_references, require


def _ngram_counts(tokens: list[str], max_order: int) -> Counter:
    counts = Counter()
    for n in range(1, max_order + 1):
        counts.update(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return counts


def corpus_bleu(references: list[list[list[str]]], hypotheses: list[list[str]], max_order: int = 4,
                smooth: bool = False) -> dict:
    """BLEU over token lists as tensorflow/nmt's ``compute_bleu`` defines it (which evaluate's bleu runs).

    Differences from sacrebleu: the brevity penalty uses the *shortest* reference of each sentence,
    scores are fractions (not percent), and ``smooth=True`` is Lin & Och (2004) add-one smoothing
    on every order.
    """
    matches, possible = [0] * max_order, [0] * max_order
    reference_length = hypothesis_length = 0
    for refs, hyp in zip(references, hypotheses):
        reference_length += min(len(r) for r in refs)
        hypothesis_length += len(hyp)
        max_ref_counts = Counter()
        for ref in refs:
            max_ref_counts |= _ngram_counts(ref, max_order)  # clip each n-gram by its largest count in one reference
        for ngram, count in (_ngram_counts(hyp, max_order) & max_ref_counts).items():
            matches[len(ngram) - 1] += count
        for n in range(1, max_order + 1):
            possible[n - 1] += max(len(hyp) - n + 1, 0)

    if smooth:
        precisions = [(m + 1.0) / (p + 1.0) for m, p in zip(matches, possible)]
    else:
        precisions = [m / p if p > 0 else 0.0 for m, p in zip(matches, possible)]
    geo_mean = math.exp(sum(math.log(p) / max_order for p in precisions)) if min(precisions) > 0 else 0.0

    if reference_length == 0 or hypothesis_length == 0:
        ratio = brevity_penalty = 0.0
    else:
        ratio = hypothesis_length / reference_length
        brevity_penalty = 1.0 if ratio > 1.0 else math.exp(1 - 1.0 / ratio)
    return {
        "bleu": geo_mean * brevity_penalty,
        "precisions": precisions,
        "brevity_penalty": brevity_penalty,
        "length_ratio": ratio,
        "translation_length": hypothesis_length,
        "reference_length": reference_length,
    }


class Bleu(Metric):
    """evaluate's ``bleu``: corpus BLEU in [0, 1] with the keys bleu, precisions, brevity_penalty,
    length_ratio, translation_length and reference_length.

    Text is split by sacrebleu's 13a tokenizer (mteval-v13a, as WMT uses) unless ``tokenizer`` is a
    ``str -> list[str]`` function. A reference may be one string or a list of strings.

    >>> load("bleu").compute(predictions=["hello there general kenobi", "foo bar foobar"],
    ...                      references=[["hello there general kenobi", "hello there!"], ["foo bar foobar"]])["bleu"]
    1.0
    """

    name = "bleu"

    def _prepare_item(self, item, argument):
        return check_text_references(item, argument, self.name)

    def _compute(self, predictions, references, tokenizer=None, max_order=4, smooth=False):
        if tokenizer is None:
            tokenizer_13a = require("sacrebleu.tokenizers.tokenizer_13a", "sacrebleu", self.name).Tokenizer13a()

            def tokenizer(text):
                return tokenizer_13a(text).split()

        return corpus_bleu(
            references=[[tokenizer(r) for r in refs] for refs in as_reference_lists(references)],
            hypotheses=[tokenizer(p) for p in predictions],
            max_order=max_order,
            smooth=smooth,
        )


class SacreBleu(Metric):
    """sacrebleu's corpus BLEU (in percent), with the keys score, counts, totals, precisions, bp,
    sys_len and ref_len that evaluate's ``sacrebleu`` returns.

    Options go to ``sacrebleu.corpus_bleu``: ``smooth_method`` ("exp", "none", "floor", "add-k"),
    ``smooth_value``, ``tokenize`` ("13a" by default, "intl", "char", "zh", "none", ...),
    ``lowercase``, ``force``, ``use_effective_order``. Every prediction needs the same number of
    references.

    >>> round(load("sacrebleu").compute(predictions=["the cat sat on the mat"],
    ...                                 references=[["the cat sat on a mat"]])["score"], 2)
    53.73
    """

    name = "sacrebleu"

    def _prepare_item(self, item, argument):
        return check_text_references(item, argument, self.name)

    def _compute(self, predictions, references, smooth_method="exp", smooth_value=None, force=False,
                 lowercase=False, tokenize=None, use_effective_order=False):
        sacrebleu = require("sacrebleu", "sacrebleu", self.name)
        references = as_reference_lists(references)
        per_prediction = len(references[0])
        if any(len(refs) != per_prediction for refs in references):
            raise MetricError(
                f"sacrebleu needs the same number of references for every prediction, got counts "
                f"{sorted({len(refs) for refs in references})}"
            )
        # sacrebleu takes one stream per reference position: streams[i][j] is reference i of sentence j
        streams = [[refs[i] for refs in references] for i in range(per_prediction)]
        output = sacrebleu.corpus_bleu(
            predictions, streams, smooth_method=smooth_method, smooth_value=smooth_value, force=force,
            lowercase=lowercase, use_effective_order=use_effective_order,
            **({"tokenize": tokenize} if tokenize else {}),
        )
        return {
            "score": output.score,
            "counts": output.counts,
            "totals": output.totals,
            "precisions": output.precisions,
            "bp": output.bp,
            "sys_len": output.sys_len,
            "ref_len": output.ref_len,
        }
