"""OMP: a new token's row is the source rows of a few shared tokens, mixed as the donor space mixes them.

After Goddard & Neto 2025, "Training-Free Tokenizer Transplantation via Orthogonal Matching Pursuit"
(mergekit-tokensurgeon): in a donor space where both shared and new tokens have vectors, each new
token's vector is approximated by orthogonal matching pursuit over the shared tokens' vectors (k atoms,
64 by default), and the same sparse coefficients are applied to the source model's rows of those shared
tokens, input and output matrices separately when they are not tied.

Three guards keep the result sane where a plain OMP diverges (mergekit's does with a MiniLM donor, which
gives case and space variants of a word the same vector): shared tokens with the same donor vector (to
within float noise) are one atom whose row is their mean; the pursuit stops once the residual is
(numerically) zero instead of adding atoms that only fit noise, and an atom nearly in the span of those
chosen (less than 5% of it outside) is skipped; a new row whose norm still falls outside the range of
the source's row norms is scaled back to its edge. Each atom is screened from the `screen` shared
tokens most correlated with the target first (all of them when `screen` is 0 or at least their number),
which makes the pursuit cost independent of the vocabulary size.

The pursuit runs on a batch of targets at once and in Gram form (each target's pool Gram matrix is one
batched matrix product; the steps then work on pool-sized vectors only), which makes SmolLM2 → GPT-2
(13,296 new tokens, k = 64) take seconds, not minutes, and stay well under 2 GB.
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
TRIES = 4  # atoms tried per step before a target whose best atoms all lie in the span stops
REFRESH = 1e-3  # relative squared residual below which the running one is recomputed from the atoms
PIVOT = 1e-3  # a Cholesky pivot below this sends a target to the SVD-based solve


def merge_duplicates(atoms: torch.Tensor, *, tolerance: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """Group atoms whose unit vectors lie within `tolerance` of each other (and chains of such pairs).

    Returns (unique atoms, group index of each input atom): rows of `unique` are the groups' first atoms,
    in the order of those. A donor gives the same text the same vector only up to float noise (MiniLM
    vectors of one text differ by ~1e-6 between batches), while distinct vectors lie 1e-2 or more apart;
    rounding to a few decimals would split twins that straddle a rounding edge in any coordinate, and
    OMP would then choose between them by float noise. Twins are near each other along any direction,
    so only neighbours in one sorted projection (and close in three more) are compared in full.
    """
    unit = atoms.double() / atoms.double().norm(dim=1, keepdim=True).clamp_min(1e-12)
    vectors = unit.numpy()
    directions = np.random.default_rng(0).standard_normal((vectors.shape[1], 4))
    position = vectors @ (directions / np.linalg.norm(directions, axis=0))  # each moves ≤ the distance
    order = np.argsort(position[:, 0], kind="stable")
    position = position[order]
    pairs = []
    for gap in range(1, len(vectors)):
        if not bool((position[gap:, 0] - position[:-gap, 0] <= tolerance).any()):
            break
        close = np.nonzero((np.abs(position[gap:] - position[:-gap]) <= tolerance).all(axis=1))[0]
        left, right = order[close], order[close + gap]
        twins = np.linalg.norm(vectors[left] - vectors[right], axis=1) <= tolerance
        pairs.append((left[twins], right[twins]))
    left, right = (np.concatenate(side) for side in zip(*pairs, strict=True)) if pairs else (order[:0],) * 2
    _, first, group = np.unique(_smallest_linked(len(vectors), left, right), return_index=True,
                                return_inverse=True)
    return atoms[torch.from_numpy(first)], torch.from_numpy(group.reshape(-1))


def _smallest_linked(count: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """For each of `count` items, the smallest item linked to it through the pairs (left[i], right[i])."""
    label = np.arange(count)
    while True:
        before = label
        low = np.minimum(label[left], label[right])
        label = label.copy()
        np.minimum.at(label, left, low)
        np.minimum.at(label, right, low)
        label = label[label]
        if np.array_equal(label, before):
            return label


def orthogonal_matching_pursuit(targets: torch.Tensor, atoms: torch.Tensor, *, k: int, screen: int = 256,
                                batch_size: int = 256, progress: bool = False,
                                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse codes of `targets` (B × D) over `atoms` (N × D): up to k atom indices and coefficients each.

    Returns (indices B × k, coefficients B × k); unused slots have index 0 and coefficient 0. With `k`
    at least the rank of the atoms and no screening, a target in their span is reconstructed exactly.
    The atoms are chosen in float32 (`_pursue`), `batch_size` targets at a time; the coefficients are a
    float64 least-squares fit on the chosen atoms.
    """
    if k <= 0:
        raise ParameterError(f"k must be a positive number of atoms, not {k}")
    targets, atoms = targets.float(), atoms.float()  # the pursuit only chooses atoms: float32 is enough
    count = atoms.shape[0]
    k = min(k, count)
    norms = atoms.norm(dim=1).clamp_min(1e-12)
    unit = atoms / norms[:, None]
    width = count if screen <= 0 else min(max(screen, 4 * k), count)
    work = _Workspace(unit, batch=min(batch_size, len(targets)), width=width, k=k)
    indices = torch.zeros((targets.shape[0], k), dtype=torch.long)
    coefficients = torch.zeros((targets.shape[0], k), dtype=torch.float64)
    norms = norms.double()
    starts = range(0, targets.shape[0], batch_size)
    for start in track(starts, "OMP", total=len(starts), enabled=progress):
        block = targets[start:start + batch_size]
        pool, correlations = work.screen(block)
        chosen = _pursue(block, unit, pool, correlations, k, work)
        used = chosen >= 0
        picked = torch.where(used, pool.gather(1, chosen.clamp_min(0)), 0)
        coeffs = _solve(block.double(), work.exact_atoms(picked), used)
        indices[start:start + batch_size] = picked
        coefficients[start:start + batch_size] = coeffs / norms[picked]
    return indices, coefficients


