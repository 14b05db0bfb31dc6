"""The byte-level layer on the real SmolLM2-135M checkpoint (slow: loads the model)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import REPO
from tokwork.cli.main import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2_bytelm():
    from tokwork.bytelevel import ByteLM

    return ByteLM.from_pretrained("smollm2")  # the alias names the converted folder, as on the command line


def test_capital_of_france_mid_token(smollm2_bytelm):
    lm = smollm2_bytelm
    probs = lm.next_byte_probs(b"The capital of Fr")
    assert probs.sum() == pytest.approx(1.0, abs=1e-9)
    assert int(np.argmax(probs)) == ord("a") and probs[ord("a")] > 0.5
    # bytes this tokenizer cannot spell (no token holds them) get exactly zero
    assert probs[0x04] == 0.0 and probs[0xF5] == 0.0
    chars = lm.next_characters(b"The capital of Fr", top=3)
    assert chars[0][0] == "a"


def test_score_matches_single_prefix_queries_and_windows_are_exact(smollm2_bytelm):
    lm = smollm2_bytelm
    text = (REPO / "corpora" / "en" / "heldout.txt").read_bytes()[:80]
    scores = lm.score(text, distributions=True)
    np.testing.assert_allclose(scores.distributions[53], lm.next_byte_probs(text[:53]), atol=1e-6)
    text = (REPO / "corpora" / "en" / "heldout.txt").read_bytes()[:2048]
    canonical = lm.canonical_text(text)
    ends = [e for e in range(len(text) + 1) if canonical.is_boundary(e)]
    found = canonical.encodings(ends)
    assert all(found[e] == tuple(lm.tokenizer.encode(text[:e].decode())) for e in ends)


def test_text_with_a_byte_no_token_spells_is_refused(capsys):
    assert main(["bytes", "score", "smollm2", "a\x04b"]) == 2
    err = capsys.readouterr().err
    assert "0x04" in err and "byte view is incomplete" in err


def test_text_that_is_not_utf8_is_refused_as_such(tmp_path, capsys):
    broken = tmp_path / "latin1.txt"
    broken.write_bytes("caf\u00e9 au lait".encode("latin-1"))
    assert main(["bytes", "score", "smollm2", "--file", str(broken), "--per-byte"]) == 2
    err = capsys.readouterr().err
    assert "0xe9 at offset 3" in err and "not UTF-8" in err and len(err.strip().splitlines()) == 1
    # a file's name given as the TEXT argument is scored as text, with a note saying how to score the file
    assert main(["bytes", "score", "smollm2", str(broken)]) == 0
    assert f"pass --file {broken}" in capsys.readouterr().err
