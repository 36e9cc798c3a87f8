"""Window attention helpers (Swin, https://arxiv.org/abs/2103.14030): split a feature map into
non-overlapping windows and back, the mask of shifted windows, and the relative-position index.

    (B, H, W, C) ─► pad to multiples of the window ─► roll by -shift ─► windows (B·nW, w·w, C)
                 ◄─ crop ◄──────────────────────── roll by +shift ◄─ merge ◄──────────┘

After the roll, a window at the map's edge holds pixels from opposite sides; the mask keeps each
of them from attending to the others (their regions differ).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch.nn import functional as F


def pad_to_window(hidden: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) -> (B, H', W', C) with zeros added right and bottom so H', W' are multiples of ``window``."""
    height, width = hidden.shape[1:3]
    pad_bottom, pad_right = -height % window, -width % window
    if pad_bottom or pad_right:
        hidden = F.pad(hidden, (0, 0, 0, pad_right, 0, pad_bottom))
    return hidden


def window_partition(hidden: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C), H and W multiples of ``window`` -> (B · H/w · W/w, w · w, C), windows in row-major order."""
    batch, height, width, channels = hidden.shape
    hidden = hidden.view(batch, height // window, window, width // window, window, channels)
    return hidden.transpose(2, 3).reshape(-1, window * window, channels)


def window_merge(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """The inverse of :func:`window_partition`: (B · nW, w · w, C) -> (B, H, W, C)."""
    channels = windows.shape[-1]
    hidden = windows.view(-1, height // window, width // window, window, window, channels)
    return hidden.transpose(2, 3).reshape(-1, height, width, channels)


def shifted_window_mask(height: int, width: int, window: int, shift: int, dtype: torch.dtype,
                        device: torch.device, blocked: float = -100.0) -> torch.Tensor:
    """Additive (nW, w · w, w · w) mask for a (H, W) map rolled by ``-shift``: 0 between positions
    of the same region, ``blocked`` between regions that the roll brought together.

    Along each axis of length L the regions are [0, L - w), [L - w, L - shift), [L - shift, L)."""
    def regions(length: int) -> torch.Tensor:
        index = torch.arange(length, device=device)
        return (index >= length - window).long() + (index >= length - shift).long()

    labels = regions(height)[:, None] * 3 + regions(width)[None, :]  # (H, W)
    labels = window_partition(labels[None, :, :, None].to(dtype), window).squeeze(-1)  # (nW, w·w)
    different = labels[:, None, :] != labels[:, :, None]
    return torch.zeros(different.shape, dtype=dtype, device=device).masked_fill(different, blocked)


@lru_cache(maxsize=16)
def relative_position_index(window: int, table_window: int | None = None) -> torch.Tensor:
    """(w · w, w · w) index into a ((2 · tw - 1)², heads) table of biases by (dy, dx) offset, where
    ``tw = table_window`` (the window the table was trained for; ``window`` may be smaller)."""
    table_window = table_window or window
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)  # (2, w·w)
    offsets = coords[:, :, None] - coords[:, None, :] + (table_window - 1)  # (2, w·w, w·w), from 0
    return offsets[0] * (2 * table_window - 1) + offsets[1]
