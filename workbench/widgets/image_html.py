"""The image processor inspector's pictures and HTML: each step's tensor as a PNG thumbnail
(Pillow, inline as a data URI: no external assets), a card per step, and the model's top classes as
a bar list. Every colour in the rules below is a theme variable (:mod:`workbench.theme`); the only
literal colour is the patch grid drawn into its thumbnail's pixels.

A tensor becomes a picture in the units it holds: integers as 0-255 pixel values, a rescaled float
image divided by ``rescale_factor``, a normalized one de-normalized first (``x * std + mean``, the
inverse of the processor's step) - :func:`display_pixels` - and then clipped to 0-255.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from html import escape

import numpy as np
import torch

THUMBNAIL = 144  # px, the long side of a step's picture
PATCH_THUMBNAIL = 224  # px, the long side of the patch grid's picture (a grid wants room)
MAX_UPSCALE = 8  # a tiny image is enlarged at most this much (nearest neighbour: pixels stay square)
MIN_CELL = 5  # px: a patch grid finer than this on screen is described, not drawn
GRID_RGBA = (255, 214, 0, 190)  # the patch grid's lines: amber, visible on photos in either theme

STYLE = """
.wb-imgp{font-family:system-ui,sans-serif;font-size:12px;line-height:1.35}
.wb-imgp .head{margin:2px 0 6px 0}
.wb-imgp ol.steps{display:flex;flex-wrap:wrap;gap:8px;list-style:none;margin:0;padding:0;align-items:stretch}
.wb-imgp li.step{width:172px;padding:6px;border:1px solid var(--wb-border);border-radius:6px;
 background:var(--wb-bg-alt);color:var(--wb-fg)}
.wb-imgp li.step.wide{width:252px}
.wb-imgp li.step .title{font-weight:600;margin-bottom:4px}
.wb-imgp li.step .title .arrow{color:var(--wb-fg-muted);font-weight:400}
.wb-imgp li.step .pic{height:148px;display:flex;align-items:center;justify-content:center}
.wb-imgp li.step.wide .pic{height:228px}
.wb-imgp li.step img{max-width:100%;image-rendering:pixelated;border:1px solid var(--wb-border)}
.wb-imgp dl{display:grid;grid-template-columns:auto 1fr;gap:0 6px;margin:4px 0 0 0}
.wb-imgp dt{margin:0;padding:0;font-weight:400;color:var(--wb-fg-muted)}
.wb-imgp dd{margin:0;padding:0;font-family:monospace;overflow-wrap:anywhere}
.wb-imgp .rule{margin-top:4px;overflow-wrap:anywhere}
.wb-imgp .note{margin-top:4px;color:var(--wb-fg-muted);font-style:italic}
.wb-imgp .classes{margin-top:10px;max-width:560px;color:var(--wb-fg)}
.wb-imgp ol.bars{list-style:none;margin:4px 0 0 0;padding:0}
.wb-imgp ol.bars li{display:grid;grid-template-columns:minmax(120px,200px) 1fr 56px;gap:8px;align-items:center;
 margin:2px 0}
