"""Corpus paths are named by the role they play in the command that was given them."""

from __future__ import annotations

import pytest

from tokwork.corpus import expand_corpus_paths
from tokwork.errors import CorpusError
from tokwork.transplant.distill.heldout import read_heldout


def test_a_missing_held_out_file_is_called_held_out_text(tmp_path):
    corpus = tmp_path / "train.txt"
    corpus.write_text("training text\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="held-out text file '.*nope.txt' does not exist"):
        read_heldout([tmp_path / "nope.txt"], [corpus])
    with pytest.raises(CorpusError, match="^corpus file '.*nope.txt' does not exist"):
        expand_corpus_paths([tmp_path / "nope.txt"])
