"""Hybrid: the source pieces of a new token weighted by how much they mean it, mixed with its neighbours.

After Sharthak et al. 2025, "Achieving Tokenizer Flexibility in Language Models through Heuristic
Adaptation and Supertoken Learning" (TokenAdapt). In an auxiliary embedding space (the donor space):

- local: the source pieces that spell the token, weighted by a softmax (temperature T) of the mean of
  their cosine similarity to the whole token and their share of its length;
- global: the k shared tokens nearest to the token (cosine), weighted by a softmax of the similarity;
- the row is (1 − λ)·local + λ·global; defaults λ = 0.3, T = 0.3, k = 3.
"""

from __future__ import annotations

import numpy as np
import torch

from tokwork.errors import ParameterError
from tokwork.progress import track
from tokwork.transplant.calibration import calibrate_rows, check_strength
from tokwork.transplant.registry import Embeddings, TransplantContext, register


def hybrid_weights(context: TransplantContext, ids: np.ndarray, *, k: int, temperature: float,
                   ) -> tuple[list[tuple[np.ndarray, torch.Tensor]], torch.Tensor, torch.Tensor]:
    """Per new token, its local pieces (source ids) and weights; and its k neighbours (anchor rows) and weights."""
    alignment = context.alignment
    anchors = alignment.anchor_target_ids
    pieces = alignment.new_pieces
    source_to_target = {int(s): int(t) for s, t in zip(alignment.source_ids[anchors], anchors, strict=True)}
    donor = context.donor
    new_vectors = torch.nn.functional.normalize(donor.vectors(context, ids), dim=1)
    anchor_vectors = torch.nn.functional.normalize(donor.vectors(context, anchors), dim=1)
    similarity = new_vectors @ anchor_vectors.T
    top = similarity.topk(min(k, len(anchors)), dim=1)
    global_weights = torch.softmax(top.values / temperature, dim=1)
    view = alignment.source.byte_view
    target_view = alignment.target.byte_view
    local = []
    for row, token_id in track(enumerate(ids.tolist()), "hybrid", total=len(ids), enabled=context.progress):
        spelled = np.array(pieces.get(token_id, ()), dtype=np.int64)
        if len(spelled) == 0:
            local.append((spelled, torch.zeros(0)))
            continue
        # a piece that is also a shared target token has a donor vector; others are compared by their text
        piece_targets = [source_to_target.get(int(p)) for p in spelled]
        known = [t for t in piece_targets if t is not None]
        piece_vectors = dict(zip(known, torch.nn.functional.normalize(donor.vectors(context, np.array(known)), dim=1),
                                 strict=True)) if known else {}
        cosines = torch.tensor([float(piece_vectors[t] @ new_vectors[row]) if t is not None else 0.0
                                for t in piece_targets])
        lengths = torch.tensor([len(view[int(p)]) for p in spelled], dtype=torch.float32)
        share = lengths / max(len(target_view[token_id]), 1)
        local.append((spelled, torch.softmax((cosines + share) / 2 / temperature, dim=0)))
    return local, top.indices, global_weights


def hybrid_rows(context: TransplantContext, matrix: torch.Tensor, ids: np.ndarray, *, mix: float, k: int,
                temperature: float) -> torch.Tensor:
    """(1 − mix)·local + mix·global rows of `matrix` for the new target `ids` (TokenAdapt)."""
    key = ("hybrid", k, temperature)
    if key not in context.cache:
        context.cache[key] = hybrid_weights(context, ids, k=k, temperature=temperature)
    local, neighbours, global_weights = context.cache[key]
    anchor_rows = matrix[torch.from_numpy(context.alignment.source_ids[context.alignment.anchor_target_ids])]
    global_rows = torch.einsum("bk,bkd->bd", global_weights.to(matrix.dtype), anchor_rows[neighbours])
    rows = torch.empty_like(global_rows)
    for row, (spelled, weights) in enumerate(local):
        if len(spelled):
            local_row = weights.to(matrix.dtype) @ matrix[torch.from_numpy(spelled)]
            rows[row] = (1 - mix) * local_row + mix * global_rows[row]
        else:
            rows[row] = global_rows[row]
    return rows


def check_hybrid_options(*, mix: float, temperature: float, k: int, calibrate: float = 0.0, **_) -> None:
    """Refuse k below one, a mix outside [0, 1], a temperature that is not positive, a bad calibration."""
    check_strength(calibrate)
    if k <= 0:
        raise ParameterError(f"k must be a positive number of neighbours, not {k}")
    if not 0 <= mix <= 1 or temperature <= 0:
        raise ParameterError(f"mix must lie in [0, 1] and temperature be positive (got {mix}, {temperature})")


@register("hybrid", summary="TokenAdapt: (1-λ)·similarity-weighted source pieces + λ·nearest shared tokens",
          needs_donor=True, check=check_hybrid_options)
def hybrid_embeddings(context: TransplantContext, *, mix: float = 0.3, temperature: float = 0.3, k: int = 3,
                      calibrate: float = 0.5) -> Embeddings:
    """Matched rows copied; new rows (1 − mix)·local + mix·global in the donor space (Sharthak et al. 2025).

    `calibrate` moves each new token's logit level that part of the way to the one the source model
    gives it (see `calibration`; 0 turns it off).
    """
    check_hybrid_options(mix=mix, temperature=temperature, k=k, calibrate=calibrate)
    embeddings = context.fill(
        lambda m, ids: hybrid_rows(context, m, ids, mix=mix, k=k, temperature=temperature), needs_bytes=True)
    return calibrate_rows(context, embeddings, strength=calibrate)
