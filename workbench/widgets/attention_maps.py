"""What the attention view shows, computed without any UI: each layer's and head's attention
weights over a text's tokens, with the numbers that summarise a head.

A model run with ``output_attentions=True`` reports, per layer, weights of shape (B, H, Q, K):
query position q spreads one unit of attention over the key positions k. An encoder (BERT) has
one kind, ``"self"``; so does a decoder (GPT-2, LLaMA), whose rows are causal (position q sees
keys 0..q, so each matrix is lower-triangular). An encoder-decoder (T5, BART) has three:
``"encoder"`` self-attention over the source, ``"decoder"`` causal self-attention over the target,
and ``"cross"``: decoder positions (rows) over the encoder's (columns).

Summaries per head: the *entropy* of each row in bits, averaged over the rows (0: every query
looks at one token; log2(K): spread evenly), and the key token that receives the most attention
on average, with that average (a head that parks its attention on ``[SEP]`` or the first token
shows it at once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .token_view import readable, show_whitespace, special_ids, vocabulary_style

DEFAULT_MAX_TOKENS = 64
KINDS = ("self", "encoder", "decoder", "cross")
# where each kind lives in a model's output
OUTPUT_FIELDS = {"self": "attentions", "encoder": "encoder_attentions", "decoder": "decoder_attentions",
                 "cross": "cross_attentions"}


@dataclass
class AttentionMap:
    """One kind of attention of one sequence: ``weights`` (layers, heads, queries, keys), float32
    (read-only once made: the summaries are computed once and kept)."""

    kind: str
    weights: np.ndarray
    query_tokens: list[str]
    key_tokens: list[str]

    @property
    def num_layers(self) -> int:
        return self.weights.shape[0]

    @property
    def num_heads(self) -> int:
        return self.weights.shape[1]

    @cached_property
    def causal(self) -> bool:
        """Whether every head is lower-triangular (no query sees a later key), as a decoder's self-attention."""
        queries, keys = self.weights.shape[-2:]
        if self.kind == "cross" or queries != keys or queries < 2:
            return False
        above = np.triu(np.ones((queries, keys), dtype=bool), 1)
        return bool(np.all(self.weights[..., above] == 0))

    @cached_property
    def entropy(self) -> np.ndarray:
        """(layers, heads): each row's entropy in bits, averaged over the rows."""
        w = self.weights.astype(np.float64)
        terms = np.where(w > 0, -w * np.log2(np.where(w > 0, w, 1.0)), 0.0)
        return terms.sum(-1).mean(-1)

    @cached_property
    def layer_entropy(self) -> np.ndarray:
        """(layers,): the heads' mean entropy."""
        return self.entropy.mean(-1)

    def top_key(self, layer: int, head: int) -> tuple[int, float]:
        """The key position that receives the most attention on average over the queries, and that average."""
        mean = self.weights[layer, head].mean(0)
        index = int(mean.argmax())
        return index, float(mean[index])

    def top_keys(self, layer: int, head: int, query: int, count: int = 3) -> list[tuple[int, float]]:
        """The ``count`` keys query ``query`` attends to most, heaviest first, with their weights."""
        row = self.weights[layer, head, query]
        order = np.argsort(-row, kind="stable")[:count]
        return [(int(k), float(row[k])) for k in order if row[k] > 0]


# --- tokens ----------------------------------------------------------------------------------------


def readable_tokens(tokenizer, ids: Sequence[int]) -> list[str]:
    """Each id as the text it stands for (``Ġcat`` -> ``·cat``, ``▁cat`` -> ``·cat``), special tokens as
    written."""
    ids = [int(i) for i in ids]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    style, specials = vocabulary_style(tokenizer), special_ids(tokenizer)
    return [token if token_id in specials else show_whitespace(readable(token, style))
            for token_id, token in zip(ids, tokens)]


# --- from a model's output -------------------------------------------------------------------------


def _layers(value, what: str) -> np.ndarray:
    """A tuple of per-layer (B, H, Q, K) tensors (or one such array with layers first) -> (L, B, H, Q, K)."""
    if value is None:
        raise ValueError(f"No {what} attention weights: the model returned none.")
    if hasattr(value, "shape"):  # one array/tensor, layers first
        layers = [value[i] for i in range(value.shape[0])]
    else:
        layers = list(value)
    if not layers:  # what transformers returns for output_attentions=True under SDPA or flash attention
        raise ValueError(f"No {what} attention weights: the model returned an empty tuple, as a fused attention "
                         "kernel (SDPA, flash attention) does. Load the model with attn_implementation=\"eager\".")
    if isinstance(layers[0], (tuple, list)):
        raise ValueError(f"The {what} attention weights are nested one level too deep: generate() returns them per "
                         "step, each step a tuple of layers. Pass one step, e.g. output.attentions[0] (the prompt).")
    missing = [index for index, layer in enumerate(layers) if layer is None]
    if missing:
        raise ValueError(f"Layers {missing} returned no {what} attention weights (None): the attention ran a fused "
                         "kernel that does not compute them. Load the model with attn_implementation=\"eager\".")
    arrays = [np.asarray(_to_numpy(layer), dtype=np.float32) for layer in layers]
    if arrays[0].ndim == 3:  # (H, Q, K): one sequence without a batch axis
        arrays = [array[None] for array in arrays]
    if arrays[0].ndim != 4:
        raise ValueError(f"{what} attention weights should be (batch, heads, queries, keys) per layer; got shape "
                         f"{arrays[0].shape}.")
    return np.stack(arrays)


