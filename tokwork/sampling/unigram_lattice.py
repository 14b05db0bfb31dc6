"""Unigram segmentations of SentencePiece models over their lattice: sampled from a seed, n-best, best.

After Kudo, "Subword Regularization: Improving Neural Network Translation Models with Multiple Subword
Candidates" (2018), on the lattice sentencepiece builds: a node for every piece that spells a stretch of
the normalised text (unused pieces left out; a user-defined piece scored length x the highest normal score
minus 0.1, so that it is always kept whole) and, at a character that no one-character piece spells, the
unknown piece at the lowest normal score minus 10. A segmentation is drawn with probability proportional
to exp(theta x its score) by the forward algorithm and backward sampling, drawing from tokwork's per-text
stream; among the n best when an n-best size is given. The best path is sentencepiece's deterministic
encode (the tests check it on every shipped language).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from tokwork.sampling.numba_tables import fill_hash, hash_lookup
from tokwork.sampling.piece_table import UNUSED, USER_DEFINED, PieceTable, code_points
from tokwork.sampling.random_streams import next_unit

UNKNOWN_PENALTY = 10.0
_CODE_POINT_BITS = 21


@functools.lru_cache(maxsize=8)
def _trie(table: PieceTable):
    """The pieces as a trie of code points: a hash table from (node, code point) to child node, and per
    node the piece id ending there (-1 for none or an unused piece) and that node's score."""
    children: dict[tuple[int, int], int] = {}
    piece_of, score_of = [-1], [0.0]
    for text, piece_id in table.ids.items():
        node = 0
        for char in text:
            key = (node, ord(char))
            if key not in children:
                children[key] = len(piece_of)
                piece_of.append(-1)
                score_of.append(0.0)
            node = children[key]
        if table.types[piece_id] != UNUSED:
            piece_of[node] = piece_id
            user = table.types[piece_id] == USER_DEFINED
            score_of[node] = len(text) * table.max_score - 0.1 if user else float(table.scores[piece_id])
    keys = np.array([(node << _CODE_POINT_BITS) | cp for node, cp in children], dtype=np.int64)
    values = np.array(list(children.values()), dtype=np.int64)
    slot_keys, slot_values = fill_hash(keys, values, 1 << max(4, int(2 * len(keys)).bit_length()))
    return slot_keys, slot_values, np.array(piece_of, dtype=np.int64), np.array(score_of)


@njit(cache=True)
def _nodes(cps, slot_keys, slot_values, piece_of, score_of, unknown_score):
    """The lattice: (start, end, piece id or -1 for unknown, score) of every node, by start then length."""
    n = len(cps)
    count = 0
    for fill in range(2):
        if fill:
            starts = np.empty(count, np.int64)
            ends = np.empty(count, np.int64)
            ids = np.empty(count, np.int64)
            scores = np.empty(count, np.float64)
            count = 0
        for start in range(n):
            node, single = 0, False
            for end in range(start + 1, n + 1):
                node = hash_lookup(slot_keys, slot_values, (node << _CODE_POINT_BITS) | cps[end - 1])
                if node < 0:
                    break
                if piece_of[node] >= 0:
                    if fill:
                        starts[count], ends[count], ids[count], scores[count] = start, end, piece_of[node], score_of[node]
                    count += 1
                    single = single or end == start + 1
            if not single:
                if fill:
                    starts[count], ends[count], ids[count], scores[count] = start, start + 1, -1, unknown_score
                count += 1
    return starts, ends, ids, scores


@njit(cache=True)
def _by_end(ends, n):
    """Node indices grouped by end position: (offsets, order) with the nodes ending at j in
    order[offsets[j]:offsets[j + 1]]."""
    offsets = np.zeros(n + 2, np.int64)
    for e in ends:
        offsets[e + 1] += 1
    for j in range(n + 1):
        offsets[j + 1] += offsets[j]
    order = np.empty(len(ends), np.int64)
    filled = offsets[:-1].copy()
    for i in range(len(ends)):
        order[filled[ends[i]]] = i
        filled[ends[i]] += 1
    return offsets, order


@njit(cache=True)
def _sample(starts, ends, scores, n, theta, state):
    """Node indices of a path drawn with probability proportional to exp(theta x score), in text order."""
    forward = np.full(n + 1, -np.inf)
    forward[0] = 0.0
    for i in range(len(starts)):  # by start: forward[start] is complete before its nodes are read
        term = forward[starts[i]] + theta * scores[i]
        e = ends[i]
        if forward[e] == -np.inf:
            forward[e] = term
        else:
            top = max(forward[e], term)
            forward[e] = top + math.log(math.exp(forward[e] - top) + math.exp(term - top))
    offsets, order = _by_end(ends, n)
    path = np.empty(n, np.int64)
    length, at = 0, n
    while at > 0:
        total = 0.0
        for k in range(offsets[at], offsets[at + 1]):
            i = order[k]
            total += math.exp(forward[starts[i]] + theta * scores[i] - forward[at])
        state, u = next_unit(state)
        target, picked = u * total, order[offsets[at + 1] - 1]
        for k in range(offsets[at], offsets[at + 1]):
            i = order[k]
            target -= math.exp(forward[starts[i]] + theta * scores[i] - forward[at])
            if target < 0:
                picked = i
                break
        path[length] = picked
        length += 1
        at = starts[picked]
    return path[:length][::-1].copy(), state


