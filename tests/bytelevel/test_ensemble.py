"""Byte-level ensembles of models whose tokenizers differ: the mixture of their exact next-byte distributions."""

from __future__ import annotations

import numpy as np
import pytest

from tokwork.bytelevel.covers import END
from tokwork.bytelevel.ensemble import ByteEnsemble
from tokwork.errors import ParameterError


def test_scores_are_the_weighted_mixture_of_the_members_distributions(pico_bytelm, pico_sp_bytelm):
    text = "Le café, 日本".encode()
    ensemble = ByteEnsemble([pico_bytelm, pico_sp_bytelm], weights=[3, 1])
    told = []
    scores = ensemble.score(text, progress=told.append)
    assert sum(told) == 2 * len(text)
    for member, logprobs in zip(ensemble.members, scores.member_logprobs, strict=True):
        np.testing.assert_allclose(logprobs, member.score(text).logprobs, rtol=1e-12)
    for i in (0, 3, 4, 9, len(text) - 1):  # 3-4: inside "é"; 9: inside "日"
        mixture = 0.75 * pico_bytelm.next_byte_probs(text[:i]) + 0.25 * pico_sp_bytelm.next_byte_probs(text[:i])
        assert scores.logprobs[i] == pytest.approx(np.log(mixture[text[i]]), rel=1e-9)
        np.testing.assert_allclose(ensemble.next_byte_probs(text[:i]), mixture, rtol=1e-12)
    # log of a mixture is at least the mixture of the logs (Jensen), at every byte and so in bits per byte
    mean_log = 0.75 * scores.member_logprobs[0] + 0.25 * scores.member_logprobs[1]
    assert (scores.logprobs >= mean_log - 1e-12).all()
    assert scores.bits_per_byte <= 0.75 * scores.member_bits_per_byte[0] + 0.25 * scores.member_bits_per_byte[1]


def test_greedy_generation_takes_the_mixtures_most_probable_byte(pico_bytelm, pico_sp_bytelm):
    ensemble = ByteEnsemble([pico_bytelm, pico_sp_bytelm])
    prompt = b"The "
    made = ensemble.generate(prompt, 6, greedy=True)
    for i in range(len(made)):
        probs = ensemble.next_byte_probs(prompt + made[:i])
        assert made[i] == int(np.argmax(probs)) != END
    assert ensemble.generate(prompt, 6, seed=3) == ensemble.generate(prompt, 6, seed=3)


@pytest.mark.parametrize(("count", "weights", "words"), [
    (1, None, "at least two models"),
    (2, [1.0], "one non-negative weight per model"),
    (2, [1.0, -1.0], "one non-negative weight per model"),
    (2, [0.0, 0.0], "not all zero"),
])
def test_bad_ensembles_are_refused(pico_bytelm, count, weights, words):
    with pytest.raises(ParameterError, match=words):
        ByteEnsemble([pico_bytelm] * count, weights=weights)
