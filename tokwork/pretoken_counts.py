"""Pre-token count tables: how often each pre-token of a corpus occurs, counted shard by shard.

A BPE learner needs only these counts, and counting is the part of training that grows with the corpus,
so it runs per shard (locally or on Ray, `tokwork.distributed`) and the tables are merged (into one, or
one per group of files, such as a language). Pre-tokens come from exactly the normaliser and pre-tokenizer
of the tokenizer being trained (rebuilt from its JSON in every worker), over the same texts the
`tokenizers` trainer would be fed (`tokwork.corpus.shard_texts`).
A merged table past `max_entries` words spills sorted runs to disk and streams them back merged.
"""

from __future__ import annotations

import functools
import heapq
import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer as BackendTokenizer

from tokwork.corpus import (
    CorpusFile,
    DocumentTally,
    check_corpus_has_text,
    check_files_hold_bytes,
    expand_corpus_paths,
    file_sha256,
    shard_texts,
)
from tokwork.distributed import run_jobs
from tokwork.shards import SHARD_BYTES, Shard, plan_shards


@functools.lru_cache(maxsize=4)
def pretokenizer_from_json(tokenizer_json: str) -> Callable[[str], list[str]]:
    """The normalise-then-pre-tokenize function of a `tokenizer.json`, as its trainer applies it."""
    backend = BackendTokenizer.from_str(tokenizer_json)
    normalizer, pre_tokenizer = backend.normalizer, backend.pre_tokenizer

    def split(text: str) -> list[str]:
        if normalizer is not None:
            text = normalizer.normalize_str(text)
        if pre_tokenizer is None:
            return [text]
        return [piece for piece, _ in pre_tokenizer.pre_tokenize_str(text)]

    return split


@dataclass(frozen=True)
class CountJob:
    """Counting the pre-tokens of one shard: everything a worker needs, and picklable."""

    shard: Shard
    tokenizer_json: str
    text_field: str = "text"
    block_chars: int | None = None


@dataclass
class ShardCounts:
    """A shard's pre-token counts and the size of the text they came from."""

    counts: Counter
    nbytes: int
    documents: int


def count_shard(job: CountJob) -> ShardCounts:
    """Count the pre-tokens of one shard (a worker's whole task)."""
    split = pretokenizer_from_json(job.tokenizer_json)
    counts: Counter = Counter()
    tally = DocumentTally()
    for text in shard_texts(job.shard, text_field=job.text_field, block_chars=job.block_chars, on_document=tally):
        counts.update(split(text))
    return ShardCounts(counts, tally.nbytes, tally.documents)


class CountTable:
    """Word -> count merged from many shards, in memory up to `max_entries` words, then in sorted runs on
    disk (streamed back merged by `items`)."""

    def __init__(self, *, max_entries: int = 5_000_000, spill_dir: str | Path | None = None):
        self.max_entries = max_entries
        self.spill_dir = Path(spill_dir) if spill_dir else None
        self.memory: Counter = Counter()
        self.runs: list[Path] = []
        self._workspace: tempfile.TemporaryDirectory | None = None

    def add(self, counts: Mapping[str, int]) -> None:
        """Add one shard's counts."""
        self.memory.update(counts)
        if len(self.memory) > self.max_entries:
            self._spill()

    def _spill(self) -> None:
        if self.spill_dir is None:
            self._workspace = self._workspace or tempfile.TemporaryDirectory(prefix="tokwork-counts-")
            folder = Path(self._workspace.name)
        else:
            folder = self.spill_dir
            folder.mkdir(parents=True, exist_ok=True)
        run = folder / f"run-{len(self.runs):05d}.jsonl"
        with open(run, "w", encoding="utf-8") as handle:
            for word in sorted(self.memory):
                handle.write(json.dumps([word, self.memory[word]], ensure_ascii=False) + "\n")
        self.runs.append(run)
        self.memory = Counter()

    def items(self) -> Iterator[tuple[str, int]]:
        """Every (word, count), words in sorted order, merged across memory and spilled runs."""
        streams = [_read_run(run) for run in self.runs]
        streams.append(iter(sorted(self.memory.items())))
        current, total = None, 0
        for word, count in heapq.merge(*streams):
            if word != current:
                if current is not None:
                    yield current, total
                current, total = word, 0
            total += count
        if current is not None:
            yield current, total

    def to_dict(self) -> dict[str, int]:
        """The whole table in memory (what a learner needs)."""
        return dict(self.items())

    def close(self) -> None:
        if self._workspace is not None:
            self._workspace.cleanup()


def _read_run(path: Path) -> Iterator[tuple[str, int]]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            word, count = json.loads(line)
            yield word, count


def count_pretokens(
    corpus: Iterable[str | Path],
    *,
    tokenizer_json: str,
    engine: str = "local",
    address: str | None = None,
    text_field: str = "text",
    block_chars: int | None = None,
    shard_bytes: int = SHARD_BYTES,
    progress: bool = False,
    max_entries: int = 5_000_000,
) -> tuple[CountTable, list[CorpusFile]]:
    """Count the pre-tokens of a corpus, per shard on the chosen engine, and merge the tables.

    Returns the table and each file's fingerprint (sha256, text bytes, documents) for the card.
    """
    tables, files = count_pretokens_by_group(corpus, group_of=lambda path: "", tokenizer_json=tokenizer_json,
                                             engine=engine, address=address, text_field=text_field,
                                             block_chars=block_chars, shard_bytes=shard_bytes, progress=progress,
                                             max_entries=max_entries)
    return tables[""], files


def count_pretokens_by_group(
    corpus: Iterable[str | Path],
    *,
    group_of: Callable[[str], str],
    tokenizer_json: str,
    engine: str = "local",
    address: str | None = None,
    text_field: str = "text",
    block_chars: int | None = None,
    shard_bytes: int = SHARD_BYTES,
    progress: bool = False,
    max_entries: int = 5_000_000,
) -> tuple[dict[str, CountTable], list[CorpusFile]]:
    """Count the pre-tokens of a corpus as `count_pretokens` does, in one run of jobs, into one table per
    group of files (`group_of(path)`, e.g. the file's language), for learners that keep counts apart.

    Returns the tables by group (groups in order of first appearance) and each file's fingerprint.
    """
    paths = expand_corpus_paths(corpus)
    check_files_hold_bytes(paths)  # before workers start
    shards = plan_shards(paths, shard_bytes=shard_bytes)
    jobs = [CountJob(shard, tokenizer_json, text_field, block_chars) for shard in shards]
    results = run_jobs(count_shard, jobs, engine=engine, address=address, description="counting pre-tokens",
                       progress=progress)
    tables = {group: CountTable(max_entries=max_entries) for group in dict.fromkeys(group_of(str(p)) for p in paths)}
    totals: dict[str, list[int]] = {str(p): [0, 0] for p in paths}
    for job, result in zip(jobs, results, strict=True):
        tables[group_of(job.shard.path)].add(result.counts)
        totals[job.shard.path][0] += result.nbytes
        totals[job.shard.path][1] += result.documents
    check_corpus_has_text(sum(nbytes for nbytes, _ in totals.values()), paths)
    files = [CorpusFile(path, nbytes, file_sha256(path), documents) for path, (nbytes, documents) in totals.items()]
    return tables, files

