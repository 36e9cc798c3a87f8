"""x-vector speaker embeddings (https://www.danielpovey.com/files/2018_icassp_xvectors.pdf): TDNN layers,
statistics pooling and the additive-margin softmax loss (https://arxiv.org/abs/1801.05599).

    frames (B, T, C) ─► TDNN 1..N (dilated convs over time, ReLU) ─► mean ‖ std over each row's valid frames
                     ─► embedding ─► logits; AM-softmax loss against a normalised class table
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class TDNNLayer(nn.Module):
    """A dilated conv over time stored as ``kernel``, a Linear of (kernel_size * in) -> out (the
    checkpoint's layout: the conv weight is its rows, viewed), then ReLU. (B, T, in) -> (B, T', out)."""

    def __init__(self, in_dim: int, out_dim: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.kernel_size, self.dilation = in_dim, out_dim, kernel_size, dilation
        self.kernel = nn.Linear(in_dim * kernel_size, out_dim)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        weight = self.kernel.weight.view(self.out_dim, self.kernel_size, self.in_dim).transpose(1, 2)
        hidden = F.conv1d(hidden.transpose(1, 2), weight, self.kernel.bias, dilation=self.dilation)
        return torch.relu(hidden.transpose(1, 2))

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frames out for ``lengths`` frames in (the reference counts the kernel, not its dilation)."""
        return lengths - self.kernel_size + 1


def statistics_pooling(hidden: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """(B, T, C) -> (B, 2C): each row's mean and (unbiased) standard deviation over its first
    ``lengths[b]`` frames (all of them when ``lengths`` is None)."""
    if lengths is None:
        return torch.cat([hidden.mean(dim=1), hidden.std(dim=1)], dim=-1)
    rows = [hidden[b, : int(n)] for b, n in enumerate(lengths)]
    return torch.stack([torch.cat([row.mean(dim=0), row.std(dim=0)]) for row in rows])


class AMSoftmaxLoss(nn.Module):
    """Additive-margin softmax: cosine logits against a column-normalised ``weight`` (C, num_labels),
    the true class's logit lowered by ``margin``, all scaled by ``scale``; cross-entropy on those."""

    def __init__(self, input_dim: int, num_labels: int, scale: float = 30.0, margin: float = 0.4) -> None:
        super().__init__()
        self.scale, self.margin, self.num_labels = scale, margin, num_labels
        self.weight = nn.Parameter(torch.empty(input_dim, num_labels))

    def forward(self, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = labels.flatten()
        cosine = F.normalize(hidden, dim=1) @ F.normalize(self.weight, dim=0)  # (B, num_labels)
        true_class = F.one_hot(labels, self.num_labels).bool()
        return F.cross_entropy(self.scale * torch.where(true_class, cosine - self.margin, cosine), labels)
