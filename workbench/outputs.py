"""Model outputs: dataclasses that also behave like ordered dicts and tuples.

``out.logits``, ``out["logits"]`` and ``out[0]`` all work, and fields left as ``None`` are
skipped by keys, iteration and indexing, as users of the reference library expect.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Optional

import torch


class ModelOutput(OrderedDict):
    """Subclasses are dataclasses whose non-None fields are also the dict's items."""

    def __post_init__(self) -> None:
        names = [field.name for field in fields(self)]
        first = getattr(self, names[0]) if names else None
        if isinstance(first, Mapping) and all(getattr(self, name) is None for name in names[1:]):
            # built from a mapping, as accelerate rebuilds outputs (type(output)({...})) under mixed precision
            object.__setattr__(self, names[0], None)
            for key, value in first.items():
                object.__setattr__(self, key, value)
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None:
                super().__setitem__(field.name, value)

    def __getitem__(self, key: str | int | slice) -> Any:
        if isinstance(key, str):
            return dict(self.items())[key]
        return self.to_tuple()[key]

    def __setattr__(self, name: str, value: Any) -> None:
        if value is not None and name in {f.name for f in fields(self)}:
            super().__setitem__(name, value)
        super().__setattr__(name, value)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        super().__setattr__(key, value)

    def __reduce__(self):
        return type(self), tuple(getattr(self, f.name) for f in fields(self))

    def to_tuple(self) -> tuple:
        return tuple(self[k] for k in self.keys())


Tensor = Optional[torch.Tensor]
Tensors = Optional[tuple]


@dataclass
class BaseModelOutput(ModelOutput):
    last_hidden_state: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class BaseModelOutputWithPast(ModelOutput):
    last_hidden_state: Tensor = None
    past_key_values: Any = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class BaseModelOutputWithPooling(ModelOutput):
    last_hidden_state: Tensor = None
    pooler_output: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class CausalLMOutputWithPast(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None
    past_key_values: Any = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class CausalLMOutputWithCrossAttentions(ModelOutput):
    """A causal LM that attends to an encoder (GPT-2 inside an encoder-decoder): ``cross_attentions`` one
    (B, H, T, S) map per layer."""

    loss: Tensor = None
    logits: Tensor = None
    past_key_values: Any = None
    hidden_states: Tensors = None
    attentions: Tensors = None
    cross_attentions: Tensors = None


@dataclass
class MoeModelOutputWithPast(ModelOutput):
    """A mixture-of-experts decoder's outputs; ``router_logits`` holds one (B·T, num_experts)
    tensor per sparse layer (with ``output_router_logits``)."""

    last_hidden_state: Tensor = None
    past_key_values: Any = None
    hidden_states: Tensors = None
    attentions: Tensors = None
    router_logits: Tensors = None


@dataclass
class MoeCausalLMOutputWithPast(ModelOutput):
    """:class:`CausalLMOutputWithPast` plus ``router_logits`` and the load-balancing ``aux_loss``
    (with ``output_router_logits``; ``loss`` then includes ``router_aux_loss_coef * aux_loss``)."""

    loss: Tensor = None
    aux_loss: Tensor = None
    logits: Tensor = None
    past_key_values: Any = None
    hidden_states: Tensors = None
    attentions: Tensors = None
    router_logits: Tensors = None


@dataclass
class MaskedLMOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class SequenceClassifierOutputWithPast(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None
    past_key_values: Any = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    loss: Tensor = None
    start_logits: Tensor = None
    end_logits: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class MultipleChoiceModelOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class BaseModelOutputWithPastAndCrossAttentions(ModelOutput):
    """A decoder that attends to an encoder: ``cross_attentions`` are its attention maps over the
    encoder positions, one (B, H, T, S) tensor per layer."""

    last_hidden_state: Tensor = None
    past_key_values: Any = None
    hidden_states: Tensors = None
    attentions: Tensors = None
    cross_attentions: Tensors = None


@dataclass
class Seq2SeqModelOutput(ModelOutput):
    """Encoder-decoder base model: ``last_hidden_state`` is the decoder's; the encoder's outputs
    carry the ``encoder_`` prefix."""

    last_hidden_state: Tensor = None
    past_key_values: Any = None
    decoder_hidden_states: Tensors = None
    decoder_attentions: Tensors = None
    cross_attentions: Tensors = None
    encoder_last_hidden_state: Tensor = None
    encoder_hidden_states: Tensors = None
    encoder_attentions: Tensors = None


@dataclass
class Seq2SeqLMOutput(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None
    past_key_values: Any = None
    decoder_hidden_states: Tensors = None
    decoder_attentions: Tensors = None
    cross_attentions: Tensors = None
    encoder_last_hidden_state: Tensor = None
    encoder_hidden_states: Tensors = None
    encoder_attentions: Tensors = None


@dataclass
class Seq2SeqSequenceClassifierOutput(Seq2SeqLMOutput):
    """The same fields as :class:`Seq2SeqLMOutput`; ``logits`` are (B, num_labels)."""


# --- vision: convnext (convolutional image models: no attention maps)


@dataclass
class BaseModelOutputWithPoolingAndNoAttention(ModelOutput):
    """A convolutional image model: ``last_hidden_state`` (B, C, H, W), ``pooler_output`` (B, C),
    ``hidden_states`` the feature maps of its stages."""

    last_hidden_state: Tensor = None
    pooler_output: Tensor = None
    hidden_states: Tensors = None


@dataclass
class ImageClassifierOutputWithNoAttention(ModelOutput):
    loss: Tensor = None
    logits: Tensor = None  # (B, num_labels)
    hidden_states: Tensors = None


# --- vision heads --------------------------------------------------------------------------


@dataclass
class ImageClassifierOutput(ModelOutput):
    """An image classifier's (B, num_labels) ``logits``; ``hidden_states`` and ``attentions`` are
    the family's per-stage (or per-layer) ones."""

    loss: Tensor = None
    logits: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class SemanticSegmenterOutput(ModelOutput):
    """A segmenter's (B, num_labels, h, w) ``logits``, at the resolution its head works at (often a
    fraction of the image's: upsample them to the image to read a mask)."""

    loss: Tensor = None
    logits: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class MaskedImageModelingOutput(ModelOutput):
    """``reconstruction`` (B, C, H, W): the pixels predicted from the patch tokens."""

    loss: Tensor = None
    reconstruction: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


@dataclass
class BackboneOutput(ModelOutput):
    """A backbone's ``feature_maps``: one (B, C, h, w) map per stage of ``config.out_features``."""

    feature_maps: Tensors = None
    hidden_states: Tensors = None
    attentions: Tensors = None
