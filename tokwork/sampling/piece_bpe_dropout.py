"""BPE-dropout over SentencePiece BPE models, seeded: sentencepiece's merge loop, run by a numba kernel.

After Provilkov, Emelianenko and Voita, "BPE-Dropout: Simple and Effective Subword Regularization" (2020),
as sentencepiece runs it: the normalised text is cut into characters (a user-defined piece stays one
symbol that never merges); the adjacent pair whose joined text is the highest-scoring piece merges first,
the leftmost among equals; each merge is skipped with probability p and that pair is dropped (it comes
back only if a later merge makes it again); a merge that makes an unused piece is undone at the end into
the two pieces it joined. With p = 0 this is sentencepiece's deterministic encode (the tests check it on
every shipped language). The draws come from tokwork's per-text stream, which sentencepiece's own
generator cannot give (`tokwork.sampling.piece_table`).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from tokwork.sampling.numba_tables import (
    fill_hash,
    hash_lookup,
    heap_pop,
    heap_push,
    key_heap_pop,
    key_heap_push,
    key_heapify,
)
from tokwork.sampling.piece_table import UNUSED, PieceTable, code_points
from tokwork.sampling.random_streams import next_unit

KEY_BITS = 63  # what a queued pair's packed key may take


@functools.lru_cache(maxsize=8)
def _merges(table: PieceTable):
    """Every pair of pieces whose joined text is a piece, as a hash table from left * size + right to the
    joined piece; each piece's merge priority (0 for the highest score, equal scores alike); which pieces
    are unused; the piece of each single character by code point (-1 for none)."""
    size = len(table.texts)
    keys, values = [], []
    for text, joined in table.ids.items():
        for cut in range(1, len(text)):
            left, right = table.ids.get(text[:cut]), table.ids.get(text[cut:])
            if left is not None and right is not None:
                keys.append(left * size + right)
                values.append(joined)
    keys_array = np.array(keys, dtype=np.int64)
    slot_keys, slot_values = fill_hash(keys_array, np.array(values, dtype=np.int64),
                                       1 << max(4, int(2 * len(keys)).bit_length()))
    priority = np.unique(-table.scores, return_inverse=True)[1].astype(np.int64)
    char_ids = np.full(0x110000, -1, dtype=np.int32)
    for text, piece in table.ids.items():
        if len(text) == 1:
            char_ids[ord(text)] = piece
    return slot_keys, slot_values, priority, table.types == UNUSED, char_ids


def _symbols(table: PieceTable, segments: list[str], char_ids: np.ndarray):
    """The segments' symbols end to end: symbol ids (-1 for a character that is no piece), which symbols
    never merge (the user-defined pieces, the longest at each position, each one symbol at its first
    character), each segment's bounds among them, which characters start a symbol (None where every
    character does), and each segment's first character in the joined text."""
    lengths = np.fromiter(map(len, segments), np.int64, len(segments))
    starts = np.zeros(len(segments) + 1, np.int64)
    np.cumsum(lengths, out=starts[1:])
    ids = char_ids[code_points("".join(segments))].astype(np.int64)
    frozen = np.zeros(len(ids), dtype=np.bool_)
    kept = None
    if table.user_pattern is not None:
        for k, segment in enumerate(segments):
            for match in table.user_pattern.finditer(segment):
                at = starts[k] + match.start()
                ids[at] = table.ids[match.group()]
                frozen[at] = True
                if match.end() - match.start() > 1:
                    kept = np.ones(len(ids), dtype=np.bool_) if kept is None else kept
                    kept[at + 1:starts[k] + match.end()] = False
    if kept is None:
        return ids, frozen, starts, None, starts
    kept_before = np.zeros(len(ids) + 1, np.int64)  # symbols that start before each character
    np.cumsum(kept, out=kept_before[1:])
    return ids[kept], frozen[kept], kept_before[starts], kept, starts


@njit(cache=True)
def _bits(value):
    """How many bits `value` (non-negative) takes."""
    bits = 0
    while value > 0:
        bits += 1
        value >>= 1
    return bits


@njit(cache=True, inline="always")
def _pair(left, right, sym, frozen, size, slot_keys, slot_values):
    """The piece that the symbols at `left` and `right` join into, or -1 where they do not merge."""
    if left < 0 or right < 0 or frozen[left] or frozen[right] or sym[left] < 0 or sym[right] < 0:
        return -1
    return hash_lookup(slot_keys, slot_values, sym[left] * size + sym[right])


