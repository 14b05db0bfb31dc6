"""Texts longer than the model's context: scored in windows, refused where no window applies, and the tree's
ancestor spans (what attention may see) equal to each node's path after evaluation and compaction."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from tests.bytelevel.test_cli import number, table_rows
from tests.conftest import ENGLISH_SAMPLE, UDHR
from tokwork.bytelevel import ByteLM
from tokwork.bytelevel.tree import ROOT, ContextFullError
from tokwork.bytelevel.windows import ROOM, text_windows
from tokwork.cli.main import main
from tokwork.errors import TokworkError
from tokwork.pico import pico_model

POSITIONS = 64  # a pico model's context: a few hundred bytes of English do not fit


@pytest.fixture(scope="module", params=[("llama", "pico_bpe"), ("gpt2", "pico_bpe"), ("llama", "pico_sentencepiece"),
                                        ("llama", "pico_dummy_prefix_sentencepiece")], ids=lambda p: "-".join(p))
def short_lm(request):
    """A pico model that reads only 64 positions (GPT-2's learned position table has no row past them), over
    a byte-level BPE and SentencePiece BPEs with byte fallback, with and without the dummy-prefix space."""
    kind, name = request.param
    tokenizer = request.getfixturevalue(name)
    model = pico_model(tokenizer.vocab_size, kind=kind, seed=3, max_positions=POSITIONS)
    return ByteLM(model, tokenizer, tolerance=0)


@pytest.fixture(scope="module")
def long_text():
    return ENGLISH_SAMPLE.read_bytes()[:300] + "Le café coûte 3 €. 東京".encode()


def test_windows_cover_the_text_and_fit(short_lm, long_text):
    windows = text_windows(short_lm, long_text, 0)
    assert len(windows) > 2
    assert windows[0].start == 0 and windows[-1].stop == len(long_text)
    for before, after in zip(windows, windows[1:], strict=False):
        assert after.start == before.stop and before.start <= after.context < after.start
    for window in windows:
        piece = long_text[window.context:window.stop].decode("utf-8", "replace")
        assert len(short_lm.start_ids) + len(short_lm.tokenizer.encode(piece)) + ROOM <= POSITIONS


def test_long_text_scores_as_the_sum_of_its_windows(short_lm, long_text):
    windows = text_windows(short_lm, long_text, 0)
    whole = short_lm.score_text(long_text)
    parts = [short_lm.score_text(long_text[w.start:w.stop], prompt=long_text[w.context:w.start]) for w in windows]
    assert whole.stats["windows"] == len(windows)
    assert whole.logprob == pytest.approx(sum(p.logprob for p in parts), abs=1e-9)
    scores = short_lm.score(long_text, distributions=True)
    pieces = [short_lm.score(long_text[w.start:w.stop], prompt=long_text[w.context:w.start]) for w in windows]
    assert len(scores.logprobs) == len(long_text) and scores.distributions.shape == (len(long_text), 257)
    np.testing.assert_allclose(scores.logprobs, np.concatenate([p.logprobs for p in pieces]), atol=1e-12)
    assert scores.logprob == pytest.approx(whole.logprob, abs=1e-9)


def test_progress_is_told_each_windows_bytes(short_lm, long_text):
    prompt, text = long_text[:30], long_text[30:]
    for score in (short_lm.score, short_lm.score_text):
        told = []
        found = score(text, prompt=prompt, progress=told.append)
        assert sum(told) == len(text) and len(told) == found.stats["windows"] >= 2


def test_a_text_that_fits_is_one_window(short_lm, long_text):
    short = long_text[:60]
    assert len(text_windows(short_lm, short, 0)) == 1
    assert short_lm.score_text(short).stats["windows"] == 1


def test_a_prompt_keeps_at_most_half_a_window(short_lm, long_text):
    """A window holds `capacity` tokens of text (the context less the start tokens and twice ROOM); of a
    long prompt the first window keeps the last tokens, at most half that many, counted in the tokenizer's
    encoding of the whole text. The text's log-probability is then the sum of its windows'."""
    prompt, text = long_text[:250], long_text[250:]
    windows = text_windows(short_lm, long_text, len(prompt))
    first = windows[0]
    assert first.start == len(prompt) and 0 < first.context < len(prompt)
    capacity = POSITIONS - len(short_lm.start_ids) - 2 * ROOM
    tokenizer = short_lm.tokenizer
    ids = tokenizer.encode(long_text.decode("utf-8"))
    spelled = tokenizer.byte_view.join(ids)
    assert spelled == short_lm.stream_prefix + long_text  # token ends below are offsets in long_text
    ends = np.cumsum([len(tokenizer.byte_view[i]) for i in ids]) - len(short_lm.stream_prefix)
    kept = int(((ends > first.context) & (ends <= first.start)).sum())  # prompt tokens the window reads
    assert 0 < kept <= capacity // 2, (kept, capacity)
    assert first.context in ends  # the kept prompt starts at a token boundary of the whole text
    found = short_lm.score_text(text, prompt=prompt)
    assert found.stats["windows"] == len(windows) >= 2
    parts = [short_lm.score_text(long_text[w.start:w.stop], prompt=long_text[w.context:w.start]) for w in windows]
    assert found.logprob == pytest.approx(sum(p.logprob for p in parts), abs=1e-9)
    assert np.isfinite(found.logprob)


def test_a_prompt_cut_inside_a_character_keeps_fewer_tokens_not_more(short_lm):
    """Where half a window back falls inside a character, the kept prompt starts at the next character, so
    it still holds at most half a window (Cyrillic: most tokens of a small vocabulary are half a letter)."""
    data = (UDHR / "rus.txt").read_bytes()[:700]
    data = data[:len(data.decode("utf-8", "ignore").encode())]
    tokenizer = short_lm.tokenizer
    ids = tokenizer.encode(data.decode("utf-8"))
    ends = np.cumsum([len(tokenizer.byte_view[i]) for i in ids]) - len(short_lm.stream_prefix)
    capacity = POSITIONS - len(short_lm.start_ids) - 2 * ROOM
    prompts = [n for n in range(300, 340) if (data[n] & 0xC0) != 0x80][:8]  # character boundaries
    for length in prompts:
        first = text_windows(short_lm, data, length)[0]
        kept = int(((ends > first.context) & (ends <= first.start)).sum())
        assert 0 < kept <= capacity // 2, (length, kept, capacity)
        assert first.context in ends and (data[first.context] & 0xC0) != 0x80  # a token and character start


def test_prefix_and_generation_past_the_context(short_lm, long_text):
    with pytest.raises(ContextFullError, match="64 positions"):
        short_lm.next_byte_probs(long_text)
    assert issubclass(ContextFullError, TokworkError)
    made = short_lm.generate(long_text[:40], 400, seed=1)
    assert made.context_full and 0 < len(made.data) < 400
    assert not short_lm.generate(long_text[:20], 10, seed=1).context_full


def test_cli_scores_long_files_and_refuses_long_prompts(short_lm, long_text, tmp_path, capsys):
    folder = tmp_path / "short-lm"
    copy.deepcopy(short_lm.model).float().save_pretrained(folder)
    short_lm.tokenizer.save(folder)
    text = tmp_path / "long.txt"
    text.write_bytes(long_text)
    assert main(["bytes", "score", str(folder), "--file", str(text), "--per-byte"]) == 0
    shown = dict(table_rows(capsys.readouterr().out))
    saved = ByteLM.from_pretrained(folder)  # the folder's float32 copy, as the command loads it
    per_byte, whole = saved.score(long_text), saved.score_text(long_text)
    assert int(shown["windows"].split()[0]) == whole.stats["windows"] == per_byte.stats["windows"]
    assert whole.stats["windows"] == len(text_windows(saved, long_text, 0)) > 2
    assert number(shown["bits per byte"]) == pytest.approx(whole.bits_per_byte, abs=5e-5)
    assert number(shown["bits per byte, per byte"]) == pytest.approx(per_byte.bits_per_byte, abs=5e-5)
    assert main(["bytes", "next", str(folder), long_text.decode()]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "context length" in err


def test_ancestor_spans_are_each_nodes_path(pico_bytelm, long_text):
    """Every kept node attends to the context and to the cache positions of the nodes on its own path."""
    tree = pico_bytelm.token_tree()
    trunk = tree.node_for(pico_bytelm.tokenizer.encode(long_text[:200].decode()))
    path = tree.path(trunk)
    side = [tree.child(path[k], token) for k in (3, 10, 20) for token in (5, 7) if token != tree.token[path[k + 1]]]
    tree.evaluate(path[:15])
    tree.evaluate(path[15:] + side)
    _check_spans(tree, [trunk, *side])
    tree.compact([side[2], path[-5]])
    _check_spans(tree, [side[2], path[-5]])
    assert len(tree._ancestors[path[-5]]) == 1  # a trunk is one run of positions


def _check_spans(tree, nodes):
    own = {node: int(spans[-1, 1]) - 1 for node, spans in tree._ancestors.items() if node != ROOT}
    context = set(range(len(tree._context)))
    for node in nodes:
        expected = context | {own[n] for n in tree.path(node)}
        found = {p for start, stop in tree._ancestors[node] for p in range(start, stop)}
        assert found == expected
