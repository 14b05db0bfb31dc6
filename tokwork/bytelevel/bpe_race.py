"""BPE on one word as `tokenizers` runs it, and the race that decides whether a word split in two parts is
ever merged across the split.

`tokenizers` merges a word by always applying the lowest-ranked merge among adjacent pairs (the leftmost
among equals). If the final tokens have a boundary at some point, no merge ever crossed it, so each side
was merged exactly as it would be alone; whether a boundary survives follows from the two sides' separate
runs and the rank of the pair across the point at each step (`MergeRace.keeps_boundary`). The byte level
uses this to find the canonical encodings of a prefix that ends inside a character without encoding every
character that could complete it (`merge_cuts.py`).
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Sequence

from tokwork.sampling.merge_table import merge_ids

NEVER = 1 << 62  # rank of a pair that has no merge
State = tuple[int, int, int]  # (first token, last token, rank of the next merge)


class MergeRace:
    """The merges of a `tokenizer.json` BPE model (`model`: its "model" entry) and the word runs on them;
    `byte_symbol[b]` is the id a word starts from for byte b (None: the model drops that byte)."""

    def __init__(self, model: dict, byte_symbol: list[int | None]):
        self.model = model
        self.vocab: dict[str, int] = model["vocab"]
        self.ignore_merges = bool(model.get("ignore_merges"))
        self.byte_symbol = byte_symbol
        self._right: dict[bytes, list[State] | None] = {}

    @functools.cached_property
    def _merges(self) -> dict[int, int]:
        """(left id, right id) packed as left * size + right -> rank * size + merged id; a pair listed twice
        keeps its later rank, as in `tokenizers`."""
        size = self._size
        return {left * size + right: rank * size + merged for rank, left, right, merged in merge_ids(self.model)}

    @functools.cached_property
    def _size(self) -> int:
        return max(self.vocab.values()) + 1

    def _rank(self, left: int, right: int) -> int:
        found = self._merges.get(left * self._size + right)
        return NEVER if found is None else found // self._size

    def bpe_states(self, symbols: Sequence[int]) -> tuple[list[int], list[tuple[int, int, int]]]:
        """BPE on one word as `tokenizers` runs it (lowest rank first, leftmost among equals): the final
        tokens, and before each merge and at the end (first token, last token, rank of the next merge)."""
        size, merges = self._size, self._merges
        tokens = list(symbols)
        n = len(tokens)
        if not n:
            return [], [(-1, -1, NEVER)]
        following = list(range(1, n + 1))
        before = list(range(-1, n - 1))
        alive = [True] * n
        heap = []
        for i in range(n - 1):
            rank = self._rank(tokens[i], tokens[i + 1])
            if rank != NEVER:
                heap.append((rank, i))
        heapq.heapify(heap)
        last = n - 1
        states = []
        while True:
            while heap:
                rank, i = heap[0]
                j = following[i] if alive[i] else n
                if j < n and self._rank(tokens[i], tokens[j]) == rank:
                    break
                heapq.heappop(heap)
            states.append((tokens[0], tokens[last], heap[0][0] if heap else NEVER))
            if not heap:
                break
            rank, i = heapq.heappop(heap)
            j = following[i]
            tokens[i] = merges[tokens[i] * size + tokens[j]] % size
            alive[j] = False
            following[i] = following[j]
            if following[j] < n:
                before[following[j]] = i
            if j == last:
                last = i
            for a, b in ((before[i], i), (i, following[i])):
                if a >= 0 and b < n:
                    pair = self._rank(tokens[a], tokens[b])
                    if pair != NEVER:
                        heapq.heappush(heap, (pair, a))
        final, i = [], 0
        while i < n:
            final.append(tokens[i])
            i = following[i]
        return final, states

    def _right_states(self, data: bytes) -> list[tuple[int, int, int]] | None:
        """`bpe_states` of the bytes after the cut (those the vocabulary spells), None when there are none."""
        found = self._right.get(data, False)
        if found is False:
            symbols = [s for s in map(self.byte_symbol.__getitem__, data) if s is not None]
            found = self.bpe_states(symbols)[1] if symbols else None
            self._right[data] = found
        return found

    def keeps_boundary(self, left: list[tuple[int, int, int]], right: list[tuple[int, int, int]] | None) -> bool:
        """Whether BPE on a word made of two parts, whose separate runs are `left` and `right` (from
        `bpe_states`; None: nothing on the right), never merges across the point between them: each side
        merges as it would alone until the pair across is the lowest-ranked one (ties: the leftmost pair goes
        first)."""
        if right is None:
            return True
        i = j = 0
        while True:
            _, last, next_left = left[i]
            first, _, next_right = right[j]
            across = self._rank(last, first)
            if across < next_left and across <= next_right:
                return False
            if next_left == NEVER and next_right == NEVER:
                return True
            if next_left <= next_right:
                i += 1
            else:
                j += 1