@njit(cache=True, inline="always")
def _queue(heap, payload, count, rank, joined, packed, joined_bits):
    """Queue a pair by `rank` (priority, then left symbol): packed into one key with the joined piece in
    its low bits where they fit, else with the joined piece as the heap's payload."""
    if packed:
        return key_heap_push(heap, count, (rank << joined_bits) | joined)
    return heap_push(heap, payload, count, rank, joined)


@njit(cache=True)
def _merge(sym, frozen, size, slot_keys, slot_values, priority, unused, p, state, key_bits):
    """Merge the symbols with dropout p; returns the output pieces' ids, the first starting symbol of each
    (for the text of an unknown one), the stream, and whether any output piece is unknown (no piece, or
    an unused one). Each merge is kept in a tree over the starting symbols, so that a merge that made an
    unused piece is undone into the pieces it joined. The queue is ordered by (priority, left symbol) as
    sentencepiece's is; a pair's key holds the piece it makes too, in one int64 where priority, position
    and piece fit in `key_bits` (63: any text below 2^27 characters with a vocabulary below 2^18), else
    the piece is the heap's payload."""
    n = len(sym)
    nxt = np.arange(1, n + 1)
    nxt[n - 1] = -1
    prv = np.arange(-1, n - 1)
    joined_bits = _bits(size)
    left_bits = _bits(n)
    packed = 2 * joined_bits + left_bits <= key_bits
    heap = np.empty(4 * n + 4, np.int64)
    payload = np.empty(0 if packed else 4 * n + 4, np.int64)
    # merge tree: node k < n is starting symbol k; node n + m is the m-th merge
    tree_left = np.empty(2 * n, np.int64)
    tree_right = np.empty(2 * n, np.int64)
    tree_id = np.empty(2 * n, np.int64)
    tree_id[:n] = sym
    node = np.arange(n)
    made = n
    left_mask = (np.int64(1) << left_bits) - 1
    joined_mask = (np.int64(1) << joined_bits) - 1
    count = np.int64(0)
    for i in range(n - 1):
        joined = _pair(i, i + 1, sym, frozen, size, slot_keys, slot_values)
        if joined < 0:
            continue
        if packed:  # every pair first, then one linear-time heapify
            heap[count] = (((priority[joined] << left_bits) | i) << joined_bits) | joined
            count += 1
        else:
            count = heap_push(heap, payload, count, (priority[joined] << left_bits) | i, joined)
    if packed:
        key_heapify(heap, count)
    while count > 0:
        if packed:
            key, count = key_heap_pop(heap, count)
            joined = key & joined_mask
            left = (key >> joined_bits) & left_mask
        else:
            key, joined, count = heap_pop(heap, payload, count)
            left = key & left_mask
        right = nxt[left]
        if sym[left] < 0 or right < 0 or sym[right] < 0:
            continue
        if hash_lookup(slot_keys, slot_values, sym[left] * size + sym[right]) != joined:
            continue  # stale: one of the two symbols has merged since the pair was queued
        if p > 0.0:
            state, u = next_unit(state)
            if u < p:
                continue  # dropped: the pair comes back only if a merge makes it again
        tree_left[made], tree_right[made], tree_id[made] = node[left], node[right], joined
        node[left] = made
        made += 1
        sym[left] = joined
        sym[right] = -2  # merged away
        nxt[left] = nxt[right]
        if nxt[left] >= 0:
            prv[nxt[left]] = left
        for first in (prv[left], left):
            made_piece = _pair(first, nxt[first] if first >= 0 else -1, sym, frozen, size, slot_keys, slot_values)
            if made_piece >= 0:
                count = _queue(heap, payload, count, (priority[made_piece] << left_bits) | first, made_piece,
                               packed, joined_bits)
    out_ids = np.empty(n, np.int64)
    out_first = np.empty(n, np.int64)  # the first starting symbol of each output piece
    length = 0
    any_unknown = False
    stack = np.empty(2 * n, np.int64)
    at = 0
    while at != -1:
        depth = 1
        stack[0] = node[at]
        while depth > 0:
            depth -= 1
            k = stack[depth]
            if k >= n and unused[tree_id[k]]:
                stack[depth] = tree_right[k]
                stack[depth + 1] = tree_left[k]
                depth += 2
            else:
                out_ids[length] = tree_id[k]
                any_unknown = any_unknown or tree_id[k] < 0 or unused[tree_id[k]]
                first = k
                while first >= n:
                    first = tree_left[first]
                out_first[length] = first
                length += 1
        at = nxt[at]
    return out_ids[:length].copy(), out_first[:length].copy(), state, any_unknown


