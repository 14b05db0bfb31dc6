"""Two small structures for numba kernels over token ids: an open-addressing hash table of int64 keys and
a binary min-heap of int64 keys, with a payload or without, all in plain arrays (numba's typed containers cost more
per operation, and arrays can be kept in the cache between processes).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_EMPTY = -1
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, inline="always")
def _slot(key, mask):
    return np.int64((np.uint64(key) * _FIBONACCI) >> np.uint64(32)) & mask


@njit(cache=True)
def fill_hash(keys, values, size):
    """An open-addressing hash table of `size` slots (a power of two, above the number of keys) holding
    values[i] for keys[i] (non-negative): two arrays that `hash_lookup` reads."""
    slot_keys = np.full(size, _EMPTY, np.int64)
    slot_values = np.empty(size, np.int64)
    for i in range(len(keys)):
        at = _slot(keys[i], size - 1)
        while slot_keys[at] != _EMPTY and slot_keys[at] != keys[i]:
            at = (at + 1) & (size - 1)
        slot_keys[at] = keys[i]
        slot_values[at] = values[i]
    return slot_keys, slot_values


@njit(cache=True, inline="always")
def hash_lookup(slot_keys, slot_values, key):
    """The value stored for `key` in an open-addressing hash table (size a power of two), or -1."""
    mask = len(slot_keys) - 1
    at = _slot(key, mask)
    while slot_keys[at] != _EMPTY:
        if slot_keys[at] == key:
            return slot_values[at]
        at = (at + 1) & mask
    return -1


@njit(cache=True)
def heap_push(heap, new_ids, size, key, new_id):
    """Push `key` with its payload `new_id` onto the min-heap held in the first `size` entries of `heap`
    and `new_ids`; returns the new size."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if heap[parent] <= key:
            break
        heap[i], new_ids[i] = heap[parent], new_ids[parent]
        i = parent
    heap[i], new_ids[i] = key, new_id
    return size + 1


@njit(cache=True)
def heap_pop(heap, new_ids, size):
    """Pop the smallest key of the min-heap; returns (key, its payload, the new size)."""
    key, new_id = heap[0], new_ids[0]
    size -= 1
    last, last_id = heap[size], new_ids[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and heap[child + 1] < heap[child]:
            child += 1
        if heap[child] >= last:
            break
        heap[i], new_ids[i] = heap[child], new_ids[child]
        i = child
    heap[i], new_ids[i] = last, last_id
    return key, new_id, size


@njit(cache=True, inline="always")
def key_heap_push(heap, size, key):
    """Push `key` onto the min-heap of keys alone held in the first `size` entries of `heap`; returns the
    new size."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if heap[parent] <= key:
            break
        heap[i] = heap[parent]
        i = parent
    heap[i] = key
    return size + 1


@njit(cache=True, inline="always")
def _sift_down(heap, size, i, key):
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and heap[child + 1] < heap[child]:
            child += 1
        if heap[child] >= key:
            break
        heap[i] = heap[child]
        i = child
    heap[i] = key


@njit(cache=True, inline="always")
def key_heap_pop(heap, size):
    """Pop the smallest key of the min-heap of keys alone; returns (key, the new size)."""
    key = heap[0]
    size -= 1
    _sift_down(heap, size, 0, heap[size])
    return key, size


@njit(cache=True)
def key_heapify(heap, size):
    """Order the first `size` entries of `heap` as a min-heap, in linear time."""
    for i in range(size // 2 - 1, -1, -1):
        _sift_down(heap, size, i, heap[i])
