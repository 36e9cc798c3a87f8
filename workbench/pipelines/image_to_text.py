"""``image-to-text`` (captioning) and ``visual-question-answering``: text generated about an image.

    image (+ prompt) ─► image processor (+ tokenizer) ─► model.generate() ─► decode ─► [{"generated_text": ...}]
    image + question ─► image processor + tokenizer   ─► model.generate() ─► decode ─► [{"answer": ...}]

The reference library dropped both pipelines in 5.0 (``image-text-to-text`` took over); workbench
keeps their transformers 4.x behaviour:

* image-to-text: a captioning model (BLIP, a VisionEncoderDecoder such as ViT + GPT-2); ``prompt=``
  makes a BLIP caption continue that text (a VisionEncoderDecoder takes no prompt: an error says so).
  One image gives ``[{"generated_text": ...}]``, a list of images a list of those.
* visual-question-answering: ``pipe(image=..., question=...)`` (either may be a list: every image is
  asked every question, questions outer) or ``pipe({"image": ..., "question": ...})``; the answer is
  generated (BLIP), so ``top_k`` is accepted and has no effect, as in 4.x. Gives ``[{"answer": ...}]``.
* Generation: ``max_new_tokens=``, ``generate_kwargs={...}`` (not both holding max_new_tokens); when
  neither they nor the model's generation config set a length, ``max_new_tokens=256`` (4.x's default).
  Text is decoded with special tokens skipped, so a batched row's padding changes nothing.
"""

from __future__ import annotations

import os

from ..processing.image_inputs import is_pil_image
from .image_base import ImagePipeline
from .image_inputs import check_image_input

DEFAULT_MAX_NEW_TOKENS = 256


class _GeneratingImagePipeline(ImagePipeline):
    needs_tokenizer = True

    def _generate_kwargs(self, max_new_tokens=None, generate_kwargs=None) -> dict:
        kwargs = dict(generate_kwargs or {})
        if max_new_tokens is not None:
            if "max_new_tokens" in kwargs:
                raise ValueError("max_new_tokens is given twice, as an argument and inside generate_kwargs: keep one.")
            kwargs["max_new_tokens"] = max_new_tokens
        return kwargs

    def _with_defaults(self, kwargs: dict) -> dict:
        """This call's generate() arguments, with 4.x's length default where no one set a length."""
        config = getattr(self.model, "generation_config", None)
        own = {k: v for k, v in (config.to_diff_dict() if config is not None else {}).items() if v is not None}
        kwargs = dict(kwargs)
        lengths = ("max_new_tokens", "max_length")
        if "generation_config" not in kwargs and not any(k in kwargs or k in own for k in lengths):
            kwargs["max_new_tokens"] = DEFAULT_MAX_NEW_TOKENS
        return kwargs

    def _unbatch(self, outputs: dict, row: int, length, batch: dict) -> dict:
        return {"sequences": outputs["sequences"][row : row + 1]}  # (1, L): decoding skips the batch's padding

    def _decode(self, sequences) -> list[str]:
        return [self.tokenizer.decode(ids.tolist(), skip_special_tokens=True) for ids in sequences]


class ImageToTextPipeline(_GeneratingImagePipeline):
    """Caption images: ``pipe("cat.png")`` -> ``[{"generated_text": "a cat on a couch"}]`` (see the module docstring)."""

    task = "image-to-text"

    def _sanitize_parameters(self, max_new_tokens=None, generate_kwargs=None, prompt=None, timeout=None):
        pre = {}
        if prompt is not None:
            if not isinstance(prompt, str):
                raise ValueError(f"prompt must be a str, got {type(prompt).__name__}: {prompt!r:.60}")
            pre["prompt"] = prompt
        if timeout is not None:
            pre["timeout"] = timeout
        return pre, self._generate_kwargs(max_new_tokens, generate_kwargs), {}

    def __call__(self, inputs=None, **kwargs):
        return super().__call__(kwargs.pop("images") if "images" in kwargs else inputs, **kwargs)

    def preprocess(self, image, prompt=None, timeout=None):
        inputs = self.pixels(image, timeout)
        if prompt is not None:
            if self.model.config.model_type == "vision-encoder-decoder":
                raise ValueError("A vision-encoder-decoder model does not continue a prompt (it has no conditional "
                                 "generation): drop prompt=.")
            text = self.tokenizer(prompt, return_tensors="pt")
            inputs.update({key: text[key] for key in ("input_ids", "attention_mask") if key in text})
        yield inputs, None

    def _forward(self, model_inputs: dict, **generate_kwargs) -> dict:
        pixels = model_inputs.pop("pixel_values")
        return {"sequences": self.model.generate(pixels, **model_inputs, **self._with_defaults(generate_kwargs))}

    def postprocess(self, chunks):
        (outputs, _), = chunks
        return [{"generated_text": text} for text in self._decode(outputs["sequences"])]


