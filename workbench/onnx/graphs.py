"""What an ONNX file's graph takes and gives: a module with flat tensor inputs and outputs around a
workbench model, example inputs to trace it with, and which axes stay dynamic.

    encoder (feature-extraction)   input_ids, attention_mask[, token_type_ids]  ─► last_hidden_state
    encoder (text-classification)  input_ids, attention_mask[, token_type_ids]  ─► logits
    decoder (text-generation)      input_ids, attention_mask, position_ids,
                                   past_key_values.{i}.key, past_key_values.{i}.value   (i = 0 .. layers - 1)
                                   ─► logits, present.{i}.key, present.{i}.value

These are the names Hugging Face Optimum gives its exports (and onnxruntime-genai's ``genai_config.json``
templates ``past_key_values.%d.key`` / ``present.%d.key``), so their runners take the file as it is.
Keys and values are (batch, num_key_value_heads, length, head_dim); the decoder's attention mask covers
past and new tokens, (batch, past_sequence_length + sequence_length). A first step passes past
tensors of length 0: one graph serves the prompt and every decode step.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from torch import nn

from ..nn.cache import DynamicCache

BATCH, SEQUENCE, PAST = "batch_size", "sequence_length", "past_sequence_length"
TOTAL = f"{PAST} + {SEQUENCE}"  # the decoder's attention mask, and the present keys and values


@dataclass
class Graph:
    """A module to export and how: ``module(*example)`` runs it; ``dynamic_shapes`` follows the
    structure of ``example`` (``torch.export`` dims); ``axis_names`` maps (input or output name,
    axis) to the symbolic name the ONNX file should show for it."""

    module: nn.Module
    example: tuple
    input_names: list[str]
    output_names: list[str]
    dynamic_shapes: tuple
    axis_names: dict[tuple[str, int], str]


def _dims():
    return torch.export.Dim(BATCH, max=4096), torch.export.Dim(SEQUENCE, max=1 << 20)


class EncoderGraph(nn.Module):
    """An encoder's one output (``last_hidden_state`` or ``logits``) from flat inputs."""

    def __init__(self, model: nn.Module, output: str, token_types: bool) -> None:
        super().__init__()
        self.model, self.output, self.token_types = model, output, token_types

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        extra = {"token_type_ids": token_type_ids} if self.token_types else {}
        return getattr(self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True, **extra),
                       self.output)


def takes_token_types(model: nn.Module) -> bool:
    """Whether the encoder reads segment ids: its forward takes them and its config has more than one."""
    accepts = "token_type_ids" in inspect.signature(model.forward).parameters
    return accepts and getattr(model.config, "type_vocab_size", 0) > 1


def encoder_graph(model: nn.Module, output: str) -> Graph:
    """(batch, sequence) token inputs -> ``output``; traced with a batch of 2 and 8 tokens."""
    token_types = takes_token_types(model)
    batch, sequence = _dims()
    ids = torch.randint(0, model.config.vocab_size, (2, 8), generator=torch.Generator().manual_seed(0))
    example = (ids, torch.ones_like(ids)) + ((torch.zeros_like(ids),) if token_types else ())
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if token_types else [])
    axes = {(name, 0): BATCH for name in names} | {(name, 1): SEQUENCE for name in names}
    axes |= {(output, 0): BATCH} | ({(output, 1): SEQUENCE} if output == "last_hidden_state" else {})
    shapes = tuple({0: batch, 1: sequence} for _ in names)
    return Graph(EncoderGraph(model, output, token_types), example, names, [output], shapes, axes)


class DecoderGraph(nn.Module):
    """A causal LM step over flat past keys and values: ``(input_ids, attention_mask, position_ids,
    past)`` -> ``(logits, *present)``, ``past`` and ``present`` as [key 0, value 0, key 1, ...]."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.layers = model, model.config.num_hidden_layers

    def forward(self, input_ids, attention_mask, position_ids, past: list[torch.Tensor]):
        cache = DynamicCache()  # every position concatenated: a windowed layer's window is in the mask
        for layer in range(self.layers):
            cache.update(past[2 * layer], past[2 * layer + 1], layer)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=cache, use_cache=True, return_dict=True)
        present = [tensor for layer in range(self.layers) for tensor in out.past_key_values[layer]]
        return (out.logits, *present)


def kv_shape(config) -> tuple[int, int]:
    """(num_key_value_heads, head_dim) of a decoder's cache."""
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return kv_heads, head_dim


def past_names(layers: int, prefix: str = "past_key_values") -> list[str]:
    """``past_key_values.0.key, past_key_values.0.value, ...`` (``present`` for the outputs)."""
    return [f"{prefix}.{layer}.{kind}" for layer in range(layers) for kind in ("key", "value")]


def decoder_graph(model: nn.Module) -> Graph:
    """Traced with a batch of 2, 3 new tokens after 4 past ones (none of the sizes 0 or 1, which
    ``torch.export`` would fix as constants)."""
    config = model.config
    layers, (kv_heads, head_dim) = config.num_hidden_layers, kv_shape(config)
    batch, sequence = _dims()
    past_length = torch.export.Dim(PAST, max=1 << 20)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (2, 3), generator=generator)
    dtype = next(model.parameters()).dtype
    past = [torch.randn(2, kv_heads, 4, head_dim, generator=generator).to(dtype) for _ in range(2 * layers)]
    example = (ids, torch.ones(2, 7, dtype=torch.long), torch.arange(4, 7).expand(2, 3).contiguous(), past)
    inputs = ["input_ids", "attention_mask", "position_ids", *past_names(layers)]
    outputs = ["logits", *past_names(layers, "present")]
    # the mask's length is past + new tokens: a sum torch.export works out itself (Dim.AUTO)
    shapes = ({0: batch, 1: sequence}, {0: batch, 1: torch.export.Dim.AUTO}, {0: batch, 1: sequence},
              [{0: batch, 2: past_length} for _ in past])
    axes = {("input_ids", 0): BATCH, ("input_ids", 1): SEQUENCE, ("attention_mask", 0): BATCH,
            ("attention_mask", 1): TOTAL, ("position_ids", 0): BATCH, ("position_ids", 1): SEQUENCE,
            ("logits", 0): BATCH, ("logits", 1): SEQUENCE}
    axes |= {(name, 0): BATCH for name in inputs[3:] + outputs[1:]}
    axes |= {(name, 2): PAST for name in inputs[3:]} | {(name, 2): TOTAL for name in outputs[1:]}
    return Graph(DecoderGraph(model), example, inputs, outputs, shapes, axes)
