"""Certified pruning (`tokwork.bytelevel.certified`): with tolerance 0 every cover state is evaluated and
nothing is bounded; with a tolerance every returned probability and log-probability lies within the reported
bound of the exact value (the exact path and the brute force), the bound is at most the tolerance, and fewer
states are evaluated where the model lets them be skipped.

An untrained pico model spreads its mass so evenly that its side branches are about as probable as the
canonical tokens, and almost nothing can be skipped at small tolerances. The models here are pico models
trained for a few steps on the texts they score: like a real LM, they then prefer the canonical tokens.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.bytelevel.brute_force import BruteForce
from tests.conftest import REPO, TRICKY, reference_tokenizer_path
from tokwork.bytelevel import ByteLM
from tokwork.bytelevel.bytelm import default_start_ids
from tokwork.bytelevel.sampling import ByteState
from tokwork.cli.main import main
from tokwork.errors import ParameterError
from tokwork.pico import pico_model

# Prefixes of these end mid-token and inside 2- and 3-byte characters. SentencePiece gets 2-byte characters
# only: its brute-force canonicity check encodes every completion of a cut character, 4096 for a 3-byte one.
TEXTS = {"bpe": ["Le café 日本 the".encode(), b"It's  1"], "sp": ["Le café, où".encode()]}
TOLERANCES = (1e-6, 1e-3, 0.1)
FLOAT_SLACK = 1e-9  # the brute force sums the same float64 probabilities in another order


def trained_pico(tokenizer, sentences: list[str], *, steps: int, seed: int = 1):
    """A pico model after `steps` Adam steps on `sentences` (deterministic: float64 on the CPU)."""
    model = pico_model(tokenizer.vocab_size, seed=seed)
    start = default_start_ids(tokenizer)
    batch = [torch.tensor([start + tokenizer.encode(s)]) for s in sentences]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = sum(model(ids, labels=ids).loss for ids in batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained(request):
    """kind -> (exact ByteLM, {tolerance: pruned ByteLM}, BruteForce) on a pico model trained on TEXTS."""
    found = {}

    def get(kind):
        if kind not in found:
            tokenizer = request.getfixturevalue("pico_bpe" if kind == "bpe" else "pico_sentencepiece")
            model = trained_pico(tokenizer, [t.decode() for t in TEXTS[kind]], steps=30)
            exact = ByteLM(model, tokenizer, tolerance=0)
            pruned = {eps: ByteLM(model, tokenizer, tolerance=eps) for eps in TOLERANCES}
            found[kind] = exact, pruned, BruteForce(model, tokenizer, exact.start_ids, exact.end_id)
        return found[kind]

    return get


def _within(found: np.ndarray, expected: np.ndarray, bound, what: str) -> None:
    excess = np.max(np.abs(np.asarray(found) - np.asarray(expected)) - np.asarray(bound))
    assert excess <= FLOAT_SLACK, f"{what}: off by {excess:.3g} more than its bound"


@pytest.mark.parametrize("kind", ["bpe", "sp"])
def test_every_probability_lies_within_its_bound_of_the_brute_force(trained, kind):
    """Every prefix (mid-token, mid-character) and every tolerance; tolerance 0 is exact and reports 0."""
    exact, pruned, brute = trained(kind)
    skipped = 0
    for text in TEXTS[kind]:
        references = [brute.next_byte_probs(text[:n]) for n in range(len(text) + 1)]
        for n, reference in enumerate(references):
            probs, bound = exact.next_byte_probs(text[:n], return_bound=True)
            assert bound == 0.0
            _within(probs, reference, 0.0, f"exact, prefix {text[:n]!r}")
            for eps, lm in pruned.items():
                probs, bound = lm.next_byte_probs(text[:n], return_bound=True)
                assert bound <= eps
                _within(probs, reference, bound, f"tolerance {eps}, prefix {text[:n]!r}")
        conditionals = np.log([references[i][text[i]] for i in range(len(text))])
        cut = text.index(b"\xc3") + 1 if b"\xc3" in text else 2  # inside "é", else inside a token
        cover, head = np.log(brute.prefix_mass(text)), np.log(brute.prefix_mass(text[:cut]))
        for lm in [exact, *pruned.values()]:
            scores = lm.score(text, distributions=True)
            assert scores.bound <= lm.tolerance and scores.logprob_bound <= lm.tolerance
            _within(scores.logprobs, conditionals, scores.bounds, f"score at tolerance {lm.tolerance}")
            _within(scores.distributions, np.stack(references[:-1]), scores.bounds[:, None], "distributions")
            _within(scores.logprob, cover, scores.logprob_bound, "cover sum")
            value, bound = lm.logprob(text[cut:], prompt=text[:cut], return_bound=True)
            assert bound <= lm.tolerance
            _within(value, cover - head, bound, f"logprob after a cut, tolerance {lm.tolerance}")
            if lm is exact:
                assert scores.stats["states_evaluated"] == scores.stats["states"]
                assert not scores.bounds.any() and scores.logprob_bound == 0.0
            skipped += scores.stats["states"] - scores.stats["states_evaluated"]
    assert skipped > 0  # the bounds above were tested on pruned results, not only on exact ones


# Texts of ASCII, 2-byte characters and the tokenizer-tricky strings of the other tests, without 4-byte
# characters: a prefix cut inside one has its canonical encodings taken over 262,144 completions.
any_text = st.lists(st.one_of(st.sampled_from(list("ab e'é.\n1üĀ")),
                              st.sampled_from([t for t in TRICKY if max(map(ord, t)) < 0x10000])),
                    max_size=12).map("".join)


@settings(max_examples=25, deadline=None)
@given(text=any_text, eps=st.sampled_from(TOLERANCES), cut=st.integers(0, 30))
def test_pruned_scores_lie_within_their_bound_of_the_exact_path_on_any_text(trained, text, eps, cut):
    exact, pruned, _ = trained("bpe")
    lm = pruned[eps]
    data = text.encode()
    prompt, rest = data[:cut], data[cut:]
    assume(rest)
    expected = exact.score(rest, prompt=prompt, distributions=True)
    scores = lm.score(rest, prompt=prompt, distributions=True)
    assert scores.bound <= eps and scores.logprob_bound <= eps
    _within(scores.logprobs, expected.logprobs, scores.bounds, "per-byte log-probabilities")
    _within(scores.distributions, expected.distributions, scores.bounds[:, None], "distributions")
    _within(scores.logprob, expected.logprob, scores.logprob_bound, "cover sum")
    assert scores.bits_per_byte == pytest.approx(expected.bits_per_byte, abs=scores.bits_per_byte_bound + 1e-12)
    probs, bound = lm.next_byte_probs(data, return_bound=True)
    assert bound <= eps
    _within(probs, exact.next_byte_probs(data), bound, "next-byte distribution")


@pytest.fixture(scope="module")
def gpt2_lm():
    """The real GPT-2 tokenizer under a pico model trained on 160 bytes of held-out English, and that text."""
    from tokwork import load_tokenizer

    tokenizer = load_tokenizer(reference_tokenizer_path("gpt2"))
    text = (REPO / "corpora" / "en" / "heldout.txt").read_bytes()[:160]
    text = text[:len(text.decode("utf-8", "ignore").encode())]
    return ByteLM(trained_pico(tokenizer, [text.decode()], steps=20), tokenizer), text


def test_default_tolerance_evaluates_fewer_states_on_gpt2(gpt2_lm):
    """At the default tolerance, 1e-6, on text the model has learnt (a real LM's situation on fluent text),
    most side branches are skipped: 110 of the 160 cover states are evaluated (asserted: under 80%)."""
    lm, text = gpt2_lm
    assert lm.tolerance == 1e-6
    exact = ByteLM(lm.model, lm.tokenizer, tolerance=0).score(text, distributions=True)
    scores = lm.score(text, distributions=True)
    assert scores.stats["states"] == exact.stats["states"] == exact.stats["states_evaluated"]
    assert scores.stats["states_evaluated"] < 0.8 * scores.stats["states"]
    assert scores.stats["positions_run"] < 0.8 * exact.stats["positions_run"]
    assert 0 < scores.bound <= 1e-6
    _within(scores.logprobs, exact.logprobs, scores.bounds, "per-byte log-probabilities")
    _within(scores.distributions, exact.distributions, scores.bounds[:, None], "distributions")


def test_greedy_generation_is_exact_with_fewer_forwards(trained):
    """Greedy decoding picks, at every tolerance, the byte that evaluating every live state picks (bound 0),
    with fewer forwards; a state advanced byte by byte stays within the bound of its masses."""
    runs = [("bpe", prompt) for prompt in (b"Le ", b"Le caf", "Le café 日".encode()[:-2])]
    for kind, prompt in [*runs, ("sp", b"Le c"), ("sp", "Le caf\u00e9".encode()[:-1])]:
        exact, pruned, _ = trained(kind)
        full, reference = ByteState(exact, prompt, lookahead=0), bytearray()
        for _ in range(12):
            byte = int(np.argmax(full.full_masses()))
            if byte == 256:
                break
            reference.append(byte)
            full.advance(byte)
        for lm in (exact, pruned[1e-3]):
            generation = lm.generate(prompt, 12, greedy=True)
            assert generation.data == bytes(reference) and generation.bound == 0.0, (kind, prompt)
            assert generation.forward_calls < full.tree.forward_calls, (generation.forward_calls, prompt)
    exact, pruned, _ = trained("bpe")
    lm = pruned[1e-3]
    assert lm.generate(b"Le ", 12, seed=1).bound == 0.0  # plain sampling stays exact
    state, full = ByteState(lm, b""), ByteState(exact, b"")
    for i, byte in enumerate(TEXTS["bpe"][0]):
        masses, bound = state.certified_masses(1e-3)
        assert bound <= 1e-3
        _within(masses / masses.sum(), exact.next_byte_probs(TEXTS["bpe"][0][:i]), bound, f"step {i}")
        full.full_masses()
        state.advance(byte)
        full.advance(byte)
    assert state.tree.positions_run < full.tree.positions_run


def test_tolerance_outside_zero_to_one_is_refused(pico_bytelm):
    for bad in (-1e-9, 1.0, float("nan")):
        with pytest.raises(ParameterError, match="tolerance"):
            ByteLM(pico_bytelm.model, pico_bytelm.tokenizer, tolerance=bad)


@pytest.fixture(scope="module")
def trained_folder(trained, tmp_path_factory):
    exact, _, _ = trained("bpe")
    folder = tmp_path_factory.mktemp("trained-pico-lm")
    exact.model.save_pretrained(folder)
    exact.tokenizer.save(folder)
    return folder


def test_cli_shows_the_certified_bound(trained_folder, capsys):
    folder = str(trained_folder)
    for eps in ("0", "0.001"):
        assert main(["bytes", "score", folder, "Le café 日本 the", "--tolerance", eps]) == 0
        shown = capsys.readouterr().out
        line = next(line for line in shown.splitlines() if "certified bound" in line)
        assert float(line.split("│")[2].split()[0]) <= float(eps), line
    assert main(["bytes", "next", folder, "Le caf", "--tolerance", "0.001", "--bytes"]) == 0
    assert "certified bound" in capsys.readouterr().out
    assert main(["bytes", "generate", folder, "Le ", "-n", "6", "--greedy", "--tolerance", "0.001",
                 "--format", "hex"]) == 0
    shown = capsys.readouterr()
    assert "certified bound" in shown.err and "certified" not in shown.out  # stdout holds the bytes alone
    assert main(["bytes", "score", folder, "x", "--tolerance", "1.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tolerance 1.5" in err, err
