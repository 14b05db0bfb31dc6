"""Certified pruning: leave out cover states whose mass cannot matter, and bound what leaving them out costs.

Why the skipped mass is known. At a position i every cover of x[:i]·b (or of x[:i] then end of text) has
one cover state s as its committed part, and covers with different committed parts diverge at some token
(after the shorter state, one goes on with a token that ends inside x[:i], the other with its last token,
which runs past i), so all covers at i are disjoint events. The covers of the states in a side branch all
start with the branch's first node a, whose probability P(a) is read off its parent's row before a is
evaluated. Skipping the branches a1, a2, ... that reach position i therefore takes at most
D = P(a1) + P(a2) + ... from the 257 masses there, together: M(b) = M^(b) + d(b), d(b) >= 0,
sum_b d(b) = T <= D (bytes that break UTF-8 are zeroed in both).

The bounds, with Z^ = sum_b M^(b) (derivation: write p = (M^ + d) / (Z^ + T) and take the extremes over
0 <= d(b) <= T <= D; every bound grows with T, so T = D is the worst case):
- a normalised probability: p(b) - p^(b) = (d(b) - p^(b) T) / (Z^ + T), so |p - p^| <= D / (Z^ + D);
- a normalised log-probability: log p(b) - log p^(b) = log1p(d(b)/M^(b)) - log1p(T/Z^) lies between
  -log1p(D/Z^) and log1p(D/M^(b)) - log1p(D/Z^);
- a cover sum log P(x[:i]·b) = log M(b): too low by 0 to log1p(D/M^(b)); a difference of two of them
  (`logprob` with a prompt) is off by at most the larger of their two bounds.
The log bound is at least the probability bound (log1p(u) >= u / (1 + u)), so one number per scored byte
covers its log-probability and every probability of its distribution. Both log bounds are at most
log1p(D/M^(b)).

How much is skipped. The canonical path (the trunk) is always evaluated first; its masses are lower bounds of
the final M^ and Z^. Branches are then skipped smallest P(a) first while, at every position a branch
reaches, D stays within eps Z^ / (1 - eps) (a distribution: D / (Z^ + D) <= eps) or expm1(eps) M^(x_i) (the
byte x_i scored there: log1p(D/M^(x_i)) <= eps), computed from the trunk's masses alone; D / (Z^ + D) and
log1p(D/M^) only fall as the final masses grow, so the bound reported (recomputed from the final masses)
never exceeds eps. It bounds what pruning changes in exact arithmetic. Floating-point rounding comes on
top: the branches kept are batched differently than on the exact path, which moves a float32 model's
log-probabilities by about 1e-6 (SmolLM2: up to 8e-6 between two batchings of the exact path itself).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tokwork.errors import ParameterError

DEFAULT_TOLERANCE = 1e-6
# Budgets are shrunk by this factor so that rounding in the log-sum-exp of skipped masses cannot push a
# bound a few ulps past the tolerance that was asked for.
ROUNDING_MARGIN = 1 - 1e-9


def check_tolerance(tolerance: float) -> float:
    """The tolerance as a float, or a ParameterError when it is not in [0, 1)."""
    tolerance = float(tolerance)
    if not 0.0 <= tolerance < 1.0:
        raise ParameterError(f"tolerance {tolerance} must be at least 0 and below 1 (0 = exact evaluation, "
                             f"default {DEFAULT_TOLERANCE:g})")
    return tolerance


def probability_bound(missing: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Largest |p(b) - p^(b)| of a distribution whose computed masses (sum `total`) lack at most `missing`."""
    missing, total = np.asarray(missing, dtype=np.float64), np.asarray(total, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(missing > 0, missing / (total + missing), 0.0)


def logprob_bound(missing: np.ndarray, mass: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Largest |log p(b) - log p^(b)| of a normalised log-probability, computed mass `mass` of `total`."""
    missing, mass, total = (np.asarray(a, dtype=np.float64) for a in (missing, mass, total))
    with np.errstate(divide="ignore", invalid="ignore"):
        grow_total = np.log1p(missing / total)
        bound = np.maximum(np.log1p(missing / mass) - grow_total, grow_total)
    return np.where(missing > 0, bound, 0.0)


def cover_sum_bound(missing: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Largest log M(b) - log M^(b) of an unnormalised cover sum with computed mass `mass`."""
    missing, mass = np.asarray(missing, dtype=np.float64), np.asarray(mass, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(missing > 0, np.log1p(missing / mass), 0.0)


def log_budgets(masses: np.ndarray, log_scale: np.ndarray, tolerance: float, *,
                scored: Sequence[int] | None = None) -> np.ndarray:
    """Per position, the log of the most mass that may be skipped there with the bound still <= tolerance.

    `masses` [positions, 257] (times exp(log_scale)) are lower bounds of the final masses; with `scored`
    (the byte read at each position) the budget protects that byte's log-probability, otherwise every
    probability of the distribution.
    """
    if scored is None:
        kept, factor = masses.sum(axis=1), tolerance / (1.0 - tolerance)
    else:
        kept = masses[np.arange(len(masses)), np.asarray(scored, dtype=np.int64)]
        factor = math.expm1(tolerance)
    with np.errstate(divide="ignore"):
        return np.log(kept) + log_scale + math.log(factor * ROUNDING_MARGIN)


def choose_skipped(candidates: Sequence[tuple[float, Sequence[int]]], budgets: np.ndarray
                   ) -> tuple[list[bool], np.ndarray]:
    """Which candidates (log P(a), position indices it reaches) to skip, smallest first, within `budgets`;
    returns the choice and the log of the mass skipped at each position (-inf where none)."""
    skipped = [False] * len(candidates)
    missing = np.full(len(budgets), -np.inf)
    ceiling = budgets.max(initial=-np.inf)
    for j in sorted(range(len(candidates)), key=lambda j: candidates[j][0]):
        logp, reached = candidates[j]
        if logp == -np.inf or not len(reached):  # adds nothing anywhere
            skipped[j] = True
            continue
        if logp > ceiling:
            break
        reached = np.asarray(reached, dtype=np.int64)
        grown = np.logaddexp(missing[reached], logp)
        if (grown <= budgets[reached]).all():
            missing[reached] = grown
            skipped[j] = True
    return skipped, missing


def scaled(log_missing: np.ndarray, log_scale: np.ndarray) -> np.ndarray:
    """Skipped masses on the scale of the computed masses, 0 where nothing was skipped."""
    out = np.zeros(len(log_missing))
    some = log_missing > -np.inf
    out[some] = np.exp(log_missing[some] - log_scale[some])
    return out
