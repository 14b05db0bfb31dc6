"""Entropy measures: the published scorer's golden case first, then properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokwork.metrics.entropy import (
    conditional_entropy,
    entropy_profile,
    renyi_efficiency,
    renyi_entropy,
    shannon_efficiency,
    shannon_entropy,
    token_counts,
    vocabulary_utilisation,
)


def as_written(text: str) -> list[str]:
    """The scorer's reading of its input: whitespace-separated tokens, `@@` markers kept."""
    return text.split()


# The test case of `tokenization-scorer` (Zouhar et al. 2023): tokens as written, so `@@ed` is one type.
# pick x3, @@ed x2, @@l x1, @@les x1: 7 tokens, 4 types observed, log base 2.
PICKED = as_written("pick @@ed pick @@l @@ed pick @@les")
PICKED_FINER = as_written("pick @@e @@d pick @@l @@e @@d pick @@l @@e @@s")


def test_zouhar_golden_case():
    counts = token_counts(PICKED)
    assert sorted(counts.tolist()) == [1, 1, 2, 3]
    assert renyi_efficiency(counts, alpha=2.5) == pytest.approx(0.8265, abs=5e-5)
    assert shannon_efficiency(counts) == pytest.approx(0.9212, abs=5e-5)
    # the scorer's own test values, to all the digits it gives
    assert renyi_entropy(counts, alpha=2.5) == pytest.approx(1.653012966845049, rel=1e-12)
    assert shannon_entropy(counts) == pytest.approx(1.8423709931771088, rel=1e-12)
    finer = token_counts(PICKED_FINER)
    assert renyi_efficiency(finer, alpha=2.5) == pytest.approx(0.9204840242168808, rel=1e-12)
    assert shannon_efficiency(finer) == pytest.approx(0.9609557933859342, rel=1e-12)


def test_zouhar_case_by_hand():
    p = np.array([3, 2, 1, 1]) / 7
    assert renyi_entropy([3, 2, 1, 1], alpha=2.5) == pytest.approx(math.log2((p ** 2.5).sum()) / (1 - 2.5))
    # |V| = 4 observed types, so the denominator is log2 4 = 2 bits
    assert renyi_efficiency([3, 2, 1, 1]) == pytest.approx(renyi_entropy([3, 2, 1, 1]) / 2)


def test_full_vocabulary_option_divides_by_its_log():
    counts = token_counts(PICKED)
    assert renyi_efficiency(counts, vocab_size=1024) == pytest.approx(renyi_entropy(counts) / 10)
    assert shannon_efficiency(counts, vocab_size=16) == pytest.approx(shannon_entropy(counts) / 4)


def test_one_type_has_no_efficiency():
    assert renyi_efficiency([5]) is None
    assert shannon_entropy([5]) == 0.0


def test_conditional_entropy_refuses_negative_ids():
    # padding such as -100 overwrote the pair's key and gave another figure than the same text relabelled
    with pytest.raises(ValueError, match="takes token ids from 0 to 2\\*\\*31 - 1; found -1"):
        conditional_entropy([[-1, 1, -1, 2, -1, 1]])


def test_conditional_entropy_by_hand():
    assert conditional_entropy([[1, 2, 1, 2, 1, 2]]) == 0.0  # each token fixes the next
    # after 1 comes 2 or 3 equally often (1 bit); after 2 and 3 always 1 (0 bits); pairs: 1->2, 2->1, 1->3,
    # 3->1: H(pairs) = 2, H(first) = H(1/2, 1/4, 1/4) = 1.5
    assert conditional_entropy([[1, 2, 1, 3, 1]]) == pytest.approx(0.5)
    assert conditional_entropy([[7]]) is None
    # pairs never cross sequences
    assert conditional_entropy([[1, 2], [3, 4]]) == 0.0


def test_utilisation_and_profile():
    assert vocabulary_utilisation(25, 100) == 0.25
    profile = entropy_profile(token_counts(PICKED), vocab_size=50_000)
    assert profile["types"] == 4 and profile["utilisation"] == 4 / 50_000
    assert profile["renyi_efficiency"] == pytest.approx(0.8265, abs=5e-5)


@given(st.lists(st.integers(1, 50), min_size=2, max_size=30), st.floats(0.1, 10))
def test_renyi_is_at_most_log_types_and_decreases_with_alpha(counts, alpha):
    top = math.log2(len(counts))
    assert renyi_entropy(counts, alpha=alpha) <= top + 1e-9
    assert renyi_entropy(counts, alpha=alpha + 1) <= renyi_entropy(counts, alpha=alpha) + 1e-9
    assert renyi_entropy(counts, alpha=1) == pytest.approx(shannon_entropy(counts))


def textbook_renyi(p: np.ndarray, alpha: float) -> float:
    """log2(sum p^a) / (1 - a), the terms summed exactly rounded (fsum): right away from alpha = 1."""
    return math.log2(math.fsum(float(x) ** alpha for x in p)) / (1 - alpha)


def test_renyi_is_accurate_at_every_order():
    counts = np.random.default_rng(0).integers(1, 1000, 5000)
    p = counts / counts.sum()
    shannon = shannon_entropy(counts)
    variance = float((p * np.log(p) ** 2).sum() - (p * np.log(p)).sum() ** 2)  # of ln p under p
    for gap in (2.0**-52, 1e-12, -1e-15, 1e-9, -1e-6):
        # near 1: H_a = H - (a - 1) Var(ln p) / (2 ln 2) + O((a - 1)^2)
        expected = shannon - gap * variance / (2 * math.log(2))
        assert renyi_entropy(counts, alpha=1 + gap) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    for alpha in (0.3, 0.9, 1.2, 2.5, 10):
        assert renyi_entropy(counts, alpha=alpha) == pytest.approx(textbook_renyi(p, alpha), rel=1e-12)
    picked = [3, 2, 1, 1]  # large orders approach the min-entropy -log2 max p without underflowing
    assert renyi_entropy(picked, alpha=1000) == pytest.approx(1000 * math.log2(3 / 7) / -999, rel=1e-9)
    assert renyi_entropy(picked, alpha=math.inf) == pytest.approx(-math.log2(3 / 7))
    assert renyi_entropy(picked, alpha=0) == pytest.approx(2.0)


def test_one_type_has_zero_entropy_not_minus_zero():
    assert math.copysign(1, shannon_entropy([5])) == 1 and math.copysign(1, renyi_entropy([5])) == 1


@pytest.mark.parametrize(("call", "message"), [
    (lambda: renyi_entropy([3, 2], alpha=-1), "order alpha >= 0"),
    (lambda: shannon_entropy([-1, 2]), "non-negative"),
    (lambda: shannon_efficiency([3, 2, 1, 1], vocab_size=2), "cannot hold the 4 distinct tokens"),
    (lambda: vocabulary_utilisation(10, 5), "out of a vocabulary of 5"),
    (lambda: conditional_entropy([1, 2, 3]), "list of token sequences"),
])
def test_api_misuse_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_counter_of_tokens_is_counts():
    from collections import Counter

    assert shannon_entropy(Counter(PICKED)) == pytest.approx(shannon_entropy(token_counts(PICKED)))
