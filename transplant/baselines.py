"""Baselines for the rows of new tokens: zero, the mean of the source's rows, random rows.

They give the floor any real method has to beat. `mean` is the usual choice when nothing is known about
a token (Hewitt 2021, "Initializing new word embeddings for pretrained language models"); `random` draws
from the source's per-dimension mean and spread, so its rows have the scale of real ones.
"""

from __future__ import annotations

import torch

from tokwork.transplant.registry import Embeddings, TransplantContext, register


@register("zero", summary="new rows are zero vectors")
def zero_embeddings(context: TransplantContext) -> Embeddings:
    """Matched rows copied, new rows zero: a new token's logit is 0 everywhere and it reads as nothing."""
    return context.fill(lambda matrix, ids: matrix.new_zeros((len(ids), matrix.shape[1])))


@register("mean", summary="new rows are the mean of the source's token rows")
def mean_embeddings(context: TransplantContext) -> Embeddings:
    """Matched rows copied, every new row the mean of the source's token rows (padding left out)."""
    return context.fill(lambda matrix, ids: context.token_rows(matrix).mean(dim=0).expand(len(ids), -1))


@register("random", summary="new rows drawn from the source rows' per-dimension mean and spread")
def random_embeddings(context: TransplantContext, *, seed: int = 0) -> Embeddings:
    """Matched rows copied, new rows Gaussian with each dimension's mean and standard deviation."""
    generator = torch.Generator().manual_seed(seed)

    def draw(matrix: torch.Tensor, ids) -> torch.Tensor:
        rows = context.token_rows(matrix).float()
        noise = torch.randn((len(ids), rows.shape[1]), generator=generator)
        return rows.mean(dim=0) + noise * rows.std(dim=0)

    return context.fill(draw)
