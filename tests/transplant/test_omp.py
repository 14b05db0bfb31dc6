"""The batched Gram-form OMP against a plain one-target-at-a-time pursuit, and the twin-merging of atoms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tokwork.transplant.omp import (
    DEPENDENT,
    TOLERANCE,
    TRIES,
    merge_duplicates,
    orthogonal_matching_pursuit,
)


def reference_omp(targets: torch.Tensor, atoms: torch.Tensor, *, k: int, screen: int):
    """OMP as the module describes it, one target at a time in float64 with an explicit residual.

    The pool is the `screen` (at least 4k) atoms most correlated with the target; each step tries the
    `TRIES` atoms best correlated with the residual in turn, skips (for good) one with less than
    `DEPENDENT` of its length outside the span chosen, and stops once the residual is below `TOLERANCE`
    of the target; the coefficients are a least-squares fit on the chosen atoms. Inputs are taken in
    float32 and atoms normalised there, as `orthogonal_matching_pursuit` takes them; the rest is float64.
    """
    norms = atoms.float().norm(dim=1)
    unit = (atoms.float() / norms[:, None]).double()
    targets, norms = targets.float().double(), norms.double()
    count = len(atoms)
    k = min(k, count)
    width = count if screen <= 0 else min(max(screen, 4 * k), count)
    indices = torch.zeros((len(targets), k), dtype=torch.long)
    coefficients = torch.zeros((len(targets), k), dtype=torch.float64)
    for row, target in enumerate(targets):
        pool = torch.argsort(-(unit @ target).abs(), stable=True)[:width]
        chosen, basis, skipped, residual = [], [], set(), target.clone()
        while len(chosen) < k and residual.norm() > TOLERANCE * target.norm():
            ranked = [i for i in pool[torch.argsort(-(unit[pool] @ residual).abs(), stable=True)].tolist()
                      if i not in skipped]
            pick = None
            for atom in ranked[:TRIES]:
                outside = unit[atom] - sum(((q @ unit[atom]) * q for q in basis), torch.zeros_like(target))
                if outside.norm() > DEPENDENT:
                    pick = atom
                    break
                skipped.add(atom)
            if pick is None or float(unit[pick] @ residual) == 0:
                break
            skipped.add(pick)
            chosen.append(pick)
            basis.append(outside / outside.norm())
            residual = residual - (basis[-1] @ residual) * basis[-1]
        if chosen:
            fit = torch.linalg.lstsq(unit[chosen].T, target[:, None]).solution[:, 0]
            indices[row, : len(chosen)] = torch.tensor(chosen)
            coefficients[row, : len(chosen)] = fit / norms[chosen]
    return indices, coefficients


def assert_same_codes(got, want):
    (indices, coefficients), (want_indices, want_coefficients) = got, want
    assert torch.equal(indices, want_indices)
    assert torch.allclose(coefficients, want_coefficients, rtol=1e-6, atol=1e-9)


def random_case(seed: int, *, count: int, dim: int, batch: int):
    generator = torch.Generator().manual_seed(seed)
    lengths = 0.5 + torch.rand(count, 1, generator=generator, dtype=torch.float64)
    atoms = torch.randn(count, dim, generator=generator, dtype=torch.float64) * lengths
    targets = torch.randn(batch, dim, generator=generator, dtype=torch.float64)
    return atoms, targets


@pytest.mark.parametrize("screen", [0, 40, 257])
def test_batched_omp_chooses_what_a_plain_pursuit_chooses(screen):
    atoms, targets = random_case(1, count=257, dim=48, batch=23)
    want = reference_omp(targets, atoms, k=12, screen=screen)
    for batch_size in (1, 7, 256):
        got = orthogonal_matching_pursuit(targets, atoms, k=12, screen=screen, batch_size=batch_size)
        assert_same_codes(got, want)


def test_batched_omp_stops_where_a_plain_pursuit_stops():
    """Targets in the span of one atom (a duplicate), of three atoms, and of all (k past the dimension):
    the residual reaches zero and the pursuit stops there, in the batch as in the plain pursuit."""
    atoms, targets = random_case(2, count=40, dim=16, batch=6)
    targets[0] = 3.0 * atoms[5]
    targets[1] = atoms[2] - 0.5 * atoms[17] + 2.0 * atoms[33]
    targets[2] = atoms[9] + 1e-4 * atoms[30]  # nearly a duplicate: the rest is fitted from a tiny residual
    got = orthogonal_matching_pursuit(targets, atoms, k=24, screen=0)
    assert_same_codes(got, reference_omp(targets, atoms, k=24, screen=0))
    used = (got[1] != 0).sum(dim=1)
    assert used[0] == 1 and used[1] == 3 and used[2] >= 2 and (used[3:] == 16).all()


@pytest.mark.parametrize("jitter", [1e-3, 1e-4])
def test_batched_omp_skips_near_duplicates_like_a_plain_pursuit(jitter):
    """Every atom twice, the copy nudged by `jitter`: once one of a pair is chosen the other lies in the
    span and is skipped. Which twin comes first is a tie within float32's noise, so the pursuits are
    compared pair by pair, and on what they rebuild."""
    base, targets = random_case(3, count=20, dim=24, batch=9)
    noise = torch.randn(base.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * jitter
    atoms = torch.cat([base, base + noise])
    (indices, coefficients), (want_indices, want_coefficients) = (
        orthogonal_matching_pursuit(targets, atoms, k=30, screen=0), reference_omp(targets, atoms, k=30, screen=0))
    assert torch.equal(indices % 20, want_indices % 20)
    rebuilt = torch.einsum("bk,bkd->bd", coefficients, atoms[indices])
    want = torch.einsum("bk,bkd->bd", want_coefficients, atoms[want_indices])
    assert torch.allclose(rebuilt, want, atol=10 * jitter)  # the twins differ by about that much


@pytest.mark.parametrize(("count", "k"), [(1, 4), (3, 3), (50, 1)])
def test_batched_omp_handles_tiny_pools_and_one_atom(count, k):
    atoms, targets = random_case(5, count=count, dim=8, batch=5)
    assert_same_codes(orthogonal_matching_pursuit(targets, atoms, k=k, screen=2),
                      reference_omp(targets, atoms, k=k, screen=2))


def test_merge_duplicates_joins_twins_that_straddle_a_rounding_edge():
    """Vectors equal but for float noise are one atom even where rounding to any number of decimals
    would split them, as are many copies of one direction; vectors 1e-2 apart stay apart; groups come in
    the order of their first atoms."""
    generator = torch.Generator().manual_seed(6)
    unit = torch.nn.functional.normalize
    base = unit(torch.randn(200, 32, generator=generator, dtype=torch.float64), dim=1)
    base[:, 0] = 0.5 + 5e-6  # on the edge of rounding at 5 decimals: half the twins round up, half down
    twins = base + torch.randn(base.shape, generator=generator, dtype=torch.float64) * 1e-7
    nearby = base + unit(torch.randn(base.shape, generator=generator, dtype=torch.float64), dim=1) * 1e-2
    copies = base[7] * torch.arange(1.0, 41.0, dtype=torch.float64)[:, None]  # one direction, 40 lengths
    atoms = torch.cat([base, 3.0 * twins, nearby, copies])
    unique, group = merge_duplicates(atoms)
    assert len(unique) == 400
    assert torch.equal(group[:200], group[200:400]) and (group[600:] == group[7]).all()
    assert not set(group[400:600].tolist()) & set(group[:200].tolist())
    first = np.unique(group.numpy(), return_index=True)[1]
    assert (np.diff(first) > 0).all() and torch.equal(unique, atoms[torch.from_numpy(first)])
    rounded = np.unique(np.round(unit(atoms[:400], dim=1).numpy(), 5), axis=0)
    assert len(rounded) > 200  # rounding alone would have split some twins
