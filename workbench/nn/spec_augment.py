"""SpecAugment-style masking of speech features while training (https://arxiv.org/abs/1904.08779).

Spans of ``mask_length`` frames (or channels) are replaced: time spans by a learned vector
(``masked_spec_embed``), channel spans by zeros. About ``mask_prob * length / mask_length`` spans
per row, at least ``min_masks``, started at distinct random frames within the row's valid length
(spans may overlap, so ``mask_prob`` is an upper bound on the masked share).
"""

from __future__ import annotations

import torch


def span_count(length: int, mask_prob: float, mask_length: int, min_masks: int, total: int, epsilon: float) -> int:
    """How many spans a row of ``length`` valid positions (of ``total``) gets; ``epsilon`` in [0, 1)
    rounds the expected count up or down at random."""
    count = max(int(mask_prob * length / mask_length + epsilon), min_masks)
    if count * mask_length > total:
        count = total // mask_length
    return max(min(count, length - (mask_length - 1)), 0)


def mask_spans(shape: tuple[int, int], mask_prob: float, mask_length: int, lengths: list[int] | None = None,
               min_masks: int = 0, generator: torch.Generator | None = None) -> torch.Tensor:
    """A (B, T) bool mask of random spans; ``lengths`` (valid positions per row) keep spans off padding."""
    batch, total = shape
    if mask_length < 1:
        raise ValueError("mask_length must be at least 1: fix config.mask_time_length / mask_feature_length.")
    if mask_length > total:
        raise ValueError(f"mask_length ({mask_length}) is longer than the sequence ({total} positions): use a "
                         "smaller config.mask_time_length / mask_feature_length, or longer inputs.")
    lengths = lengths if lengths is not None else [total] * batch
    epsilon = float(torch.rand((), generator=generator))
    mask = torch.zeros(batch, total, dtype=torch.bool)
    for row, length in enumerate(lengths):
        count = span_count(int(length), mask_prob, mask_length, min_masks, total, epsilon)
        starts = torch.randperm(int(length) - mask_length + 1, generator=generator)[:count]
        for start in starts.tolist():
            mask[row, start : start + mask_length] = True
    return mask


def spec_augment(hidden: torch.Tensor, config, masked_embed: torch.Tensor | None, *, training: bool,
                 mask_time_indices: torch.Tensor | None = None, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, C) features with spans masked: the given ``mask_time_indices`` (B, T) always (pre-training
    picks them), random time spans (``config.mask_time_*``) and channel spans (``mask_feature_*``)
    while ``training``. ``config.apply_spec_augment=False`` turns all of it off."""
    if not getattr(config, "apply_spec_augment", True):
        return hidden
    batch, frames, channels = hidden.shape
    if mask_time_indices is None and config.mask_time_prob > 0 and training:
        mask_time_indices = mask_spans((batch, frames), config.mask_time_prob, config.mask_time_length,
                                       lengths.tolist() if lengths is not None else None, config.mask_time_min_masks)
    if mask_time_indices is not None:
        time = mask_time_indices.to(device=hidden.device, dtype=torch.bool)[..., None]
        hidden = torch.where(time, masked_embed.to(hidden.dtype), hidden)
    if config.mask_feature_prob > 0 and training:
        features = mask_spans((batch, channels), config.mask_feature_prob, config.mask_feature_length,
                              min_masks=config.mask_feature_min_masks).to(hidden.device)
        hidden = hidden.masked_fill(features[:, None, :], 0.0)
    return hidden


def sample_negative_indices(shape: tuple[int, int], num_negatives: int, mask_time_indices: torch.Tensor | None = None,
                            generator: torch.Generator | None = None) -> torch.Tensor:
    """wav2vec 2.0's distractors: for each masked frame of a (B, T) batch, ``num_negatives`` other masked
    frames of the same row, uniformly, as indices into the flattened (B × T) frames -> (B, T, K) long.
    Unmasked frames hold their row's offset (the loss ignores them). All frames count as masked when
    ``mask_time_indices`` is None."""
    batch, length = shape
    masked = torch.ones(shape, dtype=torch.bool) if mask_time_indices is None else mask_time_indices.bool().cpu()
    indices = torch.zeros(batch, length, num_negatives, dtype=torch.long)
    for row in range(batch):
        positions = masked[row].nonzero().flatten()  # the row's masked frames
        count = len(positions)
        if count < 2:
            raise ValueError(f"Row {row} has {count} masked frame(s): negatives need at least 2 (mask more frames).")
        # draw from the other count - 1 frames: indices at or past the frame itself shift up by one
        drawn = torch.randint(0, count - 1, (count, num_negatives), generator=generator)
        drawn += (drawn >= torch.arange(count)[:, None]).long()
        indices[row, positions] = positions[drawn]
        indices[row] += row * length
    return indices