def _to_numpy(value):
    if hasattr(value, "detach"):  # a torch tensor (any dtype, any device)
        return value.detach().float().cpu().numpy()
    return value


def _kept(mask, batch_index: int, length: int) -> np.ndarray:
    """Positions of one row that the attention mask keeps (all of them without a mask)."""
    if mask is None:
        return np.arange(length)
    row = np.asarray(_to_numpy(mask))
    row = row[batch_index] if row.ndim == 2 else row
    if row.shape[-1] != length:
        raise ValueError(f"The attention mask covers {row.shape[-1]} positions but the attention weights {length}.")
    return np.flatnonzero(row)


def attention_map(kind: str, layers, query_tokens: Sequence[str] | None, key_tokens: Sequence[str] | None = None, *,
                  query_mask=None, key_mask=None, batch_index: int = 0) -> AttentionMap:
    """One :class:`AttentionMap` from a model output's per-layer weights: row ``batch_index`` of the
    batch, with the positions the masks drop (padding) removed from both axes. Tokens default to
    their positions; ``key_tokens`` default to ``query_tokens``."""
    stacked = _layers(layers, kind)  # (L, B, H, Q, K)
    if not 0 <= batch_index < stacked.shape[1]:
        raise IndexError(f"batch_index {batch_index} is outside the batch of {stacked.shape[1]}.")
    weights = stacked[:, batch_index]
    queries = _kept(query_mask, batch_index, weights.shape[-2])
    keys = _kept(key_mask if kind == "cross" else query_mask if key_mask is None else key_mask, batch_index,
                 weights.shape[-1])
    weights = weights[:, :, queries][:, :, :, keys]
    query_tokens = _pick(query_tokens, queries, weights.shape[-2], kind, "query")
    if key_tokens is None and kind != "cross":  # self-attention: the keys are the queries
        key_tokens = query_tokens if weights.shape[-1] == len(query_tokens) else None
    key_tokens = _pick(key_tokens, keys, weights.shape[-1], kind, "key")
    weights = np.ascontiguousarray(weights)
    weights.flags.writeable = False
    return AttentionMap(kind, weights, query_tokens, key_tokens)


def _pick(tokens, kept: np.ndarray, length: int, kind: str, side: str) -> list[str]:
    if tokens is None:
        return [str(int(position)) for position in kept]
    tokens = [str(token) for token in tokens]
    if len(tokens) == length:  # already without the padding
        return tokens
    if len(tokens) > int(kept.max(initial=-1)):
        return [tokens[int(position)] for position in kept]
    raise ValueError(f"{len(tokens)} {side} tokens given for {kind} attention weights over {length} positions.")


def maps_from_output(output, tokens: Sequence[str] | None, decoder_tokens: Sequence[str] | None = None, *,
                     attention_mask=None, decoder_attention_mask=None, batch_index: int = 0) -> dict[str, AttentionMap]:
    """Every kind of attention a model output (or a mapping of kind -> per-layer weights) holds.
    ``tokens`` label the (encoder's) input, ``decoder_tokens`` an encoder-decoder's target."""
    if isinstance(output, Mapping) and set(output) & set(KINDS):
        fields = {kind: output[kind] for kind in KINDS if output.get(kind) is not None}
    elif isinstance(output, Mapping) or hasattr(output, "attentions") or hasattr(output, "encoder_attentions"):
        get = output.get if isinstance(output, Mapping) else lambda name: getattr(output, name, None)
        fields = {kind: get(name) for kind, name in OUTPUT_FIELDS.items() if get(name) is not None}
    else:  # a tuple of per-layer weights
        fields = {"self": output}
    if not fields:
        raise ValueError("The model output holds no attention weights (attentions, encoder_attentions, "
                         "decoder_attentions, cross_attentions are all None): run the model with "
                         "output_attentions=True.")
    masks = {"self": (attention_mask, None), "encoder": (attention_mask, None),
             "decoder": (decoder_attention_mask, None), "cross": (decoder_attention_mask, attention_mask)}
    labels = {"self": (tokens, None), "encoder": (tokens, None), "decoder": (decoder_tokens, None),
              "cross": (decoder_tokens, tokens)}
    return {kind: attention_map(kind, value, labels[kind][0], labels[kind][1], query_mask=masks[kind][0],
                                key_mask=masks[kind][1], batch_index=batch_index)
            for kind, value in fields.items()}


