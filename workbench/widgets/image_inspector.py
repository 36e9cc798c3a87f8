"""``ImageProcessorInspector``: see what an image processor did. An image goes through each step
the processor's config turns on, in order - as given, RGB conversion, resize (with the size rule it
applied), center crop, rescale, normalize, and for patch models the patch grid - each with its shape,
dtype, value range and a picture; given a classifier, its top classes as a bar list.

>>> from workbench import AutoImageProcessor, AutoModelForImageClassification
>>> from workbench.widgets import ImageProcessorInspector
>>> ImageProcessorInspector(AutoImageProcessor.from_pretrained(folder), "cat.jpg")            # doctest: +SKIP
>>> ImageProcessorInspector(processor, pil_image, model=AutoModelForImageClassification.from_pretrained(folder))  # doctest: +SKIP
>>> ImageProcessorInspector(processor, array, size={"shortest_edge": 160})  # a setting overridden  # doctest: +SKIP

The steps are the processor's own: the inspector calls ``processor(image, trace=[...])``, and each
step method records its result (workbench/processing/image_steps.py), so the last step's tensor is
``processor(image)["pixel_values"][0]``. State, for code and tests: ``.steps`` (one
:class:`~workbench.widgets.image_html.StepView` each), ``.pixel_values`` (1, C, H, W), ``.top_classes``,
``.patch_size``, ``.image`` (settable), ``.error`` (a bad image uploaded in the live view).
"""

from __future__ import annotations

import io
import os
from html import escape

import numpy as np
import torch

from ..processing.image_inputs import is_pil_image
from ..theme import VIEW_CSS
from ._display import Displayable, import_ipywidgets
from .image_html import (
    MAX_UPSCALE,
    MIN_CELL,
    PATCH_THUMBNAIL,
    STYLE,
    ClassScore,
    StepView,
    classes_html,
    display_pixels,
    steps_html,
    thumbnail_png,
)

TITLES = {"input": "input as given", "convert_rgb": "RGB conversion", "to_tensor": "as a (C, H, W) tensor",
          "resize": "resize", "center_crop": "center crop", "rescale": "rescale", "normalize": "normalize",
          "pad": "pad", "patches": "patch grid"}


def model_patch_size(model) -> tuple[int, int] | None:
    """(height, width) of the model's patches, from ``config.patch_size`` (or its vision_config's)."""
    config = getattr(model, "config", None)
    for part in (config, getattr(config, "vision_config", None)):
        value = getattr(part, "patch_size", None)
        if value:
            return _pair(value)
    return None


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _one_image(image):
    """The single image of ``image`` (a one-item list is unwrapped); a batch is refused."""
    if isinstance(image, (list, tuple)):
        if len(image) != 1:
            raise ValueError(f"ImageProcessorInspector shows one image at a time, got a list of {len(image)}: pass "
                             "one image (images[0]).")
        return image[0]
    if isinstance(image, (np.ndarray, torch.Tensor)) and image.ndim == 4:
        if image.shape[0] != 1:
            raise ValueError(f"ImageProcessorInspector shows one image at a time, got a batch of shape "
                             f"{tuple(image.shape)}: pass one image (images[0]).")
        return image[0]
    return image


def _range(tensor: torch.Tensor) -> tuple[float, float]:
    values = tensor if tensor.is_floating_point() else tensor.to(torch.int64)
    return float(values.min()), float(values.max())


def _dtype(value) -> str:
    return str(value.dtype).replace("torch.", "")


