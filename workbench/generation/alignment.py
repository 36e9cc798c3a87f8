"""Aligning two sequences in time: a median filter to smooth a score matrix, and dynamic time
warping (DTW) to find the monotonic path through it. Used for word-level timestamps: text tokens
against audio frames, scored by cross-attention (https://en.wikipedia.org/wiki/Dynamic_time_warping).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


def median_filter(inputs: torch.Tensor, width: int) -> torch.Tensor:
    """The median of each window of ``width`` (odd) values along the last dimension of a 3-D or
    4-D tensor; the edges are mirrored ("reflect" padding). Inputs no longer than half the width
    are returned unchanged."""
    if width <= 0 or width % 2 != 1:
        raise ValueError(f"The median filter's width must be a positive odd number, not {width}.")
    half = width // 2
    if inputs.shape[-1] <= half:
        return inputs
    padded = F.pad(inputs, (half, half, 0, 0), mode="reflect")
    # sort() then the middle: faster than torch.median over windows (pytorch/pytorch#51450)
    return padded.unfold(-1, width, 1).sort()[0][..., half]


def dynamic_time_warping(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest monotonic path through ``cost`` (N, M) from (0, 0) to (N-1, M-1), stepping
    diagonally, down (next row) or right (next column); returns its row and column indices.

    Ties go right, then down, as in OpenAI's Whisper (a diagonal step must be strictly cheaper)."""
    rows, cols = cost.shape
    total = np.full((rows + 1, cols + 1), np.inf, dtype=np.float32)
    step = -np.ones((rows + 1, cols + 1), dtype=np.float32)  # 0 diagonal, 1 down, 2 right
    total[0, 0] = 0
    for j in range(1, cols + 1):
        for i in range(1, rows + 1):
            diagonal, down, right = total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]
            if diagonal < down and diagonal < right:
                best, move = diagonal, 0
            elif down < diagonal and down < right:
                best, move = down, 1
            else:
                best, move = right, 2
            total[i, j] = cost[i - 1, j - 1] + best
            step[i, j] = move
    step[0, :], step[:, 0] = 2, 1  # along the edges the only way back is straight
    i, j = rows, cols
    path_rows, path_cols = [], []
    while i > 0 or j > 0:
        path_rows.append(i - 1)
        path_cols.append(j - 1)
        move = step[i, j]
        if move == 0:
            i, j = i - 1, j - 1
        elif move == 1:
            i -= 1
        else:
            j -= 1
    return np.array(path_rows)[::-1], np.array(path_cols)[::-1]
