"""OMP: a new token's row is the source rows of a few shared tokens, mixed as the donor space mixes them.

After Goddard & Neto 2025, "Training-Free Tokenizer Transplantation via Orthogonal Matching Pursuit"
(mergekit-tokensurgeon): in a donor space where both shared and new tokens have vectors, each new
token's vector is approximated by orthogonal matching pursuit over the shared tokens' vectors (k atoms,
64 by default), and the same sparse coefficients are applied to the source model's rows of those shared
tokens, input and output matrices separately when they are not tied.

Three guards keep the result sane where a plain OMP diverges (mergekit's does with a MiniLM donor, which
gives case and space variants of a word the same vector): shared tokens with the same donor vector are
one atom whose row is their mean; the pursuit stops once the residual is (numerically) zero instead of
adding atoms that only fit noise, and an atom nearly in the span of those chosen (less than 5% of it
outside) is skipped; a new row whose norm still falls outside the range of the source's row norms is
scaled back to its edge. Each atom is screened from the `screen`
shared tokens most correlated with the target first (all of them when `screen` is 0 or at least their
number), which makes the pursuit cost independent of the vocabulary size.
"""

from __future__ import annotations

import numpy as np
import torch

from tokwork.errors import ParameterError
from tokwork.progress import track
from tokwork.transplant.calibration import calibrate_rows, check_strength
from tokwork.transplant.registry import Embeddings, TransplantContext, register

TOLERANCE = 1e-6  # relative residual norm at which a target counts as reconstructed
DEPENDENT = 0.05  # a (unit) atom whose part outside the span already chosen is below this is skipped
RCOND = 1e-6  # singular values below this (relative) are dropped in the final least-squares solve


