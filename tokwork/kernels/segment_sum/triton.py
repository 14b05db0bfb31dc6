"""Segment sums on the GPU with Triton: one program per (query, segment), a float64 accumulator that walks
the segment in blocks, so the vocabulary size need not be a multiple of the block.

With `TRITON_INTERPRET=1` the same kernel runs on CPU tensors in Triton's interpreter (how the tests run it).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 1024


@triton.jit
def _segment_sum_kernel(values, rows, offsets, out, stride_values, segments, BLOCK: tl.constexpr):
    q = tl.program_id(0)
    j = tl.program_id(1)
    row = tl.load(rows + q).to(tl.int64)
    start = tl.load(offsets + q * (segments + 1) + j)
    end = tl.load(offsets + q * (segments + 1) + j + 1)
    base = values + row * stride_values
    total = tl.zeros((BLOCK,), dtype=tl.float64)
    for chunk in range(start, end, BLOCK):
        index = chunk + tl.arange(0, BLOCK)
        total += tl.load(base + index, mask=index < end, other=0.0).to(tl.float64)
    tl.store(out + q * segments + j, tl.sum(total, axis=0))


def segment_sum(values: torch.Tensor, rows: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """`out[q, j] = values[rows[q], offsets[q, j]:offsets[q, j + 1]].sum()` in float64, on `values.device`."""
    if values.stride(-1) != 1:  # rows may be strided (a column slice), elements may not
        values = values.contiguous()
    rows = rows.to(device=values.device, dtype=torch.int64).contiguous()
    offsets = offsets.to(device=values.device, dtype=torch.int64).contiguous()
    queries, segments = offsets.shape[0], offsets.shape[1] - 1
    out = torch.zeros((queries, segments), dtype=torch.float64, device=values.device)
    if queries and segments:
        _segment_sum_kernel[(queries, segments)](values, rows, offsets, out, values.stride(0), segments,
                                                 BLOCK=BLOCK)
    return out
