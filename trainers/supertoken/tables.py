"""Open-addressing hash tables and a max-heap for the numba kernels of the supertoken trainers.

Keys are int64 (a pair of ids packed as `a << 32 | b`, or a byte-string hash), spread over a power-of-two
table by the splitmix64 finaliser and found by linear probing; `EMPTY` marks a free slot. The heap orders by
count, then by smaller key, which is how the `tokenizers` BPE trainer breaks ties.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tokwork.sampling.random_streams import mix64 as splitmix64

EMPTY = -1
# the 64-bit FNV prime: the multiplier of the byte-string hashes
HASH_BASE = np.uint64(0x100000001B3)


@njit(cache=True)
def table_size(n):
    """The smallest power of two that is at least `n` (and at least 1024)."""
    size = 1024
    while size < n:
        size *= 2
    return size


@njit(cache=True)
def mix64(key):
    """SplitMix64's finaliser (`tokwork.sampling.random_streams.mix64`) of an int64 key: spreads pair keys and
    string hashes over the table."""
    return splitmix64(np.uint64(key))


@njit(cache=True)
def find_slot(keys, key):
    """The slot holding `key`, or the empty slot where it would go (open addressing, linear probing)."""
    mask = np.uint64(keys.size - 1)
    at = np.int64(mix64(key) & mask)
    while keys[at] != EMPTY and keys[at] != key:
        at = (at + 1) & (keys.size - 1)
    return at


@njit(cache=True)
def resized_table(keys, counts, heads, size, least):
    """A pair table of `size` slots holding the entries of the given one whose count is at least `least`
    (pairs that can no longer be merged are dropped: their counts only ever go down)."""
    new_keys = np.full(size, EMPTY, dtype=np.int64)
    new_counts = np.zeros(size, dtype=np.int64)
    new_heads = np.full(size, EMPTY, dtype=np.int32)
    for old in range(keys.size):
        if keys[old] != EMPTY and counts[old] >= least:
            at = find_slot(new_keys, keys[old])
            new_keys[at], new_counts[at], new_heads[at] = keys[old], counts[old], heads[old]
    return new_keys, new_counts, new_heads


@njit(cache=True)
def grown(array, fill, least=0):
    """A copy of `array` half as long again (or `least` long, if more), the new part set to `fill`."""
    bigger = np.full(max(array.size + array.size // 2, least), fill, dtype=array.dtype)
    for i in range(array.size):  # a loop, not a slice assignment: that compiles numba's shape-error text
        bigger[i] = array[i]
    return bigger


@njit(cache=True)
def heap_push(heap_count, heap_key, size, count, key):
    """Push onto the max-heap (largest count, then smallest key, on top); the caller makes room."""
    at = size
    while at > 0:
        parent = (at - 1) // 2
        if heap_count[parent] > count or (heap_count[parent] == count and heap_key[parent] < key):
            break
        heap_count[at], heap_key[at] = heap_count[parent], heap_key[parent]
        at = parent
    heap_count[at], heap_key[at] = count, key
    return size + 1


@njit(cache=True)
def heap_pop(heap_count, heap_key, size):
    """Remove the top (largest count, then smallest key); return it and the new size."""
    top_count, top_key = heap_count[0], heap_key[0]
    size -= 1
    count, key = heap_count[size], heap_key[size]
    at = 0
    while True:
        child = 2 * at + 1
        if child >= size:
            break
        right = child + 1
        if right < size and (heap_count[right] > heap_count[child]
                             or (heap_count[right] == heap_count[child] and heap_key[right] < heap_key[child])):
            child = right
        if count > heap_count[child] or (count == heap_count[child] and key < heap_key[child]):
            break
        heap_count[at], heap_key[at] = heap_count[child], heap_key[child]
        at = child
    heap_count[at], heap_key[at] = count, key
    return top_count, top_key, size
