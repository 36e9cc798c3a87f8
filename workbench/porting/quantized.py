"""What an activation diff says about quantized layers: which modules of each model are quantized,
whether the diff compared them, and where the quantization error enters.

A model quantized by ``load_in_8bit`` / ``load_in_4bit`` keeps the float model's module names
(``model.layers.0.self_attn.q_proj``) with other classes (``Int8Linear`` for ``Linear``), so the
diff pairs them by name. The verdict of such a diff gets lines of kind ``"quantized"``:

    Quantized in the candidate: 14 Int8Linear (self_attn.q_proj, ..., mlp.down_proj in model.layers
    0-1); kept float: lm_head; 14 of the 14 quantized layers compared.
    Quantization error enters at model.layers.0.self_attn.q_proj (Int8Linear): its input is the
    reference's exactly, its output is off by max abs err 1.304e-02; ...

The entry point does not depend on the tolerance (a quantized diff is often judged at the int8 or
4bit preset, where nothing "diverges"): it is the first module, in execution order, whose output
differs at all while its input is exactly the reference's. When a model has quantized layers and
none of them was compared (filtered out by ``include=`` / ``exclude=``, or not called), the verdict
says so as a warning instead of calling the diff clean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import nn

from .formatting import fmt
from .tolerance import quantized_modules

if TYPE_CHECKING:  # pragma: no cover
    from .report import DiffReport, DiffRow

_NUMBERED = re.compile(r"^(.*?)\.(\d+)\.(.+)$")  # "model.layers.3.mlp.up_proj" -> stack, layer, rest


@dataclass
class QuantizedLayers:
    """One model's quantized modules ``{name: class name}`` and the Linear layers it kept float."""

    layers: dict[str, str]
    kept_float: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, model: nn.Module) -> "QuantizedLayers":
        layers = quantized_modules(model)
        kept = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)] if layers else []
        return cls(layers, kept)

    def to_dict(self) -> dict[str, Any]:
        return {"layers": dict(self.layers), "kept_float": list(self.kept_float)}


def _layer_span(numbers: list[int]) -> str:
    """``0-29`` for a run, ``0, 2, 5`` otherwise."""
    numbers = sorted(set(numbers))
    if numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 1:
        return f"{numbers[0]}-{numbers[-1]}"
    return ", ".join(map(str, numbers))


def describe_names(names: list[str], show: int = 8) -> str:
    """Module names grouped by their place in a stack of layers: ``self_attn.q_proj, mlp.up_proj in
    model.layers 0-29``; names outside numbered stacks as they are."""
    stacks: dict[str, dict[str, list[int]]] = {}
    loose: list[str] = []
    for name in names:
        match = _NUMBERED.match(name)
        if match:
            stacks.setdefault(match.group(1), {}).setdefault(match.group(3), []).append(int(match.group(2)))
        else:
            loose.append(name)
    parts = []
    for stack, rests in stacks.items():
        spans = {_layer_span(numbers) for numbers in rests.values()}
        shown = list(rests)[:show] + ([f"... ({len(rests) - show} more)"] if len(rests) > show else [])
        if len(spans) == 1:
            parts.append(f"{', '.join(shown)} in {stack} {spans.pop()}")
        else:
            parts += [f"{rest} in {stack} {_layer_span(rests[rest])}" for rest in list(rests)[:show]]
    parts += loose[:show] + ([f"... ({len(loose) - show} more)"] if len(loose) > show else [])
    return "; ".join(parts)


def error_entry(report: "DiffReport") -> "DiffRow | None":
    """The first row whose output differs at all while its module's input is exactly the reference's:
    where an error enters, whatever the tolerance. None when every row is identical."""
    differing = [row for row in report.rows if row.max_abs_err is None or row.max_abs_err > 0]
    return next((row for row in differing if row.input_max_abs_err == 0.0), differing[0] if differing else None)


def _side_lines(report: "DiffReport", side: str, found: QuantizedLayers) -> list[tuple[str, str]]:
    attr = f"{side}_module"
    compared = {getattr(row, attr).split("#")[0] for row in report.rows} & set(found.layers)
    counts: dict[str, int] = {}
    for type_name in found.layers.values():
        counts[type_name] = counts.get(type_name, 0) + 1
    kinds = ", ".join(f"{count} {type_name}" for type_name, count in counts.items())
    kept = f"; kept float: {describe_names(found.kept_float)}" if found.kept_float else ""
    lines = [("quantized", f"Quantized in the {side}: {kinds} ({describe_names(list(found.layers))}){kept}; "
                           f"{len(compared)} of the {len(found.layers)} quantized layers compared")]
    if not compared:
        lines.append(("warning", f"None of the {side}'s {len(found.layers)} quantized layers was compared, so this "
                                 "diff says nothing about the quantization error: drop include=/exclude= (or widen "
                                 "them) so the quantized Linear layers are recorded, and run both models on the "
                                 "same inputs"))
    return lines


def quantized_lines(report: "DiffReport") -> list[tuple[str, str]]:
    """The verdict's lines on quantized layers (empty when neither model has any): which are
    quantized on each side, how many were compared, where the error enters and how large it gets."""
    sides = getattr(report, "quantized", None) or {}
    lines = [line for side, found in sides.items() if found.layers for line in _side_lines(report, side, found)]
    if not lines or any(kind == "warning" for kind, _ in lines):
        return lines
    entry = error_entry(report)
    if entry is None:
        return lines + [("quantized", "The quantized layers give exactly the float layers' outputs: no quantization "
                                      "error on these inputs")]
    names = {name for found in sides.values() for name in found.layers}
    in_quantized = [row for row in report.rows if row.max_abs_err is not None
                    and (row.reference_module in names or row.candidate_module in names)]
    where = (f"its input is the reference's exactly, its output is off by max abs err {fmt(entry.max_abs_err)}"
             if entry.input_max_abs_err == 0.0 else f"max abs err {fmt(entry.max_abs_err)}")
    is_quantized = entry.reference_module in names or entry.candidate_module in names
    note = "" if is_quantized else " (not a quantized layer: something else differs before the quantized layers)"
    spread = ""
    if in_quantized:
        low = min(in_quantized, key=lambda row: row.max_abs_err)
        high = max(in_quantized, key=lambda row: row.max_abs_err)
        spread = (f"; across the quantized layers max abs err {fmt(low.max_abs_err)} ({low.candidate_module}) to "
                  f"{fmt(high.max_abs_err)} ({high.candidate_module})")
    output = report.output_row()
    at_output = "" if output is None else f"; at the model's output {fmt(output.max_abs_err)}"
    return lines + [("quantized", f"Quantization error enters at {entry.candidate_module or '(model)'} "
                                  f"({entry.candidate_type}){note}: {where}{spread}{at_output}")]
