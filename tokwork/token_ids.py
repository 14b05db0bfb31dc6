"""Corpus to token ids for language-model training: streamed, written as `.npy` (one file or shards).

This is how stochastic tokenization is used in practice: a corpus is encoded once per epoch (or once with
a seed per run) into a flat array of token ids, documents ended by the end-of-text token, which a
training loop memory-maps. The corpus streams document by document (`tokwork.corpus`), so its size does
not matter; ids are written as they come, `uint16` when the vocabulary fits, else `uint32`. A single
`.npy` gets its final length written into its header at the end; with `shard_tokens`, the output is a
folder of `.npy` shards of that many tokens plus a `tokwork.json` manifest. Either way the output is
written to a temporary sibling and renamed into place.

A text file is one document (its paragraphs are encoded in order and the end-of-text token follows the
file's last paragraph); in `.jsonl` files each record is a document.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np

from tokwork.corpus import Document, expand_corpus_paths, is_jsonl, iter_documents
from tokwork.errors import CorpusError, OutputError, ParameterError
from tokwork.outputs import CARD_NAME, check_output_directory, output_directory, output_file
from tokwork.progress import byte_progress
from tokwork.tokenizer import Tokenizer

NPY_HEADER_BYTES = 128
BATCH_BYTES = 1 << 20


def ids_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id of the vocabulary."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


def npy_header(dtype: np.dtype, count: int) -> bytes:
    """A version 1.0 `.npy` header for a 1-D array of `count` items, padded to a fixed 128 bytes so that
    it can be written first and rewritten with the true length at the end."""
    text = f"{{'descr': '{np.lib.format.dtype_to_descr(dtype)}', 'fortran_order': False, 'shape': ({count},), }}"
    body = text.ljust(NPY_HEADER_BYTES - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")


class NpyAppender:
    """Writes a 1-D `.npy` file of unknown length by appending arrays; `close` fixes the header."""

    def __init__(self, path: Path, dtype: np.dtype):
        self.path, self.dtype, self.count = path, dtype, 0
        self.handle = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.handle.write(npy_header(dtype, 0))

    def append(self, ids: np.ndarray) -> None:
        self.handle.write(np.ascontiguousarray(ids, dtype=self.dtype).tobytes())
        self.count += len(ids)

    def close(self) -> int:
        self.handle.seek(0)
        self.handle.write(npy_header(self.dtype, self.count))
        self.handle.close()
        return self.count


@dataclass
class TokenIdsReport:
    """What a corpus encoding wrote: files, tokens, documents, text bytes, id dtype and time taken."""

    files: list[Path]
    tokens: int = 0
    documents: int = 0
    text_bytes: int = 0
    dtype: str = ""
    seconds: float = 0.0
    shard_tokens: list[int] = field(default_factory=list)


def _documents_with_ends(corpus: Sequence[str | Path], text_field: str) -> Iterator[tuple[Document, bool]]:
    """Each document with whether it ends one (the last paragraph of a text file, every `.jsonl` record)."""
    previous = None
    for document in iter_documents(corpus, text_field=text_field):
        if previous is not None:
            yield previous, is_jsonl(Path(previous.source)) or document.source != previous.source
        previous = document
    if previous is not None:
        yield previous, True


def _id_batches(tokenizer: Tokenizer, corpus, *, eos: int | None, text_field: str, dtype, advance) -> Iterator[np.ndarray]:
    """Encode the corpus in batches of about `BATCH_BYTES` of text; yield each batch's ids as one array."""
    texts: list[str] = []
    ends: list[bool] = []
    size = 0

    def flush() -> np.ndarray:
        encoded = tokenizer.encode_batch(texts)
        if eos is not None:
            encoded = [[*ids, eos] if end else ids for ids, end in zip(encoded, ends, strict=True)]
        count = sum(map(len, encoded))
        return np.fromiter(chain.from_iterable(encoded), dtype=dtype, count=count)

    for document, end in _documents_with_ends(corpus, text_field):
        texts.append(document.text)
        ends.append(end)
        size += document.nbytes
        advance(document.nbytes, end)
        if size >= BATCH_BYTES:
            yield flush()
            texts, ends, size = [], [], 0
    if texts:
        yield flush()