def merge_duplicates(atoms: torch.Tensor, *, decimals: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Group atoms whose unit vectors agree to `decimals` places.

    Returns (unique atoms, group index of each input atom): rows of `unique` are the groups' first atoms.
    """
    unit = atoms / atoms.norm(dim=1, keepdim=True).clamp_min(1e-12)
    keys = np.round(unit.numpy().astype(np.float64), decimals)
    _, first, group = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return atoms[torch.from_numpy(first)], torch.from_numpy(group.reshape(-1))


def orthogonal_matching_pursuit(targets: torch.Tensor, atoms: torch.Tensor, *, k: int, screen: int = 256,
                                batch_size: int = 64, progress: bool = False,
                                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse codes of `targets` (B × D) over `atoms` (N × D): up to k atom indices and coefficients each.

    Returns (indices B × k, coefficients B × k); unused slots have index 0 and coefficient 0. With `k`
    at least the rank of the atoms and no screening, a target in their span is reconstructed exactly.
    """
    if k <= 0:
        raise ParameterError(f"k must be a positive number of atoms, not {k}")
    targets, atoms = targets.float(), atoms.float()  # the pursuit only chooses atoms: float32 is enough
    count = atoms.shape[0]
    k = min(k, count)
    norms = atoms.norm(dim=1).clamp_min(1e-12)
    unit = atoms / norms[:, None]
    width = count if screen <= 0 or screen >= count else max(screen, 4 * k)
    indices = torch.zeros((targets.shape[0], k), dtype=torch.long)
    coefficients = torch.zeros((targets.shape[0], k), dtype=torch.float64)
    norms, exact = norms.double(), unit.double()
    starts = range(0, targets.shape[0], batch_size)
    for start in track(starts, "OMP", total=len(starts), enabled=progress):
        block = targets[start:start + batch_size]
        if width < count:
            pool = (block @ unit.T).abs().topk(width, dim=1).indices
        else:
            pool = torch.arange(count).expand(block.shape[0], -1)
        chosen = _pursue(block, unit[pool], k)
        used = chosen >= 0
        picked = torch.where(used, pool.gather(1, chosen.clamp_min(0)), 0)
        coeffs = _solve(block.double(), exact[picked], used)
        indices[start:start + batch_size] = picked
        coefficients[start:start + batch_size] = coeffs / norms[picked]
    return indices, coefficients


def _pursue(targets: torch.Tensor, pool: torch.Tensor, k: int) -> torch.Tensor:
    """The atoms OMP chooses for each target from its own pool of unit atoms (B × M × D), in order;
    -1 marks an unused slot."""
    batch, width, _ = pool.shape
    rows = torch.arange(batch)
    chosen = torch.full((batch, k), -1, dtype=torch.long)
    basis = targets.new_zeros((batch, k, targets.shape[1]))  # orthonormal basis of the chosen atoms
    blocked = torch.zeros((batch, width), dtype=torch.bool)
    residual = targets.clone()
    scale = targets.norm(dim=1).clamp_min(1e-12)
    active = residual.norm(dim=1) > TOLERANCE * scale
    for step in range(k):
        scores = torch.bmm(pool, residual[:, :, None])[:, :, 0].abs().masked_fill(blocked, -1.0)
        chosen_basis = basis[:, :step]
        for _ in range(4):  # skip atoms (almost) in the span already chosen
            best = scores.argmax(dim=1)
            atom = pool[rows, best]
            inside = torch.bmm(chosen_basis.transpose(1, 2), torch.bmm(chosen_basis, atom[:, :, None]))[:, :, 0]
            outside = atom - inside
            fresh = outside.norm(dim=1) > DEPENDENT
            if bool(fresh[active].all()):
                break
            stale = active & ~fresh
            blocked[rows[stale], best[stale]] = True
            scores[rows[stale], best[stale]] = -1.0
        usable = active & fresh & (scores[rows, best] > 0)
        blocked[rows, best] = True
        chosen[usable, step] = best[usable]
        direction = torch.zeros_like(outside)
        direction[usable] = outside[usable] / outside[usable].norm(dim=1, keepdim=True)
        basis[:, step] = direction
        residual = residual - (direction * residual).sum(dim=1, keepdim=True) * direction
        active = usable & (residual.norm(dim=1) > TOLERANCE * scale)
        if not bool(active.any()):
            break
    return chosen


def _solve(targets: torch.Tensor, selected: torch.Tensor, used: torch.Tensor) -> torch.Tensor:
    """Least-squares coefficients of each target over its chosen atoms (B × k × D; minimum norm, unused 0)."""
    selected = selected * used[:, :, None]
    solution = torch.linalg.lstsq(selected.transpose(1, 2), targets[:, :, None], rcond=RCOND, driver="gelsd")
    return solution.solution[:, :, 0] * used


def clip_norms(rows: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Scale rows whose norm falls outside the range of `reference`'s row norms back to its edge."""
    norms = reference.norm(dim=1)
    current = rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return rows * (current.clamp(float(norms.min()), float(norms.max())) / current)


def omp_rows(context: TransplantContext, matrix: torch.Tensor, ids: np.ndarray, *, k: int, screen: int,
             centre: bool) -> torch.Tensor:
    """New rows of `matrix` for target `ids`: OMP codes in the donor space applied to the anchors' rows."""
    alignment = context.alignment
    anchors = alignment.anchor_target_ids
    space = context.donor.vectors(context, np.concatenate([anchors, ids]))
    atoms, targets = space[: len(anchors)].double(), space[len(anchors):].double()
    rows = matrix[torch.from_numpy(alignment.source_ids[anchors])].double()
    donor_mean = atoms.mean(dim=0) if centre else torch.zeros(atoms.shape[1], dtype=torch.float64)
    row_mean = rows.mean(dim=0) if centre else torch.zeros(rows.shape[1], dtype=torch.float64)
    unique, group = merge_duplicates(atoms - donor_mean)
    merged = torch.zeros((len(unique), rows.shape[1]), dtype=torch.float64).index_add_(0, group, rows - row_mean)
    merged /= torch.bincount(group, minlength=len(unique)).clamp_min(1)[:, None]
    indices, coefficients = orthogonal_matching_pursuit(targets - donor_mean, unique, k=k, screen=screen,
                                                        progress=context.progress)
    rows_out = row_mean + torch.einsum("bk,bkd->bd", coefficients, merged[indices])
    return clip_norms(rows_out, context.token_rows(matrix).double())


def check_omp_options(*, k: int, screen: int, calibrate: float = 0.0, **_) -> None:
    """Refuse k below one, a negative screen and a calibration strength outside [0, 1] before any work."""
    check_strength(calibrate)
    if k <= 0:
        raise ParameterError(f"k must be a positive number of atoms, not {k}")
    if screen < 0:
        raise ParameterError(f"screen must be 0 (no screening) or a positive pool size, not {screen}")


@register("omp", summary="sparse OMP codes in a donor space applied to shared tokens' rows (Goddard & Neto 2025)",
          needs_donor=True, check=check_omp_options)
def omp_embeddings(context: TransplantContext, *, k: int = 64, screen: int = 256, centre: bool = True,
                   calibrate: float = 0.5) -> Embeddings:
    """Matched rows copied; new rows from OMP with `k` atoms in the donor space (Goddard & Neto 2025).

    `centre` fits the codes to vectors centred on their space's mean (rows get the source mean back);
    `calibrate` moves each new token's logit level that part of the way to the one the source model
    gives it (see `calibration`; 0 turns it off).
    """
    check_omp_options(k=k, screen=screen, calibrate=calibrate)
    embeddings = context.fill(lambda m, ids: omp_rows(context, m, ids, k=k, screen=screen, centre=centre),
                              needs_bytes=True)
    return calibrate_rows(context, embeddings, strength=calibrate)
