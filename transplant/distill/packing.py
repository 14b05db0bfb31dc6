"""Packing a batch's token sequences into rows, so that fewer of the positions a model computes are padding.

The texts of a batch differ in length (in the en-docs stream of `benchmarks/distill.py` 22-24% of a padded
batch's positions are padding, which costs as much to compute as text). A packed row holds
several sequences one after another; each attends only to itself (a block-diagonal causal mask) and
counts its positions from 0, so a model scores it as it would alone, at fewer positions in all.
A longer row costs more attention per position, so the row length is chosen by a small cost model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tokwork.attention_mask import additive_mask

# Cost of one (query, key) pair of attention against the rest of one position's work, for a model of
# SmolLM2-135M's shape: per position, a row of length L costs about 1 + L * this. By multiply-adds a layer
# spends 2 x 576 on a pair (scores and weighted values) and about 3.5M on a position (its matrices) plus
# 1.0M (the output layer's 29M spread over 30 layers): 2.6e-4, rounded up for the softmax's memory traffic.
ATTENTION_PAIR_COST = 3e-4
ROW_STEP = 8  # a row length that packs into too many rows grows to the next multiple of this


def _first_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    rows: list[list[int]] = []
    fill: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        for row, used in enumerate(fill):
            if used + lengths[index] <= capacity:
                rows[row].append(index)
                fill[row] += lengths[index]
                break
        else:
            rows.append([index])
            fill.append(lengths[index])
    return rows


def row_cost(rows: int, length: int) -> float:
    """Estimated model cost of a batch of `rows` rows of `length` positions, in positions' worth of work."""
    return rows * length * (1 + ATTENTION_PAIR_COST * length)


def _cost(rows: list[list[int]], lengths: Sequence[int]) -> float:
    return row_cost(len(rows), max(sum(lengths[i] for i in row) for row in rows))


def pack_rows(lengths: Sequence[int]) -> list[list[int]]:
    """Which sequences (by index) go into each row, in order: the packing of least estimated model cost.

    For each number of rows, first-fit decreasing into the shortest row length (a multiple of 8 from the
    longest sequence on) that needs no more rows; one sequence a row, padded to the longest, is a candidate
    too, so packing never costs more than padding by this estimate. Deterministic: the same lengths give
    the same rows.
    """
    if not lengths:
        return []
    longest, total = max(lengths), sum(lengths)
    best = [[i] for i in range(len(lengths))]
    best_cost = _cost(best, lengths)
    for count in range(1, len(lengths) + 1):
        capacity = max(longest, -(-total // count))
        while len(rows := _first_fit_decreasing(lengths, capacity)) > count:
            capacity = (capacity // ROW_STEP + 1) * ROW_STEP
        if (cost := _cost(rows, lengths)) < best_cost:
            best, best_cost = rows, cost
        if capacity == longest:
            break
    return best


def packed_attention_mask(segments: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The additive 4D mask (rows, 1, length, length) that lets each position attend only to earlier
    positions of its own segment (`segments`: (rows, length) ids; padding is a segment of its own)."""
    length = segments.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=segments.device).tril()
    allowed = (segments[:, :, None] == segments[:, None, :]) & causal
    return additive_mask(allowed, dtype)[:, None]
