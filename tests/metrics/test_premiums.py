"""Premiums and the Gini coefficient: hand-checked values, then properties against the pairwise definition."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokwork.metrics.premiums import gini, premium, premium_summary

counts = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30)


def pairwise_gini(values):
    mean = sum(values) / len(values)
    if mean == 0:
        return 0.0
    spread = sum(abs(a - b) for a, b in itertools.product(values, repeat=2))
    return spread / (2 * len(values) ** 2 * mean)


@pytest.mark.parametrize(("values", "expected"), [
    ([5, 5, 5], 0.0),
    ([0, 1], 0.5),
    ([0, 0, 0, 7], 0.75),
    ([1, 2, 3], 2 / 9),
    ([0, 0], 0.0),
])
def test_gini_of_hand_checked_values(values, expected):
    assert gini(values) == pytest.approx(expected)


@given(counts)
def test_gini_equals_the_pairwise_definition_and_ignores_scale_and_order(values):
    value = gini(values)
    assert value == pytest.approx(pairwise_gini(values), abs=1e-12)
    assert 0.0 <= value <= (len(values) - 1) / len(values) + 1e-12
    assert gini([3 * v for v in reversed(values)]) == pytest.approx(value, abs=1e-12)


@pytest.mark.parametrize("values", [[], [1, -2], 5, [[1, 2], [3, 4]], [float("nan"), 1]])
def test_gini_refuses_empty_negative_or_malformed_values(values):
    with pytest.raises(ValueError):
        gini(values)


def test_premium_is_a_ratio_to_the_pivot():
    assert premium(150, 100) == 1.5
    with pytest.raises(ValueError):
        premium(3, 0)


def test_a_pivot_without_tokens_is_refused_by_name():
    with pytest.raises(ValueError, match="the pivot text has no tokens"):
        premium_summary([1, 2], [0, 0])
