"""Segment sums in plain torch: a float64 running sum along each row, read at the segment ends."""

from __future__ import annotations

import torch


def segment_sum(values: torch.Tensor, rows: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """`out[q, j] = values[rows[q], offsets[q, j]:offsets[q, j + 1]].sum()`, accumulated in float64."""
    running = torch.zeros((values.shape[0], values.shape[1] + 1), dtype=torch.float64, device=values.device)
    torch.cumsum(values.to(torch.float64), dim=1, out=running[:, 1:])
    picked = running[rows.long()]
    ends = torch.gather(picked, 1, offsets[:, 1:].long())
    starts = torch.gather(picked, 1, offsets[:, :-1].long())
    return ends - starts


def random_segments(rows: int, vocab: int, queries: int, segments: int, *, seed: int):
    """Random inputs for checking a backend against this reference: `rows` x `vocab` values in [0, 1),
    a row per query and sorted segment bounds, drawn from a generator seeded with `seed`."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.rand((rows, vocab), generator=generator)
    picked = torch.randint(0, rows, (queries,), generator=generator)
    offsets = torch.sort(torch.randint(0, vocab + 1, (queries, segments + 1), generator=generator), dim=1).values
    return values, picked, offsets
