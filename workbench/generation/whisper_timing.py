"""Word-level (token-level) times for Whisper, from the cross-attention of its alignment heads.

    cross-attentions of every step ─► the alignment heads' (B, heads, tokens, frames)
    ─► per head and frame: standardised over the tokens ─► median filter along the frames
    ─► mean over heads ─► DTW on the negated matrix ─► a token's time = the frame where the path
       first reaches it × 0.02 s

The prompt's tokens get 0.0 and are left out of the DTW; the last token (eos, whose step's
attention is never computed) repeats the time of the one before.
"""

from __future__ import annotations

import numpy as np
import torch

from .alignment import dynamic_time_warping, median_filter


def _alignment_weights(out, alignment_heads, num_input_ids: int) -> tuple[torch.Tensor, int | None]:
    """(rows, heads, tokens, frames) attention of the alignment heads, the steps joined; with
    beams, each row follows its own beam back through the steps."""
    layers = len(out.cross_attentions[0])
    per_layer = [torch.cat([step[layer] for step in out.cross_attentions], dim=2) for layer in range(layers)]
    weights = torch.stack([per_layer[layer][:, head] for layer, head in alignment_heads]).permute(1, 0, 2, 3)
    beam_indices = getattr(out, "beam_indices", None)
    if beam_indices is None:
        return weights, None
    length = int((beam_indices != -1).sum(-1).max())
    beams = beam_indices[:, :length]
    if num_input_ids > 1:  # the first step attended from every prompt token at once
        length += num_input_ids - 1
        beams = torch.cat([beams[:, :1].expand(-1, num_input_ids - 1), beams], dim=-1)
    beams = beams.masked_fill(beams == -1, 0)
    weights = torch.stack([weights[:, :, i].index_select(0, beams[:, i]) for i in range(beams.shape[1])], dim=2)
    return weights, length


def _smoothed(matrix: torch.Tensor, median_filter_width: int) -> torch.Tensor:
    """Standardise over the tokens (dim -2), median-filter along the frames, mean over heads (dim -3)."""
    std = torch.std(matrix, dim=-2, keepdim=True, unbiased=False)
    mean = torch.mean(matrix, dim=-2, keepdim=True)
    return median_filter((matrix - mean) / std, median_filter_width).mean(dim=-3)


def _frame_limits(num_frames, rows: int):
    """One frame count for all rows (an int, or None for the whole window), or one per row."""
    if num_frames is None or isinstance(num_frames, int):
        return num_frames, None
    values = num_frames.tolist() if isinstance(num_frames, torch.Tensor) else list(np.asarray(num_frames))
    if len(set(values)) == 1:
        return int(values[0]), None
    return None, np.repeat(np.asarray(values), rows // len(values))


def extract_token_timestamps(out, alignment_heads, median_filter_width: int, num_frames=None,
                             num_input_ids: int | None = None, time_precision: float = 0.02) -> torch.Tensor:
    """Seconds (B, T) for each token of ``out.sequences`` from ``generate(..., output_attentions=True,
    return_dict_in_generate=True)``. ``num_frames`` (int, or one per row) crops the padding after
    the audio (mel frames: two per encoder position)."""
    weights, length = _alignment_weights(out, alignment_heads, num_input_ids or 0)
    rows = out.sequences.shape[0]
    times = torch.zeros(rows, (length or weights.shape[2]) + 1, dtype=torch.float32, device=out.sequences.device)
    shared, per_row = _frame_limits(num_frames, rows)
    if shared is not None:
        weights = weights[..., : shared // 2]
    if num_input_ids is not None:
        weights = weights[:, :, num_input_ids:]  # the prompt is not aligned: its times are 0
    if weights.shape[2] == 0:
        return times
    if per_row is None:
        weights = _smoothed(weights, median_filter_width)
    for row in range(rows):
        matrix = _smoothed(weights[row, ..., : per_row[row] // 2], median_filter_width) if per_row is not None \
            else weights[row]
        text, time = dynamic_time_warping(-matrix.cpu().double().numpy())
        jumps = np.pad(np.diff(text), (1, 0), constant_values=1).astype(bool)
        jump_times = time[jumps] * time_precision
        times[row] = torch.cat([torch.zeros(num_input_ids or 0), torch.tensor(jump_times),
                                torch.tensor([jump_times[-1]])])
    return times
