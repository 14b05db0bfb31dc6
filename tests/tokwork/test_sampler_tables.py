"""Sampler tables kept in the cache: a second process reads what the first built, never a stale table."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import tokwork.sampling.bpe_dropout as bpe_dropout
import tokwork.sampling.stochastok as stochastok
from tests.conftest import reference_tokenizer_path
from tests.trainers.test_stochastic import tiny_bpe
from tokwork import load_tokenizer
from tokwork.sampling.bpe_dropout import BPEDropout
from tokwork.sampling.stochastok import StochasTok

TEXTS = ["Tokenizers split text into pieces.", "Les tokeniseurs découpent le texte.", "分词器把文本切开。"]


def _refuse_to_build(*args, **kwargs):
    raise AssertionError("built again although the cache holds the table")


@pytest.fixture
def gpt2_copy(tmp_path, monkeypatch):
    """GPT-2's tokenizer.json copied to a folder of its own, with an empty cache."""
    original = reference_tokenizer_path("gpt2") / "tokenizer.json"  # fetched into the real cache if need be
    monkeypatch.setenv("TOKWORK_CACHE", str(tmp_path / "cache"))
    file = tmp_path / "gpt2" / "tokenizer.json"
    file.parent.mkdir()
    shutil.copy(original, file)
    return file


def _stored(tmp_path, name):
    return sorted((tmp_path / "cache" / "sampler-tables").glob(f"{name}-*.npz"))


def test_bpe_dropout_tables_are_read_back_and_sample_the_same(gpt2_copy, tmp_path, monkeypatch):
    first = BPEDropout(load_tokenizer(gpt2_copy), p=0.3)
    expected = first.sample(TEXTS, seed=7, first_index=0)
    assert len(_stored(tmp_path, "bpe-dropout")) == 1
    monkeypatch.setattr(bpe_dropout, "merge_table", _refuse_to_build)
    again = BPEDropout(load_tokenizer(gpt2_copy), p=0.3)  # a new tokenizer object, as in a new process
    assert again.table.pairs == first.table.pairs and len(first.table.pairs) == 50000
    assert np.array_equal(again.slot_keys, first.slot_keys) and np.array_equal(again.slot_values, first.slot_values)
    assert again.sample(TEXTS, seed=7, first_index=0) == expected


def test_a_damaged_table_is_built_again_and_replaced(gpt2_copy, tmp_path):
    expected = BPEDropout(load_tokenizer(gpt2_copy), p=0.3).sample(TEXTS, seed=1, first_index=0)
    [path] = _stored(tmp_path, "bpe-dropout")
    path.write_bytes(path.read_bytes()[:1000])
    assert BPEDropout(load_tokenizer(gpt2_copy), p=0.3).sample(TEXTS, seed=1, first_index=0) == expected
    assert _stored(tmp_path, "bpe-dropout") == [path] and path.stat().st_size > 1000


def test_another_file_gets_its_own_table(gpt2_copy, tmp_path):
    BPEDropout(load_tokenizer(gpt2_copy), p=0.1)
    grown = load_tokenizer(gpt2_copy)
    grown.backend.add_tokens(["qqzzyy"])
    grown.backend.save(str(gpt2_copy))
    assert BPEDropout(load_tokenizer(gpt2_copy), p=0.1).table.vocab_size == 50258
    assert len(_stored(tmp_path, "bpe-dropout")) == 2


def test_stochastok_tables_are_read_back(gpt2_copy, tmp_path, monkeypatch):
    first = StochasTok(load_tokenizer(gpt2_copy), p=0.2)
    expected = first.sample(TEXTS, seed=3, first_index=0)
    assert len(_stored(tmp_path, "stochastok")) == 1
    monkeypatch.setattr(stochastok, "build_expansion_table", _refuse_to_build)
    again = StochasTok(load_tokenizer(gpt2_copy), p=0.2)
    assert again.sample(TEXTS, seed=3, first_index=0) == expected


def test_a_tokenizer_built_in_memory_is_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKWORK_CACHE", str(tmp_path / "cache"))
    BPEDropout(tiny_bpe(), p=0.1).sample(["abcd abcd"], seed=0, first_index=0)
    StochasTok(tiny_bpe(), p=0.1).sample(["abcd abcd"], seed=0, first_index=0)
    assert not (tmp_path / "cache" / "sampler-tables").exists() or not _stored(tmp_path, "*")