@njit(cache=True)
def _best(starts, ends, scores, n):
    """Node indices of the highest-scoring path, in text order (the first found among equals)."""
    best = np.full(n + 1, -np.inf)
    best[0] = 0.0
    back = np.full(n + 1, -1, np.int64)
    for i in range(len(starts)):
        if best[starts[i]] + scores[i] > best[ends[i]]:
            best[ends[i]] = best[starts[i]] + scores[i]
            back[ends[i]] = i
    path = np.empty(n, np.int64)
    length, at = 0, n
    while at > 0:
        path[length] = back[at]
        length += 1
        at = starts[back[at]]
    return path[:length][::-1].copy()


def _lattice(table: PieceTable, text: str):
    slot_keys, slot_values, piece_of, score_of = _trie(table)
    return _nodes(code_points(text), slot_keys, slot_values, piece_of, score_of, table.min_score - UNKNOWN_PENALTY)


def _ids(table: PieceTable, text: str, starts, ends, ids, path) -> list[int]:
    chosen = ids[path]
    if (chosen >= 0).all():
        return chosen.tolist()
    return table.output_ids([(text[starts[i]:ends[i]], int(ids[i])) for i in path])


def best_unigram(table: PieceTable, text: str) -> list[int]:
    """The most probable segmentation of the normalised `text` as ids: sentencepiece's unigram encode."""
    if not text:
        return []
    starts, ends, ids, scores = _lattice(table, text)
    return _ids(table, text, starts, ends, ids, _best(starts, ends, scores, len(text)))


def sample_unigram(table: PieceTable, text: str, theta: float, state) -> tuple[list[int], np.uint64]:
    """A segmentation of the normalised `text` drawn with probability proportional to exp(theta x score)
    from the random stream `state`; returns the ids and the advanced stream."""
    if not text:
        return [], np.uint64(state)
    starts, ends, ids, scores = _lattice(table, text)
    path, state = _sample(starts, ends, scores, len(text), float(theta), np.uint64(state))
    return _ids(table, text, starts, ends, ids, path), np.uint64(state)


@njit(cache=True)
def _kbest(starts, ends, scores, n, k):
    """The `k` best partial paths ending at each position: their scores, last nodes and the rank of the
    path they extend at that node's start (-1 for the empty path), best first, equals in the order found.
    Each node ending at a position adds its score to the sorted list kept at its start, so the lists
    are merged, not sorted again; among equal scores the node found first, then the lower rank, comes
    first, as a stable sort of all candidates would have them."""
    kept_score = np.full((n + 1, k), -np.inf)
    kept_node = np.full((n + 1, k), -1, np.int64)
    kept_rank = np.full((n + 1, k), -1, np.int64)
    kept = np.zeros(n + 1, np.int64)
    kept_score[0, 0], kept[0] = 0.0, 1
    offsets, order = _by_end(ends, n)
    widest = 0
    for end in range(1, n + 1):
        widest = max(widest, offsets[end + 1] - offsets[end])
    head = np.zeros(max(widest, 1), np.int64)  # the next rank of each node's list in the merge
    for end in range(1, n + 1):
        first, last = offsets[end], offsets[end + 1]
        head[:last - first] = 0
        filled = 0
        while filled < k:
            best, best_score = -1, -np.inf
            for m in range(first, last):
                i = order[m]
                r = head[m - first]
                if r < kept[starts[i]]:
                    candidate = kept_score[starts[i], r] + scores[i]
                    if best < 0 or candidate > best_score:
                        best, best_score = m, candidate
            if best < 0:
                break
            i = order[best]
            kept_score[end, filled], kept_node[end, filled], kept_rank[end, filled] = best_score, i, head[best - first]
            head[best - first] += 1
            filled += 1
        kept[end] = filled
    return kept_score[n, :kept[n]].copy(), kept_node, kept_rank


def sample_unigram_nbest(table: PieceTable, text: str, theta: float, nbest: int,
                         state) -> tuple[list[int], np.uint64]:
    """One of the `nbest` highest-scoring segmentations of the normalised `text`, drawn with probability
    proportional to exp(theta x score) (sentencepiece's sampling with an n-best size); returns the ids and
    the advanced stream."""
    if not text:
        return [], np.uint64(state)
    starts, ends, ids, scores = _lattice(table, text)
    totals, kept_node, kept_rank = _kbest(starts, ends, scores, len(text), nbest)
    weights = np.cumsum(np.exp(theta * (totals - totals.max())))
    state, u = next_unit(np.uint64(state))
    rank = min(int(np.searchsorted(weights, u * weights[-1], side="right")), len(totals) - 1)
    path, end = [], len(text)
    while end > 0:
        node = int(kept_node[end, rank])
        path.append(node)
        end, rank = int(starts[node]), int(kept_rank[end, rank])
    return _ids(table, text, starts, ends, ids, np.array(path[::-1], dtype=np.int64)), np.uint64(state)
