"""BPE-dropout for `tokenizers` BPE models, seeded: the library's algorithm, run by a numba kernel.

After Provilkov, Emelianenko and Voita, "BPE-Dropout: Simple and Effective Subword Regularization" (2020).
The `tokenizers` BPE has a `dropout` option, but it draws from Rust's thread-local generator, which nothing
can seed, so the same text and seed could not give the same segmentation twice. This module runs the same
merge loop as `tokenizers` (`Word::merge_all`): a priority queue of adjacent pairs by merge rank then
position; each pop is dropped with probability p and put aside, the put-aside pairs return to the queue
after the next merge that happens, and the word is done when the queue is empty. The draws come from a
per-text stream (`tokwork.sampling.random_streams`).

Everything around the merges stays the library's: the base tokenizer encodes deterministically, and its
`word_ids` say which tokens came from one pre-token. Each pre-token is rebuilt from its tokens' characters
(or byte-fallback pieces) and merged again with dropout. Added tokens and post-processor tokens are kept
as they are. With p = 0 the kernel reproduces the deterministic encoding (the tests check it on every
shipped language); `ignore_merges` models (Llama 3, tiktoken files) look whole pre-tokens up first only
when p = 0, as `tokenizers` does. The merge table the kernel reads comes from `merge_table`.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from itertools import chain

import numpy as np
from numba import njit

from tokwork.sampling.merge_table import MergeTable, merge_table
from tokwork.sampling.numba_tables import fill_hash, hash_lookup, heap_pop, heap_push
from tokwork.sampling.per_tokenizer import once_per_tokenizer
from tokwork.sampling.ragged_ids import flatten_ids, unflatten_ids
from tokwork.sampling.random_streams import next_unit, text_state
from tokwork.sampling.stored_tables import stored_arrays
from tokwork.tokenizer import Tokenizer

_POSITION_BITS = 32
def merge_hash(table: MergeTable) -> tuple[np.ndarray, np.ndarray]:
    """The merges as an open-addressing hash table (two arrays, at most half full) that the kernel reads:
    key left * vocab + right, value rank << 32 | merged id."""
    left, right, rank, merged = table.merges.T
    keys = left * table.vocab_size + right
    values = (rank << _POSITION_BITS) | merged
    size = 1 << max(4, int(2 * len(keys)).bit_length())
    return fill_hash(np.ascontiguousarray(keys), np.ascontiguousarray(values), size)


@njit(cache=True)
def _merge_word(sym, n, slot_keys, slot_values, vocab, p, state, nxt, prv, heap, heap_new, skip, skip_new):
    """Merge symbols sym[:n] in place as `tokenizers` does with dropout p; returns (count, state).

    Merged-away symbols are marked -1; heap keys are rank << 32 | position.
    """
    low = (np.int64(1) << 32) - 1
    size = np.int64(0)  # not a literal, for which numba would compile the heap functions once more
    for i in range(n):
        nxt[i] = i + 1 if i + 1 < n else -1
        prv[i] = i - 1
    for i in range(n - 1):
        value = hash_lookup(slot_keys, slot_values, sym[i] * vocab + sym[i + 1])
        if value >= 0:
            size = heap_push(heap, heap_new, size, ((value >> 32) << 32) | i, value & low)
    skipped = 0
    while size > 0:
        key, new_id, size = heap_pop(heap, heap_new, size)
        if p > 0.0:
            state, u = next_unit(state)
            if u < p:
                skip[skipped] = key
                skip_new[skipped] = new_id
                skipped += 1
                continue
        for s in range(skipped):
            size = heap_push(heap, heap_new, size, skip[s], skip_new[s])
        skipped = 0
        pos = key & low
        right = nxt[pos]
        if sym[pos] < 0 or right < 0:
            continue
        value = hash_lookup(slot_keys, slot_values, sym[pos] * vocab + sym[right])
        if value < 0 or (value & low) != new_id:
            continue  # a stale entry: one of the two symbols has changed since it was queued
        sym[pos] = new_id
        sym[right] = -1
        nxt[pos] = nxt[right]
        if nxt[pos] >= 0:
            prv[nxt[pos]] = pos
        before = prv[pos]
        if before >= 0:
            value = hash_lookup(slot_keys, slot_values, sym[before] * vocab + sym[pos])
            if value >= 0:
                size = heap_push(heap, heap_new, size, ((value >> 32) << 32) | before, value & low)
        after = nxt[pos]
        if after >= 0:
            value = hash_lookup(slot_keys, slot_values, sym[pos] * vocab + sym[after])
            if value >= 0:
                size = heap_push(heap, heap_new, size, ((value >> 32) << 32) | pos, value & low)
    count = 0
    for i in range(n):
        if sym[i] >= 0:
            sym[count] = sym[i]
            count += 1
    return count, state


@njit(cache=True)
def _dropout(flat, words, starts, atom_starts, atoms, fixed, slot_keys, slot_values, p, ignore_merges, seed, first_index):
    """BPE-dropout over a ragged batch of deterministic ids with their word ids (-1 for none)."""
    vocab = len(fixed)
    n_texts = len(starts) - 1
    capacity = 0
    for j in range(len(flat)):
        capacity += atom_starts[flat[j] + 1] - atom_starts[flat[j]]
    out = np.empty(capacity, np.int64)
    new_starts = np.zeros(n_texts + 1, np.int64)
    longest = 1
    run = 0
    for j in range(len(flat)):  # the most symbols one word can have bounds the work arrays
        if j == 0 or words[j] != words[j - 1] or words[j] < 0:
            run = 0
        run += atom_starts[flat[j] + 1] - atom_starts[flat[j]]
        longest = max(longest, run)
    sym = np.empty(longest, np.int64)
    nxt = np.empty(longest, np.int64)
    prv = np.empty(longest, np.int64)
    heap = np.empty(3 * longest, np.int64)
    heap_new = np.empty(3 * longest, np.int64)
    skip = np.empty(3 * longest, np.int64)
    skip_new = np.empty(3 * longest, np.int64)
    k = 0
    for t in range(n_texts):
        state = text_state(seed, first_index + t)
        j = starts[t]
        while j < starts[t + 1]:
            end = j + 1
            if words[j] >= 0:
                while end < starts[t + 1] and words[end] == words[j]:
                    end += 1
            single = end - j == 1
            if words[j] < 0 or (single and (fixed[flat[j]] or (ignore_merges and p == 0.0))):
                for q in range(j, end):
                    out[k] = flat[q]
                    k += 1
                j = end
                continue
            n = np.int64(0)  # not a literal (numba would compile _merge_word twice)
            for q in range(j, end):
                for a in range(atom_starts[flat[q]], atom_starts[flat[q] + 1]):
                    sym[n] = atoms[a]
                    n += 1
            count, state = _merge_word(sym, n, slot_keys, slot_values, vocab, p, state, nxt, prv,
                                       heap, heap_new, skip, skip_new)
            for q in range(count):
                out[k] = sym[q]
                k += 1
            j = end
        new_starts[t + 1] = k
    return out[:k], new_starts


@once_per_tokenizer
def _merges_of(base: Tokenizer) -> tuple[MergeTable, np.ndarray, np.ndarray]:
    """A BPE base's merge table and the kernel's hash table of it, built once per tokenizer object and kept
    in the cache for the base's file (`stored_tables`)."""

    def build() -> dict[str, np.ndarray]:
        table = merge_table(base)
        slot_keys, slot_values = merge_hash(table)
        return {**table.as_arrays(), "slot_keys": slot_keys, "slot_values": slot_values}

    arrays = stored_arrays(base, "bpe-dropout", build, (__name__, MergeTable.__module__))
    return MergeTable.from_arrays(arrays), arrays["slot_keys"], arrays["slot_values"]


