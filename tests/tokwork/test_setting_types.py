"""Settings from Python: wrong types refused naming the field, numpy numbers and Paths made plain."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import UDHR
from tokwork.errors import CorpusError, OutputError, ParameterError
from tokwork.sampling.stochastic import StochasticConfig
from tokwork.trainers.bpe import BPEConfig, train_bpe
from tokwork.trainers.char import CharConfig
from tokwork.trainers.extend import ExtendConfig
from tokwork.transplant.hypernet.training import TrainingConfig


@pytest.mark.parametrize(("config", "message"), [
    (BPEConfig(vocab_size="1000"), "BPEConfig.vocab_size must be an integer, not '1000'"),
    (BPEConfig(vocab_size=True), "BPEConfig.vocab_size must be an integer, not True"),
    (BPEConfig(vocab_size=500, special_tokens="<pad>"), "BPEConfig.special_tokens must be a list of strings"),
    (StochasticConfig(p="0.1"), "StochasticConfig.p must be a number, not '0.1'"),
    (StochasticConfig(seed=1.5), "StochasticConfig.seed must be an integer, not 1.5"),
    (TrainingConfig(vocab_sizes=(8000,)), r"vocab sizes \(8000,\) and slice bytes .* must each be a range of two"),
])
def test_wrong_types_are_refused_naming_the_field(config, message):
    with pytest.raises(ParameterError, match=message):
        config.validate()


def test_numpy_numbers_and_paths_become_plain_values(tmp_path):
    # accepted by the check, they broke the card's JSON after training (and numpy's own range checks)
    config = BPEConfig(vocab_size=np.int64(300), nfkc=np.bool_(False), special_tokens=(np.str_("<pad>"),))
    config.validate()
    assert type(config.vocab_size) is int and type(config.nfkc) is bool
    extend = ExtendConfig(base=Path("gpt2"), add=np.int32(10))
    extend.validate()
    assert extend.base == "gpt2" and type(extend.add) is int
    char = CharConfig(vocab_size=np.int16(300))
    char.validate()
    assert type(char.vocab_size) is int and char.vocab_size == 300
    stochastic = StochasticConfig(method="bpe-dropout", p=np.float32(0.25), seed=np.uint64(3))
    stochastic.validate()
    assert (type(stochastic.p), type(stochastic.seed)) == (float, int)
    assert (stochastic.p, stochastic.seed) == (0.25, 3)  # 0.25 is exact in float32
    folder = train_bpe([UDHR / "eng.txt"], config, progress=False).save(tmp_path / "tok")
    assert json.loads((folder / "tokwork.json").read_text(encoding="utf-8"))["parameters"]["vocab_size"] == 300


def test_a_save_after_changing_folder_still_keeps_the_corpus(tmp_path, monkeypatch):
    corpus = tmp_path / "corp"
    corpus.mkdir()
    (corpus / "eng.txt").write_text((UDHR / "eng.txt").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    trained = train_bpe(["corp"], BPEConfig(vocab_size=300), progress=False)
    monkeypatch.chdir(os.sep)
    with pytest.raises(OutputError, match="holds the input"):
        trained.save(corpus, force=True)
    assert sorted(p.name for p in corpus.iterdir()) == ["eng.txt"]


@pytest.mark.parametrize("corpus", [None, 5, b"eng.txt", ["eng.txt", None]])
def test_a_corpus_is_paths(corpus):
    from tokwork.corpus import expand_corpus_paths

    with pytest.raises(CorpusError, match="a corpus is a path or a list of paths"):
        expand_corpus_paths(corpus)
