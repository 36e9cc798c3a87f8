"""wer and cer: word and character error rates from the ``jiwer`` package."""

from __future__ import annotations

from .base import Metric, check_strings, require


class _ErrorRate(Metric):
    _process = ""  # jiwer function: process_words or process_characters

    def _prepare_item(self, item, argument):
        return check_strings(item, argument, self.name)

    def _compute(self, predictions, references, concatenate_texts=False):
        process = getattr(require("jiwer", "jiwer", self.name), self._process)
        if concatenate_texts:
            output = process(references, predictions)
            errors, total = (output.substitutions + output.deletions + output.insertions,
                             output.substitutions + output.deletions + output.hits)
        else:
            # evaluate aligns each pair on its own and pools the counts: (S + D + I) / (S + D + C)
            errors = total = 0
            for prediction, reference in zip(predictions, references):
                output = process(reference, prediction)  # jiwer takes (reference, hypothesis)
                errors += output.substitutions + output.deletions + output.insertions
                total += output.substitutions + output.deletions + output.hits
        return {self.name: errors / total}


class WER(_ErrorRate):
    """Word error rate (S + D + I) / N over all pairs, words split on whitespace by jiwer.

    evaluate's wer returns the bare float; here it is ``{"wer": float}``, so that ``combine`` and a
    Trainer's ``compute_metrics`` can use it like any other metric.

    >>> load("wer").compute(predictions=["this is the prediction", "there is an other sample"],
    ...                     references=["this is the reference", "there is another one"])
    {'wer': 0.5}
    """

    name = "wer"
    _process = "process_words"


class CER(_ErrorRate):
    """Character error rate (S + D + I) / N over all pairs (spaces count; runs of spaces become one).

    evaluate's cer returns the bare float; here it is ``{"cer": float}``.

    >>> load("cer").compute(predictions=["this is the prediction", "there is an other sample"],
    ...                     references=["this is the reference", "there is another one"])
    {'cer': 0.34146341463414637}
    """

    name = "cer"
    _process = "process_characters"
