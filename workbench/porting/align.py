"""Pair the module calls of a reference capture with those of a candidate capture.

Three ways, picked by ``how`` in :func:`align`:

- ``"name"``: identical module names (a port that keeps the checkpoint's key names, two
  checkpoints of one architecture, one model in two dtypes).
- a mapping ``{reference regex: candidate template}`` (``re.fullmatch`` + ``match.expand``, so
  ``{r"model\\.layers\\.(\\d+)\\.attn": r"h.\\1.attention"}``), or a callable ``name -> name | None``.
  Names no pattern matches fall back to the identical name; a callable returning None leaves the
  module unmatched.
- ``"order"``: the two call orders aligned as sequences of (kind, shape, pass-through) signatures
  with difflib, where the kind is a coarse reading of the class name (``LlamaRMSNorm`` and
  ``RMSNorm`` are both ``norm``) and pass-through says the module returned a tensor an inner or
  earlier module already returned (a conv-norm-activation wrapper returns its activation's output;
  so a wrapper never pairs with a bare conv of the same shape). Extra or missing modules on either
  side (a wrapper ``nn.Sequential``, an ``Identity``) become gaps instead of shifting every later pair.
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
    ("normactivation", "conv"),  # torchvision's Conv2dNormActivation: a conv block, not a norm
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


def _pass_through(calls: list[ModuleCall]) -> set[int]:
    """ids of the calls whose first output is a tensor they were given or that a call returning
    before them returned too (the capture shares one copy per tensor): wrappers and identities."""
    seen: set[int] = set()
    through: set[int] = set()
    for call in sorted(calls, key=lambda c: c.order):
        if call.input is not None and call.input.tensor is not None:
            seen.add(id(call.input.tensor))
        tensors = [id(leaf.tensor) for leaf in call.outputs if leaf.tensor is not None]
        if tensors and tensors[0] in seen:
            through.add(id(call))
        seen.update(tensors)
    return through


def _alias_sources(calls: list[ModuleCall]) -> dict[int, ModuleCall]:
    """id(call) -> the call inside it that first returned the same tensor, for wrappers that return
    a tensor one of their own submodules returned (not a Dropout or Identity passing on its input)."""
    first: dict[int, ModuleCall] = {}
    sources: dict[int, ModuleCall] = {}
    for call in sorted(calls, key=lambda c: c.order):
        if call.outputs and call.outputs[0].tensor is not None:
            key = id(call.outputs[0].tensor)
            if key in first and first[key].start > call.start:  # began after the call: inside it
                sources[id(call)] = first[key]
            else:
                first[key] = call
    return sources


def _pair_aliases(ref_calls: list[ModuleCall], cand_calls: list[ModuleCall], pairs: list) -> list:
    """Unpaired wrappers on both sides that return the tensors of one paired call pair too, in return
    order (``features.1`` and ``conv_stem`` both return the output of a paired norm): they hold the
    same values as that pair, under the two models' own structure."""
    partner = {id(ref): cand for ref, cand in pairs}
    used = {id(call) for pair in pairs for call in pair}
    ref_sources, cand_sources = _alias_sources(ref_calls), _alias_sources(cand_calls)
    waiting: dict[int, list[ModuleCall]] = {}  # id(candidate source) -> its unpaired candidate aliases
    for call in sorted(cand_calls, key=lambda c: c.order):
        if id(call) not in used and id(call) in cand_sources:
            waiting.setdefault(id(cand_sources[id(call)]), []).append(call)
    found = []
    for call in sorted(ref_calls, key=lambda c: c.order):
        source = ref_sources.get(id(call))
        if id(call) in used or source is None or id(source) not in partner:
            continue
        queue = waiting.get(id(partner[id(source)]))
        if queue:
            found.append((call, queue.pop(0)))
    return found


def _signatures(calls: list[ModuleCall]):
    """(kind, shape, pass-through) per call, and the same with kinds no class name tells as "?"."""
    through = _pass_through(calls)

    def signature(call: ModuleCall) -> tuple:
        shape = call.outputs[0].shape if call.outputs else None
        return module_kind(call.type), shape, id(call) in through

    def unknown_kind(call: ModuleCall) -> tuple:  # a Sequential's class name tells nothing either
        kind, shape, passes = signature(call)
        return ("?" if kind not in _KNOWN_KINDS or kind == "sequential" else kind), shape, passes

    return signature, unknown_kind


def align_by_order(ref_calls: list[ModuleCall], cand_calls: list[ModuleCall]) -> Alignment:
    """Align the two call orders (parents before children) as sequences of (kind, shape).

    Equal runs pair one to one; inside a replaced run, calls whose class names tell no kind on
    either side (``MoeBlock`` and ``SparseExperts``) pair again by output shape. Wrappers still
    unpaired that return the tensor of a paired call pair with each other. The two models
    themselves always pair.
    """
    ref = sorted(ref_calls, key=lambda c: c.start)
    cand = sorted(cand_calls, key=lambda c: c.start)
    pairs: list[tuple[ModuleCall, ModuleCall]] = []
    if ref and cand and ref[0].name == "" and cand[0].name == "":
        pairs.append((ref[0], cand[0]))
        ref, cand = ref[1:], cand[1:]
    ref_sig, ref_unknown = _signatures(ref_calls)
    cand_sig, cand_unknown = _signatures(cand_calls)
    pairs += _match(ref, cand, (ref_sig, cand_sig), (ref_unknown, cand_unknown))
    pairs += _pair_aliases(ref_calls, cand_calls, pairs)
    used = {id(c) for pair in pairs for c in pair}
    pairs.sort(key=lambda pair: pair[0].order)
    return Alignment(pairs, [c for c in ref_calls if id(c) not in used],
                     [c for c in cand_calls if id(c) not in used], "order")


def _match(ref: list[ModuleCall], cand: list[ModuleCall], signatures, second_pass=None) -> list:
    """difflib over the two signature sequences (``signatures`` = (reference's, candidate's));
    inside a replaced run, ``second_pass`` (the same with unknown kinds as "?") pairs again."""
    a, b = [signatures[0](c) for c in ref], [signatures[1](c) for c in cand]
    pairs = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            pairs += list(zip(ref[i1:i2], cand[j1:j2]))
        elif tag == "replace" and second_pass is not None:
            pairs += _match(ref[i1:i2], cand[j1:j2], second_pass)
    return pairs
