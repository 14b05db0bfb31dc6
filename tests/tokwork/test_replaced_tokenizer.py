"""A tokenizer replaced at the same path is the one the next run in the same process uses: caches of
loaded tokenizers (shard encoding, benchmark jobs) key on the files as they are, not on the path alone."""

from __future__ import annotations

import shutil

import numpy as np

from tests.conftest import REPO, udhr_files
from tokwork.loader import tokenizer_stamp
from tokwork.metrics.bench import BenchConfig, run_bench
from tokwork.token_ids import encode_corpus
from tokwork.trainers.bpe import BPEConfig, train_bpe

HELDOUT = REPO / "corpora" / "en" / "heldout.txt"  # 200 KB: enough for both vocabularies, quick to train


def _save_bpe(folder, vocab_size: int, *, force: bool = False) -> None:
    train_bpe([HELDOUT], BPEConfig(vocab_size=vocab_size), progress=False).save(folder, force=force)


def _ids(folder) -> np.ndarray:
    return np.concatenate([np.load(path) for path in sorted(folder.glob("*.npy"))])


def test_stamp_changes_when_the_files_are_replaced(tmp_path):
    folder = tmp_path / "tok"
    _save_bpe(folder, 300)
    first = tokenizer_stamp(folder)
    assert first and first == tokenizer_stamp(folder / "tokenizer.json") == tokenizer_stamp(folder)
    _save_bpe(folder, 300, force=True)  # the same tokenizer written again: new files all the same
    assert tokenizer_stamp(folder) != first
    assert tokenizer_stamp(tmp_path / "missing") == ()


def test_shard_encoding_uses_the_tokenizer_now_at_the_path(tmp_path):
    folder, corpus = tmp_path / "tok", [udhr_files()[0]]
    _save_bpe(folder, 300)
    encode_corpus(folder, corpus, tmp_path / "before", engine="local", shard_bytes=2000, progress=False)
    _save_bpe(folder, 600, force=True)
    encode_corpus(folder, corpus, tmp_path / "after", engine="local", shard_bytes=2000, progress=False)
    encode_corpus(folder, corpus, tmp_path / "whole.npy", progress=False)  # one file: opened afresh
    after = _ids(tmp_path / "after")
    assert np.array_equal(after, np.load(tmp_path / "whole.npy"))
    assert after.max() >= 300 and not np.array_equal(after, _ids(tmp_path / "before"))


def test_bench_measures_the_tokenizer_now_at_the_path(tmp_path):
    folder = tmp_path / "tok"
    _save_bpe(folder, 300)
    config = BenchConfig(tokenizers={"t": str(folder)}, languages=["eng", "fra"])
    before = run_bench(config, progress=False, workers=1).summary["tokenizers"][0]
    _save_bpe(folder, 600, force=True)
    after = run_bench(config, progress=False, workers=1).summary["tokenizers"][0]
    shutil.copytree(folder, tmp_path / "copy")  # never loaded in this process
    fresh = run_bench(BenchConfig(tokenizers={"t": str(tmp_path / "copy")}, languages=["eng", "fra"]),
                      progress=False, workers=1).summary["tokenizers"][0]
    assert before["vocab_size"] == 300 and after["vocab_size"] == 600
    assert {k: v for k, v in after.items() if k != "path"} == {k: v for k, v in fresh.items() if k != "path"}
