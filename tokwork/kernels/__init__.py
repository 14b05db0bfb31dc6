"""Compute kernels, one folder per op: `reference.py` (plain torch, obviously correct), `numba.py` (CPU) and
`triton.py` (GPU), behind a dispatcher with `backend="auto"` in the op's `__init__.py`.

- `segment_sum`: sums of contiguous segments of rows; the byte-level layer turns next-token distributions
  over a byte-sorted vocabulary into next-byte masses with it.
"""
