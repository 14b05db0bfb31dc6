"""Corpus streaming: documents from text files, folders, `.gz` and `.jsonl`, never the whole corpus at once.

Trainers and metrics read text through `iter_documents`, which yields one `Document` at a time with its
UTF-8 size, so a corpus of any size streams in bounded memory. Plain text is cut into paragraphs (a run of
blank lines ends one) and the pieces concatenate back to the file exactly, so byte counts and round trips
see the real text. `inspect_corpus` makes one validating pass (UTF-8, JSON, sha256, sizes) before long work
starts, so that a bad file fails in a second rather than after an hour of training.
"""

from __future__ import annotations

import codecs
import glob
import gzip
import hashlib
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokwork.errors import CorpusError
from tokwork.shards import SHARD_BYTES, Shard, plan_shards

CHUNK_BYTES = 1 << 20
MAX_DOCUMENT_CHARS = 1 << 20
CORPUS_SUFFIXES = (".txt", ".text", ".jsonl", ".txt.gz", ".jsonl.gz", ".gz")
_PARAGRAPH_END = re.compile(r"\n\n+")


@dataclass(frozen=True)
class Document:
    """One unit of text: a paragraph of a text file or one record of a JSON-lines file."""

    text: str
    source: str
    nbytes: int


@dataclass(frozen=True)
class CorpusFile:
    """What one validating pass learned about a corpus file: its text size and its fingerprint."""

    path: str
    nbytes: int
    sha256: str
    documents: int

    def as_json(self) -> dict:
        return {"path": self.path, "bytes": self.nbytes, "sha256": self.sha256, "documents": self.documents}


def is_jsonl(path: Path) -> bool:
    """True for `.jsonl` and `.jsonl.gz` files, whose records hold the text in a field."""
    return path.name.endswith((".jsonl", ".jsonl.gz"))


def corpus_list(corpus: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str | os.PathLike]:
    """The corpus as a list of paths: one path given alone (a string or a Path) is a list of one, not a
    sequence of one-character paths."""
    if isinstance(corpus, str | os.PathLike):
        return [corpus]
    if isinstance(corpus, bytes) or not isinstance(corpus, Iterable):
        raise CorpusError(f"a corpus is a path or a list of paths, not {type(corpus).__name__}")
    listed = list(corpus)
    for item in listed:
        if not isinstance(item, str | os.PathLike):
            raise CorpusError(f"a corpus is a path or a list of paths; {item!r} is a {type(item).__name__}")
    return listed


