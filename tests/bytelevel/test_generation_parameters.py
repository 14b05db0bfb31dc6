"""The byte level refuses generation and listing parameters that mean nothing, in Python as on the CLI."""

from __future__ import annotations

import pytest

from tokwork.errors import ParameterError


@pytest.mark.parametrize(("options", "message"), [
    ({"greedy": True, "temperature": 0.7}, "give one or the other"),
    ({"greedy": True, "top_k": 5}, "give one or the other"),
    ({"top_k": -1}, "top-k -1"),
    ({"lookahead": -2}, "lookahead -2"),
    ({"temperature": 0.0}, "must be positive"),
])
def test_generate_refuses_parameters_that_mean_nothing(pico_bytelm, options, message):
    with pytest.raises(ParameterError, match=message):
        pico_bytelm.generate(b"The ", 4, **options)


@pytest.mark.parametrize(("options", "message"), [({"top": 0}, "top 0"), ({"expand": -1}, "expand -1")])
def test_next_characters_refuses_an_empty_list(pico_bytelm, options, message):
    with pytest.raises(ParameterError, match=message):
        pico_bytelm.next_characters(b"The ", **options)


def test_the_parameters_that_mean_something_still_generate(pico_bytelm):
    greedy = pico_bytelm.generate(b"The ", 4, greedy=True)
    sampled = pico_bytelm.generate(b"The ", 4, temperature=0.7, top_k=5, seed=3, lookahead=0)
    assert len(greedy.data) == 4 and len(sampled.data) == 4
    assert pico_bytelm.next_characters(b"The ", top=1, expand=0)[0][1] > 0
