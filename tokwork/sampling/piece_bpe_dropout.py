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

from tokwork.sampling.numba_tables import fill_hash, hash_lookup, heap_pop, heap_push
from tokwork.sampling.piece_table import UNUSED, PieceTable, code_points
from tokwork.sampling.random_streams import next_unit

_POSITION_BITS = 32


@functools.lru_cache(maxsize=8)
def _merges(table: PieceTable):
    """Every pair of pieces whose joined text is a piece, as a hash table from left * size + right to the
    joined piece; each piece's merge priority (0 for the highest score, equal scores alike); which pieces
    are unused."""
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
    return slot_keys, slot_values, priority, table.types == UNUSED


def _symbols(table: PieceTable, text: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The text as symbol ids (-1 for a character that is no piece) and which symbols never merge (the
    user-defined pieces, the longest at each position), and where each symbol starts (and the end)."""
    matches = list(table.user_pattern.finditer(text)) if table.user_pattern is not None else []
    if not matches:
        chars, inverse = np.unique(code_points(text), return_inverse=True)
        ids = np.array([table.ids.get(chr(c), -1) for c in chars.tolist()], dtype=np.int64)
        return ids[inverse], np.zeros(len(text), dtype=np.bool_), list(range(len(text) + 1))
    ids, frozen, starts, at = [], [], [], 0
    for match in [*matches, None]:
        upto = len(text) if match is None else match.start()
        for position in range(at, upto):
            ids.append(table.ids.get(text[position], -1))
            frozen.append(False)
            starts.append(position)
        if match is not None:
            ids.append(table.ids[match.group()])
            frozen.append(True)
            starts.append(match.start())
            at = match.end()
    return np.array(ids, dtype=np.int64), np.array(frozen, dtype=np.bool_), [*starts, len(text)]


@njit(cache=True)
def _consider(left, right, sym, frozen, size, slot_keys, slot_values, priority, heap, payload, count):
    if left < 0 or right < 0 or frozen[left] or frozen[right] or sym[left] < 0 or sym[right] < 0:
        return count
    joined = hash_lookup(slot_keys, slot_values, sym[left] * size + sym[right])
    if joined < 0:
        return count
    return heap_push(heap, payload, count, (priority[joined] << 32) | left, joined)


@njit(cache=True)
def _merge(sym, frozen, size, slot_keys, slot_values, priority, unused, p, state):
    """Merge the symbols with dropout p; returns the output pieces' ids, the first starting symbol of each
    (for the text of an unknown one) and the stream. Each merge is kept in a tree over the starting
    symbols, so that a merge that made an unused piece is undone into the pieces it joined."""
    n = len(sym)
    nxt = np.arange(1, n + 1)
    nxt[n - 1] = -1
    prv = np.arange(-1, n - 1)
    heap = np.empty(4 * n + 4, np.int64)
    payload = np.empty(4 * n + 4, np.int64)
    # merge tree: node k < n is starting symbol k; node n + m is the m-th merge
    tree_left = np.empty(2 * n, np.int64)
    tree_right = np.empty(2 * n, np.int64)
    tree_id = np.empty(2 * n, np.int64)
    tree_id[:n] = sym
    node = np.arange(n)
    made = n
    low = (np.int64(1) << 32) - 1
    count = np.int64(0)
    for i in range(n - 1):
        count = _consider(i, i + 1, sym, frozen, size, slot_keys, slot_values, priority, heap, payload, count)
    while count > 0:
        key, joined, count = heap_pop(heap, payload, count)
        left = key & low
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
        count = _consider(prv[left], left, sym, frozen, size, slot_keys, slot_values, priority, heap, payload, count)
        count = _consider(left, nxt[left], sym, frozen, size, slot_keys, slot_values, priority, heap, payload, count)
    out_ids = np.empty(n, np.int64)
    out_first = np.empty(n, np.int64)  # the first starting symbol of each output piece
    length = 0
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
                first = k
                while first >= n:
                    first = tree_left[first]
                out_first[length] = first
                length += 1
        at = nxt[at]
    return out_ids[:length].copy(), out_first[:length].copy(), state


def bpe_dropout(table: PieceTable, text: str, p: float, state) -> tuple[list[int], np.uint64]:
    """The normalised `text` segmented by the BPE model's merges, each merge skipped with probability `p`
    (drawn from the random stream `state`; p = 0 draws nothing); returns the ids and the advanced stream."""
    if not text:
        return [], np.uint64(state)
    slot_keys, slot_values, priority, unused = _merges(table)
    sym, frozen, starts = _symbols(table, text)
    ids, first, state = _merge(sym, frozen, len(table.texts), slot_keys, slot_values, priority, unused, float(p),
                               np.uint64(state))
    # a character whose only piece is unused stays that starting symbol, which sentencepiece writes as unknown
    unknown = (ids < 0) | unused[np.maximum(ids, 0)]
    if not unknown.any():
        return ids.tolist(), np.uint64(state)
    pieces = [(text[starts[f]:starts[f + 1]], -1) if out else ("", int(i))
              for i, f, out in zip(ids.tolist(), first.tolist(), unknown.tolist(), strict=True)]
    return table.output_ids(pieces), np.uint64(state)
