"""Corpus streaming: exact documents, every supported file kind, and errors that name file and offset."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import UDHR, texts
from tokwork import corpus as corpus_module
from tokwork.corpus import CorpusReader, expand_corpus_paths, inspect_corpus, iter_documents, iter_texts
from tokwork.errors import CorpusError


def test_paragraphs_concatenate_to_the_file(tmp_path):
    text = "first paragraph\nstill first\n\nsecond\n\n\n\nthird with trailing\n"
    path = tmp_path / "a.txt"
    path.write_text(text, encoding="utf-8")
    docs = list(iter_documents([path]))
    assert [d.text for d in docs] == ["first paragraph\nstill first\n\n", "second\n\n\n\n", "third with trailing\n"]
    assert sum(d.nbytes for d in docs) == len(text.encode())


@given(texts)
def test_any_text_streams_back_exactly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("c") / "t.txt"
    path.write_bytes(text.encode("utf-8"))
    expected = text[1:] if text.startswith("\ufeff") else text
    assert "".join(iter_texts([path])) == expected


def test_small_chunks_keep_paragraphs_and_offsets(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", 7)
    text = "ab\n\ncd é\n\n\nxyz 日本語\n\nend"
    path = tmp_path / "a.txt"
    path.write_text(text, encoding="utf-8")
    assert "".join(iter_texts([path])) == text
    assert [d.text for d in iter_documents([path])] == ["ab\n\n", "cd é\n\n\n", "xyz 日本語\n\n", "end"]


def test_gzip_and_jsonl(tmp_path):
    with gzip.open(tmp_path / "a.txt.gz", "wt", encoding="utf-8") as f:
        f.write("zipped one\n\nzipped two")
    records = [{"text": "record one"}, {"text": "record two", "id": 2}]
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    with gzip.open(tmp_path / "c.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"body": "custom field"}) + "\n")
    got = list(iter_texts([tmp_path / "a.txt.gz", tmp_path / "b.jsonl"]))
    assert got == ["zipped one\n\n", "zipped two", "record one", "record two"]
    assert list(iter_texts([tmp_path / "c.jsonl.gz"], text_field="body")) == ["custom field"]


def test_a_jsonl_record_holding_a_lone_surrogate_is_refused(tmp_path):
    # JSON can escape a lone surrogate, which is no text: one line naming the file and line
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "fine"}\n{"text": "ok \\ud800 here"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"a.jsonl' line 2 holds a lone surrogate U\+D800"):
        list(iter_texts([path]))


def test_a_single_path_is_a_corpus_of_one(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("one", encoding="utf-8")
    assert expand_corpus_paths(str(path)) == expand_corpus_paths(path) == [path]


def test_folders_are_searched_recursively_and_sorted(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text("b", encoding="utf-8")
    (tmp_path / "sub" / "a.txt").write_text("a", encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored", encoding="utf-8")
    files = expand_corpus_paths([tmp_path])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["b.txt", "sub/a.txt"]
    # a file named again, itself or within a folder, is read once, where it first comes
    files = expand_corpus_paths([tmp_path / "sub" / "a.txt", tmp_path, tmp_path / "b.txt"])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["sub/a.txt", "b.txt"]
    with pytest.raises(CorpusError, match="is neither a file nor a folder"):
        expand_corpus_paths(["/dev/null"])


def test_inspect_reports_sizes_and_the_sha256_of_the_file_on_disk(tmp_path):
    path = tmp_path / "a.txt.gz"
    raw = gzip.compress("héllo\n\nworld".encode())
    path.write_bytes(raw)
    [info] = inspect_corpus([path])
    assert info.nbytes == len("héllo\n\nworld".encode())
    assert info.sha256 == hashlib.sha256(raw).hexdigest()
    assert info.documents == 2


@pytest.mark.parametrize("chunk", [3, 1 << 20])
def test_invalid_utf8_names_file_and_byte_offset(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(corpus_module, "CHUNK_BYTES", chunk)
    path = tmp_path / "bad.txt"
    path.write_bytes("good text é\n".encode() + b"\xff rest")
    offset = len("good text é\n".encode())
    with pytest.raises(CorpusError, match=rf"'.*bad.txt' is not UTF-8 at byte {offset}\b"):
        list(iter_texts([path]))


def test_truncated_utf8_at_the_end_is_reported(tmp_path):
    path = tmp_path / "cut.txt"
    path.write_bytes(b"abc\xe6\x97")
    with pytest.raises(CorpusError, match="not UTF-8 at byte 3"):
        inspect_corpus([path])


def test_invalid_utf8_inside_gzip(tmp_path):
    path = tmp_path / "bad.txt.gz"
    path.write_bytes(gzip.compress(b"ok\n\xc3\x28"))
    with pytest.raises(CorpusError, match="not UTF-8 at byte 3"):
        inspect_corpus([path])


def test_errors_for_missing_empty_and_broken_inputs(tmp_path):
    with pytest.raises(CorpusError, match="'.*nope.txt' does not exist"):
        inspect_corpus([tmp_path / "nope.txt"])
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(CorpusError, match="corpus is empty"):
        inspect_corpus([tmp_path / "empty.txt"])
    (tmp_path / "fake.gz").write_bytes(b"not gzip at all")
    with pytest.raises(CorpusError, match="not a valid gzip file"):
        inspect_corpus([tmp_path / "fake.gz"])
    (tmp_path / "r.jsonl").write_text('{"text": "ok"}\n{"other": 1}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="line 2 has no text field 'text'"):
        inspect_corpus([tmp_path / "r.jsonl"])
    (tmp_path / "j.jsonl").write_text("{broken\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="line 1 is not valid JSON"):
        inspect_corpus([tmp_path / "j.jsonl"])
    (tmp_path / "d").mkdir()
    with pytest.raises(CorpusError, match="holds no .txt"):
        inspect_corpus([tmp_path / "d"])


@given(st.binary(max_size=64))
def test_offset_points_at_the_first_invalid_byte(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("b") / "x.txt"
    path.write_bytes(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        with pytest.raises(CorpusError, match=rf"at byte {err.start};"):
            list(iter_texts([path]))
    else:
        assert "".join(iter_texts([path])) == text.removeprefix("\ufeff")


def test_shipped_udhr_streams_in_bounded_documents():
    docs = list(iter_documents([UDHR]))
    assert len({d.source for d in docs}) >= 40
    assert max(len(d.text) for d in docs) < corpus_module.MAX_DOCUMENT_CHARS


def test_reader_blocks_keep_the_file_text_and_count_paragraphs(tmp_path):
    text = "".join(f"paragraph {i} with some words\n\n" for i in range(200))
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"text": "one"}\n{"text": "two"}\n', encoding="utf-8")
    reader = CorpusReader([tmp_path / "a.txt", tmp_path / "b.jsonl"], block_chars=1000)
    pieces = list(reader)
    assert "".join(pieces[:-2]) == text and all(len(p) < 1100 for p in pieces[:-2]) and len(pieces) > 5
    assert pieces[-2:] == ["one", "two"]
    assert [f.documents for f in reader.files] == [200, 2]
    assert [f.nbytes for f in reader.files] == [len(text), 6]
