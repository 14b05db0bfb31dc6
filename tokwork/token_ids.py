"""Corpus to token ids for language-model training: streamed, written as `.npy` (one file or shards).

This is how stochastic tokenization is used in practice: a corpus is encoded once per epoch (or once with
a seed per run) into a flat array of token ids, documents ended by the end-of-text token, which a
training loop memory-maps. `encode_corpus` is the one call, with an engine:

- `"stream"`: one pass in document order in this process. The corpus streams document by document
  (`tokwork.corpus`), so its size does not matter; ids are written as they come. A single `.npy` gets its
  final length written into its header at the end; with `shard_tokens`, the output is a folder of `.npy`
  shards of that many tokens. A stochastic tokenizer draws one seeded stream over the whole corpus.
- `"local"` or `"ray"`: each corpus shard (`tokwork.shards`, cut every `shard_bytes`) is encoded as one
  job (`tokwork.encode_shards`) in this process or on Ray workers (`tokwork.distributed`), into one `.npy`
  per corpus shard; a stochastic tokenizer is re-seeded per shard, so the ids do not depend on the engine.

Ids are `uint16` when the vocabulary fits, else `uint32`; a folder of shards gets a `tokwork.json`
manifest. The output is written to a temporary sibling and renamed into place. A text file is one
document (its paragraphs are encoded in order and the end-of-text token follows the file's last
paragraph); in `.jsonl` files each record is a document.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tokwork.card import write_card
from tokwork.corpus import (
    Document,
    check_corpus_has_text,
    check_files_hold_bytes,
    corpus_list,
    expand_corpus_paths,
    is_jsonl,
    iter_documents,
)
from tokwork.distributed import ENGINES, check_engine, run_jobs
from tokwork.encode_shards import (
    BATCH_BYTES,
    MAX_SEED,
    EncodedShard,
    EncodeJob,
    encode_shard,
    encode_texts,
    ids_dtype,
)
from tokwork.errors import OutputError, ParameterError
from tokwork.loader import open_tokenizer
from tokwork.outputs import check_output_directory, output_directory, output_file
from tokwork.progress import byte_progress
from tokwork.shards import SHARD_BYTES, plan_shards
from tokwork.tokenizer import Tokenizer

ENCODE_ENGINES = ("stream", *ENGINES)
NPY_HEADER_BYTES = 128
KIND = "token-ids"  # the card kind of a folder of shards, which a new encoding may replace


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
        """Write `ids` after those already written."""
        self.handle.write(np.ascontiguousarray(ids, dtype=self.dtype).tobytes())
        self.count += len(ids)

    def close(self) -> int:
        """Write the header with the final length, close the file and return the number of ids."""
        self.handle.seek(0)
        self.handle.write(npy_header(self.dtype, self.count))
        self.handle.close()
        return self.count


@dataclass
class TokenIdsReport:
    """What a corpus encoding wrote: files (in order), tokens, documents, text bytes, id dtype, time taken,
    tokens per file of a folder output, the engine, and the sampling parameters of a stochastic tokenizer."""

    files: list[Path]
    tokens: int = 0
    documents: int = 0
    text_bytes: int = 0
    dtype: str = ""
    seconds: float = 0.0
    shard_tokens: list[int] = field(default_factory=list)
    engine: str = "stream"
    stochastic: dict | None = None


def encode_corpus(
    tokenizer: str | Path,
    corpus: Sequence[str | Path],
    output: str | Path,
    *,
    engine: str = "stream",
    seed: int | None = None,
    shard_tokens: int | None = None,
    shard_bytes: int = SHARD_BYTES,
    eos: bool = True,
    text_field: str = "text",
    address: str | None = None,
    progress: bool = True,
    force: bool = False,
) -> TokenIdsReport:
    """Encode a corpus with the tokenizer at `tokenizer` (any format, stochastic included) into token ids.

    `engine="stream"` writes one `.npy` at `output`, or with `shard_tokens` a folder of shards of that many
    ids, with `seed` replacing a stochastic tokenizer's saved seed. `"local"` and `"ray"` (the cluster at
    `address`) write a folder of one `.npy` per corpus shard of about `shard_bytes`, seeded per shard from
    `seed` (default: the saved one); `shard_tokens` does not apply there. The same seed writes the same
    ids. Raises `ParameterError` for an unknown engine, a bad shard size (or one given to a sharded engine)
    or seed, or when `eos` is asked of a tokenizer without an end-of-text token; `OutputError` for an output
    path that cannot be written; and `CorpusError` for a missing, empty or undecodable corpus (leaving
    nothing behind). Everything but the corpus's text is checked before encoding starts.
    """
    check_engine(engine, choices=ENCODE_ENGINES, address=address)
    output = Path(output)
    if engine == "stream":
        return _encode_stream(tokenizer, corpus, output, seed=seed, shard_tokens=shard_tokens, eos=eos,
                              text_field=text_field, progress=progress, force=force)
    if shard_tokens is not None:
        raise ParameterError(f"a shard size in tokens (--shard-tokens) applies to the stream engine only; engine "
                             f"'{engine}' writes one shard per piece of the corpus")
    return _encode_corpus_shards(tokenizer, corpus, output, engine=engine, address=address, seed=seed, eos=eos,
                                 text_field=text_field, shard_bytes=shard_bytes, progress=progress, force=force)


def _end_of_text(tokenizer: Tokenizer, eos: bool) -> int | None:
    if eos and tokenizer.specials.eos is None:
        raise ParameterError("the tokenizer has no end-of-text token to end documents with; pass --no-eos")
    return tokenizer.specials.eos if eos else None


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
    for document, end in _documents_with_ends(corpus, text_field):
        texts.append(document.text)
        ends.append(end)
        size += document.nbytes
        advance(document.nbytes, end)
        if size >= BATCH_BYTES:
            yield encode_texts(tokenizer, texts, ends, eos=eos, dtype=dtype)
            texts, ends, size = [], [], 0
    if texts:
        yield encode_texts(tokenizer, texts, ends, eos=eos, dtype=dtype)


def _encode_stream(tokenizer: str | Path, corpus: Sequence[str | Path], output: Path, *, seed: int | None,
                   shard_tokens: int | None, eos: bool, text_field: str, progress: bool,
                   force: bool) -> TokenIdsReport:
    """The corpus in one pass, in document order: one `.npy`, or a folder of `shard_tokens`-id shards."""
    start = time.perf_counter()
    if shard_tokens is not None and shard_tokens < 1:
        raise ParameterError(f"shard size {shard_tokens} must be at least 1 token")
    if shard_tokens is None and output.suffix != ".npy":
        raise OutputError(f"output '{output}' must end in .npy (or pass --shard-tokens N to write a folder of shards)")
    if shard_tokens is not None:
        check_output_directory(output, force=force, kinds=(KIND,), inputs=[tokenizer, *corpus_list(corpus)])
    opened = open_tokenizer(tokenizer, seed=seed)
    eos_id = _end_of_text(opened, eos)
    paths = expand_corpus_paths(corpus)
    dtype = ids_dtype(opened.vocab_size)
    report = TokenIdsReport(files=[], dtype=dtype.name, stochastic=opened.describe().get("stochastic"))
    total = sum(p.stat().st_size for p in paths)
    with byte_progress("encoding corpus", total, enabled=progress) as advance:
        def counting(nbytes: int, end: bool) -> None:
            report.text_bytes += nbytes
            report.documents += end
            advance(nbytes)

        batches = _id_batches(opened, paths, eos=eos_id, text_field=text_field, dtype=dtype, advance=counting)
        if shard_tokens is None:
            with output_file(output, force=force, inputs=[tokenizer, *corpus_list(corpus)]) as staging:
                writer = NpyAppender(staging, dtype)
                try:
                    for ids in batches:
                        writer.append(ids)
                finally:
                    report.tokens = writer.close()
                check_corpus_has_text(report.text_bytes, paths)
            report.files = [output]
        else:
            with output_directory(output, force=force, kinds=(KIND,)) as staging:
                _write_shards(batches, staging, dtype, shard_tokens, report)
                check_corpus_has_text(report.text_bytes, paths)
                manifest = {"kind": KIND, "tokenizer": str(opened.source), "dtype": dtype.name,
                            "eos": eos_id, "tokens": report.tokens, "text_bytes": report.text_bytes,
                            "corpus": [str(p) for p in paths], "stochastic": report.stochastic,
                            "shards": [{"file": p.name, "tokens": n}
                                       for p, n in zip(report.files, report.shard_tokens, strict=True)]}
                write_card(staging, manifest)
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


def _encode_corpus_shards(tokenizer: str | Path, corpus: Sequence[str | Path], output: Path, *, engine: str,
                          address: str | None, seed: int | None, eos: bool, text_field: str, shard_bytes: int,
                          progress: bool, force: bool) -> TokenIdsReport:
    """Each corpus shard encoded as one job on `engine`, into a folder of one `.npy` per corpus shard
    with a manifest (source file and byte range, tokens, text bytes, documents of every shard)."""
    start = time.perf_counter()
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ParameterError(f"seed {seed} must lie in [0, 2**63 - 1]")
    if output.suffix == ".npy":
        raise OutputError(f"output '{output}' ends in .npy, but engine '{engine}' writes a folder of shards; "
                          "give a folder name (or --engine stream for one .npy)")
    check_output_directory(output, force=force, kinds=(KIND,), inputs=[tokenizer, *corpus_list(corpus)])
    opened = open_tokenizer(tokenizer)  # a fresh one: the workers' cached ones are re-seeded per shard
    eos_id = _end_of_text(opened, eos)
    run_seed = seed if seed is not None else getattr(opened, "seed", None)  # the saved seed of a stochastic one
    paths = expand_corpus_paths(corpus)
    check_files_hold_bytes(paths)  # before workers start
    shards = plan_shards(paths, shard_bytes=shard_bytes)
    jobs = [EncodeJob(shard, number, str(tokenizer), run_seed, eos, text_field)
            for number, shard in enumerate(shards)]
    with output_directory(output, force=force, kinds=(KIND,)) as staging:
        entries = []

        def write(index: int, result: EncodedShard) -> None:
            job = jobs[index]
            name = f"{index:05d}.npy"
            np.save(staging / name, result.ids)
            entries.append({"file": name, "source": job.shard.path, "start": job.shard.start, "end": job.shard.end,
                            "tokens": int(len(result.ids)), "text_bytes": result.nbytes,
                            "documents": result.documents})

        run_jobs(encode_shard, jobs, engine=engine, address=address, description="encoding shards",
                 progress=progress, on_result=write)
        entries.sort(key=lambda entry: entry["file"])
        text_bytes = sum(entry["text_bytes"] for entry in entries)
        check_corpus_has_text(text_bytes, paths)
        dtype = ids_dtype(opened.vocab_size).name
        manifest = {"kind": KIND, "tokenizer": str(tokenizer), "dtype": dtype, "eos": eos_id,
                    "seed": run_seed, "engine": engine, "tokens": sum(e["tokens"] for e in entries),
                    "corpus": [str(p) for p in paths], "seconds": round(time.perf_counter() - start, 3),
                    "shards": entries}
        write_card(staging, manifest)
    stochastic = opened.describe().get("stochastic")
    return TokenIdsReport(files=[output / e["file"] for e in entries], tokens=manifest["tokens"],
                          documents=sum(e["documents"] for e in entries), text_bytes=text_bytes, dtype=dtype,
                          seconds=time.perf_counter() - start, shard_tokens=[e["tokens"] for e in entries],
                          engine=engine, stochastic={**stochastic, "seed": run_seed} if stochastic else None)


