"""Bits per byte: the windows cover every token once, and the sum is the model's own cross-entropy."""

from __future__ import annotations

import math

import pytest
import torch

from tokwork import load_tokenizer
from tokwork.errors import CorpusError, ParameterError
from tokwork.transplant.checkpoint import load_checkpoint
from tokwork.transplant.evaluate import _windows, bits_per_byte, read_texts, score_text


def test_windows_score_every_token_once():
    ids = list(range(10))
    for window in (2, 3, 4, 9, 10, 64):
        pairs = _windows(ids, window)
        assert [t for _, targets in pairs for t in targets] == ids[1:]
        for inputs, targets in pairs:
            assert len(inputs) <= window and inputs[0] == targets[0] - 1 and inputs[1:len(targets)] == targets[:-1]


def manual_bits(model, ids):
    with torch.no_grad():
        logits = model(torch.tensor([ids[:-1]])).logits[0]
    return float(torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:]), reduction="sum")) / math.log(2)


def test_score_is_the_cross_entropy_after_bos(pico):
    source, _ = pico()
    checkpoint = load_checkpoint(source)
    tokenizer = checkpoint.tokenizer
    text = "hello world\nhello"
    ids = [tokenizer.specials.bos, *tokenizer.encode(text)]
    whole = score_text(checkpoint.model, tokenizer, text, window=1024)
    assert whole.tokens == len(ids) - 1 and whole.bytes == len(text.encode())
    assert whole.bits == pytest.approx(manual_bits(checkpoint.model, ids), rel=1e-5)
    windowed = score_text(checkpoint.model, tokenizer, text, window=3)
    expected = sum(manual_bits(checkpoint.model, [inputs[0], *targets]) for inputs, targets in _windows(ids, 3))
    assert windowed.bits == pytest.approx(expected, rel=1e-5)
    assert whole.bits_per_byte == pytest.approx(whole.bits / len(text.encode()))
    assert whole.token_perplexity == pytest.approx(2 ** (whole.bits / whole.tokens))


def test_per_text_and_total(pico, tmp_path):
    source, _ = pico()
    checkpoint = load_checkpoint(source)
    (tmp_path / "a.txt").write_text("hello world", encoding="utf-8")
    (tmp_path / "b.txt").write_text("world hello hello", encoding="utf-8")
    texts = read_texts([tmp_path])
    assert list(texts) == ["a", "b"]
    evaluation = bits_per_byte(checkpoint.model, load_tokenizer(source), texts)
    total = evaluation.total
    assert total.bytes == 28 and total.bits == pytest.approx(sum(t.bits for t in evaluation.texts))
    with pytest.raises(ParameterError):
        bits_per_byte(checkpoint.model, load_tokenizer(source), texts, window=1)
    (tmp_path / "c.txt").write_bytes(b"caf\xe9")
    with pytest.raises(CorpusError, match="not UTF-8"):
        read_texts([tmp_path / "c.txt"])


def test_a_text_is_scored_as_stored(tmp_path):
    # CRLF line ends are two bytes of the file: bits per byte divides by the file's size
    (tmp_path / "crlf.txt").write_bytes(b"one\r\ntwo\r\n")
    assert read_texts([tmp_path / "crlf.txt"]) == {"crlf": "one\r\ntwo\r\n"}


def test_windows_are_at_most_the_models_context(pico):
    """A model of 128 positions (learned position rows, GPT-2 style) scored with the default window of 1,024
    tokens: windows of 128, as if asked for them (it raised IndexError past the position table)."""
    source, _ = pico(kind="gpt2")
    checkpoint = load_checkpoint(source)
    assert checkpoint.model.config.n_positions == 128
    text = "hello world, " * 200
    evaluation = bits_per_byte(checkpoint.model, checkpoint.tokenizer, {"long": text})
    assert evaluation.window == 128
    assert evaluation.total.tokens > 300
    assert evaluation.total.bits == pytest.approx(score_text(checkpoint.model, checkpoint.tokenizer, text,
                                                             window=128).bits, rel=1e-9)
