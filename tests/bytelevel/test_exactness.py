"""Exactness of the byte-level layer against an independent brute-force enumeration of covers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings

from tests.bytelevel.brute_force import BruteForce
from tests.conftest import texts
from tokwork.bytelevel import ByteLM
from tokwork.bytelevel.canonical import CanonicalText

# Prefixes of these end mid-token, inside 2- and 3-byte characters, after spaces and at the very start.
TEXTS = {"bpe": ["Le café 日本 the".encode(), b"It's  1"],
         "sp": ["Le café 日本".encode()]}


def _lm(request, kind):
    return request.getfixturevalue("pico_bytelm" if kind == "bpe" else "pico_sp_bytelm")


@pytest.mark.parametrize("kind", ["bpe", "sp"])
def test_next_byte_probs_equal_brute_force(request, kind):
    lm = _lm(request, kind)
    brute = BruteForce(lm.model, lm.tokenizer, lm.start_ids, lm.end_id)
    for text in TEXTS[kind]:
        for n in range(len(text) + 1):
            probs = lm.next_byte_probs(text[:n])
            assert probs.sum() == pytest.approx(1.0, abs=1e-12)
            np.testing.assert_allclose(probs, brute.next_byte_probs(text[:n]), atol=1e-6, rtol=0,
                                       err_msg=f"prefix {text[:n]!r}")


def test_dummy_prefix_tokenizer_conditions_on_its_space(pico_dummy_prefix_bytelm):
    """Llama-2 style: the model's stream is " " + text; next_byte_probs(x) is the stream's after " " + x."""
    lm = pico_dummy_prefix_bytelm
    brute = BruteForce(lm.model, lm.tokenizer, lm.start_ids, lm.end_id, dummy_prefix=True)
    text = "a café 日".encode()
    for n in range(len(text) + 1):
        np.testing.assert_allclose(lm.next_byte_probs(text[:n]), brute.next_byte_probs(b" " + text[:n]),
                                   atol=1e-6, rtol=0, err_msg=f"prefix {text[:n]!r}")


@pytest.mark.parametrize("kind", ["bpe", "sp"])
def test_logprob_is_the_cover_sum_and_bounds_the_canonical_encoding(request, kind):
    lm = _lm(request, kind)
    brute = BruteForce(lm.model, lm.tokenizer, lm.start_ids, lm.end_id)
    for text in [b"caf", "é日".encode(), b"the  end"]:
        assert np.exp(lm.logprob(text)) == pytest.approx(brute.prefix_mass(text), rel=1e-6)
        ids = lm.tokenizer.encode(text.decode())
        with torch.no_grad():
            logits = lm.model(torch.tensor([lm.start_ids + ids])).logits[0, len(lm.start_ids) - 1:-1]
        canonical = torch.log_softmax(logits.double(), -1)[torch.arange(len(ids)), ids].sum().item()
        assert lm.logprob(text) >= canonical - 1e-9


def test_product_of_normalised_probs_relates_to_logprob(pico_bytelm):
    """sum_i log P(x_i | x_<i) = log P(x) + sum_i [log P(x_<i) - log Z(x_<i)], and P(x_<i·x_i) is the mass."""
    lm = pico_bytelm
    text = "café 日".encode()
    product, correction = 0.0, 0.0
    for i in range(len(text)):
        masses, scale = lm.next_byte_masses(text[:i])
        product += np.log(masses[text[i]] / masses.sum())
        assert np.log(masses[text[i]]) + scale == pytest.approx(lm.logprob(text[:i + 1]), abs=1e-9)
        correction += (lm.logprob(text[:i]) if i else 0.0) - (np.log(masses.sum()) + scale)
    assert product == pytest.approx(lm.logprob(text) + correction, abs=1e-9)


@pytest.mark.parametrize("kind", ["bpe", "sp"])
def test_score_agrees_with_next_byte_probs_in_small_chunks(request, kind):
    lm = _lm(request, kind)
    chunked = ByteLM(lm.model, lm.tokenizer, chunk_nodes=5)
    text = "The café, 日本語 and more text here.".encode()
    scores = chunked.score(text, prompt=b"Hi ", distributions=True)
    for i in range(0, len(text), 5):
        probs = lm.next_byte_probs(b"Hi " + text[:i])
        np.testing.assert_allclose(scores.distributions[i], probs, atol=1e-9)
        assert scores.logprobs[i] == pytest.approx(np.log(probs[text[i]]), abs=1e-9)
    assert scores.logprob == pytest.approx(lm.logprob(text, prompt=b"Hi "), abs=1e-9)


def test_prompt_may_end_mid_token_and_mid_character(pico_bytelm):
    lm = pico_bytelm
    brute = BruteForce(lm.model, lm.tokenizer, lm.start_ids, lm.end_id)
    full = "caf日本".encode()
    for cut in (2, 4, 5):  # mid-token "ca|f", mid-character twice
        expected = np.log(brute.prefix_mass(full)) - np.log(brute.prefix_mass(full[:cut]))
        assert lm.logprob(full[cut:], prompt=full[:cut]) == pytest.approx(expected, abs=1e-6)


@settings(max_examples=60)
@given(texts)
def test_windowed_encodings_equal_full_encodes_on_any_text(pico_window_encoder, text):
    encoder, tokenizer = pico_window_encoder
    data = text.encode()
    canonical = CanonicalText(encoder, data)
    ends = [e for e in range(len(data) + 1) if canonical.is_boundary(e)]
    found = canonical.encodings(ends)
    for end in ends:
        assert found[end] == tuple(tokenizer.encode(data[:end].decode())), (text, end)


@pytest.fixture(scope="module")
def pico_window_encoder(pico_bpe):
    from tokwork.bytelevel.canonical import CanonicalEncoder

    return CanonicalEncoder(pico_bpe, context_pretokens=2), pico_bpe


def test_windowed_encodings_equal_full_encodes(pico_bpe, udhr_texts):
    from tokwork.bytelevel.canonical import CanonicalEncoder

    encoder = CanonicalEncoder(pico_bpe, context_pretokens=2)
    assert encoder.windowed
    samples = [udhr_texts["eng"][:600], udhr_texts["jpn"][:200], "a" + " " * 40 + "b  \n\n  x 12345 it's",
               "x \t\n  y''' z  "]
    for sample in samples:
        data = sample.encode()
        text = CanonicalText(encoder, data)
        ends = [e for e in range(len(data) + 1) if text.is_boundary(e)]
        found = text.encodings(ends)
        for end in ends:
            assert found[end] == tuple(pico_bpe.encode(data[:end].decode())), (sample[:20], end)
