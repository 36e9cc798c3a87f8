"""Self-attention with a gated relative position bias (WavLM, https://arxiv.org/abs/2110.13900, section 3.2).

    bias (1, H, T, T) = table[bucket(key - query)]            (one table, the first layer's, for the stack)
    gate (B, H, T, 1) = a * (b * gru_rel_pos_const - 1) + 2,  a, b = sigmoid of gru_rel_pos_linear(query head)
    scores = q k^T / sqrt(D) + gate * bias + padding mask

Buckets are T5's bidirectional ones (:func:`workbench.nn.relative_position.relative_position_bucket`).
The gate reads each head's slice of the layer input, so the bias each layer adds depends on content.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import attention, split_heads
from .relative_position import relative_position_bias


class GatedRelativePositionAttention(nn.Module):
    """(B, T, C) -> (B, T, C) over ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj`` (all with biases),
    ``gru_rel_pos_linear`` (head_dim -> 8) and ``gru_rel_pos_const`` (1, H, 1, 1); ``has_table``
    adds ``rel_attn_embed`` (num_buckets, H), the table the stack shares.

    Attention weights, when asked for, are the mean over heads repeated for every head: what the
    reference reports (it computes them with ``F.multi_head_attention_forward``, which averages)."""

    def __init__(self, hidden_size: int, num_heads: int, num_buckets: int, max_distance: int, *,
                 has_table: bool, dropout: float = 0.0) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"The hidden size ({hidden_size}) must be a multiple of the attention heads "
                             f"({num_heads}): fix the config.")
        self.num_heads, self.head_dim = num_heads, hidden_size // num_heads
        self.max_distance, self.dropout = max_distance, dropout
        self.k_proj = nn.Linear(hidden_size, hidden_size)
        self.v_proj = nn.Linear(hidden_size, hidden_size)
        self.q_proj = nn.Linear(hidden_size, hidden_size)
        self.out_proj = nn.Linear(hidden_size, hidden_size)
        self.gru_rel_pos_const = nn.Parameter(torch.ones(1, num_heads, 1, 1))
        self.gru_rel_pos_linear = nn.Linear(self.head_dim, 8)
        if has_table:
            self.rel_attn_embed = nn.Embedding(num_buckets, num_heads)

    def relative_bias(self, length: int) -> torch.Tensor:
        """(1, H, T, T): the table's bias for every (query, key) pair of ``length`` frames."""
        return relative_position_bias(self.rel_attn_embed, length, length, bidirectional=True,
                                      max_distance=self.max_distance)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None = None, eager: bool = False,
                position_bias: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, length, width = hidden.shape
        if position_bias is None:
            position_bias = self.relative_bias(length)
        per_head = hidden.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        # 8 outputs summed in two groups of 4 -> the two gates a, b (B, H, T, 1) each
        gates = torch.sigmoid(self.gru_rel_pos_linear(per_head).view(batch, self.num_heads, length, 2, 4).sum(-1))
        gate_a, gate_b = gates.chunk(2, dim=-1)
        bias = (gate_a * (gate_b * self.gru_rel_pos_const - 1.0) + 2.0) * position_bias.to(hidden.dtype)
        if mask is not None:
            bias = bias + mask
        query, key, value = (split_heads(proj(hidden), self.head_dim) for proj in (self.q_proj, self.k_proj, self.v_proj))
        out, weights = attention(query, key, value, bias, eager=eager, dropout=self.dropout if self.training else 0.0)
        if weights is not None:
            weights = weights.mean(dim=1, keepdim=True).expand(-1, self.num_heads, -1, -1)
        return self.out_proj(out.reshape(batch, length, width)), weights
