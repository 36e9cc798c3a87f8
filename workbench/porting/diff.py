"""Compare aligned activations: one :class:`DiffRow` per pair of tensor leaves.

Both sides are cast to float64. Errors:

- ``max_abs_err`` = max |cand - ref|; ``mean_abs_err`` its mean;
- ``max_rel_err`` = max |cand - ref| / max(|ref|, floor), where ``floor = rel_floor * max|ref|``
  (1% of the tensor's largest magnitude by default): values near zero are measured against that
  floor instead of themselves, so a bfloat16 rounding of 1e-3 on a value of 1e-6 reads 0.1 (of a
  tensor whose largest value is 0.01), not 1e3;
- ``cosine`` between the two, flattened (over elements finite on both sides);
- a NaN or inf on one side only is an infinite error; the same NaN or inf on both sides is none;
- ``position_errors``: for outputs laid out ``(batch, position, ...)`` like the input ids, the
  max abs error at each token position (``[batch][position]``), so a view can say which tokens
  diverge.

A row *exceeds* a tolerance when ``max_abs_err > atol + rtol * max|ref|`` (allclose with the
relative part scaled by the reference tensor's largest value), or when the shapes differ. The
tolerance comes from the models' precision (:mod:`workbench.porting.tolerance`) unless given.

Alignment coverage: a module *aligned* when it found a partner and at least one pair of tensors
was compared. :class:`AlignmentError` when none did (two unrelated module trees paired by name);
a report whose coverage is under :data:`~workbench.porting.report.LOW_COVERAGE` says so loudly.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import nn

from .align import AlignSpec, Alignment
from .align import align as align_calls
from .capture import ActivationCapture, Leaf, ModuleCall, ModuleFilter, _as_float64, capture
from .report import DEFAULT_REL_FLOOR, LOW_COVERAGE, Coverage, DiffReport, DiffRow, LowCoverageWarning
from .tolerance import choose_tolerance


class AlignmentError(ValueError):
    """No module of one model found a partner in the other: there is nothing to compare."""


def _abs_diff(ref: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
    """|cand - ref| per element; 0 where both hold the same value (infinities, NaNs), inf where one
    side alone is NaN."""
    same = (ref == cand) | (torch.isnan(ref) & torch.isnan(cand))
    return torch.where(same, torch.zeros_like(ref), (cand - ref).abs()).nan_to_num(nan=math.inf)


def error_metrics(reference: torch.Tensor, candidate: torch.Tensor, rel_floor: float = DEFAULT_REL_FLOOR) -> dict:
    """max/mean absolute error, max relative error (see the module doc for its floor) and cosine
    similarity of two same-size tensors."""
    ref = _as_float64(reference).reshape(-1)
    cand = _as_float64(candidate).reshape(-1).to(ref.device)
    if ref.numel() == 0:
        return dict(max_abs_err=0.0, max_rel_err=0.0, mean_abs_err=0.0, cosine=1.0)
    diff = _abs_diff(ref, cand)
    finite = torch.isfinite(ref) & torch.isfinite(cand)
    x, y = ref[finite], cand[finite]
    absmax = float(x.abs().max()) if x.numel() else 0.0
    floor = max(rel_floor * absmax, 1e-300)
    rel = (diff / ref.abs().clamp(min=floor)).nan_to_num(nan=math.inf)  # inf / inf -> inf
    norms = float(x.norm()) * float(y.norm())
    if norms == 0.0:
        cosine = 1.0 if float(x.abs().sum() + y.abs().sum()) == 0.0 else 0.0
    else:
        cosine = max(-1.0, min(1.0, float(x @ y) / norms))
    return dict(max_abs_err=float(diff.max()), max_rel_err=float(rel.max()), mean_abs_err=float(diff.mean()),
                cosine=cosine)


def position_errors(ref: Leaf, cand: Leaf, token_shape: tuple[int, ...] | None) -> list[list[float]] | None:
    """Max abs error per token position, ``[batch][position]``, for leaves whose shape starts with
    the input ids' shape ``(batch, positions)`` (or ``(positions,)``); None for other layouts and
    for tensors kept only in part (``max_elements``)."""
    if not token_shape or ref.tensor is None or cand.tensor is None or ref.truncated or cand.truncated:
        return None
    if ref.shape != cand.shape or tuple(ref.shape[: len(token_shape)]) != tuple(token_shape):
        return None
    diff = _abs_diff(_as_float64(ref.tensor), _as_float64(cand.tensor).to(ref.tensor.device))
    per_position = diff.reshape(*token_shape, -1).amax(-1) if diff.numel() else diff.reshape(token_shape)
    return per_position.reshape(-1, token_shape[-1]).tolist()  # (positions,) reads as one sequence


def pair_leaves(ref: list[Leaf], cand: list[Leaf]) -> tuple[list[tuple[Leaf, Leaf]], list[Leaf], list[Leaf]]:
    """Pair two modules' output leaves: equal suffixes first (``[0]`` with ``[0]``), then the rest
    in order while their shapes agree (a bare tensor with a tuple's ``[0]``)."""
    by_suffix = {leaf.suffix: leaf for leaf in cand}
    pairs, rest_ref = [], []
    for leaf in ref:
        partner = by_suffix.pop(leaf.suffix, None)
        if partner is None:
            rest_ref.append(leaf)
        else:
            pairs.append((leaf, partner))
    rest_cand = [leaf for leaf in cand if by_suffix.get(leaf.suffix) is leaf]
    left_ref, left_cand = [], list(rest_cand)
    for leaf in rest_ref:
        if left_cand and left_cand[0].shape == leaf.shape:
            pairs.append((leaf, left_cand.pop(0)))
        else:
            left_ref.append(leaf)
    order = {id(leaf): i for i, leaf in enumerate(ref)}
    pairs.sort(key=lambda pair: order[id(pair[0])])
    return pairs, left_ref, left_cand


def _input_error(ref: Leaf | None, cand: Leaf | None) -> tuple[float | None, float | None]:
    if ref is None or cand is None or ref.tensor is None or cand.tensor is None:
        return None, None
    if ref.tensor.numel() != cand.tensor.numel() or ref.truncated != cand.truncated:
        return None, None
    return error_metrics(ref.tensor, cand.tensor)["max_abs_err"], ref.stats.absmax


def diff_row(index: int, ref_call: ModuleCall, cand_call: ModuleCall, ref: Leaf, cand: Leaf,
             rel_floor: float = DEFAULT_REL_FLOOR, token_shape: tuple[int, ...] | None = None) -> DiffRow:
    """Compare one pair of leaves; differing shapes are recorded, never raised."""
    if ref.shape == cand.shape:
        status = "ok"
    elif math.prod(ref.shape) == math.prod(cand.shape):
        status = "reshaped"
    else:
        status = "shape_mismatch"
    metrics = dict(max_abs_err=None, max_rel_err=None, mean_abs_err=None, cosine=None)
    comparable = ref.tensor is not None and cand.tensor is not None and ref.tensor.numel() == cand.tensor.numel()
    per_position = None
    if status != "shape_mismatch" and comparable:
        metrics = error_metrics(ref.tensor, cand.tensor, rel_floor)
        per_position = position_errors(ref, cand, token_shape)
    input_err, input_absmax = _input_error(ref_call.input, cand_call.input)
    return DiffRow(
        index=index, reference=ref.path, candidate=cand.path, reference_module=ref_call.key,
        candidate_module=cand_call.key, reference_type=ref_call.type, candidate_type=cand_call.type,
        reference_shape=list(ref.shape), candidate_shape=list(cand.shape), reference_dtype=ref.dtype,
        candidate_dtype=cand.dtype, status=status, **metrics, input_max_abs_err=input_err,
        input_ref_absmax=input_absmax, reference_stats=ref.stats, candidate_stats=cand.stats,
        truncated=ref.truncated or cand.truncated, position_errors=per_position,
    )


def diff_alignment(alignment: Alignment, rel_floor: float = DEFAULT_REL_FLOOR,
                   token_shape: tuple[int, ...] | None = None) -> tuple[list[DiffRow], list[str], list[str], int]:
    """Rows for every paired leaf, the leaf paths left unpaired on each side, and how many module
    pairs had at least one pair of tensors compared."""
    rows: list[DiffRow] = []
    unmatched_ref = [leaf.path for call in alignment.unmatched_reference for leaf in call.outputs]
    unmatched_cand = [leaf.path for call in alignment.unmatched_candidate for leaf in call.outputs]
    aligned = 0
    for ref_call, cand_call in alignment.pairs:
        pairs, left_ref, left_cand = pair_leaves(ref_call.outputs, cand_call.outputs)
        aligned += bool(pairs)
        for ref, cand in pairs:
            rows.append(diff_row(len(rows), ref_call, cand_call, ref, cand, rel_floor, token_shape))
        unmatched_ref += [leaf.path for leaf in left_ref]
        unmatched_cand += [leaf.path for leaf in left_cand]
    return rows, unmatched_ref, unmatched_cand, aligned


def input_ids(recorded: ActivationCapture) -> torch.Tensor | None:
    """The integer ids the model was called with (its first tensor argument), ``(batch, positions)``
    or ``(positions,)``; None when the model took something else (pixels, features)."""
    root = next((call for call in recorded.calls if call.name == "" and call.call == 0), None)
    leaf = root.input if root is not None else None
    if leaf is None or leaf.tensor is None or leaf.truncated or leaf.tensor.dtype.is_floating_point:
        return None
    return leaf.tensor if leaf.tensor.dim() in (1, 2) and leaf.tensor.numel() else None


def _names(recorded: ActivationCapture, show: int = 8) -> str:
    names = list(dict.fromkeys(call.name or "(model)" for call in recorded.calls if call.outputs))
    more = f", ... ({len(names) - show} more)" if len(names) > show else ""
    return ", ".join(names[:show]) + more


def _nothing_aligned(reference: ActivationCapture, candidate: ActivationCapture, method: str) -> AlignmentError:
    hint = ('Try align="order", which pairs modules by execution order and output shape; or pass a mapping '
            '{reference regex: candidate name}, e.g. align={r"encoder\\.layer\\.(\\d+)": r"model.layers.\\1"}')
    if method == "order":
        hint = ("No two modules in execution order returned tensors of the same shape: check that both models "
                "got the same inputs (candidate_inputs=), or pass a mapping {reference regex: candidate name}")
    return AlignmentError(
        f"Nothing to compare: no module of {reference.model_type} (reference) aligned by {method} with a module of "
        f"{candidate.model_type} (candidate) that returned a tensor of a matching shape. Reference modules: "
        f"{_names(reference)}. Candidate modules: {_names(candidate)}. {hint}.")


def compare_captures(reference: ActivationCapture, candidate: ActivationCapture, align: AlignSpec = "name",
                     atol: float | None = None, rtol: float | None = None, *, preset: str | None = None,
                     rel_floor: float = DEFAULT_REL_FLOOR, tokenizer: Any = None,
                     keep_captures: bool = False) -> DiffReport:
    """A :class:`DiffReport` from two :class:`ActivationCapture` objects already recorded.

    The tolerance follows the lower precision of the two models (:mod:`~workbench.porting.tolerance`)
    unless ``preset``, ``atol`` or ``rtol`` say otherwise. Raises :class:`AlignmentError` when no
    pair of tensors could be compared; warns (:class:`LowCoverageWarning`) when under
    ``LOW_COVERAGE`` of the modules aligned. ``tokenizer`` turns the input ids into the tokens the
    per-position views show."""
    tolerance = choose_tolerance(reference.precision, candidate.precision, preset=preset, atol=atol, rtol=rtol)
    alignment = align_calls(reference, candidate, align)
    ids = input_ids(reference)
    token_shape = tuple(ids.shape) if ids is not None else None
    rows, unmatched_ref, unmatched_cand, aligned = diff_alignment(alignment, rel_floor, token_shape)
    if not rows:
        raise _nothing_aligned(reference, candidate, alignment.method)
    coverage = Coverage(aligned, sum(1 for call in reference.calls if call.outputs),
                        sum(1 for call in candidate.calls if call.outputs))
    token_ids = ids.reshape(-1, ids.shape[-1]).tolist() if ids is not None else None
    tokens = [list(tokenizer.convert_ids_to_tokens(seq)) for seq in token_ids] if tokenizer and token_ids else None
    report = DiffReport(
        rows, atol=tolerance.atol, rtol=tolerance.rtol, rel_floor=rel_floor, align=alignment.method,
        reference_type=reference.model_type, candidate_type=candidate.model_type,
        unmatched_reference=unmatched_ref, unmatched_candidate=unmatched_cand, coverage=coverage,
        preset=tolerance.preset, preset_reason=tolerance.reason, token_ids=token_ids, tokens=tokens,
        quantized={"reference": reference.quantized, "candidate": candidate.quantized},
    )
    if coverage.fraction < LOW_COVERAGE:
        warnings.warn(report.coverage_warning(), LowCoverageWarning, stacklevel=3)
    if keep_captures:
        report.reference_capture, report.candidate_capture = reference, candidate
    return report


def compare(reference: nn.Module, candidate: nn.Module, inputs: Any, align: AlignSpec = "name",
            atol: float | None = None, rtol: float | None = None, *, preset: str | None = None,
            candidate_inputs: Any = None, tokenizer: Any = None, include: ModuleFilter = None,
            exclude: ModuleFilter = None, max_elements: int | None = None, rel_floor: float = DEFAULT_REL_FLOOR,
            keep_captures: bool = False, eval: bool = True, torch_kernels: bool = True) -> DiffReport:
    """Run both models on the same inputs, record every module's output and compare them.

    ``inputs`` is a dict of keyword arguments, a tuple of positional ones, a tensor, or a callable
    ``inputs(model) -> output`` (for models that take different argument names, or to pass
    ``candidate_inputs`` separately). ``align`` is ``"name"``, ``"order"`` or a mapping (see
    :mod:`workbench.porting.align`). The models are put in eval mode for the run and restored.
    The tolerance follows the lower precision of the two models' parameters (``preset=`` names
    one of :data:`~workbench.porting.tolerance.PRESETS`; ``atol=`` / ``rtol=`` override it).
    ``tokenizer`` shows the per-position errors on tokens instead of ids.
    ``torch_kernels`` (see :func:`~workbench.porting.capture.capture`): workbench models compute with
    PyTorch's default kernels, so a port that does the reference's math shows zero difference.

    >>> from workbench.porting import compare
    >>> report = compare(hf_model, our_model, {"input_ids": ids})
    >>> report.first_divergence()          # DiffRow of the first module past atol/rtol, or None
    >>> report                             # a table in a notebook
    """
    options = dict(include=include, exclude=exclude, max_elements=max_elements, eval=eval,
                   torch_kernels=torch_kernels)
    ref = capture(reference, inputs, **options)
    cand = capture(candidate, inputs if candidate_inputs is None else candidate_inputs, **options)
    return compare_captures(ref, cand, align, atol, rtol, preset=preset, rel_floor=rel_floor, tokenizer=tokenizer,
                            keep_captures=keep_captures)
