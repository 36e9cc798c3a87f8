"""Pair the module calls of a reference capture with those of a candidate capture.

Three ways, picked by ``how`` in :func:`align`:

- ``"name"``: identical module names (a port that keeps the checkpoint's key names, two
  checkpoints of one architecture, one model in two dtypes).
- a mapping ``{reference regex: candidate template}`` (``re.fullmatch`` + ``match.expand``, so
  ``{r"model\\.layers\\.(\\d+)\\.attn": r"h.\\1.attention"}``), or a callable ``name -> name | None``.
  Names no pattern matches fall back to the identical name; a callable returning None leaves the
  module unmatched.
- ``"order"``: the two call orders aligned as sequences of (kind, shape) signatures with difflib,
  where the kind is a coarse reading of the class name (``LlamaRMSNorm`` and ``RMSNorm`` are both
  ``norm``). Extra or missing modules on either side (a wrapper ``nn.Sequential``, an ``Identity``)
  become gaps instead of shifting every later pair.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Union

from .capture import ActivationCapture, ModuleCall

Mapper = Union[Mapping[str, str], Callable[[str], Union[str, None]]]
AlignSpec = Union[str, Mapper]

# (substring of the lower-cased class name, kind), first hit wins
_KINDS = (
    ("embed", "embedding"), ("norm", "norm"), ("rotary", "rotary"), ("rope", "rotary"), ("linear", "linear"),
    ("conv1d", "linear"), ("conv", "conv"), ("attention", "attention"), ("attn", "attention"), ("mlp", "mlp"),
    ("feedforward", "mlp"), ("ffn", "mlp"), ("dropout", "dropout"), ("gelu", "activation"), ("silu", "activation"),
    ("swish", "activation"), ("relu", "activation"), ("tanh", "activation"), ("sigmoid", "activation"),
    ("activation", "activation"), ("identity", "identity"), ("sequential", "sequential"), ("layer", "block"),
    ("block", "block"), ("model", "model"),
)

_KNOWN_KINDS = {kind for _, kind in _KINDS}


@dataclass
class Alignment:
    """Pairs of (reference call, candidate call) in the reference's execution order, and the calls
    left without a partner on each side."""

    pairs: list[tuple[ModuleCall, ModuleCall]]
    unmatched_reference: list[ModuleCall] = field(default_factory=list)
    unmatched_candidate: list[ModuleCall] = field(default_factory=list)
    method: str = "name"


def module_kind(type_name: str) -> str:
    """A coarse kind for a class name: ``"LlamaRMSNorm"`` -> ``"norm"``, ``"Conv1D"`` -> ``"linear"``."""
    lower = type_name.lower()
    return next((kind for part, kind in _KINDS if part in lower), lower)


def align(reference: ActivationCapture, candidate: ActivationCapture, how: AlignSpec = "name") -> Alignment:
    """Pair the calls of two captures by ``"name"``, by ``"order"``, or by a mapping (see the module doc)."""
    ref_calls, cand_calls = list(reference.calls), list(candidate.calls)
    if isinstance(how, str):
        if how == "name":
            return align_by_name(ref_calls, cand_calls)
        if how == "order":
            return align_by_order(ref_calls, cand_calls)
        raise ValueError(f"align={how!r} is not an alignment; use 'name', 'order', a dict of "
                         "{reference regex: candidate name} or a callable reference name -> candidate name.")
    if isinstance(how, Mapping) or callable(how):
        return align_by_name(ref_calls, cand_calls, rename=how)
    raise TypeError(f"align must be 'name', 'order', a dict or a callable, not {type(how).__name__}.")


def renamer(mapping: Mapper) -> Callable[[str], Union[str, None]]:
    """A function reference name -> candidate name from a mapping of regexes or a callable."""
    if callable(mapping) and not isinstance(mapping, Mapping):
        return mapping
    compiled = []
    for pattern, template in mapping.items():
        try:
            compiled.append((re.compile(pattern), template))
        except re.error as error:
            raise ValueError(f"align mapping key {pattern!r} is not a valid regex ({error}).") from None

    def rename(name: str) -> str:
        for pattern, template in compiled:
            match = pattern.fullmatch(name)
            if match:
                return match.expand(template)
        return name

    return rename


def align_by_name(ref_calls: list[ModuleCall], cand_calls: list[ModuleCall],
                  rename: Mapper | None = None) -> Alignment:
    """Pair calls whose (renamed) module names and call indices are equal."""
    to_candidate = renamer(rename) if rename is not None else (lambda name: name)
    by_key = {(call.name, call.call): call for call in cand_calls}
    pairs, unmatched = [], []
    for call in ref_calls:
        target = to_candidate(call.name)
        partner = by_key.pop((target, call.call), None) if target is not None else None
        if partner is None:
            unmatched.append(call)
        else:
            pairs.append((call, partner))
    used = {id(c) for _, c in pairs}
    return Alignment(pairs, unmatched, [c for c in cand_calls if id(c) not in used],
                     "name" if rename is None else "mapping")


def _signature(call: ModuleCall) -> tuple:
    shape = call.outputs[0].shape if call.outputs else None
    return module_kind(call.type), shape


def _unknown_kind_signature(call: ModuleCall) -> tuple:
    kind, shape = _signature(call)
    return ("?" if kind not in _KNOWN_KINDS else kind), shape


def align_by_order(ref_calls: list[ModuleCall], cand_calls: list[ModuleCall]) -> Alignment:
    """Align the two call orders (parents before children) as sequences of (kind, shape).

    Equal runs pair one to one; inside a replaced run, calls whose class names tell no kind on
    either side (``MoeBlock`` and ``SparseExperts``) pair again by output shape. The two models
    themselves always pair.
    """
    ref = sorted(ref_calls, key=lambda c: c.start)
    cand = sorted(cand_calls, key=lambda c: c.start)
    pairs: list[tuple[ModuleCall, ModuleCall]] = []
    if ref and cand and ref[0].name == "" and cand[0].name == "":
        pairs.append((ref[0], cand[0]))
        ref, cand = ref[1:], cand[1:]
    pairs += _match(ref, cand, _signature)
    used = {id(c) for pair in pairs for c in pair}
    pairs.sort(key=lambda pair: pair[0].order)
    return Alignment(pairs, [c for c in ref_calls if id(c) not in used],
                     [c for c in cand_calls if id(c) not in used], "order")


def _match(ref: list[ModuleCall], cand: list[ModuleCall], signature, second_pass: bool = True) -> list:
    a, b = [signature(c) for c in ref], [signature(c) for c in cand]
    pairs = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            pairs += list(zip(ref[i1:i2], cand[j1:j2]))
        elif tag == "replace" and second_pass:
            pairs += _match(ref[i1:i2], cand[j1:j2], _unknown_kind_signature, second_pass=False)
    return pairs
