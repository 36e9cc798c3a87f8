"""DETR's panoptic mask head: per-query attention maps over the encoder's map, upsampled through the
backbone's earlier stages (a small FPN) into mask logits.

    decoded queries (B, Q, d), encoder map (B, d, h, w) ─► bbox_attention: (B, Q, heads, h, w) maps
    [projected map, maps] per query (B*Q, d + heads, h, w) ─► conv1, conv2
      ─► 3 FPN stages: + adapter(stage map) at its size, refine ─► output_conv ─► masks (B, Q, H/4, W/4)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..nn.activations import get_activation


class DetrConvBlock(nn.Module):
    """3x3 conv, group norm (8 groups, or one per channel below 8), activation."""

    def __init__(self, in_channels: int, out_channels: int, activation: str = "relu") -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.norm = nn.GroupNorm(min(8, out_channels), out_channels)
        self.activation = get_activation(activation)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.norm(self.conv(hidden_states)))


class DetrFPNFusionStage(nn.Module):
    """Upsample (nearest) to the stage map's size, add the adapted stage map, refine."""

    def __init__(self, fpn_channels: int, current_channels: int, output_channels: int, activation: str = "relu") -> None:
        super().__init__()
        self.fpn_adapter = nn.Conv2d(fpn_channels, current_channels, kernel_size=1)
        self.refine = DetrConvBlock(current_channels, output_channels, activation)

    def forward(self, hidden_states: torch.Tensor, fpn_features: torch.Tensor) -> torch.Tensor:
        fpn_features = self.fpn_adapter(fpn_features)
        upsampled = F.interpolate(hidden_states, size=fpn_features.shape[-2:], mode="nearest")
        return self.refine(fpn_features + upsampled)


def per_query(tensor: torch.Tensor, num_queries: int) -> torch.Tensor:
    """(B, C, h, w) -> (B * Q, C, h, w): each image's map repeated for each of its queries."""
    return tensor.unsqueeze(1).expand(-1, num_queries, -1, -1, -1).flatten(0, 1)


class DetrMaskHeadSmallConv(nn.Module):
    """Channels halve from ``hidden_size // 2`` at each FPN stage, down to ``hidden_size // 16``."""

    def __init__(self, input_channels: int, fpn_channels: list[int], hidden_size: int, activation: str = "relu") -> None:
        super().__init__()
        if input_channels % 8:
            raise ValueError(f"DETR's mask head takes d_model + attention heads channels ({input_channels}), which its "
                             "group norms need to be a multiple of 8: change d_model or encoder_attention_heads.")
        self.conv1 = DetrConvBlock(input_channels, input_channels, activation)
        self.conv2 = DetrConvBlock(input_channels, hidden_size // 2, activation)
        widths = [hidden_size // 2, hidden_size // 4, hidden_size // 8, hidden_size // 16]
        self.fpn_stages = nn.ModuleList(DetrFPNFusionStage(fpn_channels[i], widths[i], widths[i + 1], activation)
                                        for i in range(3))
        self.output_conv = nn.Conv2d(hidden_size // 16, 1, kernel_size=3, padding=1)

    @torch.no_grad()
    def reset_head_parameters(self, config) -> None:
        """Kaiming-uniform convs (a=1) with zero biases, as the reference initialises this head."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, a=1)
                nn.init.zeros_(module.bias)

    def forward(self, features: torch.Tensor, attention_maps: torch.Tensor, fpn_features: list[torch.Tensor]) -> torch.Tensor:
        """features (B, d, h, w), attention_maps (B, Q, heads, h, w), fpn_features from low to high
        resolution -> mask logits (B * Q, 1, H_last, W_last)."""
        num_queries = attention_maps.shape[1]
        hidden = torch.cat([per_query(features, num_queries), attention_maps.flatten(0, 1)], dim=1)
        hidden = self.conv2(self.conv1(hidden))
        for stage, fpn in zip(self.fpn_stages, fpn_features):
            hidden = stage(hidden, per_query(fpn, num_queries))
        return self.output_conv(hidden)


class DetrMHAttentionMap(nn.Module):
    """The attention weights (no values) of each query over the encoder's map, per head; the softmax runs
    over heads and pixels together, as in the original DETR."""

    def __init__(self, hidden_size: int, num_heads: int) -> None:
        super().__init__()
        self.head_dim = hidden_size // num_heads
        self.scaling = self.head_dim**-0.5
        self.q_proj = nn.Linear(hidden_size, hidden_size)
        self.k_proj = nn.Linear(hidden_size, hidden_size)

    @torch.no_grad()
    def reset_head_parameters(self, config) -> None:
        for linear in (self.q_proj, self.k_proj):
            nn.init.xavier_uniform_(linear.weight, gain=config.init_xavier_std)
            nn.init.zeros_(linear.bias)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """queries (B, Q, d), keys (B, d, h, w), additive mask (B, 1, 1, h, w) -> weights (B, Q, heads, h, w)."""
        batch, num_queries = queries.shape[:2]
        height, width = keys.shape[-2:]
        query = self.q_proj(queries).view(batch, num_queries, -1, self.head_dim)  # (B, Q, heads, D)
        # the key projection as a 1x1 conv over the map: (B, heads, D, h, w)
        key = F.conv2d(keys, self.k_proj.weight[:, :, None, None], self.k_proj.bias).view(batch, -1, self.head_dim, height, width)
        scores = torch.einsum("bqnd,bndhw->bqnhw", query * self.scaling, key)
        if mask is not None:
            scores = scores + mask
        return scores.flatten(2).softmax(-1).view(scores.shape)
