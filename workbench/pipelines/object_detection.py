"""``object-detection``: the objects a detector (DETR) finds in an image, with their boxes.

    image ─► image processor ─► pixel_values (1, 3, H, W), pixel_mask (1, H, W)
          ─► model ─► logits (1, queries, labels + 1), pred_boxes (1, queries, 4) as (cx, cy, w, h) in [0, 1]
          ─► image processor's post_process_object_detection(threshold, the image's own (height, width))
          ─► [{"score": ..., "label": config.id2label[i], "box": {"xmin", "ymin", "xmax", "ymax"}}, ...]

>>> detector = pipeline("object-detection", model="facebook/detr-resnet-50")     # doctest: +SKIP
>>> detector("cats.png", threshold=0.9)                                        # doctest: +SKIP
[{'score': 0.998, 'label': 'cat', 'box': {'xmin': 13, 'ymin': 52, 'xmax': 314, 'ymax': 470}}, ...]

As the reference (5.23): ``threshold`` defaults to 0.5 (a query is kept when its best class, "no
object" left out, scores above it); box corners are pixels of the original image, truncated to ints;
detections come in query order. One image gives a list of dicts, a list of images a list of such lists.

Batching changes no answer. DETR's processor resizes each image to its own size, so a batch is
padded at the bottom and right to its largest image (``pixel_mask`` 0 there) to travel as one
tensor; but the model runs once per group of images of one size, each cropped back to it. Padding
would change the answer: the model masks padding in attention and positions, yet its backbone's
convolutions and the feature maps' edges see it (on a tiny random DETR, padding an image from 64x64
to 64x96 moves its logits by 0.1, in the reference's model as in ours). The reference's pipeline
cannot batch images of different sizes at all.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from .image_base import ImagePipeline
from .image_inputs import load_image
from .image_sizes import original_size

IMAGE_KEYS = ("pixel_values", "pixel_mask")  # (1, C, H, W) and (1, H, W): padded at the bottom and right


class ObjectDetectionPipeline(ImagePipeline):
    task = "object-detection"

    def __init__(self, model, tokenizer=None, **kwargs) -> None:
        if not hasattr(model.config, "num_queries"):
            raise ValueError(f"The object-detection pipeline runs set-prediction detectors (DETR: "
                             f"...ForObjectDetection with logits and pred_boxes); {type(model).__name__} is not one. "
                             "Load the checkpoint with AutoModelForObjectDetection.")
        super().__init__(model, tokenizer, **kwargs)

    def _sanitize_parameters(self, threshold=None, timeout=None):
        post = {}
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
                raise ValueError(f"threshold must be a number (a score between 0 and 1), got {threshold!r}.")
            post["threshold"] = float(threshold)
        return ({"timeout": timeout} if timeout is not None else {}), {}, post

    def __call__(self, inputs=None, **kwargs):
        return super().__call__(kwargs.pop("images") if "images" in kwargs else inputs, **kwargs)

    def preprocess(self, image, timeout=None):
        image = load_image(image, timeout)
        yield self.pixels(image), original_size(image)

    def _collate(self, chunks: list) -> tuple:
        """Pad each image (and its mask) at the bottom and right to the batch's largest, then stack; each
        image's own size travels as ``processed_size`` (B, 2)."""
        height = max(chunk[2]["pixel_values"].shape[-2] for chunk in chunks)
        width = max(chunk[2]["pixel_values"].shape[-1] for chunk in chunks)
        padded = []
        for index, last, inputs, meta in chunks:
            inputs = dict(inputs, processed_size=torch.tensor([inputs["pixel_values"].shape[-2:]]))  # (1, 2)
            if "pixel_mask" not in inputs:  # a processor that does not pad: the whole image is real
                inputs["pixel_mask"] = torch.ones(inputs["pixel_values"].shape[-2:], dtype=torch.long)[None]
            for key in IMAGE_KEYS:
                value = inputs[key]
                inputs[key] = torch.nn.functional.pad(value, (0, width - value.shape[-1], 0, height - value.shape[-2]))
            padded.append((index, last, inputs, meta))
        return super()._collate(padded)

    def _forward(self, model_inputs: dict) -> dict:
        """The model on each group of same-size images, the batch's padding cropped off (see the module
        docstring); what the processor itself padded (``pad_size``) stays, as when the image runs alone."""
        pixels, mask = model_inputs["pixel_values"], model_inputs["pixel_mask"]  # (B, C, H, W), (B, H, W)
        sizes = [tuple(size) for size in model_inputs["processed_size"].tolist()]  # each image's (H, W) unbatched
        logits = boxes = None
        for size in dict.fromkeys(sizes):
            rows = torch.tensor([i for i, other in enumerate(sizes) if other == size], device=pixels.device)
            height, width = size
            out = self.model(pixel_values=pixels[rows, :, :height, :width], pixel_mask=mask[rows, :height, :width])
            if logits is None:
                logits = out.logits.new_empty((len(sizes), *out.logits.shape[1:]))
                boxes = out.pred_boxes.new_empty((len(sizes), *out.pred_boxes.shape[1:]))
            logits[rows], boxes[rows] = out.logits, out.pred_boxes
        return {"logits": logits, "pred_boxes": boxes}

    def postprocess(self, chunks, threshold: float = 0.5):
        (outputs, size), = chunks
        predictions = SimpleNamespace(logits=outputs["logits"].float(), pred_boxes=outputs["pred_boxes"].float())
        found = self.image_processor.post_process_object_detection(predictions, threshold, [size])[0]
        names = self.model.config.id2label
        return [{"score": score, "label": names.get(label, f"LABEL_{label}"), "box": _box(box)}
                for score, label, box in zip(found["scores"].tolist(), found["labels"].tolist(), found["boxes"])]


def _box(box: torch.Tensor) -> dict[str, int]:
    """(x0, y0, x1, y1) in pixels -> the reference's dict of ints (truncated toward zero, as ``.int()``)."""
    xmin, ymin, xmax, ymax = box.int().tolist()
    return {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}
