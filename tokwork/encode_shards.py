"""A corpus encoded to token ids shard by shard, locally or on Ray workers, with the same ids either way.

Each corpus shard (`tokwork.shards`) becomes one `.npy` of ids, written in shard order into a folder with
a `tokwork.json` manifest (source file and byte range, tokens, seed of every shard). Documents are as in
`tokwork.token_ids`: paragraphs of a text file encoded in order with the end-of-text token after the
file's last one, every `.jsonl` record ended by it; for a deterministic tokenizer the shards concatenate
to exactly what `write_token_ids` writes. A stochastic tokenizer is re-seeded per shard from the run's
seed and the shard's number, so a shard's ids do not depend on which worker encoded it or when.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np

from tokwork.corpus import expand_corpus_paths, is_jsonl, shard_documents
from tokwork.distributed import run_jobs
from tokwork.errors import CorpusError, ParameterError
from tokwork.outputs import CARD_NAME, output_directory
from tokwork.shards import SHARD_BYTES, Shard, plan_shards
from tokwork.token_ids import BATCH_BYTES, ids_dtype

MAX_SEED = (1 << 63) - 1


@dataclass(frozen=True)
class EncodeJob:
    """Encoding one shard: everything a worker needs, and picklable."""

    shard: Shard
    number: int
    tokenizer: str
    seed: int | None
    eos: bool
    text_field: str = "text"


@dataclass
class EncodedShard:
    """A shard's ids and the size of the text they came from."""

    ids: np.ndarray
    nbytes: int
    documents: int


def shard_seed(seed: int, number: int) -> int:
    """The seed of shard `number` in a run seeded with `seed` (independent streams per shard)."""
    digest = hashlib.sha256(f"{seed}:{number}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & MAX_SEED


@functools.lru_cache(maxsize=2)
def _open(path: str):
    from tokwork.trainers.stochastic import open_tokenizer

    return open_tokenizer(path)


def encode_shard(job: EncodeJob) -> EncodedShard:
    """Encode one shard's documents (a worker's whole task)."""
    from tokwork.trainers.stochastic import StochasticTokenizer

    tokenizer = _open(job.tokenizer)
    if isinstance(tokenizer, StochasticTokenizer):
        tokenizer.reset(seed=shard_seed(job.seed, job.number))
    eos = tokenizer.specials.eos if job.eos else None
    dtype = ids_dtype(tokenizer.vocab_size)
    pieces: list[np.ndarray] = []
    nbytes = documents = 0
    for texts, ends in _batches(job.shard, job.text_field):
        encoded = tokenizer.encode_batch(texts)
        if eos is not None:
            encoded = [[*ids, eos] if end else ids for ids, end in zip(encoded, ends, strict=True)]
        pieces.append(np.fromiter(chain.from_iterable(encoded), dtype=dtype, count=sum(map(len, encoded))))
        nbytes += sum(len(t.encode("utf-8")) for t in texts)
        documents += sum(ends)
    ids = np.concatenate(pieces) if pieces else np.zeros(0, dtype=dtype)
    return EncodedShard(ids, nbytes, documents)


def _batches(shard: Shard, text_field: str) -> Iterator[tuple[list[str], list[bool]]]:
    """The shard's texts in batches of about `BATCH_BYTES`, each with whether it ends a document."""
    every_record = is_jsonl(Path(shard.path))
    texts: list[str] = []
    size = 0
    for text in shard_documents(shard, text_field=text_field):
        texts.append(text)
        size += len(text)
        if size >= BATCH_BYTES:
            yield texts, [every_record] * len(texts)
            texts, size = [], 0
    # The file's last paragraph ends its document; only the shard that reaches the end of file holds it.
    ends = [every_record] * len(texts)
    if texts and shard.end is None:
        ends[-1] = True
    if texts:
        yield texts, ends


def encode_corpus_shards(
    corpus: Sequence[str | Path],
    *,
    tokenizer: str | Path,
    output: str | Path,
    engine: str = "local",
    address: str | None = None,
    seed: int | None = None,
    eos: bool = True,
    text_field: str = "text",
    shard_bytes: int = SHARD_BYTES,
    progress: bool = False,
    force: bool = False,
) -> dict:
    """Encode a corpus into a folder of `.npy` id shards, one per corpus shard, on the chosen engine.

    Returns the manifest written beside the shards.
    """
    start = time.perf_counter()
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ParameterError(f"seed {seed} must lie in [0, 2**63 - 1]")
    from tokwork.trainers.stochastic import open_tokenizer

    opened = open_tokenizer(tokenizer)  # a fresh one: the cached ones are re-seeded per shard
    if eos and opened.specials.eos is None:
        raise ParameterError("the tokenizer has no end-of-text token to end documents with; pass --no-eos")
    run_seed = seed if seed is not None else getattr(opened, "seed", None)  # the saved seed of a stochastic one
    paths = expand_corpus_paths(corpus)
    shards = plan_shards(paths, shard_bytes=shard_bytes)
    jobs = [EncodeJob(shard, number, str(tokenizer), run_seed, eos, text_field)
            for number, shard in enumerate(shards)]
    with output_directory(output, force=force) as staging:
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
        if sum(entry["text_bytes"] for entry in entries) == 0:
            names = ", ".join(f"'{p}'" for p in paths[:3])
            raise CorpusError(f"corpus is empty: no text in {names}")
        manifest = {"kind": "token-ids", "tokenizer": str(tokenizer), "dtype": ids_dtype(opened.vocab_size).name,
                    "eos": opened.specials.eos if eos else None, "seed": run_seed, "engine": engine,
                    "tokens": sum(e["tokens"] for e in entries), "corpus": [str(p) for p in paths],
                    "seconds": round(time.perf_counter() - start, 3), "shards": entries}
        (staging / CARD_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
