"""``image-segmentation``: which class each pixel of an image shows (semantic segmentation).

    image ─► image processor ─► pixel_values (1, 3, H, W) ─► model ─► logits (1, labels, h, w)
          ─► image processor's post_process_semantic_segmentation (logits resized to the image, argmax)
          ─► per class present, in id order: {"score": None, "label": config.id2label[i],
                                              "mask": PIL "L" image, 255 where the pixel is of that class}

>>> segmenter = pipeline("image-segmentation", model="nvidia/segformer-b0-finetuned-ade-512-512")  # doctest: +SKIP
>>> [segment["label"] for segment in segmenter("street.png")]                                       # doctest: +SKIP
['wall', 'building', 'sky', 'floor', 'tree', ...]

As the reference (5.23) does for semantic models (SegFormer, MobileNetV2 with DeepLabV3): masks
have the original image's size, a semantic segment has no score, and ``subtask`` may be
``"semantic"`` or left out; ``threshold``, ``mask_threshold`` and ``overlap_mask_area_threshold``
are taken and, as there, unused by semantic models. Panoptic and instance segmentation (DETR's
``DetrForSegmentation``, Mask2Former...) are not served: such a model or subtask raises, naming
what is.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .image_base import ImagePipeline
from .image_inputs import load_image
from .image_sizes import original_size

SUBTASKS = ("semantic",)
UNSERVED = ("panoptic", "instance")  # the reference's other subtasks, which need mask-classification models


class ImageSegmentationPipeline(ImagePipeline):
    task = "image-segmentation"

    def __init__(self, model, tokenizer=None, **kwargs) -> None:
        name = type(model).__name__
        if not name.endswith("ForSemanticSegmentation"):
            raise ValueError(f"workbench's image-segmentation pipeline serves semantic segmentation models "
                             f"(...ForSemanticSegmentation: SegFormer, MobileNetV2); {name} is not one. Panoptic and "
                             "instance segmentation (DetrForSegmentation) are not supported: run the model and its "
                             "image processor directly, or use a semantic segmentation checkpoint.")
        super().__init__(model, tokenizer, **kwargs)

    def _sanitize_parameters(self, subtask=None, threshold=None, mask_threshold=None, overlap_mask_area_threshold=None,
                             timeout=None):
        if subtask is not None and subtask not in SUBTASKS:
            why = " (workbench serves semantic segmentation only)" if subtask in UNSERVED else ""
            raise ValueError(f"subtask={subtask!r} is not supported{why}: use subtask='semantic' or leave it out.")
        for name, value in (("threshold", threshold), ("mask_threshold", mask_threshold),
                            ("overlap_mask_area_threshold", overlap_mask_area_threshold)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}.")
        return ({"timeout": timeout} if timeout is not None else {}), {}, {}

    def __call__(self, inputs=None, **kwargs):
        return super().__call__(kwargs.pop("images") if "images" in kwargs else inputs, **kwargs)

    def preprocess(self, image, timeout=None):
        image = load_image(image, timeout)
        yield self.pixels(image), original_size(image)

    def _forward(self, model_inputs: dict) -> dict:
        return {"logits": self.model(pixel_values=model_inputs["pixel_values"]).logits}

    def postprocess(self, chunks):
        (outputs, size), = chunks
        segmentation = self.image_processor.post_process_semantic_segmentation(
            SimpleNamespace(logits=outputs["logits"].float()), target_sizes=[size])[0].numpy()  # (H, W) class ids
        from PIL import Image

        names = self.model.config.id2label
        return [{"score": None, "label": names.get(int(label), f"LABEL_{label}"),
                 "mask": Image.fromarray(((segmentation == label) * 255).astype(np.uint8))}
                for label in np.unique(segmentation)]

