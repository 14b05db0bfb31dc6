"""Shards: a corpus cut into byte ranges that end at paragraph boundaries, the unit of parallel work.

A plain text file larger than `shard_bytes` is cut at the first paragraph end (the end of a run of two or
more newlines) at or after every multiple of `shard_bytes`; smaller files, `.gz` files (which cannot be
read from the middle) and `.jsonl` files are one shard each. The plan depends only on the file's bytes,
so every reader, in one process or on many machines, cuts the same shards and sees the same documents.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SHARD_BYTES = 4 << 20
_PROBE_BYTES = 1 << 16


@dataclass(frozen=True)
class Shard:
    """Bytes `[start, end)` of one corpus file (`end` None: to the end of the file)."""

    path: str
    start: int = 0
    end: int | None = None


def splittable(path: Path) -> bool:
    """Plain text can be cut anywhere a paragraph ends; compressed files and JSON lines stay whole."""
    return not path.name.endswith((".gz", ".jsonl"))


def paragraph_end_at_or_after(handle, offset: int, size: int) -> int:
    """The smallest position `e >= offset` that ends a run of two or more newlines, else `size`."""
    position = max(0, offset - 2)
    handle.seek(position)
    run = 0  # newlines seen in a row, counting from `position`
    while position < size:
        window = handle.read(_PROBE_BYTES)
        if not window:
            break
        for byte in window:
            if byte == 0x0A:
                run += 1
            else:
                if run >= 2 and position >= offset:
                    return position
                run = 0
            position += 1
    return size


def plan_shards(paths: Iterable[str | Path], *, shard_bytes: int = SHARD_BYTES) -> list[Shard]:
    """Cut corpus files (already expanded, see `tokwork.corpus.expand_corpus_paths`) into shards."""
    shards: list[Shard] = []
    for raw in paths:
        path = Path(raw)
        size = path.stat().st_size
        if not splittable(path) or size <= shard_bytes:
            shards.append(Shard(str(path)))
            continue
        cuts = [0]
        with open(path, "rb") as handle:
            target = shard_bytes
            while target < size:
                cut = paragraph_end_at_or_after(handle, target, size)
                if cut >= size:
                    break
                if cut > cuts[-1]:
                    cuts.append(cut)
                target = (cut // shard_bytes + 1) * shard_bytes
        for index, start in enumerate(cuts):
            end = cuts[index + 1] if index + 1 < len(cuts) else None
            shards.append(Shard(str(path), start, end))
    return shards
