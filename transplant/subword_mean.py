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
    """For each target id, the mean of `matrix`'s rows for its source pieces (the token mean if none).

    All ids at once, as one bag of rows per id (`embedding_bag`): a row at a time took seconds for the
    tens of thousands of new tokens of a real vocabulary."""
    pieces = context.alignment.new_pieces
    spelled = [pieces.get(int(token_id), ()) for token_id in ids]
    lengths = torch.tensor([len(p) for p in spelled], dtype=torch.long, device=matrix.device)
    flat = torch.tensor([piece for p in spelled for piece in p], dtype=torch.long, device=matrix.device)
    offsets = torch.cumsum(lengths, dim=0) - lengths
    rows = torch.nn.functional.embedding_bag(flat, matrix, offsets, mode="mean")
    empty = lengths == 0
    if bool(empty.any()):
        rows[empty] = context.token_rows(matrix).mean(dim=0).to(rows.dtype)
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