class BPEDropout:
    """Seeded BPE-dropout over a `tokenizers` BPE tokenizer (tokenizer.json or a converted tiktoken file)."""

    method = "bpe-dropout"

    def __init__(self, base: Tokenizer, *, p: float):
        self.base = base
        self.p = p
        self.table, self.slot_keys, self.slot_values = _merges_of(base)

    def sample(self, texts: Sequence[str], *, seed: int, first_index: int, add_special_tokens: bool = False,
               parse_special: bool = False) -> list[list[int]]:
        """Encode deterministically, then re-merge each pre-token with dropout; text i uses stream first_index + i."""
        backend = self.base.backend
        backend.encode_special_tokens = not parse_special
        encodings = backend.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        flat, starts = flatten_ids([e.ids for e in encodings])
        words = np.array(list(chain.from_iterable(e.word_ids for e in encodings)), dtype=np.float64)
        words = np.nan_to_num(words, nan=-1.0).astype(np.int64)  # None (no pre-token) becomes -1
        table = self.table
        out, new_starts = _dropout(flat, words, starts, table.atom_starts, table.atoms, table.fixed, self.slot_keys,
                                   self.slot_values, float(self.p), table.ignore_merges, seed, first_index)
        return unflatten_ids(out, new_starts)

    def saved_state(self) -> dict:
        return {}


def bpe_dropout_reference(words: Sequence[Sequence[int]], pairs: dict[tuple[int, int], tuple[int, int]], *,
                          p: float, seed: int, index: int) -> list[int]:
    """The `tokenizers` merge loop with dropout in plain Python (heapq), drawing from the same stream as the
    kernel: `words` are the initial symbols of each pre-token of one text. The tests compare the two."""
    state = np.uint64(text_state(seed, index))
    out: list[int] = []
    for symbols in words:
        sym = list(symbols)
        alive = [True] * len(sym)
        queue = [(pairs[sym[i], sym[i + 1]][0], i, pairs[sym[i], sym[i + 1]][1])
                 for i in range(len(sym) - 1) if (sym[i], sym[i + 1]) in pairs]
        heapq.heapify(queue)
        skipped = []
        while queue:
            top = heapq.heappop(queue)
            if p > 0:
                state, u = next_unit(np.uint64(state))
                if u < p:
                    skipped.append(top)
                    continue
            for entry in skipped:
                heapq.heappush(queue, entry)
            skipped = []
            _, pos, new_id = top
            right = next((i for i in range(pos + 1, len(sym)) if alive[i]), None)
            if not alive[pos] or right is None or pairs.get((sym[pos], sym[right]), (0, None))[1] != new_id:
                continue
            sym[pos], alive[right] = new_id, False
            before = next((i for i in range(pos - 1, -1, -1) if alive[i]), None)
            after = next((i for i in range(right + 1, len(sym)) if alive[i]), None)
            if before is not None and (sym[before], sym[pos]) in pairs:
                rank, new = pairs[sym[before], sym[pos]]
                heapq.heappush(queue, (rank, before, new))
            if after is not None and (sym[pos], sym[after]) in pairs:
                rank, new = pairs[sym[pos], sym[after]]
                heapq.heappush(queue, (rank, pos, new))
        out.extend(s for s, keep in zip(sym, alive, strict=True) if keep)
    return out
