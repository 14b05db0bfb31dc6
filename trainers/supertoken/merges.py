"""Stage 2 of superword BPE: merges learned over the stage-1 token sequences of long pretokens (numba).

SuperBPE (Liu et al., "SuperBPE: Space Travel for Language Models", 2025) resumes BPE training after a
transition point with a pretokenizer that no longer splits on whitespace, so merges can join words. Here
each distinct stage-2 pretoken (a "chunk") is held once, as its stage-1 token ids and its count, and the
merges are learned with incremental pair counts: a pair table (count and the chunks that hold the pair),
a lazy max-heap, and in-place rewriting of only the chunks where the chosen pair occurs, the algorithm of
the `tokenizers` BPE trainer. Ties go to the pair of smaller ids, as there.

One rule is added so that the saved tokenizer is exact: a merge whose result spells a token that already
exists (e.g. ("Ġt", "he") when "Ġthe" is a stage-1 token) is never taken. A single byte-level BPE with
the stage-1 merges followed by these merges then encodes exactly as stage 1 inside each chunk followed by
stage 2 over the stage-1 ids, because every stage-2 token has its own string and so its own id.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from tokenizers import Tokenizer as BackendTokenizer

from tokwork.trainers.supertoken.byte_level_bpe import vocab_bytes
from tokwork.trainers.supertoken.tables import (
    EMPTY,
    HASH_BASE,
    find_slot,
    grown,
    heap_pop,
    heap_push,
    mix64,
    resized_table,
    table_size,
)

# the count of a pair whose merge was refused: below any threshold, however often it is decremented
REFUSED = -(1 << 62)


@njit(cache=True)
def _string_slot(str_keys, str_ids, pool, offsets, lengths, h, a, b):
    """Slot of the token whose bytes are those of `a` then `b` (b = -1: of `a` alone), or an empty slot."""
    la = lengths[a]
    lb = 0 if b < 0 else lengths[b]
    key = np.int64(h & np.uint64(0x7FFFFFFFFFFFFFFF))
    mask = str_keys.size - 1
    at = np.int64(mix64(key) & np.uint64(mask))
    while str_keys[at] != EMPTY:
        other = str_ids[at]
        if str_keys[at] == key and lengths[other] == la + lb:
            same = True
            base = offsets[other]
            for i in range(la):
                if pool[base + i] != pool[offsets[a] + i]:
                    same = False
                    break
            if same:
                for i in range(lb):
                    if pool[base + la + i] != pool[offsets[b] + i]:
                        same = False
                        break
            if same:
                return at
        at = (at + 1) & mask
    return at


@njit(cache=True)
def _count_pairs(tokens, chunk_start, chunk_len, chunk_count, min_frequency):
    """Count every adjacent pair; keep those seen `min_frequency` times (the others, made of stage-1 ids,
    can only lose occurrences later), each with a list of the chunks that hold it (`heads` into nodes)."""
    keys = np.full(table_size(min(tokens.size // 4, 1 << 16)), EMPTY, dtype=np.int64)
    counts = np.zeros(keys.size, dtype=np.int64)
    used = 0
    for c in range(chunk_start.size):
        for i in range(chunk_start[c], chunk_start[c] + chunk_len[c] - 1):
            if 4 * used >= 3 * keys.size:
                keys, counts, _ = resized_table(keys, counts, np.zeros(keys.size, dtype=np.int32),
                                                2 * keys.size, np.int64(0))
            key = (np.int64(tokens[i]) << 32) | np.int64(tokens[i + 1])
            at = find_slot(keys, key)
            if keys[at] == EMPTY:
                keys[at] = key
                used += 1
            counts[at] += chunk_count[c]
    kept = 0
    for at in range(keys.size):
        kept += keys[at] != EMPTY and counts[at] >= min_frequency
    keys, counts, heads = resized_table(keys, counts, np.full(keys.size, EMPTY, dtype=np.int32),
                                        table_size(2 * kept), min_frequency)
    occurrences = 0
    for c in range(chunk_start.size):
        for i in range(chunk_start[c], chunk_start[c] + chunk_len[c] - 1):
            key = (np.int64(tokens[i]) << 32) | np.int64(tokens[i + 1])
            occurrences += keys[find_slot(keys, key)] != EMPTY
    node_chunk = np.empty(max(1024, occurrences + occurrences // 4), dtype=np.int32)
    node_next = np.empty(node_chunk.size, dtype=np.int32)
    nodes = 0
    for c in range(chunk_start.size):
        for i in range(chunk_start[c], chunk_start[c] + chunk_len[c] - 1):
            at = find_slot(keys, (np.int64(tokens[i]) << 32) | np.int64(tokens[i + 1]))
            if keys[at] != EMPTY and (heads[at] == EMPTY or node_chunk[heads[at]] != c):
                node_chunk[nodes], node_next[nodes] = c, heads[at]
                heads[at] = nodes
                nodes += 1
    return keys, counts, heads, kept, node_chunk, node_next, nodes


@njit(cache=True)
def _occurrence_bound(node, node_chunk, node_next, chunk_len):
    """At most how many times a pair occurs in the chunks of its list (half of their lengths)."""
    bound = 0
    while node != EMPTY:
        bound += chunk_len[node_chunk[node]] // 2
        node = node_next[node]
    return bound


@njit(cache=True)
def _rewrite(tokens, chunk_start, chunk_len, chunk_count, keys, counts, node, node_chunk, node_next, free, visited,
             event_key, event_chunk, a, b, new, stamp):
    """Merge (a, b) into `new` in the chunks of the list that starts at `node`, lower the counts of the pairs
    that lose an occurrence and write an event for each occurrence a pair with `new` gains (chunk c) or
    loses (-1 - c). The list's nodes go to the free list. Returns the free list and the number of events;
    the caller made room for 3 events per occurrence."""
    n_events = 0
    while node != EMPTY:
        c = node_chunk[node]
        following = node_next[node]
        node_next[node] = free
        free = node
        node = following
        if visited[c] == stamp:
            continue
        visited[c] = stamp
        w = chunk_count[c]
        s = chunk_start[c]
        end = s + chunk_len[c]
        i = s
        j = s
        while i < end:
            if i + 1 < end and tokens[i] == a and tokens[i + 1] == b:
                if j > s:  # the left neighbour, already rewritten
                    left = np.int64(tokens[j - 1])
                    if left == new:  # (new, a) was an event of the merge just before
                        event_key[n_events], event_chunk[n_events] = (left << 32) | a, -1 - c
                        n_events += 1
                    else:
                        slot = find_slot(keys, (left << 32) | a)
                        if keys[slot] != EMPTY:
                            counts[slot] -= w
                    event_key[n_events], event_chunk[n_events] = (left << 32) | new, c
                    n_events += 1
                if i + 2 < end:  # the right neighbour
                    right = np.int64(tokens[i + 2])
                    slot = find_slot(keys, (np.int64(b) << 32) | right)
                    if keys[slot] != EMPTY:
                        counts[slot] -= w
                    event_key[n_events], event_chunk[n_events] = (np.int64(new) << 32) | right, c
                    n_events += 1
                tokens[j] = new
                i += 2
            else:
                tokens[j] = tokens[i]
                i += 1
            j += 1
        chunk_len[c] = j - s
    return free, n_events


@njit(cache=True)
def _add_pairs(event_key, event_chunk, n_events, chunk_count, keys, counts, heads, node_chunk, node_next, free,
               nodes, heap_count, heap_key, size, min_frequency):
    """Add the pairs with the new id that occur `min_frequency` times (the others can only lose occurrences
    later) to the table, with the list of their chunks, and push them; the caller made room. Returns the
    free list, the nodes used, the number of pairs added and the heap size."""
    order = np.argsort(event_key[:n_events], kind="mergesort")
    added = 0
    first = 0
    while first < n_events:
        pair = event_key[order[first]]
        last = first
        total = 0
        while last < n_events and event_key[order[last]] == pair:
            c = event_chunk[order[last]]
            total += chunk_count[c] if c >= 0 else -chunk_count[-1 - c]
            last += 1
        if total >= min_frequency:
            slot = find_slot(keys, pair)
            keys[slot], counts[slot] = pair, total
            added += 1
            for e in order[first:last]:
                c = event_chunk[e]
                if c >= 0 and (heads[slot] == EMPTY or node_chunk[heads[slot]] != c):
                    if free == EMPTY:
                        free = nodes
                        node_next[free] = EMPTY
                        nodes += 1
                    node = free
                    free = node_next[node]
                    node_chunk[node], node_next[node] = c, heads[slot]
                    heads[slot] = node
            size = heap_push(heap_count, heap_key, size, total, pair)
        first = last
    return free, nodes, added, size


@njit(cache=True)
def learn_superword_merges(tokens, chunk_start, chunk_len, chunk_count, pool, offsets, lengths, known,
                           first_id, num_merges, min_frequency):
    """Learn up to `num_merges` merges over chunks of token ids; return them as an (n, 2) array.

    `tokens[chunk_start[c]:chunk_start[c] + chunk_len[c]]` are chunk c's ids, seen `chunk_count[c]` times;
    both are rewritten in place. `pool[offsets[i]:offsets[i] + lengths[i]]` are token i's bytes for the
    `first_id` existing ids (`known[i]` false for ids whose string is not a byte string, e.g. specials);
    merge k makes id `first_id + k`. Learning stops early when no pair occurs `min_frequency` times.
    Also returns how many candidate merges were refused because their result already exists.
    """
    total_ids = first_id + num_merges
    hashes = np.zeros(total_ids, dtype=np.uint64)
    powers = np.ones(total_ids, dtype=np.uint64)
    lengths = np.concatenate((lengths[:first_id].astype(np.int64), np.zeros(num_merges, dtype=np.int64)))
    offsets = np.concatenate((offsets[:first_id].astype(np.int64), np.zeros(num_merges, dtype=np.int64)))
    pool_end = pool.size
    pool = np.concatenate((pool, np.zeros(max(1024, pool.size), dtype=pool.dtype)))
    str_keys = np.full(table_size(4 * total_ids), EMPTY, dtype=np.int64)
    str_ids = np.zeros(str_keys.size, dtype=np.int32)
    for i in range(first_id):
        h = np.uint64(0)
        p = np.uint64(1)
        for j in range(lengths[i]):
            h = h * HASH_BASE + np.uint64(pool[offsets[i] + j] + 1)
            p = p * HASH_BASE
        hashes[i], powers[i] = h, p
        if known[i]:
            at = _string_slot(str_keys, str_ids, pool, offsets, lengths, h, np.int32(i), np.int32(-1))
            if str_keys[at] == EMPTY:
                str_keys[at] = np.int64(h & np.uint64(0x7FFFFFFFFFFFFFFF))
                str_ids[at] = i

    keys, counts, heads, used, node_chunk, node_next, nodes = _count_pairs(
        tokens, chunk_start, chunk_len, chunk_count, min_frequency)
    heap_count = np.empty(max(1024, 2 * used), dtype=np.int64)
    heap_key = np.empty(heap_count.size, dtype=np.int64)
    size = np.int64(0)  # np.int64, not a literal: numba would compile its callees once more for literals
    for at in range(keys.size):
        if keys[at] != EMPTY:
            size = heap_push(heap_count, heap_key, size, counts[at], keys[at])

    merges = np.empty((num_merges, 2), dtype=np.int32)
    visited = np.zeros(chunk_start.size, dtype=np.int32)
    event_key = np.empty(1024, dtype=np.int64)
    event_chunk = np.empty(1024, dtype=np.int32)
    free = np.int64(EMPTY)
    refused = 0
    done = 0
    while done < num_merges and size > 0:
        best_count, best, size = heap_pop(heap_count, heap_key, size)
        at = find_slot(keys, best)
        if counts[at] != best_count:  # stale: the pair lost occurrences since it was pushed
            if counts[at] >= min_frequency:
                size = heap_push(heap_count, heap_key, size, counts[at], best)
            continue
        if best_count < min_frequency:
            break
        a = np.int32(best >> 32)
        b = np.int32(best & 0xFFFFFFFF)
        h = hashes[a] * powers[b] + hashes[b]
        found = _string_slot(str_keys, str_ids, pool, offsets, lengths, h, a, b)
        if str_keys[found] != EMPTY:
            counts[at] = REFUSED
            refused += 1
            continue
        new = first_id + done
        # the new token's bytes go to the end of the pool
        need = lengths[a] + lengths[b]
        while pool_end + need > pool.size:
            pool = grown(pool, 0)
        for i in range(lengths[a]):
            pool[pool_end + i] = pool[offsets[a] + i]
        for i in range(lengths[b]):
            pool[pool_end + lengths[a] + i] = pool[offsets[b] + i]
        offsets[new], lengths[new] = pool_end, need
        pool_end += need
        hashes[new], powers[new] = h, powers[a] * powers[b]
        str_keys[found] = np.int64(h & np.uint64(0x7FFFFFFFFFFFFFFF))
        str_ids[found] = new
        merges[done, 0], merges[done, 1] = a, b
        done += 1

        # room for what this merge can add, made here so that the loops below never reallocate
        bound = min(best_count, _occurrence_bound(heads[at], node_chunk, node_next, chunk_len))
        if event_key.size < 3 * bound:
            event_key = np.empty(3 * bound + event_key.size // 2, dtype=np.int64)
            event_chunk = np.empty(event_key.size, dtype=np.int32)
        if node_chunk.size - nodes < 2 * bound:
            node_chunk = grown(node_chunk, 0, nodes + 2 * bound)
            node_next = grown(node_next, 0, node_chunk.size)
        if 4 * (used + 2 * bound) >= 3 * keys.size:
            used = 0
            for slot in range(keys.size):
                used += keys[slot] != EMPTY and counts[slot] >= min_frequency
            keys, counts, heads = resized_table(keys, counts, heads, table_size(2 * (used + 2 * bound)),
                                                min_frequency)
            at = find_slot(keys, best)
        if heap_count.size < size + 2 * bound:
            heap_count = grown(heap_count, 0, size + 2 * bound)
            heap_key = grown(heap_key, 0, heap_count.size)

        node = heads[at]
        heads[at] = EMPTY
        free, n_events = _rewrite(tokens, chunk_start, chunk_len, chunk_count, keys, counts, node, node_chunk,
                                  node_next, free, visited, event_key, event_chunk, a, b, new, done)
        counts[at] = 0
        free, nodes, added, size = _add_pairs(event_key, event_chunk, n_events, chunk_count, keys, counts, heads,
                                              node_chunk, node_next, free, nodes, heap_count, heap_key, size,
                                              min_frequency)
        used += added
    return merges[:done], refused


def learn_merges(base: BackendTokenizer, tokens, starts, lengths, counts, *, num_merges: int,
                 min_frequency: int) -> tuple[np.ndarray, int]:
    """Merges (pairs of ids) learned on top of `base` over chunks of its ids (stage 2 of the two-stage
    method, or all merges of random-chunk over bytes); also how many were refused because their result
    already was a token."""
    pieces = vocab_bytes(base)
    sizes = np.array([len(p or b"") for p in pieces], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    pool = np.frombuffer(b"".join(p or b"" for p in pieces), dtype=np.uint8)
    known = np.array([p is not None for p in pieces], dtype=np.bool_)
    merges, refused = learn_superword_merges(tokens, starts, lengths, counts, pool, offsets, sizes, known,
                                             len(pieces), max(0, num_merges), min_frequency)
    return merges, int(refused)
