"""Fixed 2D sine position embeddings of a feature map (DETR and the detectors built on it).

Each pixel of an (h, w) map gets ``num_features`` sines and cosines of its row (the first half of
the channels) and ``num_features`` of its column (the second half), at geometric frequencies as in
"Attention is all you need". Rows and columns are counted over the valid pixels of ``mask`` only
(cumulative sums), so a padded image's real part gets the positions it would get alone; with
``normalize`` they are scaled to (0, ``scale``] by each row's and column's count of valid pixels.
"""

from __future__ import annotations

import math

import torch


def _sines(positions: torch.Tensor, frequencies: torch.Tensor) -> torch.Tensor:
    """(B, h, w) positions -> (B, h, w, F): sin of the even features interleaved with cos of the odd ones."""
    angles = positions[..., None] / frequencies
    return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=4).flatten(3)


def sine_position_embedding_2d(mask: torch.Tensor, num_features: int, *, temperature: float = 10000.0,
                               normalize: bool = False, scale: float | None = None,
                               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """mask (B, h, w), true on valid pixels -> position embeddings (B, 2 * num_features, h, w), rows first."""
    if scale is not None and not normalize:
        raise ValueError("A sine position scale applies only with normalize=True: pass normalize=True or no scale.")
    scale = 2 * math.pi if scale is None else scale
    valid = mask.to(dtype)
    rows, columns = valid.cumsum(1), valid.cumsum(2)  # 1-based positions among the valid pixels
    if normalize:
        eps = 1e-6
        rows = rows / (rows[:, -1:, :] + eps) * scale
        columns = columns / (columns[:, :, -1:] + eps) * scale
    # frequency of feature i: temperature ** (2 * (i // 2) / num_features), so each sin/cos pair shares one
    index = torch.arange(num_features, dtype=torch.int64, device=mask.device).to(dtype)
    frequencies = temperature ** (2 * torch.div(index, 2, rounding_mode="floor") / num_features)
    return torch.cat((_sines(rows, frequencies), _sines(columns, frequencies)), dim=3).permute(0, 3, 1, 2)
