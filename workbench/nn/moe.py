"""Sparse mixture-of-experts feed-forward blocks (https://arxiv.org/abs/2101.03961,
https://arxiv.org/abs/2401.04088) and their load-balancing loss.

    x (N, C) ─► gate ─► router logits (N, E) ─► softmax ─► top-k experts and weights per token
                                                           (renormalised to sum 1: norm_topk_prob)
    x ─► for each chosen expert e: weight × expert_e(x) ─► summed per token
    x ─► shared_expert(x) × sigmoid(shared_expert_gate(x)) ─► added            (optional, Qwen2-MoE)

Every expert is a :class:`~workbench.nn.mlp.GatedMLP`, kept as its own module (``experts.3.up_proj``)
because that is how checkpoints store them (``experts.{i}.{gate,up,down}_proj``, or Mixtral's
``experts.{i}.w1/w3/w2``). The router is a bias-free linear named ``gate``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .linear import Linear
from .mlp import LLAMA_NAMES, GatedMLP


def route(router_logits: torch.Tensor, top_k: int, normalize: bool,
          float32_weights: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, E) logits -> the top-k routing weights (N, k) and the chosen experts (N, k).

    The softmax runs in float32 over all experts; with ``normalize`` the k chosen probabilities are
    rescaled to sum to one (Mixtral always; Qwen-MoE when ``norm_topk_prob``). The weights stay
    float32 (Mixtral), or with ``float32_weights=False`` go back to the logits' dtype (Qwen-MoE):
    below float32 the two round the weighted expert outputs differently.
    """
    probs = F.softmax(router_logits.float(), dim=-1)
    weights, chosen = torch.topk(probs, top_k, dim=-1)
    if normalize:
        weights = weights / weights.sum(dim=-1, keepdim=True)
    return (weights if float32_weights else weights.to(router_logits.dtype)), chosen


class SparseMoeBlock(nn.Module):
    """Routes each token to ``top_k`` of ``num_experts`` gated MLPs and sums their outputs, weighted.

    ``forward`` takes (B, T, C) and returns the (B, T, C) output and the router logits (B·T, E),
    which the load-balancing loss and ``output_router_logits`` need. ``shared_size`` adds an
    always-on ``shared_expert`` of that width, scaled per token by ``sigmoid(shared_expert_gate(x))``.
    ``jitter_noise`` multiplies the input by uniform noise in [1 - j, 1 + j] while training (Mixtral);
    ``float32_weights``: see :func:`route`.

    >>> block = SparseMoeBlock(8, 16, num_experts=4, top_k=2, activation="silu")
    >>> out, logits = block(torch.ones(1, 3, 8))
    >>> out.shape, logits.shape
    (torch.Size([1, 3, 8]), torch.Size([3, 4]))
    """

    def __init__(self, hidden_size: int, expert_size: int, num_experts: int, top_k: int, activation: str,
                 normalize: bool = True, expert_names: tuple[str, str, str] = LLAMA_NAMES, shared_size: int = 0,
                 jitter_noise: float = 0.0, float32_weights: bool = True) -> None:
        super().__init__()
        if not 0 < top_k <= num_experts:
            raise ValueError(f"num_experts_per_tok ({top_k}) must be between 1 and the number of experts ({num_experts}).")
        self.top_k, self.normalize, self.jitter_noise = top_k, normalize, jitter_noise
        self.float32_weights = float32_weights
        self.gate = Linear(hidden_size, num_experts, bias=False)
        self.experts = nn.ModuleList(
            GatedMLP(hidden_size, expert_size, activation, names=expert_names) for _ in range(num_experts)
        )
        if shared_size:
            self.shared_expert = GatedMLP(hidden_size, shared_size, activation)
            self.shared_expert_gate = Linear(hidden_size, 1, bias=False)
        self.shared = bool(shared_size)

    def forward(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = hidden_states.shape
        if self.training and self.jitter_noise > 0:
            noise = torch.empty_like(hidden_states).uniform_(1.0 - self.jitter_noise, 1.0 + self.jitter_noise)
            hidden_states = hidden_states * noise
        flat = hidden_states.reshape(-1, shape[-1])  # (N, C)
        router_logits = self.gate(flat)  # (N, E)
        weights, chosen = route(router_logits, self.top_k, self.normalize, self.float32_weights)  # (N, k) each
        out = self.run_experts(flat, weights, chosen)
        if self.shared:
            out = out + torch.sigmoid(self.shared_expert_gate(flat)) * self.shared_expert(flat)
        return out.reshape(shape), router_logits

    def run_experts(self, flat: torch.Tensor, weights: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """Each expert on the tokens routed to it; every token's k weighted outputs are then summed
        in its top-k order, in the weights' dtype (as the reference's default grouped kernel does,
        so the result is its own below float32 too). While gradients are recorded every expert
        runs, on no tokens if none chose it: its weights then get a zero gradient rather than
        none, as they would as rows of one stacked expert tensor, so optimizers treat them alike."""
        picks = flat.new_zeros(*chosen.shape, flat.shape[-1], dtype=torch.promote_types(flat.dtype, weights.dtype))
        if torch.is_grad_enabled():
            experts = range(len(self.experts))
        else:
            experts = chosen.unique().tolist()
        for index in experts:
            token, slot = torch.where(chosen == index)  # (n,) token rows and which of their k picks
            picks[token, slot] = self.experts[index](flat[token]) * weights[token, slot, None]
        return picks.sum(dim=1).to(flat.dtype)  # (N, k, C) -> (N, C)


def load_balancing_loss(router_logits: tuple[torch.Tensor, ...], num_experts: int, top_k: int,
                        attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Switch Transformer's auxiliary loss (https://arxiv.org/abs/2101.03961, eqs. 4-6), over the
    sparse layers' (B·T, E) router logits together: ``E · Σ_e f_e · P_e``, where ``f_e`` is the
    fraction of top-k assignments that went to expert e and ``P_e`` its mean router probability.
    It is 1·k when routing is uniform and grows as tokens crowd onto few experts.

    ``attention_mask`` (B, T), or (B, past + T) during cached decoding (its last T columns are
    the tokens routed), leaves padding out of both averages.
    """
    device = router_logits[0].device
    count = torch.zeros(num_experts, dtype=torch.float32, device=device)  # top-k assignments per expert
    prob = torch.zeros(num_experts, dtype=torch.float32, device=device)  # router probability per expert
    rows = router_logits[0].new_zeros((), dtype=torch.float32)
    keep = None
    if attention_mask is not None:
        batch = attention_mask.shape[0]
        keep = attention_mask[:, -(router_logits[0].shape[0] // batch):].reshape(-1).to(device, torch.float32)
    for logits in router_logits:
        probs = F.softmax(logits.to(device), dim=-1)  # (N, E), in the logits' dtype as the reference
        chosen = torch.topk(probs, top_k, dim=-1).indices  # (N, k)
        hits = F.one_hot(chosen, num_experts).float().sum(1)  # (N, E)
        if keep is None:
            count, prob, rows = count + hits.sum(0), prob + probs.float().sum(0), rows + probs.shape[0]
        else:
            count = count + (hits * keep[:, None]).sum(0)
            prob, rows = prob + (probs.float() * keep[:, None]).sum(0), rows + keep.sum()
    return num_experts * torch.sum((count / rows) * (prob / rows))
