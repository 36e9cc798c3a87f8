"""``image-classification``: the labels an image classifier gives an image, best first.

    image ─► image processor ─► model ─► logits (1, num_labels) ─► softmax | sigmoid | none
          ─► [{"label": config.id2label[i], "score": ...}, ...]  (the top_k best, 5 unless told)

>>> classifier = pipeline("image-classification", model="google/vit-base-patch16-224")   # doctest: +SKIP
>>> classifier("cat.png", top_k=2)                                                     # doctest: +SKIP
[{'label': 'tabby, tabby cat', 'score': 0.61}, {'label': 'tiger cat', 'score': 0.22}]

As the reference (5.23): ``top_k`` is cut to the label count; ``function_to_apply`` defaults from
the config as text classification's does (none for regression, sigmoid for multi-label models or one
label, softmax otherwise). One image gives a list of dicts, a list of images a list of such lists.
"""

from __future__ import annotations

from .image_base import ImagePipeline
from .text_classification import apply_function, default_function, function_name


class ImageClassificationPipeline(ImagePipeline):
    task = "image-classification"

    def _sanitize_parameters(self, top_k=None, function_to_apply=None, timeout=None):
        post = {}
        if top_k is not None:
            if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
                raise ValueError(f"top_k must be a positive int, got {top_k!r}.")
            post["top_k"] = top_k
        if function_to_apply is not None:
            post["function_to_apply"] = function_name(function_to_apply)
        return ({"timeout": timeout} if timeout is not None else {}), {}, post

    def __call__(self, inputs=None, **kwargs):
        return super().__call__(kwargs.pop("images") if "images" in kwargs else inputs, **kwargs)

    def preprocess(self, image, timeout=None):
        yield self.pixels(image, timeout), None

    def _forward(self, model_inputs: dict) -> dict:
        return {"logits": self.model(**model_inputs).logits}

    def postprocess(self, chunks, top_k: int = 5, function_to_apply: str | None = None):
        (outputs, _), = chunks
        logits = outputs["logits"][0].float()  # (num_labels,)
        scores = apply_function(function_to_apply or default_function(self.model.config), logits).tolist()
        names = self.model.config.id2label
        labels = [{"label": names.get(i, f"LABEL_{i}"), "score": score} for i, score in enumerate(scores)]
        labels.sort(key=lambda label: label["score"], reverse=True)  # stable: ties keep label order
        return labels[:top_k]
