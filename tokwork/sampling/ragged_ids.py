"""Ragged id batches: many token-id lists as one flat array plus start offsets, the form numba kernels take.

Converting between Python lists and the flat form happens in C (`np.fromiter`, `tolist`), never in a
per-token Python loop, so a kernel's caller pays tens of nanoseconds per token for the round trip.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from itertools import chain

import numpy as np


def flatten_ids(batch: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """The ids of all sequences in one int64 array, and int64 `starts` (sequence i is flat[starts[i]:starts[i+1]])."""
    lengths = np.fromiter(map(len, batch), dtype=np.int64, count=len(batch))
    starts = np.zeros(len(batch) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    flat = np.fromiter(chain.from_iterable(batch), dtype=np.int64, count=int(starts[-1]))
    return flat, starts


def unflatten_ids(flat: np.ndarray, starts: np.ndarray) -> list[list[int]]:
    """Back to one Python list of ids per sequence.

    The cyclic garbage collector is paused meanwhile: tens of thousands of new lists would otherwise set
    off full collections that scan every live object, for lists of ints that cannot form cycles.
    """
    values = flat.tolist()
    bounds = starts.tolist()
    paused = gc.isenabled()
    gc.disable()
    try:
        return [values[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=False)]
    finally:
        if paused:
            gc.enable()
