"""Product quantization with Gumbel-softmax choices (wav2vec 2.0's targets, https://arxiv.org/abs/2006.11477
section 2; Gumbel-softmax: https://arxiv.org/abs/1611.01144).

    features (B, T, C) ─► weight_proj ─► G groups × V logits ─► one codevector per group
        (training: a hard Gumbel-softmax sample, straight-through; eval: the argmax) ─► concatenated (B, T, D)

The perplexity of the average choice distribution measures how much of the codebook is used
(the diversity loss pushes it towards G × V).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def codebook_perplexity(probs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(N, G, V) choice probabilities -> sum over groups of exp(entropy of the mean distribution),
    the mean taken over the positions ``mask`` (N,) keeps (all when None)."""
    if mask is None:
        marginal = probs.mean(dim=0)
    else:
        keep = mask.flatten()[:, None, None].expand(probs.shape)
        marginal = torch.where(keep, probs, torch.zeros_like(probs)).sum(dim=0) / mask.sum()
    return torch.exp(-torch.sum(torch.xlogy(marginal, marginal), dim=-1)).sum()


class GumbelVectorQuantizer(nn.Module):
    """``codevectors`` (1, G × V, D / G) and ``weight_proj`` (C -> G × V); ``temperature`` (2 at first,
    decayed while pre-training: ``set_gumbel_temperature``) softens the training samples."""

    def __init__(self, in_features: int, groups: int, per_group: int, codevector_dim: int) -> None:
        super().__init__()
        if codevector_dim % groups:
            raise ValueError(f"codevector_dim ({codevector_dim}) must be a multiple of num_codevector_groups "
                             f"({groups}): fix the config.")
        self.num_groups, self.num_vars = groups, per_group
        self.codevectors = nn.Parameter(torch.empty(1, groups * per_group, codevector_dim // groups))
        self.weight_proj = nn.Linear(in_features, groups * per_group)
        self.temperature = 2

    def forward(self, hidden: torch.Tensor, mask_time_indices: torch.Tensor | None = None):
        """(B, T, C) -> codevectors (B, T, D), perplexity (a scalar over the batch's ``mask_time_indices``)."""
        batch, length, _ = hidden.shape
        logits = self.weight_proj(hidden).view(batch * length * self.num_groups, -1)
        if self.training:
            choice = F.gumbel_softmax(logits.float(), tau=self.temperature, hard=True).type_as(logits)
            soft = torch.softmax(logits.view(batch * length, self.num_groups, -1).float(), dim=-1)
            perplexity = codebook_perplexity(soft, mask_time_indices)
        else:
            choice = torch.zeros_like(logits).scatter_(-1, logits.argmax(dim=-1, keepdim=True), 1.0)
            perplexity = codebook_perplexity(choice.view(batch * length, self.num_groups, -1), mask_time_indices)
        chosen = choice.view(batch * length, -1, 1) * self.codevectors  # (N, G × V, D / G)
        codevectors = chosen.view(batch * length, self.num_groups, self.num_vars, -1).sum(-2)
        return codevectors.view(batch, length, -1), perplexity
