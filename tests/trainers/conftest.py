"""Tokenizers trained once per test session on the shipped UDHR corpus, shared by the trainer tests."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import pytest

from tests.conftest import udhr_files
from tokwork import load_tokenizer
from tokwork.errors import ParameterError
from tokwork.trainers.bpe import BPEConfig, train_bpe
from tokwork.trainers.card import TrainedTokenizer, TrainingCard
from tokwork.trainers.char import CharConfig, train_char
from tokwork.trainers.unigram import UnigramConfig, train_unigram


@pytest.fixture(scope="session")
def udhr_corpus():
    return udhr_files()


@pytest.fixture(scope="session")
def trained(udhr_corpus, tmp_path_factory):
    """Each trained kind, saved to disk: name -> (TrainedTokenizer, directory).

    Trained once per run, not once per pytest-xdist worker: the first worker to need a kind saves it in
    the folder the workers share, and a later one loads those files (unigram alone trains for 6 s). Two
    workers asking at the same moment both train; the first to finish is kept, and both are equal."""
    runs = {
        "bpe": lambda: train_bpe(udhr_corpus, BPEConfig(vocab_size=4000), progress=False),
        "bpe-o200k": lambda: train_bpe(udhr_corpus, BPEConfig(vocab_size=3000, split="o200k"), progress=False),
        "bpe-nfkc": lambda: train_bpe(udhr_corpus, BPEConfig(vocab_size=3000, nfkc=True), progress=False),
        "unigram": lambda: train_unigram(udhr_corpus, UnigramConfig(vocab_size=4000), progress=False),
        "char-bpe": lambda: train_char(udhr_corpus, CharConfig(vocab_size=1500), progress=False),
        "char": lambda: train_char(udhr_corpus, CharConfig(vocab_size=1000, mode="char"), progress=False),
    }
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cache = {}

    def get(name):
        if name not in cache:
            folder = shared / f"trained-{name}"
            if folder.is_dir():
                result = TrainedTokenizer(load_tokenizer(folder), TrainingCard.read(folder))
            else:
                result = runs[name]()
                staging = Path(tempfile.mkdtemp(prefix=f".trained-{name}-", dir=shared))
                result.save(staging / "out")
                with contextlib.suppress(OSError):  # another worker got there first: its folder stays
                    (staging / "out").rename(folder)
            cache[name] = (result, folder)
        return cache[name]

    return get


def bad_parameters_test(cases: list[tuple[object, str]]):
    """A test, parametrized over `cases` of (config, message), that `config.validate()` refuses each config
    with a `ParameterError` matching `message`; a trainer's test module binds it as `test_bad_parameters`."""

    @pytest.mark.parametrize(("config", "message"), cases)
    def test(config, message):
        with pytest.raises(ParameterError, match=message):
            config.validate()

    return test
