"""The attention view's HTML, shared by the live widget and the static fallback: the layers x heads
overview of thumbnails, and one head's matrix over the tokens.

Colours follow the theme (:mod:`workbench.theme`): a matrix cell's shade is ``--wb-accent`` mixed
with transparency in proportion to its weight; no cell holds text (its weight is in its
``aria-label`` and ``title``, and each row lists its heaviest keys as text beside it). Thumbnails
are tiny PNGs whose opacity is the weight, used as a CSS mask over ``--wb-accent`` (so they take the
theme's colour too), their pixels repeated to at least 30 so that scaling them up does not blur them.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib

import numpy as np

from ._display import esc
from .attention_maps import AttentionMap

KIND_NAMES = {"self": "self-attention", "encoder": "encoder self-attention",
              "decoder": "decoder self-attention", "cross": "cross-attention (decoder over encoder)"}
THUMB_RGB = (37, 110, 220)  # the PNGs' colour, and the cells' where color-mix is missing: 4.9:1 on white
TOKEN_CHARS = 14  # longer token labels are cut (the full text stays in the title)

STYLE = """
.wb-attn{font-family:system-ui,sans-serif;font-size:12px}
.wb-attn .muted{color:var(--wb-fg-muted)}
.wb-attn .cols{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.wb-attn table{border-collapse:collapse}
.wb-attn caption{caption-side:top;text-align:left;padding:2px 0;color:var(--wb-fg)}
.wb-attn table.heads th{font-weight:normal;padding:0 3px;text-align:right;white-space:nowrap}
.wb-attn table.heads td{position:relative;padding:2px}
.wb-attn .thumb{display:block;width:30px;height:30px;border:1px solid var(--wb-border);box-sizing:border-box}
.wb-attn .thumb span,.wb-attn .wb-attn-heads button::before{display:block;width:100%;height:100%;
  background:var(--wb-accent);-webkit-mask:var(--thumb) 0 0/100% 100%;mask:var(--thumb) 0 0/100% 100%}
.wb-attn table.heads td[aria-selected=true] .thumb{outline:3px solid var(--wb-accent);outline-offset:1px}
.wb-attn table.heads td:hover::after,.wb-attn table.heads td:focus::after{content:attr(data-detail);position:absolute;
  left:36px;top:0;z-index:2;white-space:nowrap;padding:2px 6px;background:var(--wb-bg);color:var(--wb-fg);
  border:1px solid var(--wb-border)}
.wb-attn .scroll{max-height:520px;overflow:auto}
.wb-attn table.matrix th{font-weight:normal;font-family:monospace;white-space:nowrap;padding:0 4px}
.wb-attn table.matrix thead th.key{vertical-align:bottom;height:90px;padding:0}
.wb-attn table.matrix thead th.key span{writing-mode:vertical-rl;transform:rotate(180deg);display:inline-block;
  max-height:90px;overflow:hidden}
.wb-attn table.matrix th.query{text-align:right}
.wb-attn table.matrix thead th.top{vertical-align:bottom;text-align:left}
.wb-attn table.matrix td.w{width:16px;min-width:16px;height:16px;padding:0;border:1px solid var(--wb-border)}
.wb-attn table.matrix td.masked{background:repeating-linear-gradient(45deg,transparent 0 3px,var(--wb-border) 3px 4px)}
.wb-attn table.matrix tr:hover th.query,.wb-attn table.matrix tr:focus-within th.query{
  outline:2px solid var(--wb-accent)}
.wb-attn table.matrix tr:hover td.top,.wb-attn table.matrix tr:focus-within td.top{color:var(--wb-fg)}
.wb-attn table.matrix td.top{padding:0 6px;white-space:nowrap;color:var(--wb-fg-muted);font-family:monospace}
"""


def short(token: str) -> str:
    return token if len(token) <= TOKEN_CHARS else token[:TOKEN_CHARS - 1] + "…"


# --- thumbnails ------------------------------------------------------------------------------------


def pooled(matrix: np.ndarray, size: int) -> np.ndarray:
    """``matrix`` cut to at most ``size`` x ``size`` blocks, each its largest weight (a thumbnail is
    ~30 pixels wide: more pixels add bytes, not detail; the maximum keeps a sharp peak visible)."""
    for axis in (0, 1):
        if matrix.shape[axis] > size:
            starts = np.unique(np.linspace(0, matrix.shape[axis], size + 1).astype(int)[:-1])
            matrix = np.maximum.reduceat(matrix, starts, axis=axis)
    return matrix


def thumbnail_png(matrix: np.ndarray, min_size: int = 30) -> bytes:
    """A (Q, K) weight matrix as an RGBA PNG: one colour, opacity = weight, each weight a square
    of pixels (repeated up to ``min_size`` pixels a side; pooled down to it past twice that)."""
    matrix = pooled(matrix, min_size) if max(matrix.shape) >= 2 * min_size else matrix
    alpha = (np.clip(matrix, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    repeat = max(1, -(-min_size // max(alpha.shape)))
    alpha = alpha.repeat(repeat, axis=0).repeat(repeat, axis=1)
    rgba = np.empty((*alpha.shape, 4), dtype=np.uint8)
    rgba[..., :3] = THUMB_RGB
    rgba[..., 3] = alpha
    raw = b"".join(b"\x00" + row.tobytes() for row in rgba)  # filter type 0 on every scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", alpha.shape[1], alpha.shape[0], 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def thumbnail_url(matrix: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(thumbnail_png(matrix)).decode("ascii")


def thumbnail_mask(matrix: np.ndarray) -> str:
    """The CSS variable a ``.thumb`` reads as its mask: ``--wb-accent`` cut to the matrix's shape."""
    return f"--thumb:url({thumbnail_url(matrix)})"


# --- summaries -------------------------------------------------------------------------------------


def head_summary(amap: AttentionMap, layer: int, head: int) -> str:
    """``"entropy 1.23 bits; attends most to '[SEP]' (0.61 on average)"``."""
    key, weight = amap.top_key(layer, head)
    return (f"entropy {amap.entropy[layer, head]:.2f} bits; attends most to "
            f"{key_name(amap, key)!r} ({weight:.2f} on average)")


def head_label(amap: AttentionMap, layer: int, head: int) -> str:
    return f"layer {layer}, head {head}: {head_summary(amap, layer, head)}"


def key_name(amap: AttentionMap, key: int) -> str:
    """A key token's text, with its position where the text appears more than once (``[SEP]@8``)."""
    token = amap.key_tokens[key]
    return f"{token}@{key}" if amap.key_tokens.count(token) > 1 else token


def row_summary(amap: AttentionMap, layer: int, head: int, query: int, count: int = 3) -> str:
    """``"cat 0.64, the@5 0.05"``: the heaviest keys of a row, those that round to 0.00 left out."""
    top = amap.top_keys(layer, head, query, count)
    return ", ".join(f"{key_name(amap, k)} {w:.2f}" for i, (k, w) in enumerate(top) if i == 0 or w >= 0.005)


# --- the overview ----------------------------------------------------------------------------------


def thumbnail_masks(amap: AttentionMap) -> list[list[str]]:
    """Every head's :func:`thumbnail_mask`, [layer][head]."""
    return [[thumbnail_mask(amap.weights[layer, head]) for head in range(amap.num_heads)]
            for layer in range(amap.num_layers)]


def overview_html(amap: AttentionMap, layer: int, head: int, masks: list[list[str]] | None = None) -> str:
    """The layers x heads table of thumbnails, the selected head marked; every cell focusable, its
    summary in its ``aria-label`` and shown on hover or focus. ``masks``: the thumbnails, if made before."""
    masks = masks or thumbnail_masks(amap)
    header = "".join(f'<th scope="col">h{h}</th>' for h in range(amap.num_heads))
    rows = []
    for layer_index in range(amap.num_layers):
        cells = []
        for h in range(amap.num_heads):
            label = esc(head_label(amap, layer_index, h))
            selected = "true" if (layer_index, h) == (layer, head) else "false"
            cells.append(f'<td role="gridcell" tabindex="0" aria-selected="{selected}" aria-label="{label}" '
                         f'data-detail="{label}"><span class="thumb"><span style="{masks[layer_index][h]}">'
                         "</span></span></td>")
        entropy = amap.layer_entropy[layer_index]
        rows.append(f'<tr><th scope="row">layer {layer_index} <span class="muted">{entropy:.2f}</span></th>'
                    f'{"".join(cells)}</tr>')
    caption = (f"{esc(KIND_NAMES[amap.kind])}: {amap.num_layers} layers &times; {amap.num_heads} heads "
               f'<span class="muted">(beside each layer: its heads\' mean entropy in bits)</span>')
    name = f"{KIND_NAMES[amap.kind]} heads: one thumbnail per layer and head; opacity is the attention weight"
    return (f'<div class="scroll"><table class="heads" role="grid" aria-readonly="true" aria-label="{esc(name)}">'
            f'<caption>{caption}</caption><tr><th></th>{header}</tr>{"".join(rows)}</table></div>')


# --- one head --------------------------------------------------------------------------------------


def cell_style(weight: float) -> str:
    """The accent at ``weight`` opacity (an rgba fallback first, for browsers without color-mix)."""
    percent = round(100 * min(max(weight, 0.0), 1.0), 1)
    r, g, b = THUMB_RGB
    return (f"background:rgba({r},{g},{b},{percent / 100:.3f});"
            f"background:color-mix(in srgb,var(--wb-accent) {percent}%,transparent)")


def head_html(amap: AttentionMap, layer: int, head: int) -> str:
    """One head's matrix: a row per query token (focusable; its heaviest keys listed beside it), a
    column per key token, each cell shaded by its weight, which its ``aria-label`` reads out."""
    matrix = amap.weights[layer, head]
    causal = amap.causal
    keys = "".join(f'<th scope="col" class="key" title="{esc(token)}"><span>{esc(short(token))}</span></th>'
                   for token in amap.key_tokens)
    rows = []
    for q, query in enumerate(amap.query_tokens):
        cells = []
        for k, key in enumerate(amap.key_tokens):
            if causal and k > q:
                text = esc(f"{query} \u2192 {key}: masked (a later token)")
                cells.append(f'<td class="w masked" aria-label="{text}"></td>')
                continue
            weight = float(matrix[q, k])
            text = esc(f"{query} \u2192 {key}: {weight:.3f}")
            cells.append(f'<td class="w" style="{cell_style(weight)}" aria-label="{text}" title="{text}"></td>')
        top = esc(row_summary(amap, layer, head, q))
        rows.append(f'<tr><th scope="row" class="query" tabindex="0" title="{esc(query)}" '
                    f'aria-label="{esc(query)} attends to {top}">{esc(short(query))}</th>{"".join(cells)}'
                    f'<td class="top">{top}</td></tr>')
    bound = math.log2(max(2, len(amap.key_tokens)))
    caption = (f"layer {layer}, head {head}: {esc(head_summary(amap, layer, head))} "
               f'<span class="muted">(entropy at most {bound:.2f}; rows: queries, columns: the keys they '
               f'attend to; shade = weight{"; hatched: masked, a decoder sees no later token" if causal else ""})'
               "</span>")
    name = f"{KIND_NAMES[amap.kind]}, layer {layer}, head {head}: attention weights from each query token to each key"
    return (f'<div class="scroll"><table class="matrix" aria-label="{esc(name)}"><caption>{caption}</caption>'
            f'<thead><tr><th></th>{keys}<th class="top muted">attends most to</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')
