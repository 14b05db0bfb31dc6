"""Shards cut files at paragraph ends, so reading shard by shard gives exactly the whole-file documents."""

from __future__ import annotations

import hashlib
import itertools

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import ENGLISH_SAMPLE
from tokwork import corpus as corpus_module
from tokwork.corpus import CorpusReader, iter_documents, shard_documents, shard_texts
from tokwork.shards import Shard, paragraph_end_at_or_after, plan_shards


def documents_by_shards(path, shard_bytes):
    shards = plan_shards([path], shard_bytes=shard_bytes)
    return shards, [doc for shard in shards for doc in shard_documents(shard)]


def test_cuts_are_paragraph_ends_and_cover_the_file():
    shards = plan_shards([ENGLISH_SAMPLE], shard_bytes=100_000)
    data = ENGLISH_SAMPLE.read_bytes()
    assert len(shards) >= 10 and shards[0].start == 0 and shards[-1].end is None
    for left, right in itertools.pairwise(shards):
        assert left.end == right.start
        cut = right.start
        assert data[cut - 2:cut] == b"\n\n" and data[cut:cut + 1] != b"\n"


def test_shard_documents_equal_whole_file_documents():
    whole = [d.text for d in iter_documents([ENGLISH_SAMPLE])]
    for shard_bytes in (50_000, 333_333, 10**9):
        _, pieces = documents_by_shards(ENGLISH_SAMPLE, shard_bytes)
        assert pieces == whole


paragraphy = st.lists(st.sampled_from(["a", "é", "日", " ", "\n", "\n\n", "\n\n\n", "x\n", "\r\n"]), max_size=200)


@given(paragraphy, st.integers(min_value=1, max_value=40))
def test_any_text_any_shard_size(tmp_path_factory, parts, shard_bytes):
    path = tmp_path_factory.mktemp("s") / "t.txt"
    text = "".join(parts)
    path.write_bytes(text.encode())
    shards, pieces = documents_by_shards(path, shard_bytes)
    assert "".join(pieces) == text
    assert pieces == [d.text for d in iter_documents([path])]


def test_paragraph_end_search_handles_runs_that_straddle_the_offset(tmp_path):
    path = tmp_path / "t.txt"
    data = b"ab\n\n\ncd\nef\n\ngh"
    path.write_bytes(data)
    with open(path, "rb") as handle:
        ends = [paragraph_end_at_or_after(handle, offset, len(data)) for offset in range(len(data) + 1)]
    assert ends == [5, 5, 5, 5, 5, 5, 12, 12, 12, 12, 12, 12, 12, 14, 14]


def test_blocks_restart_at_shard_boundaries_and_reader_matches_workers(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", 1000)
    reader = CorpusReader([ENGLISH_SAMPLE], block_chars=20_000, shard_bytes=200_000)
    local = list(reader)
    workers = [text for shard in reader.shards() for text in shard_texts(shard, block_chars=20_000)]
    assert local == workers and "".join(local) == ENGLISH_SAMPLE.read_text(encoding="utf-8")
    assert len(reader.shards()) > 5 and reader.files[0].documents == len(list(iter_documents([ENGLISH_SAMPLE])))
    assert reader.files[0].sha256 == hashlib.sha256(ENGLISH_SAMPLE.read_bytes()).hexdigest()


def test_small_compressed_and_jsonl_files_are_one_shard(tmp_path):
    for name in ("a.txt.gz", "b.jsonl", "c.txt"):
        (tmp_path / name).write_bytes(b"x\n\n" * 100)
    assert plan_shards([tmp_path / "a.txt.gz", tmp_path / "b.jsonl"], shard_bytes=10) == [
        Shard(str(tmp_path / "a.txt.gz")), Shard(str(tmp_path / "b.jsonl"))]
    assert len(plan_shards([tmp_path / "c.txt"], shard_bytes=10)) > 10
