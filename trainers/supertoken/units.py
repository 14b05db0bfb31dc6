"""The stage-1 ids of superword chunks, as stage 1 encodes each whole chunk, computed once per distinct unit.

SuperBPE (Liu et al., "SuperBPE: Space Travel for Language Models", 2025) applies the stage-1 merges inside
each stage-2 pretoken. Most chunks are distinct, but they are made of few distinct pieces: a chunk is cut
before each space whose previous byte never precedes a space inside a stage-1 token, so no stage-1 merge can
reach across the cut and the chunk's ids are its units' ids in a row (exactly, not approximately). Each
distinct unit is encoded once: short ones by a plain BPE loop here (the lowest-ranked pair first, the leftmost
among equals, as `tokenizers` does), long ones by `tokenizers` itself; the tests compare with `tokenizers`
encoding whole chunks.
"""

from __future__ import annotations

import json

import numpy as np
from numba import njit
from tokenizers import Tokenizer as BackendTokenizer

from tokwork.byteview import bytes_to_byte_level
from tokwork.trainers.supertoken.byte_level_bpe import vocab_bytes, whole_text_encoder
from tokwork.trainers.supertoken.chunks import Chunks, SpanTable, count_span
from tokwork.trainers.supertoken.tables import EMPTY, mix64, table_size

# units up to this many bytes are encoded in numba (quadratic in the length); longer ones by `tokenizers`
SHORT_UNIT = 64


def space_breaks(pieces: list[bytes | None]) -> np.ndarray:
    """For every byte value, whether no token in `pieces` holds it followed by a space (so that a unit may
    start at a space after it)."""
    breaks = np.ones(256, dtype=np.bool_)
    for piece in pieces:
        for at in range(1, len(piece or b"")):
            if piece[at] == 0x20:
                breaks[piece[at - 1]] = False
    return breaks


@njit(cache=True)
def _is_cut(data, begin, i, breaks):
    return i > begin and data[i] == 32 and breaks[data[i - 1]]


@njit(cache=True)
def _unit_count(data, chunk_starts, chunk_ends, breaks):
    total = chunk_starts.size
    for c in range(chunk_starts.size):
        for i in range(chunk_starts[c], chunk_ends[c]):
            total += _is_cut(data, chunk_starts[c], i, breaks)
    return total


@njit(cache=True)
def _units_kernel(data, chunk_starts, chunk_ends, breaks, unit_ids, first_unit, table, hashes, starts, ends,
                  counts, c, units, n):
    """Number the units of chunks `c` onwards until all are done or the table could be full."""
    while c < chunk_starts.size:
        room = chunk_ends[c] - chunk_starts[c] + 1  # at most one new unit per byte
        if n + room > hashes.size or 2 * (n + room) > table.size:
            return c, units, n
        first_unit[c] = units
        begin = chunk_starts[c]
        for i in range(begin, chunk_ends[c] + 1):
            if i == chunk_ends[c] or _is_cut(data, chunk_starts[c], i, breaks):
                unit_ids[units], n = count_span(table, hashes, starts, ends, counts, n, data, begin, i)
                units += 1
                begin = i
        c += 1
    first_unit[c] = units
    return c, units, n


def chunk_units(data: np.ndarray, chunk_starts: np.ndarray, chunk_ends: np.ndarray, breaks: np.ndarray):
    """Cut chunks into units before each space whose previous byte `b` has `breaks[b]`.

    Returns, per unit of every chunk, the number of its distinct byte string; per chunk, the index of its
    first unit (plus an end entry); and the start and end offset of each distinct unit.
    """
    unit_ids = np.empty(_unit_count(data, chunk_starts, chunk_ends, breaks), dtype=np.int32)
    first_unit = np.empty(chunk_starts.size + 1, dtype=np.int64)
    spans = SpanTable()
    c = units = n = 0
    while True:
        c, units, n = _units_kernel(data, chunk_starts, chunk_ends, breaks, unit_ids, first_unit, *spans.arrays,
                                    c, units, n)
        if c == chunk_starts.size:
            return unit_ids, first_unit, spans.starts[:n], spans.ends[:n]
        spans.grow(n)


@njit(cache=True)
def _merge_table(pairs, results):
    """Open-addressing index of the merges: pair key -> rank and the id the merge makes."""
    keys = np.full(table_size(2 * pairs.shape[0]), EMPTY, dtype=np.int64)
    ranks = np.empty(keys.size, dtype=np.int32)
    made = np.empty(keys.size, dtype=np.int32)
    mask = keys.size - 1
    for rank in range(pairs.shape[0]):
        key = (np.int64(pairs[rank, 0]) << 32) | np.int64(pairs[rank, 1])
        at = np.int64(mix64(key) & np.uint64(mask))
        while keys[at] != EMPTY and keys[at] != key:
            at = (at + 1) & mask
        if keys[at] == EMPTY:  # a pair listed twice keeps its first rank
            keys[at], ranks[at], made[at] = key, rank, results[rank]
    return keys, ranks, made


