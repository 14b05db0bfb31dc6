"""Exactness of the byte-level layer against an independent brute-force enumeration of covers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.bytelevel.brute_force import BruteForce
from tests.conftest import texts
from tokwork.bytelevel import ByteLM
from tokwork.bytelevel.canonical_text import CanonicalText

# Prefixes of these end mid-token, inside 2- and 3-byte characters, after spaces and at the very start.
TEXTS = {"bpe": ["Le café 日本 the".encode(), b"It's  1"],
         "sp": ["Le café 日本".encode()]}


def _lm(request, kind):
    return request.getfixturevalue("pico_bytelm" if kind == "bpe" else "pico_sp_bytelm")


@pytest.fixture(scope="module")
def references(request):
    """kind -> (ByteLM, its BruteForce); one brute force per model for the module, so that its caches of
    forwards, spellings and canonicity serve every test that compares against it."""
    found = {}

    def get(kind):
        if kind not in found:
            lm = _lm(request, kind)
            found[kind] = lm, BruteForce(lm.model, lm.tokenizer, lm.start_ids, lm.end_id)
        return found[kind]

    return get


@pytest.mark.parametrize("kind", ["bpe", "sp"])
def test_next_byte_probs_equal_brute_force(references, kind):
    lm, brute = references(kind)
    for text in TEXTS[kind]:
        for n in range(len(text) + 1):
            probs = lm.next_byte_probs(text[:n])
            assert probs.sum() == pytest.approx(1.0, abs=1e-12)
            np.testing.assert_allclose(probs, brute.next_byte_probs(text[:n]), atol=1e-6, rtol=0,
                                       err_msg=f"prefix {text[:n]!r}")


def test_dummy_prefix_tokenizer_conditions_on_its_space(pico_dummy_prefix_bytelm):
    """Llama-2 style: the model's stream is " " + text; next_byte_probs(x) is the stream's after " " + x.
    The tokenizer joins "a" to the space ("▁a") and keeps ":" apart from it ("▁", ":"): a text may start
    either way, so the space alone is a state of its own."""
    lm = pico_dummy_prefix_bytelm
    brute = BruteForce(lm.model, lm.tokenizer, lm.start_ids, lm.end_id, dummy_prefix=True)
    space = lm.tokenizer.encode(":")[0]
    assert lm.tokenizer.byte_view[space] == b" " and lm.tokenizer.byte_view[lm.tokenizer.encode("a")[0]] == b" a"
    for text in ["a café 日".encode(), b": x"]:
        for n in range(len(text) + 1):
            np.testing.assert_allclose(lm.next_byte_probs(text[:n]), brute.next_byte_probs(b" " + text[:n]),
                                       atol=1e-6, rtol=0, err_msg=f"prefix {text[:n]!r}")
    text = b": x"
    expected = np.log([brute.next_byte_probs(b" " + text[:i])[text[i]] for i in range(len(text))])
    np.testing.assert_allclose(lm.score(text).logprobs, expected, atol=1e-6, rtol=0)
    stream = np.log(brute.prefix_mass(b" " + text))  # the cover sum of the stream the model reads
    assert lm.score_text(text).logprob == pytest.approx(stream, abs=1e-6)
    assert lm.logprob(text) == pytest.approx(stream, abs=1e-6)


@pytest.mark.parametrize("kind", ["bpe", "sp"])
def test_logprob_is_the_cover_sum_and_bounds_the_canonical_encoding(references, kind):
    lm, brute = references(kind)
    for text in [b"caf", "é日".encode(), b"the  end"]:
        assert np.exp(lm.logprob(text)) == pytest.approx(brute.prefix_mass(text), rel=1e-6)
        ids = lm.tokenizer.encode(text.decode())
        with torch.no_grad():
            logits = lm.model(torch.tensor([lm.start_ids + ids])).logits[0, len(lm.start_ids) - 1:-1]
        canonical = torch.log_softmax(logits.double(), -1)[torch.arange(len(ids)), ids].sum().item()
        assert lm.logprob(text) >= canonical - 1e-9


@pytest.mark.parametrize("kind", ["bpe", "sp"])
def test_score_is_the_product_of_brute_force_next_byte_probs(references, kind):
    """Bits per byte (what the benchmark reports) is -log2 of the product of normalised next-byte
    probabilities; here every factor comes from the brute-force enumeration, and the unnormalised cover sum
    from brute-force prefix masses. The texts are scored whole and after a prompt cut inside a character."""
    lm, brute = references(kind)
    full = TEXTS[kind][0]
    cut = full.index("日".encode()) + 1
    conditionals = np.array([brute.next_byte_probs(full[:i])[full[i]] for i in range(len(full))])
    # On these texts normalising moves log P by several nats (non-canonical covers take mass from every
    # next-byte total), so a layer that returned the cover-sum ratio P(x<=i) / P(x<i) would fail below.
    assert abs(np.log(conditionals).sum() - np.log(brute.prefix_mass(full))) > 1.0
    for prompt in (b"", full[:cut]):
        scores = lm.score(full[len(prompt):], prompt=prompt)
        expected = np.log(conditionals[len(prompt):])
        np.testing.assert_allclose(scores.logprobs, expected, atol=1e-6, rtol=0, err_msg=f"prompt {prompt!r}")
        assert scores.bits_per_byte == pytest.approx(-expected.sum() / np.log(2) / len(expected), abs=1e-6)
        cover = np.log(brute.prefix_mass(full)) - (np.log(brute.prefix_mass(prompt)) if prompt else 0.0)
        assert scores.logprob == pytest.approx(cover, abs=1e-6)


@pytest.mark.parametrize("kind", ["bpe", "sp"])
def test_score_agrees_with_next_byte_probs_in_small_chunks(request, kind):
    lm = _lm(request, kind)
    chunked = ByteLM(lm.model, lm.tokenizer, chunk_nodes=5, tolerance=0)
    text = "The café, 日本語 and more text here.".encode()
    scores = chunked.score(text, prompt=b"Hi ", distributions=True)
    for i in range(0, len(text), 5):
        probs = lm.next_byte_probs(b"Hi " + text[:i])
        np.testing.assert_allclose(scores.distributions[i], probs, atol=1e-9)
        assert scores.logprobs[i] == pytest.approx(np.log(probs[text[i]]), abs=1e-9)
    assert scores.logprob == pytest.approx(lm.logprob(text, prompt=b"Hi "), abs=1e-9)


@pytest.mark.parametrize("kind", ["bpe", "sp"])
def test_text_probability_costs_about_one_forward(request, kind):
    """`score_text` is the cover sum `logprob` and `score` give, bound included, from the states that end the
    text only: about one position per canonical token, where `score` runs a state at nearly every byte."""
    exact = _lm(request, kind)
    lm = ByteLM(exact.model, exact.tokenizer, tolerance=0)
    full = "日 The café, 日本語 and more text here, long enough to hold many tokens.".encode()
    tokens = len(lm.start_ids) + len(lm.tokenizer.encode(full.decode()))
    for cut in (0, 2):  # no prompt; a prompt that ends inside "日"
        prompt, text = full[:cut], full[cut:]
        found = lm.score_text(text, prompt=prompt)
        scores = lm.score(text, prompt=prompt)
        assert found.logprob == pytest.approx(scores.logprob, abs=1e-9)
        assert found.logprob == lm.logprob(text, prompt=prompt)
        assert found.bound == 0.0 and found.bytes == len(text)
        assert found.bits_per_byte == pytest.approx(-found.logprob / np.log(2) / len(text))
        assert found.stats["forward_calls"] >= 1
        if not prompt:
            assert found.stats["positions_run"] <= tokens + 8
            assert scores.stats["positions_run"] > found.stats["positions_run"]
    assert lm.score_text(b"").logprob == 0.0


def test_prompt_may_end_mid_token_and_mid_character(references):
    lm, brute = references("bpe")
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


@settings(max_examples=60)
@given(texts, st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=40))
def test_a_growing_text_keeps_its_reference_equal_to_a_full_encode(pico_window_encoder, text, steps):
    encoder, tokenizer = pico_window_encoder
    data = text.encode()
    canonical = CanonicalText(encoder, b"")
    position = 0
    for step in [*steps, len(data)]:  # chunks of a few bytes, often cutting characters, then the rest
        canonical.extend(data[position:position + step])
        position = min(position + step, len(data))
        complete = canonical.complete_length
        assert canonical.reference()[0] == tuple(tokenizer.encode(data[:complete].decode())), (text, complete)
        assert canonical._pretoken_starts() == encoder.pretoken_starts(data[:complete].decode()), (text, complete)
        if canonical.is_boundary(position):
            found = canonical.encodings([position])[position]
            assert found == tuple(tokenizer.encode(data[:position].decode())), (text, position)


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


def _cut_encodings_of_every_completion(tokenizer, encoder, data: bytes, end: int) -> set[tuple[int, ...]]:
    """canon(data[:end]) for `end` inside a character, by its definition: every completion of the character
    encoded in full, each encoding's tokens taken while they spell less than `end` bytes."""
    from tokwork.bytelevel.canonical import completions

    prefix = encoder.stream_prefix
    start = max(i for i in range(end) if (data[i] & 0xC0) != 0x80)
    found = set()
    for char in completions(data[start:end]):
        ids = tokenizer.encode(data[len(prefix):start].decode() + char)
        spelled, taken = prefix, []
        for token_id in ids:
            if len(spelled) >= end:
                break
            piece = tokenizer.byte_view[token_id]
            if piece is None:
                break
            spelled += piece
            taken.append(token_id)
        if spelled == data[:end]:
            found.add(tuple(taken))
    return found