@njit(cache=True)
def _merge_segments(sym, frozen, bounds, states, chained, size, slot_keys, slot_values, priority, unused, p):
    """`_merge` over every segment of a batch (segment k is sym[bounds[k]:bounds[k + 1]]), one call for
    the batch. Segment k starts from states[k], or, where chained[k], from the state segment k - 1 left.
    Returns the output ids of every segment end to end, their first starting symbols (counted within the
    segment), the segments' bounds in them, which segments hold an unknown piece, and each segment's
    final state."""
    segments = len(bounds) - 1
    out_ids = np.empty(len(sym), np.int64)
    out_first = np.empty(len(sym), np.int64)
    out_bounds = np.zeros(segments + 1, np.int64)
    unknown = np.zeros(segments, np.bool_)
    final = np.empty(segments, np.uint64)
    state = np.uint64(0)
    for k in range(segments):
        if not chained[k]:
            state = states[k]
        start, end, at = bounds[k], bounds[k + 1], out_bounds[k]
        if end > start:
            ids, first, state, unknown[k] = _merge(sym[start:end].copy(), frozen[start:end], size, slot_keys,
                                                   slot_values, priority, unused, p, state, KEY_BITS)
            out_ids[at:at + len(ids)] = ids
            out_first[at:at + len(ids)] = first
            at += len(ids)
        out_bounds[k + 1] = at
        final[k] = state
    return out_ids[:out_bounds[segments]], out_first[:out_bounds[segments]], out_bounds, unknown, final


def bpe_dropout_segments(table: PieceTable, segments: list[str], p: float, states: np.ndarray,
                         chained: np.ndarray) -> tuple[list[list[int]], np.ndarray]:
    """Each normalised segment cut by the BPE model's merges, each merge skipped with probability `p`,
    in one kernel call for the batch. Segment k draws from the random stream states[k], or, where
    chained[k], goes on with the stream segment k - 1 left (p = 0 draws nothing). Returns the ids of each
    segment and the stream each leaves."""
    slot_keys, slot_values, priority, unused, char_ids = _merges(table)
    sym, frozen, bounds, kept, offsets = _symbols(table, segments, char_ids)
    ids, first, out_bounds, unknown, final = _merge_segments(
        sym, frozen, bounds, np.asarray(states, dtype=np.uint64), np.asarray(chained, dtype=np.bool_),
        len(table.texts), slot_keys, slot_values, priority, unused, float(p))
    flat, cuts = ids.tolist(), out_bounds.tolist()
    out = [flat[cuts[k]:cuts[k + 1]] for k in range(len(segments))]
    for k in np.flatnonzero(unknown).tolist():
        # a character whose only piece is unused stays that starting symbol, which sentencepiece writes
        # as unknown
        text = segments[k]
        firsts = range(len(text)) if kept is None else np.flatnonzero(kept[offsets[k]:offsets[k + 1]]).tolist()
        starts = [*firsts, len(text)]
        pieces = [(text[starts[f]:starts[f + 1]], -1) if i < 0 or unused[i] else ("", i)
                  for i, f in zip(out[k], first[cuts[k]:cuts[k + 1]].tolist(), strict=True)]
        out[k] = table.output_ids(pieces)
    return out, final


def bpe_dropout(table: PieceTable, text: str, p: float, state) -> tuple[list[int], np.uint64]:
    """The normalised `text` segmented by the BPE model's merges, each merge skipped with probability `p`
    (drawn from the random stream `state`; p = 0 draws nothing); returns the ids and the advanced stream."""
    ids, final = bpe_dropout_segments(table, [text], p, np.array([state], dtype=np.uint64), np.zeros(1, np.bool_))
    return ids[0], np.uint64(final[0])