def expand_corpus_paths(paths: str | os.PathLike | Iterable[str | Path], *, role: str = "corpus") -> list[Path]:
    """Resolve files, folders (searched recursively for text, `.jsonl` and `.gz` files) and globs to files;
    one path may be given alone.

    A file named twice (itself and within a folder given too) is read once, where it first comes. Raises
    `CorpusError` naming the first path that does not exist or a folder with no corpus files, as `role`'s
    (the corpus, or held-out text).
    """
    files: list[Path] = []
    for raw in corpus_list(paths):
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.name.endswith(CORPUS_SUFFIXES) and not p.name.startswith(".")
            )
            if not found:
                raise CorpusError(f"{role} folder '{path}' holds no .txt, .jsonl or .gz files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif any(ch in str(raw) for ch in "*?["):
            found = sorted(p for p in map(Path, glob.glob(str(raw), recursive=True)) if p.is_file())
            if not found:
                raise CorpusError(f"{role} pattern '{raw}' matches no files")
            files.extend(found)
        elif path.exists():
            raise CorpusError(f"{role} '{path}' is neither a file nor a folder (a device or a pipe?)")
        else:
            raise CorpusError(f"{role} file '{path}' does not exist")
    if not files:
        raise CorpusError(f"no {role} given: pass at least one file or folder")
    first: dict[Path, Path] = {}
    for file in files:
        first.setdefault(file.resolve(), file)
    return list(first.values())


class _HashingReader:
    """A binary file wrapper that feeds everything read through a digest (sha256 of the file on disk)."""

    def __init__(self, raw, digest, on_bytes=None):
        self.raw, self.digest, self.on_bytes = raw, digest, on_bytes

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if self.digest is not None:
            self.digest.update(data)
        if self.on_bytes is not None:
            self.on_bytes(len(data))
        return data


def _decoded_chunks(path: Path, digest=None, on_bytes=None, *, start: int = 0, end: int | None = None
                    ) -> Iterator[str]:
    """Yield the text of bytes `[start, end)` of a file in chunks, raising `CorpusError` with the byte
    offset of invalid UTF-8. For `.gz` files (always read whole) the offset counts decompressed bytes.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    consumed = start
    try:
        with open(path, "rb") as raw:
            raw.seek(start)
            source = raw if digest is None and on_bytes is None else _HashingReader(raw, digest, on_bytes)
            stream = gzip.GzipFile(fileobj=source, mode="rb") if path.name.endswith(".gz") else source
            while True:
                wanted = CHUNK_BYTES if end is None else min(CHUNK_BYTES, end - consumed)
                chunk = stream.read(wanted) if wanted > 0 else b""
                pending = decoder.getstate()[0]
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as err:
                    offset = consumed - len(pending) + err.start
                    raise CorpusError(
                        f"corpus '{path}' is not UTF-8 at byte {offset}; convert it (e.g. iconv -t UTF-8) or remove it"
                    ) from None
                if consumed == start == 0 and text.startswith("\ufeff"):
                    text = text[1:]
                consumed += len(chunk)
                if text:
                    yield text
                if not chunk:
                    return
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise CorpusError(f"corpus '{path}' is not a valid gzip file ({err})") from None
    except IsADirectoryError:
        raise CorpusError(f"corpus '{path}' is a folder where a file was expected") from None
    except PermissionError:
        raise CorpusError(f"corpus '{path}' cannot be read: permission denied") from None


def _paragraphs(chunks: Iterable[str]) -> Iterator[str]:
    """Cut text into paragraphs that keep their trailing blank lines, so they concatenate to the input."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk
        start = 0
        for match in _PARAGRAPH_END.finditer(buffer):
            if match.end() == len(buffer):
                break  # the run of newlines may continue in the next chunk
            yield buffer[start:match.end()]
            start = match.end()
        buffer = buffer[start:]
        while len(buffer) > MAX_DOCUMENT_CHARS:
            cut = buffer.rfind("\n", 0, MAX_DOCUMENT_CHARS) + 1 or MAX_DOCUMENT_CHARS
            yield buffer[:cut]
            buffer = buffer[cut:]
    if buffer:
        yield buffer


def _lines(chunks: Iterable[str]) -> Iterator[str]:
    buffer = ""
    for chunk in chunks:
        buffer += chunk
        *complete, buffer = buffer.split("\n")
        yield from complete
    if buffer:
        yield buffer


def _jsonl_records(path: Path, chunks: Iterable[str], text_field: str) -> Iterator[str]:
    for number, line in enumerate(_lines(chunks), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusError(f"corpus '{path}' line {number} is not valid JSON ({err.msg})") from None
        text = record.get(text_field) if isinstance(record, dict) else None
        if isinstance(record, dict) and text_field in record and not isinstance(text, str):
            kind = {"int": "a number", "float": "a number", "bool": "true or false", "NoneType": "null",
                    "list": "a list", "dict": "an object"}.get(type(text).__name__, type(text).__name__)
            raise CorpusError(f"corpus '{path}' line {number}: field '{text_field}' holds {kind}, not text")
        if not isinstance(text, str):
            raise CorpusError(f"corpus '{path}' line {number} has no text field '{text_field}'; pass "
                              "--text-field NAME")
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as err:  # JSON may escape a lone surrogate (\ud800), which is no text
                raise CorpusError(f"corpus '{path}' line {number} holds a lone surrogate "
                                  f"U+{ord(text[err.start]):04X}, which is not text") from None
        yield text


def _blocks(paragraphs: Iterable[str], block_chars: int) -> Iterator[str]:
    """Join consecutive paragraphs of one file into blocks of about `block_chars` characters."""
    parts: list[str] = []
    size = 0
    for paragraph in paragraphs:
        parts.append(paragraph)
        size += len(paragraph)
        if size >= block_chars:
            yield "".join(parts)
            parts, size = [], 0
    if parts:
        yield "".join(parts)


def _file_texts(path: Path, text_field: str, digest=None, on_bytes=None) -> Iterator[str]:
    return shard_documents(Shard(str(path)), text_field=text_field, digest=digest, on_bytes=on_bytes)


def shard_documents(shard: Shard, *, text_field: str = "text", digest=None, on_bytes=None) -> Iterator[str]:
    """The documents of one shard: paragraphs of plain text, records of `.jsonl` (see `tokwork.shards`)."""
    path = Path(shard.path)
    chunks = _decoded_chunks(path, digest, on_bytes, start=shard.start, end=shard.end)
    if is_jsonl(path):
        return _jsonl_records(path, chunks, text_field)
    return _paragraphs(chunks)


def shard_texts(shard: Shard, *, text_field: str = "text", block_chars: int | None = None, digest=None,
                on_bytes=None, on_document: Callable[[str], None] | None = None) -> Iterator[str]:
    """The texts a learner is fed from one shard: its documents, or with `block_chars` the paragraphs of
    plain text joined into blocks of about that many characters (blocks never cross a shard boundary).
    `on_document` sees every document as it is read (for sizes and counts)."""
    documents = shard_documents(shard, text_field=text_field, digest=digest, on_bytes=on_bytes)
    if on_document is not None:
        documents = _tapped(documents, on_document)
    if block_chars and not is_jsonl(Path(shard.path)):
        return _blocks(documents, block_chars)
    return documents


def _tapped(documents: Iterable[str], on_document: Callable[[str], None]) -> Iterator[str]:
    for document in documents:
        on_document(document)
        yield document


class DocumentTally:
    """Counts documents and their UTF-8 bytes as they stream past (an `on_document` callback)."""

    def __init__(self) -> None:
        self.nbytes = 0
        self.documents = 0

    def __call__(self, document: str) -> None:
        self.nbytes += len(document.encode("utf-8"))
        self.documents += 1


def iter_documents(paths: Iterable[str | Path], *, text_field: str = "text") -> Iterator[Document]:
    """Stream the documents of a corpus: paragraphs of text files, records of `.jsonl` files.

    Concatenating the texts of a text file's documents gives the file's text exactly (a leading BOM
    dropped). Raises `CorpusError` for missing files and invalid UTF-8 or JSON, naming file and position.
    """
    for path in expand_corpus_paths(paths):
        for text in _file_texts(path, text_field):
            yield Document(text=text, source=str(path), nbytes=len(text.encode("utf-8")))


def iter_texts(paths: Iterable[str | Path], *, text_field: str = "text") -> Iterator[str]:
    """Stream just the document texts, the form trainers take."""
    for document in iter_documents(paths, text_field=text_field):
        yield document.text


class CorpusReader:
    """Streams a corpus's texts once while fingerprinting each file (sha256 on disk, text bytes, documents).

    Trainers feed the iteration straight to their learner, so a corpus is read once, not validated first
    and read again; `files` holds the fingerprints when the iteration is done. Files are read shard by
    shard (`tokwork.shards`), the same units parallel engines work on. With `block_chars`, the paragraphs
    of plain text come joined into blocks of about that many characters (the file's own text in fewer,
    larger pieces: learners with a per-item cost run faster on them); `.jsonl` records always come one by
    one. With `progress`, a bar on stderr counts the bytes read. Raises `CorpusError` as soon as a bad
    file is reached.
    """

    def __init__(
        self,
        paths: Iterable[str | Path],
        *,
        text_field: str = "text",
        progress: bool = False,
        block_chars: int | None = None,
        shard_bytes: int = SHARD_BYTES,
    ):
        self.paths = expand_corpus_paths(paths)
        self.text_field = text_field
        self.progress = progress
        self.block_chars = block_chars
        self.shard_bytes = shard_bytes
        self.files: list[CorpusFile] = []

    @property
    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.paths)

    def shards(self) -> list[Shard]:
        """The shards this reader reads, in order."""
        return plan_shards(self.paths, shard_bytes=self.shard_bytes)

    def __iter__(self) -> Iterator[str]:
        from tokwork.progress import byte_progress

        self.files = []
        with byte_progress("reading corpus", self.size_on_disk, enabled=self.progress) as advance:
            by_file: dict[str, list[Shard]] = {}
            for shard in self.shards():
                by_file.setdefault(shard.path, []).append(shard)
            for path, shards in by_file.items():
                yield from self._read_file(path, shards, advance)
        self.check_not_empty()

    def _read_file(self, path: str, shards: list[Shard], advance) -> Iterator[str]:
        """Yield the texts of one file's shards in order, then record its fingerprint in `files`."""
        digest = hashlib.sha256()
        tally = DocumentTally()
        for shard in shards:
            yield from shard_texts(shard, text_field=self.text_field, block_chars=self.block_chars,
                                   digest=digest, on_bytes=advance, on_document=tally)
        self.files.append(CorpusFile(path, tally.nbytes, digest.hexdigest(), tally.documents))

    def check_not_empty(self) -> None:
        """Raise `CorpusError` when the files read hold no text at all."""
        check_corpus_has_text(sum(f.nbytes for f in self.files), self.paths)


def check_corpus_has_text(text_bytes: int, paths: Sequence[str | Path]) -> None:
    """Raise `CorpusError`, naming the first files, where a corpus read in full held `text_bytes` = 0."""
    if text_bytes == 0:
        names = ", ".join(f"'{p}'" for p in paths[:3])
        raise CorpusError(f"corpus is empty: no text in {names}")


def check_files_hold_bytes(paths: Sequence[str | Path]) -> None:
    """Refuse a corpus whose files are all empty on disk before any work starts (workers to start, say);
    files that hold bytes but no text are found when they are read."""
    if paths and all(Path(path).stat().st_size == 0 for path in paths):
        check_corpus_has_text(0, paths)


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes (hex), read in blocks: the fingerprint cards and records keep."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inspect_corpus(
    paths: Iterable[str | Path], *, text_field: str = "text", progress: bool = False
) -> list[CorpusFile]:
    """Validate every file of a corpus in one streaming pass and return sizes and sha256 fingerprints.

    Raises `CorpusError` when a file is missing, unreadable or not UTF-8, or when the corpus is empty.
    """
    reader = CorpusReader(paths, text_field=text_field, progress=progress)
    for _ in reader:
        pass
    return reader.files
