"""One tolerance rule for every numeric comparison in the suite.

``|actual - expected| <= tol * max(1, |expected|)``, elementwise, with ``tol = 1e-5`` by default:
1e-5 absolute where values are of order one, the same 1e-5 relative where they are larger (beam
``sequences_scores`` of ~300, losses, summed log-probabilities, logits of real checkpoints).

Why a bound at all: the reference and workbench run the same float32 arithmetic, but not
always with the same kernels or in the same order, and CPUs differ (an AVX-512 machine and an
AVX2 one round a reduction differently). A float32 value carries a rounding error relative to
its size (~6e-8 per operation), so a fixed absolute bound that holds at size 1 fails at size 300
for rounding alone (3e-5 off = 1e-7 relative was seen on an AVX2 machine).

Why elementwise rather than one scale per tensor (``tol * max|expected|``): a tensor mixes sizes
(beam scores of a long beam next to a short one, ``-inf`` for masked tokens, logits next to
near-zero probabilities); a per-tensor scale would let its largest entry loosen the bound on the
order-one entries, which is where a real parity bug shows, and an ``-inf`` would make it
infinite. The price: a value that is the small difference of large terms carries the terms'
rounding, not its own. In the tiny random models that stays below 1e-5; in a real checkpoint
(30 layers of residual sums) it does not: SmolLM2-135M's logits (up to 27) differ by up to 8.7e-5
on near-zero entries. Those comparisons pass ``per_tensor=True``: one scale, ``max(1, max|expected|)``
over the finite entries, for the whole tensor (the rule of workbench.porting's ``exceeds``).

Non-finite values must match exactly (the same infinity in the same place); NaN never matches.
Shapes must be equal, and so must dtypes when both sides are tensors.
"""

from __future__ import annotations

import math

import numpy as np
import torch

TOL = 1e-5


def _as_tensor(value) -> torch.Tensor:
    """Python floats stay float64 (torch.as_tensor would round them to float32)."""
    return value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))


def scaled_errors(actual, expected, per_tensor: bool = False) -> torch.Tensor:
    """|actual - expected| / max(1, |expected|) per element, in float64 (0 where both hold the same
    infinity, inf where only one side is non-finite or either is NaN). ``per_tensor``: divide by
    max(1, the largest finite |expected|) instead."""
    a = _as_tensor(actual).to(torch.float64).cpu()
    e = _as_tensor(expected).to(torch.float64).cpu()
    scale = e.abs().clamp(min=1.0)
    if per_tensor:
        finite = e[torch.isfinite(e)].abs()
        scale = torch.full_like(e, max(1.0, float(finite.max()) if finite.numel() else 1.0))
    same = a == e  # the same infinity on both sides is no error (inf - inf would be NaN)
    errors = torch.where(same, torch.zeros_like(e), (a - e).abs() / scale)
    return errors.nan_to_num(nan=math.inf)  # NaN on either side, or inf / inf


def is_close_scaled(actual, expected, tol: float = TOL) -> bool:
    """Whether two numbers or same-shape tensors agree within ``tol * max(1, |expected|)`` everywhere."""
    a, e = _as_tensor(actual), _as_tensor(expected)
    if a.shape != e.shape:
        return False
    return a.numel() == 0 or bool((scaled_errors(a, e) <= tol).all())


def assert_close_scaled(actual, expected, tol: float = TOL, what: str = "values", per_tensor: bool = False) -> None:
    """Assert ``|actual - expected| <= tol * max(1, |expected|)`` elementwise (``per_tensor``: with the
    tensor's largest |expected|); the message names the worst element, its two values and how many
    elements are out of bounds."""
    a, e = _as_tensor(actual), _as_tensor(expected)
    assert a.shape == e.shape, f"{what}: shape {tuple(a.shape)}, expected {tuple(e.shape)}"
    if isinstance(actual, torch.Tensor) and isinstance(expected, torch.Tensor):
        assert a.dtype == e.dtype, f"{what}: dtype {a.dtype}, expected {e.dtype}"
    if a.numel() == 0:
        return
    errors = scaled_errors(a, e, per_tensor)
    worst = int(errors.argmax())
    if errors.reshape(-1)[worst] <= tol:
        return
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), e.shape)) if e.dim() else ()
    bad = int((errors > tol).sum())
    raise AssertionError(
        f"{what}: {bad} of {e.numel()} elements differ by more than {tol:g} x max(1, |expected|"
        f"{'.max()' if per_tensor else ''}); worst at "
        f"{index}: {a.reshape(-1)[worst].item()!r} vs expected {e.reshape(-1)[worst].item()!r} "
        f"(scaled error {errors.reshape(-1)[worst].item():.3g})")
