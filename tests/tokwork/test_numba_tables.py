"""The hash table and heaps the sampling kernels share, against Python's dict and heapq."""

from __future__ import annotations

import heapq
import random

import numpy as np

from tokwork.sampling.numba_tables import (
    fill_hash,
    hash_lookup,
    heap_pop,
    heap_push,
    key_heap_pop,
    key_heap_push,
    key_heapify,
)


def test_hash_table_finds_every_key_and_nothing_else():
    rng = random.Random(0)
    keys = rng.sample(range(1 << 40), 5000)
    values = [rng.randrange(1 << 30) for _ in keys]
    slot_keys, slot_values = fill_hash(np.array(keys, np.int64), np.array(values, np.int64), 1 << 14)
    assert all(hash_lookup(slot_keys, slot_values, k) == v for k, v in zip(keys, values, strict=True))
    missing = set(range(1 << 20)) - set(keys)
    assert all(hash_lookup(slot_keys, slot_values, k) == -1 for k in list(missing)[:2000])


def test_heaps_pop_in_heapq_order():
    rng = random.Random(1)
    keys = rng.sample(range(1 << 50), 4000)  # distinct: equal keys may come out in any order
    heap, payload, keyed = np.empty(4000, np.int64), np.empty(4000, np.int64), np.empty(4000, np.int64)
    reference: list[tuple[int, int]] = []
    size = keyed_size = 0
    popped, keyed_popped, wanted = [], [], []
    for key in keys:
        size = heap_push(heap, payload, size, key, key % 977)
        keyed_size = key_heap_push(keyed, keyed_size, key)
        heapq.heappush(reference, (key, key % 977))
        if rng.random() < 0.4:
            key_out, value, size = heap_pop(heap, payload, size)
            popped.append((key_out, value))
            key_out, keyed_size = key_heap_pop(keyed, keyed_size)
            keyed_popped.append(key_out)
            wanted.append(heapq.heappop(reference))
    while reference:
        key_out, value, size = heap_pop(heap, payload, size)
        popped.append((key_out, value))
        key_out, keyed_size = key_heap_pop(keyed, keyed_size)
        keyed_popped.append(key_out)
        wanted.append(heapq.heappop(reference))
    assert popped == wanted and keyed_popped == [key for key, _ in wanted] and size == keyed_size == 0


def test_heapify_then_pop_sorts():
    rng = np.random.default_rng(2)
    for n in (0, 1, 2, 3, 17, 1000):
        keys = rng.integers(0, 50, n).astype(np.int64)  # with repeats
        heap = keys.copy()
        key_heapify(heap, n)
        out, size = [], n
        while size:
            key, size = key_heap_pop(heap, size)
            out.append(int(key))
        assert out == sorted(keys.tolist())
