"""Encoding one piece of a corpus to token ids: the unit of work of `tokwork.token_ids.encode_corpus`.

A corpus shard (`tokwork.shards`) is encoded by `encode_shard` from a picklable `EncodeJob`, so it runs
in this process or on any worker with the same ids. Documents are paragraphs of a text file, encoded in
order with the end-of-text token after the file's last one, and `.jsonl` records, each ended by it; for a
deterministic tokenizer the shards' ids concatenate to the ids of the whole corpus in one pass. A
stochastic tokenizer is re-seeded per shard from the run's seed and the shard's number, so a shard's ids
do not depend on which worker encoded it or when.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np

from tokwork.corpus import is_jsonl, shard_documents
from tokwork.loader import open_tokenizer, tokenizer_stamp
from tokwork.sampling.stochastic import StochasticTokenizer
from tokwork.shards import Shard
from tokwork.tokenizer import Tokenizer

BATCH_BYTES = 1 << 20
MAX_SEED = (1 << 63) - 1


def ids_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id of the vocabulary."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


def encode_texts(tokenizer: Tokenizer, texts: Sequence[str], ends: Sequence[bool], *, eos: int | None,
                 dtype: np.dtype) -> np.ndarray:
    """The ids of `texts` in order as one array, with `eos` after each text that ends a document."""
    encoded = tokenizer.encode_batch(list(texts))
    if eos is not None:
        encoded = [[*ids, eos] if end else ids for ids, end in zip(encoded, ends, strict=True)]
    return np.fromiter(chain.from_iterable(encoded), dtype=dtype, count=sum(map(len, encoded)))


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
def _open(path: str, stamp: tuple):
    """The tokenizer at `path` as its files are (`stamp`), opened once per worker process."""
    return open_tokenizer(path)


def encode_shard(job: EncodeJob) -> EncodedShard:
    """Encode one shard's documents (a worker's whole task)."""
    tokenizer = _open(job.tokenizer, tokenizer_stamp(job.tokenizer))
    if isinstance(tokenizer, StochasticTokenizer):
        tokenizer.reset(seed=shard_seed(job.seed, job.number))
    eos = tokenizer.specials.eos if job.eos else None
    dtype = ids_dtype(tokenizer.vocab_size)
    pieces: list[np.ndarray] = []
    nbytes = documents = 0
    for texts, ends in _batches(job.shard, job.text_field):
        pieces.append(encode_texts(tokenizer, texts, ends, eos=eos, dtype=dtype))
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
