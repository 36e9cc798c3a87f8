"""``zero-shot-classification``: rank labels chosen at call time, with a model trained on NLI.

Each candidate label becomes a hypothesis (``"This example is {}."``) paired with the text as the
premise; the model's *entailment* logit scores the label:

    text, [l1 .. lN] ─► N chunks (text, template(li)) ─► model ─► logits (N, 3)
       multi_label=False: softmax of the N entailment logits           (scores sum to 1)
       multi_label=True : per label, softmax of (contradiction, entailment) ─► P(entailment)

>>> classifier = pipeline("zero-shot-classification", model=nli_path)            # doctest: +SKIP
>>> classifier("I have a problem with my iphone that needs to be resolved asap!!",
...            candidate_labels=["urgent", "not urgent", "phone", "tablet", "computer"])  # doctest: +SKIP
{'sequence': 'I have a problem ...', 'labels': ['urgent', 'phone', ...], 'scores': [0.504, 0.479, ...]}

One chunk per label, so labels of one text batch together (``batch_size``) like separate texts.
The entailment id is the ``config.label2id`` entry whose name starts with "entail"; a model
without one gets a warning and the last logit, as in the reference. With a single label the
scores are per label (as ``multi_label=True``). ``candidate_labels`` is a list or a
comma-separated string, and may be passed as the second positional argument.
"""

from __future__ import annotations

import logging

import torch

from ..tokenization.options import LARGE_INTEGER
from .base import Pipeline

logger = logging.getLogger("workbench")

DEFAULT_TEMPLATE = "This example is {}."


class ZeroShotClassificationPipeline(Pipeline):
    task = "zero-shot-classification"
    sequence_outputs = ()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.entailment_id == -1:
            logger.warning(
                "No 'entailment' label in the model's config.label2id (%s): scoring with the last logit. Set "
                "label2id (e.g. {'contradiction': 0, 'neutral': 1, 'entailment': 2}) for correct scores.",
                self.model.config.label2id,
            )

    @property
    def entailment_id(self) -> int:
        for label, index in self.model.config.label2id.items():
            if label.lower().startswith("entail"):
                return index
        return -1

    def _sanitize_parameters(self, candidate_labels=None, hypothesis_template=None, multi_label=None):
        pre, post = {}, {}
        if candidate_labels is not None:
            pre["candidate_labels"] = _labels(candidate_labels)
        if hypothesis_template is not None:
            pre["hypothesis_template"] = _template(hypothesis_template)
        if multi_label is not None:
            post["multi_label"] = bool(multi_label)
        return pre, {}, post

    def _check_parameters(self, pre: dict, fwd: dict, post: dict) -> None:
        if not pre.get("candidate_labels"):
            raise ValueError(
                "zero-shot-classification needs candidate labels: classifier(text, candidate_labels=['sports', "
                "'politics']) (a list, or one comma-separated string)."
            )

    def __call__(self, sequences, *args, **kwargs):
        if len(args) == 1 and "candidate_labels" not in kwargs:
            kwargs["candidate_labels"] = args[0]
        elif args:
            raise TypeError(f"Pass zero-shot options as keywords (candidate_labels=...), not {args!r:.80}.")
        return super().__call__(sequences, **kwargs)

    def check_input(self, item) -> None:
        if not isinstance(item, str):
            raise ValueError(f"{self.task} takes strings, got {type(item).__name__}: {item!r:.60}")
        if not item.strip():
            raise ValueError("zero-shot-classification got an empty text: there is nothing to classify.")

    def preprocess(self, sequence, candidate_labels=(), hypothesis_template=DEFAULT_TEMPLATE):
        for label in candidate_labels:
            yield self._encode(sequence, hypothesis_template.format(label)), (sequence, label)

    def _encode(self, premise: str, hypothesis: str):
        # cut the premise, never the hypothesis, to the model's length
        limited = self.tokenizer.model_max_length < LARGE_INTEGER
        try:
            return self.tokenizer(premise, hypothesis, truncation="only_first" if limited else False,
                                  return_tensors="pt")
        except ValueError as error:
            if "too short" not in str(error):
                raise
            return self.tokenizer(premise, hypothesis, truncation=False, return_tensors="pt")

    def _forward(self, model_inputs: dict) -> dict:
        return {"logits": self.model(**model_inputs).logits}

    def postprocess(self, chunks, multi_label=False):
        logits = torch.cat([outputs["logits"] for outputs, _ in chunks]).float()  # (N labels, classes)
        labels = [label for _, (_, label) in chunks]
        entailment = self.entailment_id
        if multi_label or len(labels) == 1:
            contradiction = -1 if entailment == 0 else 0
            scores = logits[:, [contradiction, entailment]].softmax(-1)[:, 1]
        else:
            scores = logits[:, entailment].softmax(-1)
        order = sorted(range(len(labels)), key=lambda i: scores[i].item(), reverse=True)
        return {"sequence": chunks[0][1][0], "labels": [labels[i] for i in order],
                "scores": [scores[i].item() for i in order]}


def _template(template) -> str:
    try:
        usable = isinstance(template, str) and template.format("X") != template
    except (IndexError, KeyError, ValueError):
        usable = False
    if not usable:
        raise ValueError(
            f"hypothesis_template={template!r} needs one {{}} where the label goes: "
            "write it like 'This example is {}.'"
        )
    return template


def _labels(candidate_labels) -> list[str]:
    if isinstance(candidate_labels, str):
        candidate_labels = [label.strip() for label in candidate_labels.split(",") if label.strip()]
    labels = list(candidate_labels)
    if not labels or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"candidate_labels must be a non-empty list of str (or a comma-separated str), "
                         f"got {candidate_labels!r:.80}.")
    return labels