class _Workspace:
    """The large per-batch arrays of the pursuit, allocated once: fresh ones of these sizes (tens of MB)
    would each cost a round of page faults, batch after batch."""

    def __init__(self, unit: torch.Tensor, *, batch: int, width: int, k: int):
        count, dim = unit.shape
        self.unit, self.exact, self.width = unit, unit.double(), width
        self.correlations, self.magnitudes = unit.new_empty((batch, count)), unit.new_empty((batch, count))
        self.selected = self.exact.new_empty((batch * k, dim))
        if width < count:
            self.members = unit.new_empty((batch * width, dim))
            self.gram = unit.new_empty((batch, width, width))
        else:  # every target's pool is every atom: one Gram matrix for all
            self.members, self.gram = None, unit @ unit.T

    def screen(self, block: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each target's pool (B × M atom indices, most correlated first) and its correlations with them."""
        correlations = torch.mm(block, self.unit.T, out=self.correlations[:len(block)])
        if self.members is None:
            return torch.arange(self.width).expand(len(block), -1), correlations
        magnitudes = torch.abs(correlations, out=self.magnitudes[:len(block)])
        pool = magnitudes.topk(self.width, dim=1).indices
        return pool, correlations.gather(1, pool)

    def pool_gram(self, pool: torch.Tensor) -> torch.Tensor:
        """The Gram matrix of each target's pool of unit atoms (B × M × M)."""
        if self.members is None:
            return self.gram.expand(len(pool), -1, -1)
        batch, width = pool.shape
        members = torch.index_select(self.unit, 0, pool.reshape(-1), out=self.members[:batch * width])
        members = members.view(batch, width, -1)
        return torch.bmm(members, members.transpose(1, 2), out=self.gram[:batch])

    def exact_atoms(self, picked: torch.Tensor) -> torch.Tensor:
        """The unit atoms at `picked` (B × k) in float64, for the final least-squares fit."""
        out = self.selected[:picked.numel()]
        return torch.index_select(self.exact, 0, picked.reshape(-1), out=out).view(*picked.shape, -1)


def _pursue(targets: torch.Tensor, unit: torch.Tensor, pool: torch.Tensor, correlations: torch.Tensor, k: int,
            work: _Workspace) -> torch.Tensor:
    """The atoms OMP chooses for each target (B × D) from its own pool (B × M indices into the unit atoms),
    in order, as positions in the pool; -1 marks an unused slot. `correlations` are pool · target.

    Orthogonal matching pursuit in Gram form: after the first atom (which ends the many targets that are
    a duplicate of an atom), the pursuit touches no D-dimensional vector. With the Gram matrix of the pool,
    `inner` holds each pool atom's coefficients on an orthonormal basis of the atoms chosen so far
    (Gram–Schmidt in coefficient space), from which follow a candidate's part outside that span, the new
    basis vector's correlations with the pool, and the residual's correlations with the pool.
    """
    batch, width = pool.shape
    rows = torch.arange(batch)
    chosen = torch.full((batch, k), -1, dtype=torch.long)
    scale = targets.norm(dim=1).clamp_min(1e-12)
    # The first atom: nothing is chosen yet, so every atom lies outside the span.
    best = correlations.abs().argmax(dim=1)
    atom = unit[pool[rows, best]]
    length = atom.norm(dim=1)
    usable = (targets.norm(dim=1) > TOLERANCE * scale) & (length > DEPENDENT)
    usable &= correlations[rows, best] != 0
    chosen[usable, 0] = best[usable]
    direction = atom / length.clamp_min(1e-12)[:, None]
    first = (direction * targets).sum(dim=1)
    residual = targets - first[:, None] * direction
    open_ = (usable & (residual.norm(dim=1) > TOLERANCE * scale)).nonzero()[:, 0]
    if k == 1 or not len(open_):
        return chosen
    # The rest, for the targets still open only: their Gram matrices are the bulk of the work.
    pool, best, scale = pool[open_], best[open_], scale[open_].double()
    gram = work.pool_gram(pool)
    rows = torch.arange(len(open_))
    inner = targets.new_zeros((len(open_), k, width))
    inner[:, 0] = gram[rows, best] / length[open_, None]
    outside = gram.diagonal(dim1=1, dim2=2) - inner[:, 0] ** 2  # each pool atom's squared part off the span
    scores = correlations[open_] - inner[:, 0] * first[open_, None]  # pool · residual
    remaining = residual[open_].double().pow(2).sum(dim=1)  # the squared residual norm
    # Running updates of the residual lose precision once it is small beside what it was: recompute it
    # from the atoms whenever it has shrunk by REFRESH since it was last exact.
    exact_at = scale ** 2
    done = chosen[open_]

    def refresh(rows_open: torch.Tensor) -> None:
        near = rows_open & (remaining < REFRESH * exact_at)
        if bool(near.any()):
            remaining[near], scores[near] = _residual(targets[open_[near]], unit, pool[near], done[near])
            exact_at[near] = remaining[near]

    blocked = torch.zeros((len(open_), width), dtype=torch.bool)
    blocked[rows, best] = True
    active = torch.ones(len(open_), dtype=torch.bool)
    tries = min(TRIES, width)
    order = torch.arange(tries)
    refresh(active)
    active = remaining > (TOLERANCE * scale) ** 2
    for step in range(1, k):
        # The atoms best correlated with the residual are tried in turn: one (almost) in the span already
        # is skipped for good, and a target whose `tries` best atoms are all skipped stops.
        candidates = scores.abs().masked_fill_(blocked, -1.0).topk(tries, dim=1)
        fresh = outside.gather(1, candidates.indices) > DEPENDENT ** 2
        found = fresh.any(dim=1)
        pick_at = fresh.to(torch.uint8).argmax(dim=1)  # the first fresh one
        skipped = (order < torch.where(found, pick_at, tries)[:, None]) & active[:, None]
        blocked[rows[:, None].expand(-1, tries)[skipped], candidates.indices[skipped]] = True
        pick = candidates.indices[rows, pick_at]
        usable = active & found & (candidates.values[rows, pick_at] > 0)
        blocked[rows, pick] = True
        done[usable, step] = pick[usable]
        weight = torch.where(usable, outside[rows, pick].clamp_min(1e-12).rsqrt(), 0.0)
        along = inner[rows, :step, pick]  # the new atom on the basis so far
        column = gram[rows, pick] - torch.einsum("bs,bsm->bm", along, inner[:, :step])
        column *= weight[:, None]  # the pool's correlations with the new basis vector
        inner[:, step] = column
        outside -= column ** 2
        step_size = scores[rows, pick] * weight  # the residual along the new basis vector
        scores -= column * step_size[:, None]
        remaining -= step_size.double() ** 2
        refresh(usable)
        active = usable & (remaining > (TOLERANCE * scale) ** 2)
        if not bool(active.any()):
            break
    chosen[open_] = done
    return chosen


def _residual(targets: torch.Tensor, unit: torch.Tensor, pool: torch.Tensor, chosen: torch.Tensor,
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The squared norm of each target's residual on its chosen atoms, and the pool's correlations with it."""
    used = chosen >= 0
    selected = unit[torch.where(used, pool.gather(1, chosen.clamp_min(0)), 0)].double()
    fit = torch.einsum("bk,bkd->bd", _solve(targets.double(), selected, used), selected * used[:, :, None])
    residual = targets.double() - fit
    return residual.pow(2).sum(dim=1), torch.einsum("bmd,bd->bm", unit[pool], residual.float())


def _solve(targets: torch.Tensor, selected: torch.Tensor, used: torch.Tensor) -> torch.Tensor:
    """Least-squares coefficients of each target over its chosen atoms (B × k × D; minimum norm, unused 0).

    The pursuit only chooses atoms with at least `DEPENDENT` of their length outside the span of those
    before, so the normal equations are well conditioned and a Cholesky solve gives the least-squares
    coefficients; a target whose factor still has a tiny pivot gets the SVD-based minimum-norm solve.
    """
    pair = used[:, :, None] & used[:, None, :]
    gram = torch.bmm(selected, selected.transpose(1, 2)).mul_(pair) + torch.diag_embed((~used).double())
    factor, info = torch.linalg.cholesky_ex(gram)  # unused slots are 1 · x = 0
    right = torch.bmm(selected, targets[:, :, None]).mul_(used[:, :, None])
    solution = torch.cholesky_solve(right, factor)[:, :, 0]
    weak = (info != 0) | (factor.diagonal(dim1=1, dim2=2).min(dim=1).values < PIVOT)
    if bool(weak.any()):
        chosen = selected[weak] * used[weak][:, :, None]
        fallback = torch.linalg.lstsq(chosen.transpose(1, 2), targets[weak][:, :, None], rcond=RCOND,
                                      driver="gelsd")
        solution[weak] = fallback.solution[:, :, 0]
    return solution * used


def clip_norms(rows: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Scale rows whose norm falls outside the range of `reference`'s row norms back to its edge."""
    norms = torch.cat([torch.linalg.vector_norm(part, dim=1, dtype=torch.float64)
                       for part in reference.split(4096)])  # float64 a part at a time
    current = rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return rows * (current.clamp(float(norms.min()), float(norms.max())) / current)


def omp_rows(context: TransplantContext, matrix: torch.Tensor, ids: np.ndarray, *, k: int, screen: int,
             centre: bool) -> torch.Tensor:
    """New rows of `matrix` for target `ids`: OMP codes in the donor space applied to the anchors' rows.

    Large arrays are made one at a time and in parts (the source rows are widened to float64 4,096 at a
    time), which keeps a SmolLM2 → GPT-2 transplant well under 2 GB.
    """
    alignment = context.alignment
    anchors = alignment.anchor_target_ids
    space = context.donor.vectors(context, np.concatenate([anchors, ids]))
    atoms = space[: len(anchors)].double()
    donor_mean = atoms.mean(dim=0) if centre else torch.zeros(atoms.shape[1], dtype=torch.float64)
    targets = (space[len(anchors):].double() - donor_mean).float()  # the pursuit runs in float32
    del space
    unique, group = merge_duplicates(atoms.sub_(donor_mean))
    del atoms
    rows = matrix[torch.from_numpy(alignment.source_ids[anchors])]
    row_mean = (rows.mean(dim=0, dtype=torch.float64) if centre
                else torch.zeros(rows.shape[1], dtype=torch.float64))
    merged = torch.zeros((len(unique), rows.shape[1]), dtype=torch.float64)
    for part, members in zip(rows.split(4096), group.split(4096), strict=True):
        merged.index_add_(0, members, part.double() - row_mean)
    merged /= torch.bincount(group, minlength=len(unique)).clamp_min(1)[:, None]
    del rows
    indices, coefficients = orthogonal_matching_pursuit(targets, unique, k=k, screen=screen,
                                                        progress=context.progress)
    # Each new row is its k coefficients times merged rows: one sparse product (unused slots add 0 · row 0).
    slots = torch.stack([torch.arange(len(indices)).repeat_interleave(indices.shape[1]), indices.reshape(-1)])
    codes = torch.sparse_coo_tensor(slots, coefficients.reshape(-1), size=(len(indices), len(merged)),
                                    check_invariants=True).coalesce()
    rows_out = row_mean + torch.sparse.mm(codes, merged)
    return clip_norms(rows_out, context.token_rows(matrix))


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
