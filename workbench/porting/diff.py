"""Compare aligned activations: one :class:`DiffRow` per pair of tensor leaves.

Both sides are cast to float64. Errors:

- ``max_abs_err`` = max |cand - ref|; ``mean_abs_err`` its mean;
- ``max_rel_err`` = max |cand - ref| / max(|ref|, rel_floor) (the floor keeps values near zero
  from dominating);
- ``cosine`` between the two, flattened (over elements finite on both sides);
- a NaN or inf on one side only is an infinite error; the same NaN or inf on both sides is none.

A row *exceeds* a tolerance when ``max_abs_err > atol + rtol * max|ref|`` (allclose with the
relative part scaled by the reference tensor's largest value), or when the shapes differ.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .align import AlignSpec, Alignment
from .align import align as align_calls
from .capture import Leaf, ModuleCall, ModuleFilter, _as_float64, capture
from .report import DEFAULT_ATOL, DEFAULT_REL_FLOOR, DEFAULT_RTOL, DiffReport, DiffRow


def error_metrics(reference: torch.Tensor, candidate: torch.Tensor, rel_floor: float = DEFAULT_REL_FLOOR) -> dict:
    """max/mean absolute error, max relative error and cosine similarity of two same-size tensors."""
    ref = _as_float64(reference).reshape(-1)
    cand = _as_float64(candidate).reshape(-1).to(ref.device)
    if ref.numel() == 0:
        return dict(max_abs_err=0.0, max_rel_err=0.0, mean_abs_err=0.0, cosine=1.0)
    same = (ref == cand) | (torch.isnan(ref) & torch.isnan(cand))
    diff = torch.where(same, torch.zeros_like(ref), (cand - ref).abs()).nan_to_num(nan=math.inf)
    rel = (diff / ref.abs().clamp(min=rel_floor)).nan_to_num(nan=math.inf)  # inf / inf -> inf
    finite = torch.isfinite(ref) & torch.isfinite(cand)
    x, y = ref[finite], cand[finite]
    norms = float(x.norm()) * float(y.norm())
    if norms == 0.0:
        cosine = 1.0 if float(x.abs().sum() + y.abs().sum()) == 0.0 else 0.0
    else:
        cosine = max(-1.0, min(1.0, float(x @ y) / norms))
    return dict(max_abs_err=float(diff.max()), max_rel_err=float(rel.max()), mean_abs_err=float(diff.mean()),
                cosine=cosine)


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
             rel_floor: float = DEFAULT_REL_FLOOR) -> DiffRow:
    """Compare one pair of leaves; differing shapes are recorded, never raised."""
    if ref.shape == cand.shape:
        status = "ok"
    elif math.prod(ref.shape) == math.prod(cand.shape):
        status = "reshaped"
    else:
        status = "shape_mismatch"
    metrics = dict(max_abs_err=None, max_rel_err=None, mean_abs_err=None, cosine=None)
    comparable = ref.tensor is not None and cand.tensor is not None and ref.tensor.numel() == cand.tensor.numel()
    if status != "shape_mismatch" and comparable:
        metrics = error_metrics(ref.tensor, cand.tensor, rel_floor)
    input_err, input_absmax = _input_error(ref_call.input, cand_call.input)
    return DiffRow(
        index=index, reference=ref.path, candidate=cand.path, reference_module=ref_call.key,
        candidate_module=cand_call.key, reference_type=ref_call.type, candidate_type=cand_call.type,
        reference_shape=list(ref.shape), candidate_shape=list(cand.shape), reference_dtype=ref.dtype,
        candidate_dtype=cand.dtype, status=status, **metrics, input_max_abs_err=input_err,
        input_ref_absmax=input_absmax, reference_stats=ref.stats, candidate_stats=cand.stats,
        truncated=ref.truncated or cand.truncated,
    )


def diff_alignment(alignment: Alignment, rel_floor: float = DEFAULT_REL_FLOOR) -> tuple[list[DiffRow], list[str], list[str]]:
    """Rows for every paired leaf, and the leaf paths left unpaired on each side."""
    rows: list[DiffRow] = []
    unmatched_ref = [leaf.path for call in alignment.unmatched_reference for leaf in call.outputs]
    unmatched_cand = [leaf.path for call in alignment.unmatched_candidate for leaf in call.outputs]
    for ref_call, cand_call in alignment.pairs:
        pairs, left_ref, left_cand = pair_leaves(ref_call.outputs, cand_call.outputs)
        for ref, cand in pairs:
            rows.append(diff_row(len(rows), ref_call, cand_call, ref, cand, rel_floor))
        unmatched_ref += [leaf.path for leaf in left_ref]
        unmatched_cand += [leaf.path for leaf in left_cand]
    return rows, unmatched_ref, unmatched_cand


def compare_captures(reference, candidate, align: AlignSpec = "name", atol: float = DEFAULT_ATOL,
                     rtol: float = DEFAULT_RTOL, *, rel_floor: float = DEFAULT_REL_FLOOR,
                     keep_captures: bool = False) -> DiffReport:
    """A :class:`DiffReport` from two :class:`ActivationCapture` objects already recorded."""
    alignment = align_calls(reference, candidate, align)
    rows, unmatched_ref, unmatched_cand = diff_alignment(alignment, rel_floor)
    report = DiffReport(
        rows, atol=atol, rtol=rtol, rel_floor=rel_floor, align=alignment.method,
        reference_type=reference.model_type, candidate_type=candidate.model_type,
        unmatched_reference=unmatched_ref, unmatched_candidate=unmatched_cand,
    )
    if keep_captures:
        report.reference_capture, report.candidate_capture = reference, candidate
    return report


def compare(reference: nn.Module, candidate: nn.Module, inputs: Any, align: AlignSpec = "name",
            atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL, *, candidate_inputs: Any = None,
            include: ModuleFilter = None, exclude: ModuleFilter = None, max_elements: int | None = None,
            rel_floor: float = DEFAULT_REL_FLOOR, keep_captures: bool = False, eval: bool = True,
            torch_kernels: bool = True) -> DiffReport:
    """Run both models on the same inputs, record every module's output and compare them.

    ``inputs`` is a dict of keyword arguments, a tuple of positional ones, a tensor, or a callable
    ``inputs(model) -> output`` (for models that take different argument names, or to pass
    ``candidate_inputs`` separately). ``align`` is ``"name"``, ``"order"`` or a mapping (see
    :mod:`workbench.porting.align`). The models are put in eval mode for the run and restored.
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
    return compare_captures(ref, cand, align, atol, rtol, rel_floor=rel_floor, keep_captures=keep_captures)