class ImageProcessorInspector(Displayable):
    """An image through ``processor`` step by step (``**overrides`` are passed to the call, as
    ``size=``); ``model=`` adds the patch grid (``config.patch_size``) and the top ``top_k`` classes of
    an image classifier; ``patch_size=`` draws a grid without a model (``False``: none). ``processor``
    may be a processor holding an ``image_processor`` (CLIPProcessor). Errors in the image or the
    settings are the processor's, raised here; in the live view an uploaded image's error is shown."""

    def __init__(self, processor, image, model=None, top_k: int = 5, patch_size=None, **overrides) -> None:
        self.processor = getattr(processor, "image_processor", processor)
        self.model = model
        self.top_k = top_k
        self._patch_size = patch_size
        self.overrides = overrides
        self.error: str | None = None
        self.steps: list[StepView] = []
        self.top_classes: list[ClassScore] = []
        self.pixel_values: torch.Tensor | None = None
        self._scale = 1.0  # what the last step's values are in units of (rescale_factor after the rescale)
        self._image = image
        self._build_widget()
        self.refresh()

    # --- state ---------------------------------------------------------------------------------

    @property
    def image(self):
        return self._image

    @image.setter
    def image(self, value) -> None:
        """Inspect another image; on an error (raised) the view keeps the last image."""
        previous, self._image = self._image, value
        try:
            self.refresh()
        except Exception:
            self._image = previous
            raise

    @property
    def patch_size(self) -> tuple[int, int] | None:
        """The patch grid's (height, width): ``patch_size=`` if given, else the model config's."""
        if self._patch_size is False:
            return None
        if self._patch_size is not None:
            return _pair(self._patch_size)
        return model_patch_size(self.model) if self.model is not None else None

    @property
    def step_names(self) -> list[str]:
        return [step.name for step in self.steps]

    def refresh(self) -> None:
        """Run the processor (and the model) on the image again and redraw; errors propagate."""
        image = _one_image(self._image)
        trace: list = []
        output = self.processor(image, trace=trace, return_tensors="pt", **self.overrides)
        self.pixel_values = output["pixel_values"]
        options = self.processor.call_options(dict(self.overrides))
        self.steps = [self._input_step(image, trace)] + self._traced_steps(trace, options)
        if not torch.equal(trace[-1].image, self.pixel_values[0]):  # a family step that records nothing
            self.steps.append(self._step("output", "pixel_values", self.pixel_values[0], options, options["do_normalize"],
                                         rule="steps the trace did not record came after the last one shown"))
        if self.patch_size is not None:
            self.steps.append(self._patch_step(options))
        self.top_classes = self._classify() if self.model is not None else []
        self.error = None
        self._redraw()

    def _redraw(self) -> None:
        self.output.value = self._body()
        self.refresh_saved_view()

    # --- steps ---------------------------------------------------------------------------------

    def _input_step(self, image, trace) -> StepView:
        first = trace[0].image  # (C, H, W) as the processor read it
        if is_pil_image(image):
            array = np.asarray(image)
            pixels = np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB"))
            return StepView("input", TITLES["input"], array.shape, str(array.dtype), float(array.min()),
                            float(array.max()), rule=f"PIL image, mode {image.mode}, {image.size[0]}x{image.size[1]} "
                            "(width x height)", png=thumbnail_png(pixels))
        if isinstance(image, (str, os.PathLike)):
            low, high = _range(first)
            return StepView("input", TITLES["input"], tuple(first.shape), _dtype(first), low, high,
                            rule=f"file {os.path.basename(os.fspath(image))}, decoded as RGB by the processor",
                            png=thumbnail_png(display_pixels(first)))
        tensor = torch.as_tensor(image)
        low, high = _range(tensor)
        kind = "numpy array" if isinstance(image, np.ndarray) else "torch tensor"
        scale = 1 / 255 if tensor.is_floating_point() and high <= 1 else 1.0  # a float image in [0, 1]
        return StepView("input", TITLES["input"], tuple(tensor.shape), _dtype(image), low, high, rule=kind,
                        png=thumbnail_png(display_pixels(first, scale)))

    def _traced_steps(self, trace, options) -> list[StepView]:
        """A card per recorded step, each drawn in the units it holds: pixel values until the
        rescale (a float input in [0, 1] as such), rescaled after it, de-normalized after normalize."""
        steps, normalized = [], False
        first = trace[0].image
        pixel_unit = 1 / 255 if first.is_floating_point() and float(first.max()) <= 1 else 1.0  # a float image in [0, 1]
        scale = pixel_unit
        for record in trace:
            if record.name in ("rescale", "normalize") and options["do_rescale"]:
                scale = pixel_unit * options["rescale_factor"]
            normalized = normalized or record.name == "normalize"
            note = ("Shown only: the processor folds the rescale into normalize; these values are exactly x * factor."
                    if record.shown_only else "")
            steps.append(self._step(record.name, TITLES.get(record.name, record.name.replace("_", " ")), record.image,
                                    options, normalized, record.rule, note, scale=scale))
        self._scale = scale
        return steps

    def _step(self, name, title, tensor, options, normalized=False, rule="", note="", png=None,
              scale=None) -> StepView:
        low, high = _range(tensor)
        scale = self._scale if scale is None else scale
        mean, std = (options["image_mean"], options["image_std"]) if normalized else (None, None)
        if normalized:
            note = (note + " " if note else "") + "Shown de-normalized (x * std + mean)."
        if png is None:
            png = thumbnail_png(display_pixels(tensor, scale, mean, std))
        return StepView(name, title, tuple(tensor.shape), _dtype(tensor), low, high, rule, note, tensor, png)

    def _patch_step(self, options) -> StepView:
        patch = self.patch_size
        tensor = self.pixel_values[0]
        height, width = tensor.shape[-2:]
        rows, columns = height // patch[0], width // patch[1]
        source = ("given as patch_size=" if self._patch_size is not None
                  else f"{type(self.model).__name__}'s config.patch_size")
        rule = f"{patch[0]}x{patch[1]} patches ({source}): {rows}x{columns} = {rows * columns} patches"
        if height % patch[0] or width % patch[1]:
            rule += f"; the last {height % patch[0]} rows / {width % patch[1]} columns of pixels fall outside the grid"
        normalized = options["do_normalize"]
        pixels = display_pixels(tensor, self._scale, *((options["image_mean"], options["image_std"]) if normalized
                                                       else (None, None)))
        png = thumbnail_png(pixels, PATCH_THUMBNAIL, patch)
        on_screen = min(patch) * min(PATCH_THUMBNAIL / max(height, width), MAX_UPSCALE)
        note = f"Too fine to draw ({on_screen:.1f} px a cell on screen)." if on_screen < MIN_CELL else ""
        return self._step("patches", TITLES["patches"], tensor, options, normalized, rule, note, png)

    def _classify(self) -> list[ClassScore]:
        parameter = next(self.model.parameters(), None)
        pixels = self.pixel_values
        if parameter is not None:
            pixels = pixels.to(parameter.device, parameter.dtype if parameter.is_floating_point() else pixels.dtype)
        with torch.no_grad():
            logits = getattr(self.model(pixel_values=pixels), "logits", None)
        if logits is None or logits.ndim != 2:  # a base model or an image-text model: no classes to rank
            return []
        probabilities = logits[0].float().softmax(-1)
        top = probabilities.topk(min(self.top_k, probabilities.numel()))
        labels = getattr(self.model.config, "id2label", None) or {}
        return [ClassScore(index, str(labels.get(index, labels.get(str(index), f"class {index}"))), float(p))
                for p, index in zip(top.values.tolist(), top.indices.tolist())]

    # --- widget --------------------------------------------------------------------------------

    def _build_widget(self) -> None:
        widgets = import_ipywidgets()
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="another image")
        self.output = widgets.HTML()
        self.upload.observe(self._on_upload, names="value")
        self.widget = widgets.VBox([self.upload, self.output])

    def _on_upload(self, change) -> None:
        files = change["new"]
        if not files:
            return
        from PIL import Image

        try:
            self.image = Image.open(io.BytesIO(bytes(files[0]["content"])))
        except Exception as error:  # shown in the view: a bad upload should not kill it
            self.error = f"{files[0].get('name', 'the upload')}: {type(error).__name__}: {error}"
            self._redraw()

    # --- views ---------------------------------------------------------------------------------

    def _model_name(self) -> str:
        config = getattr(self.model, "config", None)
        path = getattr(config, "name_or_path", "") or getattr(config, "_name_or_path", "")
        return os.path.basename(str(path).rstrip("/\\")) or type(self.model).__name__

    def _body(self) -> str:
        parts = []
        if self.error:
            parts.append(f'<div class="err" role="alert">{escape(self.error)}</div>')
        shape = tuple(self.pixel_values.shape) if self.pixel_values is not None else ()
        parts.append(f'<div class="head"><b>{escape(type(self.processor).__name__)}</b>: {len(self.steps)} steps; '
                     f'pixel_values {escape(str(shape))} {escape(_dtype(self.pixel_values)) if shape else ""}</div>')
        parts.append(steps_html(self.steps))
        if self.top_classes:
            parts.append(classes_html(self.top_classes, self._model_name()))
        elif self.model is not None:
            parts.append(f'<div class="classes note">{escape(self._model_name())} returns no class logits (a base '
                         'or image-text model): no classes to rank.</div>')
        return f'<div class="wb-view wb-imgp"><style>{VIEW_CSS}{STYLE}</style>{"".join(parts)}</div>'

    def to_html(self) -> str:
        """The static view: every step's card and the top classes, pictures inline."""
        return self._body()

    def to_text(self) -> str:
        lines = [f"ImageProcessorInspector({type(self.processor).__name__}): {len(self.steps)} steps"]
        for position, step in enumerate(self.steps, 1):
            lines.append(f"{position}. {step.title}: {step.shape} {step.dtype} [{step.low:.4g}, {step.high:.4g}]"
                         + (f" - {step.rule}" if step.rule else ""))
        if self.top_classes:
            lines.append("top classes: " + ", ".join(f"{c.label} {c.probability:.3f}" for c in self.top_classes))
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)
