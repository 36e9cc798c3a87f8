"""The suite's one tolerance rule (tests/tolerance.py) holds order-one values to 1e-5 absolute and
large ones to 1e-5 relative, and lets nothing non-finite through by accident."""

from __future__ import annotations

import math

import pytest
import torch

from tolerance import assert_close_scaled, is_close_scaled, scaled_errors


def test_order_one_values_keep_the_absolute_bound():
    base = torch.tensor([0.0, 0.5, -1.0])
    assert_close_scaled(base + 0.9e-5, base)
    for i in range(3):  # 2e-5 off is too much for any order-one element, also a small one
        off = base.clone()
        off[i] += 2e-5
        with pytest.raises(AssertionError, match=r"1 of 3 elements .* worst at \(%d,\)" % i):
            assert_close_scaled(off, base)


def test_large_values_get_the_same_bound_relative():
    """The failure that motivated the rule: beam scores of ~300 that differ by 3e-5 (float32 rounding)."""
    expected = torch.tensor([-301.25, -2.0])
    assert_close_scaled(expected + torch.tensor([3e-5, 0.0]), expected)
    assert_close_scaled(torch.tensor([-301.25 + 2.9e-3, -2.0]), expected)  # 0.96e-5 relative
    with pytest.raises(AssertionError, match="worst at"):
        assert_close_scaled(torch.tensor([-301.25 + 3.2e-3, -2.0]), expected)  # 1.06e-5 relative
    with pytest.raises(AssertionError):  # the small entry is not loosened by its large neighbour
        assert_close_scaled(torch.tensor([-301.25, -2.0 + 3e-5]), expected)


def test_numbers_and_float64():
    assert_close_scaled(7.000069, 7.0)
    assert_close_scaled(0.0, 1e-5)
    with pytest.raises(AssertionError):
        assert_close_scaled(7.00008, 7.0)  # 1.1e-5 relative: a Python float is not rounded to float32
    assert is_close_scaled(1e6 + 9, 1e6) and not is_close_scaled(1e6 + 11, 1e6)


def test_non_finite_values_must_match_exactly():
    expected = torch.tensor([-math.inf, 1.0, math.inf])
    assert_close_scaled(expected.clone(), expected)
    for wrong in ([-1e30, 1.0, math.inf], [math.inf, 1.0, math.inf], [-math.inf, math.nan, math.inf]):
        with pytest.raises(AssertionError):
            assert_close_scaled(torch.tensor(wrong), expected)
    assert scaled_errors(torch.tensor([math.nan]), torch.tensor([math.nan])).item() == math.inf


def test_shapes_and_dtypes_must_match():
    with pytest.raises(AssertionError, match="shape"):
        assert_close_scaled(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(AssertionError, match="dtype"):
        assert_close_scaled(torch.zeros(2), torch.zeros(2, dtype=torch.float64))
    assert not is_close_scaled(torch.zeros(2), torch.zeros(3))
    assert_close_scaled(torch.zeros(0, 4), torch.zeros(0, 4))


def test_per_tensor_scale_follows_the_largest_entry():
    """Real checkpoints: a near-zero logit next to logits of ~27 carries the tensor's rounding."""
    expected = torch.tensor([27.0, 0.01, -math.inf])
    actual = torch.tensor([27.0, 0.01 + 8.7e-5, -math.inf])
    with pytest.raises(AssertionError):
        assert_close_scaled(actual, expected)
    assert_close_scaled(actual, expected, per_tensor=True)  # 8.7e-5 <= 1e-5 x 27
    with pytest.raises(AssertionError, match=r"max\(1, \|expected\|.max\(\)\)"):
        assert_close_scaled(torch.tensor([27.0, 0.01 + 3e-4, -math.inf]), expected, per_tensor=True)
    assert scaled_errors(torch.tensor([0.5]), torch.tensor([0.0]), per_tensor=True).item() == 0.5  # floor of 1
