"""Counter-based random streams: text number k under seed s always sees the same random draws.

Stochastic tokenizers promise that a seed reproduces their output, also when the same texts arrive one by
one, in batches of any size, or in a data loader's worker. That holds when each text's randomness depends
only on (seed, text number), not on what was drawn before, so every text gets its own stream: SplitMix64
(Steele, Lea and Flood, "Fast Splittable Pseudorandom Number Generators", 2014), whose output function
also mixes the (seed, text number) pair into the stream's starting state. The functions are numba kernels
that the StochasTok and BPE-dropout kernels call, and that the SentencePiece samplers call from Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_UNIT = 1.0 / (1 << 53)


@njit(cache=True)
def mix64(z):
    """SplitMix64's output function: a bijection of 64-bit words that spreads every input bit."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def text_state(seed, index):
    """The starting state of the stream of text number `index` under `seed` (both non-negative)."""
    return mix64(mix64(np.uint64(seed)) + np.uint64(index))


@njit(cache=True)
def text_states(seed, first_index, count):
    """The starting states of texts number first_index ... first_index + count - 1 under `seed`, in one
    call (a Python loop of `text_state` pays numba's dispatch per text)."""
    out = np.empty(count, np.uint64)
    for i in range(count):
        out[i] = text_state(seed, first_index + i)
    return out


@njit(cache=True)
def next_unit(state):
    """Advance a stream; return (new state, a float uniform in [0, 1) with 53 random bits)."""
    state = np.uint64(state) + _GOLDEN  # the cast keeps a small state from Python an unsigned word
    return state, np.float64(mix64(state) >> np.uint64(11)) * _UNIT


@njit(cache=True)
def next_below(state, n):
    """Advance a stream; return (new state, an integer uniform in [0, n)) for 0 < n < 2**31."""
    state, u = next_unit(state)
    return state, min(np.int64(u * n), n - 1)
