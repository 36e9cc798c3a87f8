"""``zero-shot-image-classification``: how well each candidate label describes an image, with a joint
image-text model (CLIP, SigLIP, BLIP).

    image ─► image processor ─► pixel_values (1, 3, H, W) ┐
    labels ─► hypothesis_template.format(label) ─► tokenizer ┴► model ─► logits_per_image (1, n_labels)
          ─► softmax over the labels (SigLIP: a sigmoid per label) ─► [{"score", "label"}, ...] best first

>>> classifier = pipeline("zero-shot-image-classification", model="openai/clip-vit-base-patch32")  # doctest: +SKIP
>>> classifier("cat.png", candidate_labels=["cat", "dog"])                                        # doctest: +SKIP
[{'score': 0.99, 'label': 'cat'}, {'score': 0.01, 'label': 'dog'}]

As the reference (5.23): the template defaults to "This is a photo of {}."; the label texts are padded
to the longest (SigLIP's to 64 tokens, truncated, as it was trained); ``tokenizer_kwargs={...}``
override those tokenizer settings. The labels are the same for every image of a call, so a batch
encodes them once.
"""

from __future__ import annotations

from .base import zero_shot_options
from .image_base import ImagePipeline

TEXT_KEYS = ("input_ids", "attention_mask")


class ZeroShotImageClassificationPipeline(ImagePipeline):
    task = "zero-shot-image-classification"
    needs_tokenizer = True

    def _sanitize_parameters(self, candidate_labels=None, hypothesis_template=None, timeout=None,
                             tokenizer_kwargs=None):
        pre = zero_shot_options(candidate_labels, hypothesis_template, ("cat", "dog"), "This is a photo of {}.")
        for key, value in (("timeout", timeout), ("tokenizer_kwargs", tokenizer_kwargs)):
            if value is not None:
                pre[key] = value
        return pre, {}, {}

    def _check_parameters(self, pre: dict, fwd: dict, post: dict) -> None:
        if "candidate_labels" not in pre:
            raise ValueError("The zero-shot-image-classification pipeline needs candidate_labels=[...] (the labels "
                             "to choose from), given to the call or to pipeline().")

    def __call__(self, image=None, candidate_labels=None, **kwargs):
        if "images" in kwargs:
            image = kwargs.pop("images")
        if candidate_labels is not None:
            kwargs["candidate_labels"] = candidate_labels
        return super().__call__(image, **kwargs)

    def preprocess(self, image, candidate_labels=(), hypothesis_template="This is a photo of {}.", timeout=None,
                   tokenizer_kwargs=None):
        inputs = self.pixels(image, timeout)
        options = {"padding": True}
        if "siglip" in self.model.config.model_type:  # SigLIP was trained on texts padded to 64 tokens
            options.update(padding="max_length", max_length=64, truncation=True)
        options.update(tokenizer_kwargs or {})
        texts = self.tokenizer([hypothesis_template.format(label) for label in candidate_labels], return_tensors="pt",
                               **options)
        inputs.update({f"text_{key}": texts[key] for key in TEXT_KEYS if key in texts})  # (n_labels, T)
        yield inputs, candidate_labels

    def _collate(self, chunks: list) -> tuple:
        # the label texts are the call's, the same for every image: the batch keeps one copy of them
        texts = {key: value for key, value in chunks[0][2].items() if key.startswith("text_")}
        images = [(i, last, {k: v for k, v in x.items() if not k.startswith("text_")}, meta)
                  for i, last, x, meta in chunks]
        indices, lasts, batch, metas, lengths = super()._collate(images)
        return indices, lasts, {**batch, **texts}, metas, lengths

    def _forward(self, model_inputs: dict) -> dict:
        texts = {key.removeprefix("text_"): model_inputs.pop(key) for key in list(model_inputs) if key.startswith("text_")}
        return {"logits": self.model(**model_inputs, **texts).logits_per_image}  # (B, n_labels)

    def postprocess(self, chunks):
        (outputs, labels), = chunks
        logits = outputs["logits"][0].float()  # (n_labels,)
        scores = logits.sigmoid() if "siglip" in self.model.config.model_type else logits.softmax(-1)
        ranked = sorted(zip(scores.tolist(), labels), key=lambda pair: -pair[0])
        return [{"score": score, "label": label} for score, label in ranked]
