"""Processors of the image-text families: an image processor and a tokenizer as one object.

    processor(images=image, text=["a cat", "a dog"], padding=True, return_tensors="pt")
        images ─► image processor ─► pixel_values
        text   ─► tokenizer       ─► input_ids, attention_mask
    processor.batch_decode(generated_ids)  ─► the tokenizer's

Keywords go to the part that takes them (``padding`` to the tokenizer, ``size`` to the image
processor, ``return_tensors`` to both); ``images_kwargs={...}`` / ``text_kwargs={...}`` reach one part.
"""

from __future__ import annotations

from typing import Any

from .base import BatchFeature
from .processor import ProcessorMixin


class ImageTextProcessor(ProcessorMixin):
    """The shared call of the image-text processors: images first, as transformers 5 orders them."""

    attributes = ("image_processor", "tokenizer")
    unused_input_names: tuple[str, ...] = ()  # tokenizer outputs the model does not take

    def __call__(self, images: Any = None, text: Any = None, **kwargs: Any) -> BatchFeature:
        """``pixel_values`` for the images and the tokenizer's outputs for the text, in one ``BatchFeature``."""
        routed = self.route_kwargs({"text": text, "images": images}, kwargs)
        merged = BatchFeature()
        if text is not None:
            merged.update(self.tokenizer(text, **self.text_defaults(routed["tokenizer"])))
        if images is not None:
            merged.update(self.image_processor(images, **routed["image_processor"]))
        for name in self.unused_input_names:
            merged.pop(name, None)
        return merged

    def text_defaults(self, options: dict[str, Any]) -> dict[str, Any]:
        return options


class CLIPProcessor(ImageTextProcessor):
    """CLIP's image processor and tokenizer.

    >>> processor = CLIPProcessor.from_pretrained("openai/clip-vit-base-patch32")  # doctest: +SKIP
    >>> batch = processor(images=image, text=["a cat", "a rocket"], padding=True, return_tensors="pt")  # doctest: +SKIP
    """

    takes_chat_template = False


class SiglipProcessor(ImageTextProcessor):
    """SigLIP's image processor and tokenizer (SigLIP was trained on text padded to 64 tokens: pass
    ``padding="max_length"`` for the scores it was trained to give)."""

    takes_chat_template = False


class BlipProcessor(ImageTextProcessor):
    """BLIP's image processor and BERT tokenizer, without ``token_type_ids`` (the model takes none)."""

    takes_chat_template = False
    unused_input_names = ("token_type_ids",)

    def text_defaults(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"return_token_type_ids": False, **options}
