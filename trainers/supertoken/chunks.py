"""What stage 2 of superword BPE learns from: the distinct superword chunks of a corpus, counted (numba).

`count_chunks` cuts UTF-8 text with a scanner that follows `tokwork.split_patterns.SUPERWORD` alternative by
alternative, so the chunks seen in training are the pretokens the saved tokenizer makes. Its character classes
(letters and marks, numbers, spaces, line breaks, the rest) are read off the regex engine the saved tokenizer
runs (Oniguruma, through `tokenizers`) for each character that occurs; tests check that scanner and engine cut
every shipped language and arbitrary text alike. Distinct chunks are kept once, as offsets into the text.
The random-length chunks of the random-chunk method are counted the same way (`count_random_chunks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from tokenizers import Regex, pre_tokenizers

from tokwork.trainers.supertoken.tables import EMPTY, HASH_BASE, mix64

PUNCT, LETTER, NUMBER, SPACE, NEWLINE, END = 0, 1, 2, 3, 4, 255
# how the regex engine is asked; every other character is PUNCT ([^\s\p{L}\p{M}\p{N}])
CLASS_PATTERNS = ((LETTER, r"[\p{L}\p{M}]"), (NUMBER, r"\p{N}"), (SPACE, r"[^\S\r\n]"), (NEWLINE, r"[\r\n]"))
UNICODE_SIZE = 0x110000


@dataclass
class Chunks:
    """Distinct chunks of a text: chunk i is `data[starts[i]:ends[i]]`, seen `counts[i]` times."""

    data: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    counts: np.ndarray


@njit(cache=True)
def _decode(data, i):
    """The code point at byte `i` of valid UTF-8 and its length in bytes."""
    b = np.int64(data[i])
    if b < 0x80:
        return b, 1
    if b < 0xE0:
        return ((b & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), 2
    if b < 0xF0:
        return ((b & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F), 3
    return (((b & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12)
            | ((np.int64(data[i + 2]) & 0x3F) << 6) | (np.int64(data[i + 3]) & 0x3F)), 4


@njit(cache=True)
def _code_points_seen(data):
    seen = np.zeros(UNICODE_SIZE, dtype=np.bool_)
    i = np.int64(0)  # not a literal, which numba would compile _decode for once more
    while i < data.size:
        cp, n = _decode(data, i)
        seen[cp] = True
        i += n
    return seen


def character_classes(data: np.ndarray) -> np.ndarray:
    """For every code point in `data` (UTF-8), its class as the `tokenizers` regex engine sees it."""
    classes = np.zeros(UNICODE_SIZE, dtype=np.uint8)
    tests = [(cls, pre_tokenizers.Split(Regex(pattern), behavior="removed")) for cls, pattern in CLASS_PATTERNS]
    for cp in np.flatnonzero(_code_points_seen(data)).tolist():
        char = chr(cp)
        for cls, split in tests:
            if not split.pre_tokenize_str(char):  # the character matched and was removed
                classes[cp] = cls
                break
    return classes


@njit(cache=True)
def _class_at(data, i, end, classes):
    if i >= end:
        return END, i
    cp, n = _decode(data, i)
    return classes[cp], i + n


@njit(cache=True)
def _skip(data, i, end, classes, cls):
    while i < end:
        found, after = _class_at(data, i, end, classes)
        if found != cls:
            break
        i = after
    return i


@njit(cache=True)
def _chunk_end(data, i, end, classes):
    """Where the SUPERWORD match that starts at byte `i` ends (the alternatives in the pattern's order)."""
    if data[i] == 39 and i + 1 < end:  # '(?:[sdmt]|ll|ve|re)
        b = data[i + 1]
        if b == 115 or b == 100 or b == 109 or b == 116:
            return i + 2
        if i + 2 < end:
            c = data[i + 2]
            if (b == 108 and c == 108) or (b == 118 and c == 101) or (b == 114 and c == 101):
                return i + 3
    # [^\S\r\n]*(?:[^\s\p{L}\p{M}\p{N}]+[^\S\r\n]*)?[\p{L}\p{M}]+(?:[^\S\r\n]+[\p{L}\p{M}]+)*[\r\n]*
    j = _skip(data, i, end, classes, SPACE)
    k = _skip(data, j, end, classes, PUNCT)
    if k > j:
        k = _skip(data, k, end, classes, SPACE)
    if _class_at(data, k, end, classes)[0] == LETTER:
        k = _skip(data, k, end, classes, LETTER)
        while True:
            m = _skip(data, k, end, classes, SPACE)
            if m == k or _class_at(data, m, end, classes)[0] != LETTER:
                break
            k = _skip(data, m, end, classes, LETTER)
        return _skip(data, k, end, classes, NEWLINE)
    # ' ?\p{N}{1,3}', then ' ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*' (the optional space is U+0020 only)
    k = i + 1 if data[i] == 32 else i
    found = _class_at(data, k, end, classes)[0]
    if found == NUMBER:
        for _ in range(3):
            found, after = _class_at(data, k, end, classes)
            if found != NUMBER:
                break
            k = after
        return k
    if found == PUNCT:
        return _skip(data, _skip(data, k, end, classes, PUNCT), end, classes, NEWLINE)
    # whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+
    run_end, last_start, newline_end = i, i, -1
    while run_end < end:
        found, after = _class_at(data, run_end, end, classes)
        if found != SPACE and found != NEWLINE:
            break
        if found == NEWLINE:
            newline_end = after
        last_start = run_end
        run_end = after
    if newline_end > 0:
        return newline_end
    if run_end == end or last_start == i:
        return run_end
    return last_start


@njit(cache=True)
def _hash(data, start, end):
    h = np.uint64(0xCBF29CE484222325)
    for i in range(start, end):
        h = (h ^ np.uint64(data[i])) * HASH_BASE
    return h


@njit(cache=True)
def _rebuild(hashes, n, size):
    """A hash index of `size` slots over the first `n` entries."""
    table = np.full(size, EMPTY, dtype=np.int64)
    mask = size - 1
    for entry in range(n):
        at = np.int64(mix64(hashes[entry]) & np.uint64(mask))
        while table[at] != EMPTY:
            at = (at + 1) & mask
        table[at] = entry
    return table


@njit(cache=True)
def _intern(table, hashes, starts, ends, n, data, start, end):
    """The entry whose bytes equal `data[start:end]`, or -1 - slot when there is none yet."""
    h = _hash(data, start, end)
    mask = table.size - 1
    at = np.int64(mix64(h) & np.uint64(mask))
    while table[at] != EMPTY:
        entry = table[at]
        if hashes[entry] == h and ends[entry] - starts[entry] == end - start:
            same = True
            for i in range(end - start):
                if data[starts[entry] + i] != data[start + i]:
                    same = False
                    break
            if same:
                return entry, h
        at = (at + 1) & mask
    return -1 - at, h


class SpanTable:
    """Distinct byte strings of a text with their counts, in arrays that the numba kernels fill without
    ever reallocating them (a kernel stops when it could run out of room; `grow` makes room and the kernel
    goes on). Entry k is `data[starts[k]:ends[k]]`, seen `counts[k]` times; `table` is the hash index."""

    def __init__(self, size: int = 1 << 15):
        self.table = np.full(2 * size, EMPTY, dtype=np.int64)
        self.hashes = np.empty(size, dtype=np.uint64)
        self.starts = np.empty(size, dtype=np.int64)
        self.ends = np.empty(size, dtype=np.int64)
        self.counts = np.empty(size, dtype=np.int64)

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.table, self.hashes, self.starts, self.ends, self.counts

    def grow(self, n: int) -> None:
        """Double the room, keeping the first `n` entries."""
        for name in ("hashes", "starts", "ends", "counts"):
            old = getattr(self, name)
            setattr(self, name, np.concatenate((old[:n], np.empty(2 * old.size - n, dtype=old.dtype))))
        self.table = _rebuild(self.hashes, n, 2 * self.hashes.size)


@njit(cache=True)
def count_span(table, hashes, starts, ends, counts, n, data, start, end):
    """Count one occurrence of `data[start:end]`; returns its entry and the new number of entries (the
    caller makes sure there is room for one more)."""
    entry, h = _intern(table, hashes, starts, ends, n, data, start, end)
    if entry >= 0:
        counts[entry] += 1
        return entry, n
    table[-1 - entry] = n
    hashes[n], starts[n], ends[n], counts[n] = h, start, end, 1
    return n, n + 1


@njit(cache=True)
def _superword_kernel(data, text_ends, classes, table, hashes, starts, ends, counts, t, i, n):
    """Count SUPERWORD chunks from byte `i` of text `t` on, until the texts end or the table is full;
    returns where it stopped and the number of entries."""
    while t < text_ends.size:
        while i < text_ends[t]:
            if n == hashes.size or 2 * (n + 1) > table.size:
                return t, i, n
            j = _chunk_end(data, i, text_ends[t], classes)
            _, n = count_span(table, hashes, starts, ends, counts, n, data, i, j)
            i = j
        t += 1
    return t, i, n


@njit(cache=True)
def _random_end(data, i, end, lows, widths, cumulative):
    """The end of a random chunk that starts at byte `i`: its length in characters is drawn from range k
    (`lows[k]` to `lows[k] + widths[k] - 1`), k chosen with cumulative probability `cumulative[k]`."""
    k = min(np.searchsorted(cumulative, np.random.random(), side="right"), lows.size - 1)
    for _ in range(lows[k] + np.int64(np.random.random() * widths[k])):
        if i >= end:
            break
        i += _decode(data, i)[1]
    return i


@njit(cache=True)
def _random_kernel(data, text_ends, lows, widths, cumulative, seed, table, hashes, starts, ends, counts, t, i, n):
    """Count random-length chunks like `_superword_kernel`; numba's generator is seeded with `seed` when
    the count starts, so the chunks are the same on every run."""
    if t == 0 and i == 0:
        np.random.seed(seed)
    while t < text_ends.size:
        while i < text_ends[t]:
            if n == hashes.size or 2 * (n + 1) > table.size:
                return t, i, n
            j = _random_end(data, i, text_ends[t], lows, widths, cumulative)
            _, n = count_span(table, hashes, starts, ends, counts, n, data, i, j)
            i = j
        t += 1
    return t, i, n


@njit(cache=True)
def random_cuts(data, text_ends, lows, widths, cumulative, seed):
    """Where each random chunk of `_random_kernel` ends, in text order (to look at the chunks one by one)."""
    np.random.seed(seed)
    total = 0
    i = 0
    for t in range(text_ends.size):  # first the number of chunks, then the same draws again
        while i < text_ends[t]:
            i = _random_end(data, i, text_ends[t], lows, widths, cumulative)
            total += 1
    np.random.seed(seed)
    cuts = np.empty(total, dtype=np.int64)
    n = 0
    i = 0
    for t in range(text_ends.size):
        while i < text_ends[t]:
            i = _random_end(data, i, text_ends[t], lows, widths, cumulative)
            cuts[n] = i
            n += 1
    return cuts


def _count_spans(kernel, data: np.ndarray, text_ends: np.ndarray, *args) -> Chunks:
    spans = SpanTable()
    t = i = n = 0
    while True:
        t, i, n = kernel(data, text_ends, *args, *spans.arrays, t, i, n)
        if t == text_ends.size:
            return Chunks(data, spans.starts[:n], spans.ends[:n], spans.counts[:n])
        spans.grow(n)


def count_chunks(data: np.ndarray, text_ends: np.ndarray) -> Chunks:
    """The distinct superword chunks of UTF-8 texts back to back in `data` (text t ends at `text_ends[t]`)
    and their counts; no chunk spans two texts."""
    return _count_spans(_superword_kernel, data, text_ends, character_classes(data))


def count_random_chunks(data: np.ndarray, text_ends: np.ndarray, ranges: list[tuple[int, int]],
                        probabilities: list[float], *, seed: int) -> Chunks:
    """The distinct random-length chunks (see `_random_kernel`) of the texts in `data` and their counts."""
    lows = np.array([low for low, _ in ranges], dtype=np.int64)
    widths = np.array([high - low + 1 for low, high in ranges], dtype=np.int64)
    return _count_spans(_random_kernel, data, text_ends, lows, widths, np.cumsum(probabilities), seed)


@njit(cache=True)
def span_bytes(data, starts, ends, byte_ids):
    """The ids of the bytes of every span (byte b is id `byte_ids[b]`); returns ids, starts, lengths."""
    lengths = ends - starts
    tokens = np.empty(lengths.sum(), dtype=np.int32)
    offsets = np.empty(starts.size, dtype=np.int64)
    at = 0
    for k in range(starts.size):
        offsets[k] = at
        for i in range(starts[k], ends[k]):
            tokens[at] = byte_ids[data[i]]
            at += 1
    return tokens, offsets, lengths