@njit(cache=True)
def _encode_short_units(data, starts, ends, byte_ids, keys, ranks, made, tokens, counts):
    """BPE-encode every unit of at most SHORT_UNIT bytes: unit k's ids go to `tokens` from the sum of the
    lengths of the units before it on, their number to `counts[k]`; longer units get count -1."""
    symbols = np.empty(SHORT_UNIT, dtype=np.int32)
    mask = keys.size - 1
    at = 0
    for k in range(starts.size):
        length = ends[k] - starts[k]
        if length > SHORT_UNIT:
            counts[k] = -1
            at += length
            continue
        for j in range(length):
            symbols[j] = byte_ids[data[starts[k] + j]]
        while length > 1:
            best, best_rank, best_made = -1, np.int32(0x7FFFFFFF), 0
            for j in range(length - 1):
                key = (np.int64(symbols[j]) << 32) | np.int64(symbols[j + 1])
                slot = np.int64(mix64(key) & np.uint64(mask))
                while keys[slot] != EMPTY and keys[slot] != key:
                    slot = (slot + 1) & mask
                if keys[slot] == key and ranks[slot] < best_rank:
                    best, best_rank, best_made = j, ranks[slot], made[slot]
            if best < 0:
                break
            symbols[best] = best_made
            for j in range(best + 1, length - 1):
                symbols[j] = symbols[j + 1]
            length -= 1
        for j in range(length):
            tokens[at + j] = symbols[j]
        counts[k] = length
        at += ends[k] - starts[k]


def encode_units(stage1: BackendTokenizer, encoder: BackendTokenizer, data: np.ndarray, starts: np.ndarray,
                 ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage-1 ids of each distinct unit `data[starts[k]:ends[k]]`: returns a flat id array, where unit k's
    ids begin (each unit has as many slots as bytes) and how many it has. `encoder` is `stage1` encoding
    each input as one pretoken; it encodes the long units."""
    spec = json.loads(stage1.to_str())["model"]
    vocab = spec["vocab"]
    pairs = np.array([[vocab[a], vocab[b]] for a, b in spec["merges"]], dtype=np.int32).reshape(-1, 2)
    results = np.array([vocab[a + b] for a, b in spec["merges"]], dtype=np.int32)
    byte_ids = np.array([vocab[bytes_to_byte_level(bytes([b]))] for b in range(256)], dtype=np.int32)
    lengths = ends - starts
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    tokens = np.empty(int(lengths.sum()), dtype=np.int32)
    counts = np.empty(starts.size, dtype=np.int64)
    _encode_short_units(data, starts, ends, byte_ids, *_merge_table(pairs, results), tokens, counts)
    long_units = np.flatnonzero(counts < 0)
    texts = [data[starts[k]:ends[k]].tobytes().decode("utf-8") for k in long_units.tolist()]
    for k, encoding in zip(long_units.tolist(), encoder.encode_batch_fast(texts, add_special_tokens=False),
                           strict=True):
        tokens[offsets[k]:offsets[k] + len(encoding.ids)] = encoding.ids
        counts[k] = len(encoding.ids)
    return tokens, offsets, counts


@njit(cache=True)
def chunk_tokens(unit_ids, first_unit, unit_offsets, unit_counts, unit_tokens):
    """The stage-1 ids of every chunk, put together from its units' ids (distinct unit k has
    `unit_tokens[unit_offsets[k]:unit_offsets[k] + unit_counts[k]]`); returns ids, chunk starts and lengths."""
    n_chunks = first_unit.size - 1
    total = 0
    for u in range(unit_ids.size):
        total += unit_counts[unit_ids[u]]
    tokens = np.empty(total, dtype=np.int32)
    chunk_start = np.empty(n_chunks, dtype=np.int64)
    chunk_len = np.empty(n_chunks, dtype=np.int64)
    at = 0
    for c in range(n_chunks):
        chunk_start[c] = at
        for u in range(first_unit[c], first_unit[c + 1]):
            k = unit_ids[u]
            for i in range(unit_offsets[k], unit_offsets[k] + unit_counts[k]):
                tokens[at] = unit_tokens[i]
                at += 1
        chunk_len[c] = at - chunk_start[c]
    return tokens, chunk_start, chunk_len


def stage1_ids(stage1: BackendTokenizer, chunks: Chunks):
    """The stage-1 ids of every distinct chunk, exactly as stage 1 encodes the whole chunk; returns ids,
    chunk starts and chunk lengths."""
    breaks = space_breaks(vocab_bytes(stage1))
    unit_ids, first_unit, starts, ends = chunk_units(chunks.data, chunks.starts, chunks.ends, breaks)
    tokens, offsets, counts = encode_units(stage1, whole_text_encoder(stage1), chunks.data, starts, ends)
    return chunk_tokens(unit_ids, first_unit, offsets, counts, tokens)