# --- running a model -------------------------------------------------------------------------------


def model_inputs(model, tokenizer, text=None, text_pair=None, target=None, inputs=None) -> dict:
    """The tensors to run: ``inputs`` as given, or ``text`` (and ``text_pair``) tokenized; an
    encoder-decoder also gets ``decoder_input_ids``: ``target`` tokenized and moved one to the right
    behind the decoder's start token (what the decoder reads while it is trained on ``target``)."""
    if inputs is None:
        if tokenizer is None or text is None:
            raise TypeError("AttentionView(model, tokenizer, text) needs a tokenizer and a text, or inputs= (a dict "
                            "of tensors such as the tokenizer returns), or attentions= with tokens=.")
        inputs = tokenizer(text, text_pair, return_tensors="pt")
    inputs = dict(inputs)
    encoder_decoder = bool(getattr(getattr(model, "config", None), "is_encoder_decoder", False))
    if encoder_decoder and "decoder_input_ids" not in inputs:
        if target is None or tokenizer is None:
            raise TypeError(f"{type(model).__name__} is an encoder-decoder: pass target='...' (the text the decoder "
                            "reads) with a tokenizer, or decoder_input_ids in inputs=.")
        labels = tokenizer(text_target=target, return_tensors="pt")["input_ids"]
        if not hasattr(model, "prepare_decoder_input_ids_from_labels"):
            raise TypeError(f"{type(model).__name__} cannot build decoder inputs from a target "
                            "(no prepare_decoder_input_ids_from_labels): pass decoder_input_ids in inputs=.")
        inputs["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(labels)
    return inputs


def check_length(what: str, length: int, max_tokens: int) -> None:
    if length > max_tokens:
        raise ValueError(f"The {what} has {length} tokens; the attention view shows at most max_tokens={max_tokens} "
                         f"(a {max_tokens}x{max_tokens} grid per head stays readable). Shorten the text, or pass "
                         f"max_tokens={length} to draw it all.")


def run_attention(model, inputs: dict):
    """``model(**inputs, output_attentions=True)`` without gradients and in eval mode (dropout off;
    the model's mode is put back afterwards)."""
    import torch

    was_training = getattr(model, "training", False)
    if was_training:
        model.eval()
    try:
        with torch.no_grad():
            return model(**inputs, output_attentions=True, return_dict=True)
    except TypeError as error:
        if "output_attentions" not in str(error):
            raise
        raise TypeError(f"{type(model).__name__}.forward takes no output_attentions argument, so it cannot report "
                        "its attention weights: compute them another way and pass attentions= and tokens=.") from error
    finally:
        if was_training:
            model.train()


def maps_from_model(model, tokenizer, text=None, *, text_pair=None, target=None, inputs=None, tokens=None,
                    decoder_tokens=None, batch_index: int = 0,
                    max_tokens: int = DEFAULT_MAX_TOKENS) -> dict[str, AttentionMap]:
    """Run ``model`` on a text (or ``inputs``) and read every kind of attention it reports, labelled
    by ``tokens`` / ``decoder_tokens`` where given, else by the tokenizer, else by position."""
    inputs = model_inputs(model, tokenizer, text, text_pair, target, inputs)
    for name, what in (("input_ids", "input"), ("decoder_input_ids", "target")):
        if name in inputs:
            check_length(what, _real_length(inputs, name, batch_index), max_tokens)
    output = run_attention(model, inputs)

    def labels(name):
        ids = inputs.get(name)
        if ids is None or tokenizer is None:
            return None
        row = ids[batch_index] if getattr(ids, "ndim", 1) == 2 else ids
        return readable_tokens(tokenizer, row.tolist())

    maps = maps_from_output(output, labels("input_ids") if tokens is None else tokens,
                            labels("decoder_input_ids") if decoder_tokens is None else decoder_tokens,
                            attention_mask=inputs.get("attention_mask"),
                            decoder_attention_mask=inputs.get("decoder_attention_mask"), batch_index=batch_index)
    for kind, found in maps.items():  # inputs without ids (speech features) are checked here
        check_length(f"{kind} attention's sequence", max(found.weights.shape[-2:]), max_tokens)
    return maps


def _real_length(inputs: dict, name: str, batch_index: int) -> int:
    mask = inputs.get("attention_mask" if name == "input_ids" else "decoder_attention_mask")
    if mask is not None:
        return int(len(_kept(mask, batch_index, mask.shape[-1])))
    return int(inputs[name].shape[-1])