.wb-imgp ol.bars .label{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.wb-imgp ol.bars .track{height:12px;background:var(--wb-bg-alt);border:1px solid var(--wb-border);border-radius:3px}
.wb-imgp ol.bars .fill{display:block;height:100%;background:var(--wb-accent);border-radius:2px}
.wb-imgp ol.bars .pct{font-family:monospace;text-align:right}
.wb-imgp .err{color:var(--wb-error-fg)}
"""


@dataclass
class StepView:
    """One card of the inspector: a step's name and title, its tensor's shape, dtype and value range,
    the rule it applied, a note on how it is drawn, and its picture (PNG bytes)."""

    name: str
    title: str
    shape: tuple
    dtype: str
    low: float
    high: float
    rule: str = ""
    note: str = ""
    tensor: torch.Tensor | None = field(default=None, repr=False)  # (C, H, W), None for a picture given as is
    png: bytes = field(default=b"", repr=False)


@dataclass
class ClassScore:
    index: int
    label: str
    probability: float


def display_pixels(tensor: torch.Tensor, scale: float = 1.0, mean=None, std=None) -> np.ndarray:
    """(C, H, W) -> (H, W, 3 or 4) uint8 to draw: ``x * std + mean`` when given (undoing normalize),
    then ``/ scale`` (undoing the rescale, ``scale`` = rescale_factor), clipped to 0-255."""
    values = tensor.detach().to("cpu", torch.float32)
    if mean is not None and std is not None:
        channels = values.shape[0]
        mean = torch.tensor(mean, dtype=torch.float32).reshape(-1, 1, 1).expand(channels, 1, 1)
        std = torch.tensor(std, dtype=torch.float32).reshape(-1, 1, 1).expand(channels, 1, 1)
        values = values * std + mean
    values = (values / scale).round().clamp(0, 255).to(torch.uint8)
    if values.shape[0] == 1 or values.shape[0] not in (3, 4):
        values = values[:1].expand(3, *values.shape[1:])  # gray (or a first channel of many) as gray
    return values.permute(1, 2, 0).contiguous().numpy()


def thumbnail_png(pixels: np.ndarray, long_side: int = THUMBNAIL, patch: tuple[int, int] | None = None) -> bytes:
    """PNG bytes of (H, W, 3|4) uint8 pixels scaled to ``long_side`` (a small image enlarged at most
    MAX_UPSCALE times, nearest neighbour), with a grid of ``patch`` = (height, width) pixel cells drawn
    over it when the cells come out at least MIN_CELL px."""
    from PIL import Image, ImageDraw

    height, width = pixels.shape[:2]
    scale = min(long_side / max(height, width), MAX_UPSCALE)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    picture = Image.fromarray(pixels)
    if size != (width, height):
        picture = picture.resize(size, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.BICUBIC)
    if patch is not None and min(patch[0], patch[1]) * scale >= MIN_CELL:
        overlay = Image.new("RGBA", picture.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        rows, columns = height // patch[0], width // patch[1]
        for row in range(rows + 1):
            y = min(round(row * patch[0] * scale), size[1] - 1)
            draw.line([(0, y), (round(columns * patch[1] * scale), y)], fill=GRID_RGBA, width=1)
        for column in range(columns + 1):
            x = min(round(column * patch[1] * scale), size[0] - 1)
            draw.line([(x, 0), (x, round(rows * patch[0] * scale))], fill=GRID_RGBA, width=1)
        picture = Image.alpha_composite(picture.convert("RGBA"), overlay)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() and abs(value) < 1e6 else f"{value:.4g}"


def step_html(position: int, step: StepView) -> str:
    data = base64.b64encode(step.png).decode("ascii")
    alt = f"the image after {step.title}" if step.name != "input" else "the image as given"
    wide = " wide" if step.name == "patches" else ""
    arrow = '<span class="arrow" aria-hidden="true">&#8594; </span>' if position > 1 else ""
    rows = (("shape", "(" + ", ".join(str(n) for n in step.shape) + ")"), ("dtype", step.dtype),
            ("range", f"{number(step.low)} .. {number(step.high)}"))
    details = "".join(f"<dt>{name}</dt><dd>{escape(value)}</dd>" for name, value in rows)
    rule = f'<div class="rule">{escape(step.rule)}</div>' if step.rule else ""
    note = f'<div class="note">{escape(step.note)}</div>' if step.note else ""
    picture = f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}"/>' if step.png else ""
    return (f'<li class="step{wide}" data-step="{escape(step.name)}"><div class="title">{arrow}{position}. '
            f'{escape(step.title)}</div><div class="pic">{picture}</div><dl>{details}</dl>{rule}{note}</li>')


def steps_html(steps: list[StepView]) -> str:
    cards = "".join(step_html(position, step) for position, step in enumerate(steps, 1))
    return f'<ol class="steps" aria-label="the processor\'s steps, in order">{cards}</ol>'


def classes_html(scores: list[ClassScore], model_name: str) -> str:
    rows = "".join(
        f'<li aria-label="{escape(score.label)}: {100 * score.probability:.1f}%"><span class="label" '
        f'title="class {score.index}">{escape(score.label)}</span><span class="track" aria-hidden="true"><span '
        f'class="fill" style="width:{100 * score.probability:.1f}%"></span></span><span class="pct">'
        f'{100 * score.probability:.1f}%</span></li>' for score in scores)
    return (f'<div class="classes"><b>top {len(scores)} classes</b> of {escape(model_name)} '
            f'(softmax over the logits)<ol class="bars">{rows}</ol></div>')