def write_token_ids(
    tokenizer: Tokenizer,
    corpus: Sequence[str | Path],
    output: str | Path,
    *,
    shard_tokens: int | None = None,
    eos: bool = True,
    text_field: str = "text",
    progress: bool = True,
    force: bool = False,
) -> TokenIdsReport:
    """Encode a corpus into token ids: one `.npy` at `output`, or with `shard_tokens` a folder of shards.

    Stochastic tokenizers give each document (paragraph of a text file, record of a `.jsonl`) its own
    seeded sample, so the same seed writes the same ids. Raises `ParameterError` for a bad shard size or
    when `eos` is asked of a tokenizer without an end-of-text token, `OutputError` for an output path that
    cannot be written, `CorpusError` for a missing, empty or undecodable corpus (leaving nothing behind).
    """
    start = time.perf_counter()
    output = Path(output)
    if shard_tokens is not None and shard_tokens < 1:
        raise ParameterError(f"shard size {shard_tokens} must be at least 1 token")
    if shard_tokens is None and output.suffix != ".npy":
        raise OutputError(f"output '{output}' must end in .npy (or pass --shard-tokens N to write a folder of shards)")
    eos_id = tokenizer.specials.eos if eos else None
    if eos and eos_id is None:
        raise ParameterError("the tokenizer has no end-of-text token to end documents with; pass --no-eos")
    paths = expand_corpus_paths(corpus)
    dtype = ids_dtype(tokenizer.vocab_size)
    report = TokenIdsReport(files=[], dtype=dtype.name)
    total = sum(p.stat().st_size for p in paths)
    with byte_progress("encoding corpus", total, enabled=progress) as advance:
        def counting(nbytes: int, end: bool) -> None:
            report.text_bytes += nbytes
            report.documents += end
            advance(nbytes)

        batches = _id_batches(tokenizer, paths, eos=eos_id, text_field=text_field, dtype=dtype, advance=counting)
        if shard_tokens is None:
            with output_file(output, force=True) as staging:
                writer = NpyAppender(staging, dtype)
                try:
                    for ids in batches:
                        writer.append(ids)
                finally:
                    report.tokens = writer.close()
                _check_not_empty(report, paths)
            report.files = [output]
        else:
            check_output_directory(output, force=force)
            with output_directory(output, force=force) as staging:
                _write_shards(batches, staging, dtype, shard_tokens, report)
                _check_not_empty(report, paths)
                manifest = {"kind": "token-ids", "tokenizer": str(tokenizer.source), "dtype": dtype.name,
                            "eos": eos_id, "tokens": report.tokens, "text_bytes": report.text_bytes,
                            "corpus": [str(p) for p in paths],
                            "stochastic": tokenizer.describe().get("stochastic"),
                            "shards": [{"file": p.name, "tokens": n}
                                       for p, n in zip(report.files, report.shard_tokens, strict=True)]}
                (staging / CARD_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            report.files = [output / p.name for p in report.files]
    report.seconds = time.perf_counter() - start
    return report


def _write_shards(batches, folder: Path, dtype, shard_tokens: int, report: TokenIdsReport) -> None:
    """Cut the id stream into `.npy` shards of `shard_tokens` ids (the last one shorter)."""
    writer = None
    for ids in batches:
        while len(ids):
            if writer is None:
                path = folder / f"{len(report.files):05d}.npy"
                report.files.append(path)
                writer = NpyAppender(path, dtype)
            room = shard_tokens - writer.count
            writer.append(ids[:room])
            ids = ids[room:]
            if writer.count == shard_tokens:
                report.shard_tokens.append(writer.close())
                writer = None
    if writer is not None:
        report.shard_tokens.append(writer.close())
    report.tokens = sum(report.shard_tokens)


def _check_not_empty(report: TokenIdsReport, paths: Sequence[Path]) -> None:
    if report.text_bytes == 0:
        names = ", ".join(f"'{p}'" for p in paths[:3])
        raise CorpusError(f"corpus is empty: no text in {names}")
