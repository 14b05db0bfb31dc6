"""Subword mean (FVT): a new token's row is the mean of the rows of the source tokens that spell it.

After Gee et al. 2022, "Fast Vocabulary Transfer for Language Model Compression": a token the source
model never had is read as the source tokenizer would have split it, and its row is the average of
those pieces' rows. It needs no donor, and it is the bar that OMP and hybrid must clear.
"""

from __future__ import annotations

import numpy as np
import torch

from tokwork.transplant.calibration import calibrate_rows, check_strength
from tokwork.transplant.registry import Embeddings, TransplantContext, register


def piece_means(context: TransplantContext, matrix: torch.Tensor, ids: np.ndarray) -> torch.Tensor:
    """For each target id, the mean of `matrix`'s rows for its source pieces (the token mean if none)."""
    pieces = context.alignment.new_pieces
    fallback = context.token_rows(matrix).mean(dim=0)
    rows = torch.empty((len(ids), matrix.shape[1]), dtype=matrix.dtype)
    for row, token_id in enumerate(ids):
        spelled = pieces.get(int(token_id), ())
        rows[row] = matrix[list(spelled)].mean(dim=0) if spelled else fallback
    return rows


def check_subword_options(*, calibrate: float, **_) -> None:
    """Refuse a calibration strength outside [0, 1]."""
    check_strength(calibrate)


@register("subword-mean", summary="mean of the rows of the source pieces that spell the token (FVT)",
          check=check_subword_options)
def subword_mean_embeddings(context: TransplantContext, *, calibrate: float = 0.0) -> Embeddings:
    """Matched rows copied; each new row the mean of its source pieces' rows (Gee et al. 2022).

    Plain FVT by default; `calibrate` adds the logit calibration of omp and hybrid (for comparison).
    """
    embeddings = context.fill(lambda matrix, ids: piece_means(context, matrix, ids), needs_bytes=True)
    return calibrate_rows(context, embeddings, strength=calibrate)