@pytest.mark.parametrize("kind", ["bpe", "sentencepiece"])
def test_mid_character_states_are_the_cut_encodings_of_every_completion(request, kind):
    from tokwork.bytelevel.canonical import CanonicalEncoder

    tokenizer = request.getfixturevalue("pico_bpe" if kind == "bpe" else "pico_sentencepiece")
    encoder = CanonicalEncoder(tokenizer, context_pretokens=2)
    states = 0
    for text in ("日本語の文", "caf\u00e9 na\u00efve", "a 世界, hello 世"):
        data = encoder.stream_prefix + text.encode()
        canonical = CanonicalText(encoder, text.encode())
        ends = [e for e in range(1, len(data)) if (data[e] & 0xC0) == 0x80]
        assert ends
        for end in ends:
            expected = _cut_encodings_of_every_completion(tokenizer, encoder, data, end)
            assert set(canonical.states(end)) == expected, (text, end)
            states += len(expected)
    assert states  # the byte-level pico tokenizers split characters: there are states to find


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["pico_bytelm", "pico_sp_bytelm", "pico_dummy_prefix_bytelm"]), text=texts)
def test_every_text_the_tokenizer_spells_has_a_probability(request, kind, text):
    """A byte-level BPE and SentencePiece with byte fallback spell every text (but a literal "▁" under a
    dummy prefix, which is read as a space), so no byte of such a text has probability zero, with or
    without a dummy prefix (whatever character the text starts with)."""
    lm = request.getfixturevalue(kind)
    data = text.encode()
    assume(data and lm.tokenizer.byte_view.join(lm.tokenizer.encode(text)) == lm.stream_prefix + data)
    scores = lm.score(data)
    assert np.isfinite(scores.logprobs).all(), (text, scores.logprobs)
    assert np.isfinite(lm.score_text(data).logprob)


def test_start_ids_outside_the_model_are_refused(pico_bpe):
    # they failed inside torch's embedding at the first forward
    from tokwork.errors import ParameterError
    from tokwork.pico import pico_model

    model = pico_model(pico_bpe.vocab_size, seed=1)
    for bad in ([10**6], [-1], [1.5], [True], [], 5, "ab"):
        with pytest.raises(ParameterError, match="must be a non-empty list of token ids of the model"):
            ByteLM(model, pico_bpe, start_ids=bad)
    assert ByteLM(model, pico_bpe, start_ids=np.array([0, 1])).start_ids == [0, 1]
