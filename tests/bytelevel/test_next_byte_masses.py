"""`ByteLM.next_byte_masses`: the unnormalised P(prefix·b) behind `next_byte_probs`."""

from __future__ import annotations

import numpy as np


def test_masses_are_the_cover_sums_the_probabilities_normalise(pico_bytelm):
    for prefix in (b"", b"The ", b"Th", "na\u00ef".encode()[:-1]):  # a start, a boundary, mid-token, mid-character
        masses, log_scale = pico_bytelm.next_byte_masses(prefix)
        assert masses.shape == (257,) and (masses >= 0).all()
        np.testing.assert_allclose(masses / masses.sum(), pico_bytelm.next_byte_probs(prefix), rtol=1e-12, atol=1e-15)
        for byte in np.flatnonzero(masses[:256] > 1e-3 * masses.max())[:3]:  # P(prefix·b) is the cover sum of prefix·b
            assert abs(np.log(masses[byte]) + log_scale - pico_bytelm.logprob(prefix + bytes([byte]))) < 1e-9
