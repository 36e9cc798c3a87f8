"""What the vision pipelines share: an image processor beside the model (and the tokenizer, for the
tasks that read text too), image inputs checked and loaded (image_inputs.py), and batches built by
stacking each image's ``pixel_values`` (1, C, H, W) and padding token inputs (1, T) to the longest.

    image ─► load_image ─► image processor ─► pixel_values (1, C, H, W), in the model's dtype
    a batch: pixel_values stacked (B, C, H, W); input_ids / attention_mask padded on the right
"""

from __future__ import annotations

from typing import Any

import torch

from ..atomic_folder import staged_save
from .base import Pipeline, _is_collection, _length, _pad
from .image_inputs import check_image_input, is_image_input, load_image


class ImagePipeline(Pipeline):
    """Base class of the pipelines whose inputs are images; ``image_processor`` is required.

    A single image (path, URL, PIL image, array, tensor, ``{"image": ...}``) gives a single answer;
    a list, a ``datasets`` Dataset or column, a :class:`KeyDataset` or a generator gives one per image.
    """

    sequence_outputs = ()  # per-image outputs: nothing is cut after a padded batch
    needs_tokenizer = False

    def __init__(self, model, tokenizer=None, *, image_processor=None, **kwargs: Any) -> None:
        task = kwargs.get("task") or self.task
        if image_processor is None:
            raise ValueError(f"The {task} pipeline needs an image processor: pass image_processor= (an instance, or a "
                             "folder with preprocessor_config.json) or processor=.")
        if self.needs_tokenizer and tokenizer is None:
            raise ValueError(f"The {task} pipeline reads text too and needs the model's tokenizer: pass tokenizer= "
                             "or processor=.")
        self.image_processor = image_processor
        super().__init__(model, tokenizer, **kwargs)

    def check_input(self, item) -> None:
        check_image_input(item, self.task)

    def _is_batch(self, inputs) -> bool:
        return not is_image_input(inputs) and _is_collection(inputs)

    def pixels(self, image, timeout: float | None = None, **processor_kwargs) -> dict[str, torch.Tensor]:
        """The image processor's tensors for one image, floating ones in the model's dtype."""
        features = self.image_processor(images=load_image(image, timeout), return_tensors="pt", **processor_kwargs)
        return {key: value.to(self.model.dtype) if value.is_floating_point() else value
                for key, value in features.items() if isinstance(value, torch.Tensor)}

    def _collate(self, chunks: list) -> tuple:
        """Stack images (their processor gives every image one size); pad token inputs (1, T) to the longest."""
        indices, lasts, inputs, metas = zip(*chunks)
        batch = {}
        for key in inputs[0]:
            values = [x[key] for x in inputs]
            if values[0].dim() == 2:
                longest = max(value.shape[1] for value in values)
                values = [_pad(value, longest, self._pad_value(key), "right") for value in values]
            elif len({tuple(value.shape) for value in values}) > 1:
                raise ValueError(f"The image processor gave {key} of different shapes "
                                 f"{sorted({tuple(v.shape) for v in values})} within one batch: use batch_size=1, or a "
                                 "processor that resizes every image to one size.")
            batch[key] = torch.cat(values, dim=0)
        return indices, lasts, batch, metas, [_length(x) for x in inputs]

    def save_pretrained(self, folder: str) -> None:
        with staged_save(folder) as stage:  # one swap of the folder for the three parts
            super().save_pretrained(stage)
            self.image_processor.save_pretrained(stage)
