"""Segment sums on the CPU with numba: a compiled loop over queries, float64 accumulators.

Only the elements inside the requested segments are read, so a query over a narrow range (the tokens that
extend a long partial token) costs what the range holds, not a whole row.
"""

from __future__ import annotations

import numba
import numpy as np
import torch


# Serial on purpose: a parallel numba region leaves its worker threads spinning, which slows the torch
# model running next to it on the same cores more than the kernel gains.
@numba.njit(cache=True)
def _segment_sum(values, rows, offsets, out):  # pragma: no cover - compiled
    queries, segments = out.shape
    for q in range(queries):
        row = rows[q]
        for j in range(segments):
            total = 0.0
            for k in range(offsets[q, j], offsets[q, j + 1]):
                total += values[row, k]
            out[q, j] = total


def segment_sum(values: torch.Tensor, rows: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """`out[q, j] = values[rows[q], offsets[q, j]:offsets[q, j + 1]].sum()` in float64 (CPU tensors)."""
    out = np.zeros((offsets.shape[0], offsets.shape[1] - 1), dtype=np.float64)
    if out.size:
        _segment_sum(values.detach().cpu().numpy(),  # a view, strided or not: no copy of the rows
                     np.ascontiguousarray(rows.cpu().numpy().astype(np.int64)),
                     np.ascontiguousarray(offsets.cpu().numpy().astype(np.int64)), out)
    return torch.from_numpy(out)
