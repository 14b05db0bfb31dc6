"""Byte-level sampling: exact frequencies, few model calls, greedy decoding."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from tokwork.bytelevel.sampling import ByteState

DRAWS = 2000


def _chi_square(counts: np.ndarray, probs: np.ndarray) -> tuple[float, int]:
    """Pearson's statistic over categories expected at least 5 times, the rest lumped into one."""
    expected = probs * counts.sum()
    big = expected >= 5
    stat = (((counts[big] - expected[big]) ** 2) / expected[big]).sum()
    rest = expected[~big].sum()
    if rest >= 5:
        stat += (counts[~big].sum() - rest) ** 2 / rest
    return stat, int(big.sum()) + (rest >= 5) - 1


def test_sampled_bytes_follow_next_byte_probs(pico_bytelm):
    """Tolerance: the statistic stays below chi-square's 0.999 quantile (a false alarm once in 1000 runs)."""
    lm = pico_bytelm
    rng = np.random.default_rng(7)
    for prompt in (b"The caf", "日".encode()[:2]):
        probs = lm.next_byte_probs(prompt)
        state = ByteState(lm, prompt)
        counts = np.zeros(257)
        for _ in range(DRAWS):
            byte, _ = state.sample(rng)
            counts[byte] += 1
        stat, dof = _chi_square(counts, probs)
        assert stat < chi2.ppf(0.999, dof), (prompt, stat, dof)


def test_state_advanced_byte_by_byte_keeps_the_exact_distribution(pico_bytelm):
    lm = pico_bytelm
    text = "café 日本 the".encode()
    state = ByteState(lm, b"")
    for i, byte in enumerate(text):
        masses = state.full_masses()
        np.testing.assert_allclose(masses / masses.sum(), lm.next_byte_probs(text[:i]), atol=1e-9)
        state.advance(byte)


def test_lazy_state_after_advancing_samples_exactly(pico_bytelm):
    lm = pico_bytelm
    state = ByteState(lm, b"The ca")
    rng = np.random.default_rng(11)
    state.sample(rng)  # evaluates part of the tree lazily, then the text moves on without full masses
    for byte in b"fe ":
        state.advance(byte)
    counts = np.zeros(257)
    for _ in range(DRAWS):
        counts[state.sample(rng)[0]] += 1
    stat, dof = _chi_square(counts, lm.next_byte_probs(b"The cafe "))
    assert stat < chi2.ppf(0.999, dof)


def test_exact_sampling_calls_the_model_less_than_once_per_byte(pico_bytelm):
    generation = pico_bytelm.generate(b"The rights of ", 40, seed=5)
    assert len(generation.data) > 0
    assert generation.forward_calls < len(generation.data)


def test_greedy_takes_the_most_probable_byte(pico_bytelm):
    lm = pico_bytelm
    out = lm.generate(b"The ", 6, greedy=True).data
    text = b"The "
    for byte in out:
        assert byte == int(np.argmax(lm.next_byte_probs(text)[:256]))
        text += bytes([byte])
