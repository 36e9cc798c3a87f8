"""The layer loop of an encoder or decoder stack, with what it reports.

    hidden ─► layer 0 ─► layer 1 ─► ... ─► layer N-1 ─► final (a norm, a projection) ─► last_hidden_state
    hidden_states: (input of layer 0, ..., input of layer N-1, final output)   (N + 1 entries)
    attentions:    (weights of layer 0, ..., weights of layer N-1)             (N entries)

Every family reports hidden states this way (the reference's convention), so the loop, the
collection and LayerDrop live here once instead of in each model file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class StackOutput:
    last_hidden_state: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor | None, ...] | None = None
    cross_attentions: tuple[torch.Tensor | None, ...] | None = None


def output_flags(config, output_attentions: bool | None, output_hidden_states: bool | None) -> tuple[bool, bool, bool]:
    """``(output_attentions, output_hidden_states, eager)``: the arguments, or the config's defaults
    where they are None; ``eager`` says whether attention must compute its weights explicitly
    (they are asked for, or the config's ``_attn_implementation`` is "eager")."""
    output_attentions = config.output_attentions if output_attentions is None else output_attentions
    output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
    eager = bool(output_attentions) or (getattr(config, "_attn_implementation", None) or "sdpa") == "eager"
    return output_attentions, output_hidden_states, eager


def run_layers(layers: nn.ModuleList, hidden: torch.Tensor, masks, *args, output_hidden_states: bool = False,
               output_attentions: bool = False, cross_attentions: bool = False, layerdrop: float = 0.0,
               final: Callable[[torch.Tensor], torch.Tensor] | None = None, **kwargs) -> StackOutput:
    """Run ``layer(hidden, mask, *args, **kwargs)`` for each layer in order. Each layer returns
    ``(hidden, weights)`` or, in a decoder with cross-attention, ``(hidden, weights, cross_weights)``.

    ``masks`` is one mask (or None) for every layer, or a sequence with one per layer (sliding-window
    layers, T5's per-layer position bias). ``cross_attentions`` collects the third output.
    ``layerdrop`` (https://arxiv.org/abs/1909.11556) skips each layer with that probability while
    ``layers`` is in training mode; a skipped layer still reports its input as a hidden state.
    ``final`` maps the last layer's output to ``last_hidden_state``, which ends ``hidden_states``.
    """
    per_layer = isinstance(masks, Sequence)
    all_hidden = () if output_hidden_states else None
    all_attentions = () if output_attentions else None
    all_cross = () if output_attentions and cross_attentions else None
    for index, layer in enumerate(layers):
        if output_hidden_states:
            all_hidden += (hidden,)
        if layers.training and layerdrop > 0 and bool(torch.rand([]) < layerdrop):
            continue
        hidden, *weights = layer(hidden, masks[index] if per_layer else masks, *args, **kwargs)
        if output_attentions:
            all_attentions += (weights[0],)
        if all_cross is not None:
            all_cross += (weights[1],)
    if final is not None:
        hidden = final(hidden)
    if output_hidden_states:
        all_hidden += (hidden,)
    return StackOutput(hidden, all_hidden, all_attentions, all_cross)
