"""Byte-level sampling: exact frequencies, few model calls, greedy decoding."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from tests.conftest import ENGLISH_SAMPLE
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


# Under the dummy-prefix model the tokenizer keeps ":" apart from its space ("▁", ":"): a generation may start
# with it, and the empty text may not end at once (its encoding is empty, not the space).
@pytest.mark.parametrize(("fixture", "text"), [("pico_bytelm", "café 日本 the"),
                                               ("pico_dummy_prefix_bytelm", ": café")])
def test_state_advanced_byte_by_byte_keeps_the_exact_distribution(request, fixture, text):
    lm = request.getfixturevalue(fixture)
    text = text.encode()
    state = ByteState(lm, b"")
    for i, byte in enumerate(text):
        masses = state.full_masses()
        np.testing.assert_allclose(masses / masses.sum(), lm.next_byte_probs(text[:i]), atol=1e-9)
        assert masses[byte] > 0 and (i > 0 or fixture == "pico_bytelm" or masses[256] == 0)
        state.advance(byte)


def test_generation_tells_progress_of_each_byte(pico_bytelm):
    told = []
    made = pico_bytelm.generate(b"The ", 12, seed=3, stop_at_end=False, progress=told.append)
    assert told == [1] * len(made.data) and len(made.data) == 12


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


# The prompts and seeds benchmarks/bytelevel.py samples with: each prompt after each of seeds 1 to 8.
RUNS = tuple((prompt, seed) for seed in range(1, 9)
             for prompt in (b"The anacron daemon", b"Installation of the package"))


@pytest.fixture(scope="module")
def pico_english_bytelm(tmp_path_factory):
    """A 2048-token BPE trained on English under a pico model. Its samples have about SmolLM2's bytes per
    token (3.6 to 4.9 over model seeds 1 to 6, SmolLM2 4.0); under the 330-token `pico_bpe` the random
    model samples mostly single-byte tokens, and one forward per token could not be told from one per byte."""
    from tokwork.bytelevel import ByteLM
    from tokwork.pico import pico_model
    from tokwork.trainers.bpe import BPEConfig, train_bpe

    path = tmp_path_factory.mktemp("pico-english") / "corpus.txt"
    path.write_text(ENGLISH_SAMPLE.read_text(encoding="utf-8")[:300_000], encoding="utf-8")
    tokenizer = train_bpe([path], BPEConfig(vocab_size=2048), progress=False).tokenizer
    return ByteLM(pico_model(tokenizer.vocab_size, seed=1), tokenizer)


def test_exact_sampling_runs_about_one_forward_per_sampled_token(pico_english_bytelm):
    """The sampler runs the model about once per token of the text it samples (plus one for each prompt, and
    one for each draw that lands in a waiting state the lookahead did not run), not once per byte. Tokens
    are counted apart from the sampler, as the tokenizer's own encoding of the sampled text: about four
    bytes each here, so a sampler that ran the model for every byte would take about four forwards a token
    (one a byte), and forwards that went uncounted would fall below one a token. Model seeds 1 to 3 give
    1.01 to 1.06 forwards a token (0.26 to 0.28 a byte); without lookahead 1.18 to 1.24. Runs are 60 bytes."""
    lm = pico_english_bytelm
    forwards = generated = tokens = 0
    for prompt, seed in RUNS:
        generation = lm.generate(prompt, 60, seed=seed)
        forwards += generation.forward_calls
        generated += len(generation.data)
        tokens += len(lm.tokenizer.encode(generation.data.decode("utf-8", "replace")))
    assert tokens / generated < 0.4, (tokens, generated)  # tokens of several bytes: per token is not per byte
    assert 0.85 <= forwards / tokens <= 1.3, (forwards, tokens)
    assert forwards / generated < 0.5, (forwards, generated)


def test_lookahead_runs_ahead_without_changing_any_distribution(pico_english_bytelm):
    """Lookahead decides which states a forward runs, never the masses: a state advanced byte by byte
    with it gives the same next-byte masses as one without, with fewer forwards in all."""
    lm = pico_english_bytelm
    text = b"The package installs the daemon and its configuration files."
    states = {k: ByteState(lm, b"Th", lookahead=k) for k in (0, 3)}
    for byte in text[2:]:
        masses = {k: state.full_masses() for k, state in states.items()}
        np.testing.assert_allclose(masses[3] / masses[3].sum(), masses[0] / masses[0].sum(), atol=1e-12)
        for state in states.values():
            state.advance(byte)
    calls = {k: state.tree.forward_calls for k, state in states.items()}
    assert calls[0] == len(text) - 2 + 1  # without lookahead, every byte needs a forward
    assert calls[3] < 0.6 * calls[0], calls


def test_lookahead_sampling_is_exact_and_cheaper_at_a_temperature(pico_english_bytelm):
    """Temperature sampling needs the whole distribution at every byte: without lookahead one forward a
    byte; with it the side branches of predicted tokens are already run. The bytes drawn are the same,
    since the distributions are (same seed)."""
    lm = pico_english_bytelm
    runs = {k: lm.generate(b"The package", 60, temperature=0.7, seed=4, lookahead=k) for k in (0, 3)}
    assert runs[0].data == runs[3].data
    assert runs[3].forward_calls < 0.6 * runs[0].forward_calls, (runs[0].forward_calls, runs[3].forward_calls)


def _full_masses_along(lm, text: bytes) -> tuple[ByteState, list[np.ndarray]]:
    """A state advanced over `text` at the default settings, and its full masses before each byte."""
    state, masses = ByteState(lm, b""), []
    for byte in text:
        masses.append(state.full_masses())
        state.advance(byte)
    return state, masses


def test_forgotten_rows_are_computed_again_exactly(pico_bytelm, monkeypatch):
    """Long generations let go of the next-token rows far above the live states; a row wanted again is
    recomputed. Forgetting every row after each byte (the live states' too) changes no mass."""
    from tokwork.bytelevel import sampling

    lm = pico_bytelm
    text = "café 日本 the".encode()
    kept, expected = _full_masses_along(lm, text)
    monkeypatch.setattr(sampling, "ROW_DEPTHS_KEPT", -10_000)
    forgetful = ByteState(lm, b"")
    for byte, masses in zip(text, expected, strict=True):
        np.testing.assert_allclose(forgetful.full_masses(), masses, rtol=1e-9, atol=1e-300)
        forgetful.advance(byte)
        assert len(forgetful.tree.rows) <= 1  # the root's row only
    assert forgetful.tree.forward_calls > kept.tree.forward_calls  # rows were computed again


@pytest.mark.parametrize("fixture", ["pico_bytelm", "pico_sp_bytelm"])
def test_compacted_cache_changes_no_mass(fixture, request, monkeypatch):
    """Long generations drop from the KV cache the branches far above the live states (they count as not
    run, and run again if wanted). Compacting after every byte, with the live states only kept, changes
    no mass and leaves the cache shorter than one that keeps every branch."""
    from tokwork.bytelevel import sampling

    lm = request.getfixturevalue(fixture)
    text = "café 日本 the cat sat on the mat".encode()
    kept, expected = _full_masses_along(lm, text)
    monkeypatch.setattr(sampling, "COMPACT_SLACK", -10**9)
    monkeypatch.setattr(sampling, "ROW_DEPTHS_KEPT", -10_000)
    compacted = ByteState(lm, b"")
    for byte, masses in zip(text, expected, strict=True):
        np.testing.assert_allclose(compacted.full_masses(), masses, rtol=1e-9, atol=1e-300)
        compacted.advance(byte)
    assert compacted.tree.cache_length < kept.tree.cache_length, (compacted.tree.cache_length,
                                                                   kept.tree.cache_length)


def test_greedy_takes_the_most_probable_byte(pico_bytelm):
    lm = pico_bytelm
    out = lm.generate(b"The ", 6, greedy=True).data
    text = b"The "
    for byte in out:
        assert byte == int(np.argmax(lm.next_byte_probs(text)[:256]))
        text += bytes([byte])