class VisualQuestionAnsweringPipeline(_GeneratingImagePipeline):
    """Answer questions about images: ``pipe(image="cat.png", question="what animal is this?")`` ->
    ``[{"answer": "cat"}]`` (see the module docstring)."""

    task = "visual-question-answering"

    def _sanitize_parameters(self, top_k=None, padding=None, truncation=None, timeout=None, max_new_tokens=None,
                             generate_kwargs=None):
        pre = {k: v for k, v in (("padding", padding), ("truncation", truncation), ("timeout", timeout)) if v is not None}
        # top_k ranks a classifier's answers; a generated answer is one sequence, so 4.x ignores it here too
        return pre, self._generate_kwargs(max_new_tokens, generate_kwargs), {}

    def __call__(self, image=None, question=None, **kwargs):
        return super().__call__(_pairs(image, question), **kwargs)

    def _is_batch(self, inputs) -> bool:
        return not isinstance(inputs, dict) and super()._is_batch(inputs)

    def check_input(self, item) -> None:
        if not isinstance(item, dict) or "question" not in item or "image" not in item:
            raise ValueError("visual-question-answering takes image= and question=, or dicts {'image': ..., "
                             f"'question': ...}}; got {type(item).__name__}: {item!r:.60}")
        if not isinstance(item["question"], str):
            raise TypeError(f"A question must be a str, got {type(item['question']).__name__}: {item['question']!r:.60}")
        check_image_input(item["image"], self.task)

    def preprocess(self, item, padding=False, truncation=False, timeout=None):
        inputs = dict(self.tokenizer(item["question"], return_tensors="pt", padding=padding, truncation=truncation))
        inputs = {key: inputs[key] for key in ("input_ids", "attention_mask") if key in inputs}
        yield {**inputs, **self.pixels(item["image"], timeout)}, None

    def _forward(self, model_inputs: dict, **generate_kwargs) -> dict:
        if not getattr(self.model, "is_generative", False):
            raise NotImplementedError(f"{type(self.model).__name__} classifies answers (as ViLT does); workbench's "
                                      "visual-question-answering pipeline runs generative models (BLIP) only.")
        generate_kwargs = self._with_defaults(generate_kwargs)
        mask = model_inputs.get("attention_mask")
        if mask is None or bool(mask.all()):
            return {"sequences": self.model.generate(**model_inputs, **generate_kwargs)}
        # BLIP's answer decoder attends to every question position, padding included: rows whose questions
        # differ in length are answered apart, each unpadded, so batching changes no answer
        answers = [None] * mask.shape[0]
        for length in mask.sum(-1).unique().tolist():
            rows = (mask.sum(-1) == length).nonzero().flatten()
            group = {k: v[rows][:, :length] if v.dim() == 2 else v[rows] for k, v in model_inputs.items()}
            for row, ids in zip(rows.tolist(), self.model.generate(**group, **generate_kwargs)):
                answers[row] = ids
        return {"sequences": answers}

    def _unbatch(self, outputs: dict, row: int, length, batch: dict) -> dict:
        sequences = outputs["sequences"]
        return {"sequences": sequences[row : row + 1] if not isinstance(sequences, list) else [sequences[row]]}

    def postprocess(self, chunks):
        (outputs, _), = chunks
        return [{"answer": text.strip()} for text in self._decode(outputs["sequences"])]


def _pairs(image, question):
    """The items image= and question= make, as 4.x paired them (every image with every question)."""
    if question is None:
        return image  # dicts {"image", "question"}, a list or dataset of them
    single = isinstance(image, (str, os.PathLike)) or is_pil_image(image) or hasattr(image, "shape")
    images = [image] if single else image
    questions = [question] if isinstance(question, str) else list(question)
    pairs = [{"image": im, "question": q} for q in questions for im in images]
    return pairs[0] if single and isinstance(question, str) else pairs
