"""How far apart two activations may be before the diff calls it a divergence, by the precision the
two models compute in.

A tensor passes when ``max|cand - ref| <= atol + rtol * max|ref|`` (one bound per tensor; see
:meth:`~workbench.porting.report.DiffRow.exceeds`). A port held to float32's bound while it runs in
bfloat16 fails everywhere from the embeddings on, which says nothing; so the bound follows the
*lower* precision of the two models' parameters (a bfloat16 candidate against a float32 reference
is judged as bfloat16):

========== ======= ======= ==============================================================
preset     atol    rtol    where the numbers come from
========== ======= ======= ==============================================================
float32    1e-5    1e-4    the same math in another order differs by ~1e-6 per layer
float16    1e-3    3e-2    SmolLM2-135M (30 layers) in float16 vs float32: at most
                           0.015 x max|ref| in any module output (2x margin)
bfloat16   1e-2    1e-1    the same model in bfloat16: at most 0.056 x max|ref| (~2x margin)
int8       2e-2    2e-1    int8 weights (dynamic quantization, 8-bit loaders): coarse
4bit       5e-2    4e-1    4-bit weights: coarse
========== ======= ======= ==============================================================

A broken port (a permuted or transposed weight, a wrong norm) moves a module's output by about
``max|ref|`` (cosine near 0), far past even the 4-bit bound; an error as small as a wrong norm
epsilon hides below bfloat16's rounding and needs a float32 comparison to show.
``preset=`` picks a row by name, ``atol=`` / ``rtol=`` override it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

# lowest precision last: the order "the lower precision wins" reads
PRESETS = {
    "float32": (1e-5, 1e-4),
    "float16": (1e-3, 3e-2),
    "bfloat16": (1e-2, 1e-1),
    "int8": (2e-2, 2e-1),
    "4bit": (5e-2, 4e-1),
}
_RANK = {name: rank for rank, name in enumerate(PRESETS)}
_FLOAT = {torch.float16: "float16", torch.bfloat16: "bfloat16"}
_INT8 = {torch.int8, torch.uint8, torch.qint8, torch.quint8}
_FOUR_BIT_NAMES = ("4bit", "int4", "nf4", "fp4")


@dataclass(frozen=True)
class Tolerance:
    """The bound a diff uses and why: ``preset`` names the row of :data:`PRESETS`, ``reason`` says
    how it was chosen (``"the candidate's parameters are bfloat16"``, ``"given"``)."""

    atol: float
    rtol: float
    preset: str
    reason: str

    def describe(self) -> str:
        return f"atol={self.atol:g} rtol={self.rtol:g} ({self.preset} preset: {self.reason})"


def module_quantization(module: nn.Module) -> str | None:
    """``"4bit"`` or ``"int8"`` when ``module``'s own weight is quantized, else None: a class name
    that says 4-bit (``Int4Linear``, ``Linear4bit``), PyTorch's quantized modules, or an 8-bit
    integer weight (a parameter, or a buffer named ``weight`` as workbench's ``Int8Linear`` keeps it)."""
    name = type(module).__name__.lower()
    if any(part in name for part in _FOUR_BIT_NAMES):
        return "4bit"
    if type(module).__module__.startswith("torch.ao.nn.quantized"):
        return "4bit" if getattr(module, "dtype", None) == torch.quint4x2 else "int8"
    weight = module._buffers.get("weight")
    weights = list(module.parameters(recurse=False)) + ([weight] if weight is not None else [])
    return "int8" if any(tensor.dtype in _INT8 for tensor in weights) else None


def quantized_modules(model: nn.Module) -> dict[str, str]:
    """``{module name: class name}`` of the modules whose weights are quantized
    (:func:`module_quantization`), outermost only (a quantized Linear's packed-params child is not
    listed again)."""
    found: dict[str, str] = {}
    for name, module in model.named_modules():
        if any(name.startswith(f"{outer}.") for outer in found):
            continue
        if module_quantization(module) is not None:
            found[name] = type(module).__name__
    return found


def module_precision(model: nn.Module) -> str:
    """The lowest precision among ``model``'s weights, as a preset name: ``"4bit"`` or ``"int8"``
    when a module is quantized (:func:`module_quantization`), else ``"bfloat16"`` / ``"float16"``
    when any floating parameter has that dtype, else ``"float32"``."""
    seen = {"float32"}
    for module in model.modules():
        quantized = module_quantization(module)
        if quantized is not None:
            seen.add(quantized)
        for param in module.parameters(recurse=False):
            if param.dtype in _FLOAT:
                seen.add(_FLOAT[param.dtype])
    return max(seen, key=_RANK.__getitem__)


def choose_tolerance(reference_precision: str, candidate_precision: str, *, preset: str | None = None,
                     atol: float | None = None, rtol: float | None = None) -> Tolerance:
    """The :class:`Tolerance` for two models of these precisions: ``preset`` if given, else the
    lower of the two; ``atol`` / ``rtol`` replace the preset's values when given."""
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"preset={preset!r} is not a tolerance preset; use one of {', '.join(PRESETS)} "
                             "(or pass atol= and rtol=).")
        reason = "given"
    else:
        preset = max(reference_precision, candidate_precision, key=_RANK.__getitem__)
        if reference_precision == candidate_precision:
            reason = f"both models' parameters are {preset}"
        else:
            side = "reference" if reference_precision == preset else "candidate"
            reason = f"the {side}'s parameters are {preset}, the lower precision"
    preset_atol, preset_rtol = PRESETS[preset]
    if atol is not None or rtol is not None:
        reason += "; " + ", ".join(f"{name} given" for name, value in (("atol", atol), ("rtol", rtol))
                                   if value is not None)
    return Tolerance(preset_atol if atol is None else float(atol), preset_rtol if rtol is None else float(rtol),
                     preset, reason)
