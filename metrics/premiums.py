"""Cross-lingual premiums: how many more tokens a language needs than the pivot for the same content.

After Petrov et al. 2023, "Language Model Tokenizers Introduce Unfairness Between Languages": on parallel
text, premium(L) = tokens(L) / tokens(pivot), the pivot being English. The corpus-level premium divides the
token totals; per aligned block the ratios spread, and that spread says how stable the premium is.
Arnett et al. 2025 ("Explaining and Mitigating Crosslingual Tokenizer Inequities") study how premiums move
with vocabulary size and script; `premiums_by_script` groups languages the same way. `gini` condenses the
token counts of all languages on the same text into one inequality figure (Foroutan et al. 2025).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def premium(tokens: int, pivot_tokens: int) -> float:
    """Tokens of a language over the pivot's tokens for the same content (1.0: no premium)."""
    if pivot_tokens <= 0:
        raise ValueError("the pivot text has no tokens; a premium needs a non-empty pivot")
    return tokens / pivot_tokens


def block_premiums(tokens: Sequence[int], pivot_tokens: Sequence[int]) -> list[float]:
    """The premium of every aligned block (blocks where the pivot has no tokens are left out)."""
    if len(tokens) != len(pivot_tokens):
        raise ValueError(f"{len(tokens)} blocks against {len(pivot_tokens)} pivot blocks: not aligned")
    return [t / p for t, p in zip(tokens, pivot_tokens, strict=True) if p > 0]


def premium_summary(tokens: Sequence[int], pivot_tokens: Sequence[int]) -> dict[str, float]:
    """Corpus-level premium plus the spread of the per-block premiums (mean, median, sd, p10, p90, range)."""
    corpus_premium = premium(sum(tokens), sum(pivot_tokens))  # refuses a pivot without tokens
    per_block = np.asarray(block_premiums(tokens, pivot_tokens))
    p10, p90 = np.percentile(per_block, [10, 90])  # one call: a benchmark summarises hundreds of these
    return {
        "premium": corpus_premium,
        "mean": float(per_block.mean()),
        "median": float(np.median(per_block)),
        "sd": float(per_block.std(ddof=1)) if per_block.size > 1 else 0.0,
        "p10": float(p10),
        "p90": float(p90),
        "min": float(per_block.min()),
        "max": float(per_block.max()),
    }


def gini(values: Sequence[float]) -> float:
    """Gini coefficient of non-negative values: the mean absolute difference over all ordered pairs divided
    by twice the mean; 0 when all are equal, (n - 1) / n when one holds everything.

    On the token counts of each language for the same parallel text it is the cross-lingual inequality
    measure of Foroutan et al. 2025 ("Parity-Aware Byte-Pair Encoding: Improving Cross-lingual Fairness in
    Tokenization"); it does not depend on the pivot, unlike premiums.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"a Gini coefficient needs a flat list of values, not an array of shape {x.shape}")
    if x.size == 0:
        raise ValueError("a Gini coefficient needs a non-empty list of values")
    if not np.isfinite(x).all():
        raise ValueError("a Gini coefficient needs finite values")
    x = np.sort(x)
    if x[0] < 0:
        raise ValueError(f"a Gini coefficient needs non-negative values, got {x[0]}")
    total = x.sum()
    if total == 0:
        return 0.0
    n = x.size
    # With values sorted, sum_ij |x_i - x_j| = 2 * sum_i (2i - n - 1) x_i (i from 1).
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * total))


def premiums_by_script(premiums: Mapping[str, float], scripts: Mapping[str, str], *,
                       exclude: Sequence[str] = ()) -> dict[str, dict[str, float]]:
    """Per script: how many languages, and the mean, median and largest of their premiums.

    `exclude` leaves out languages (the pivot, whose premium is 1 by definition). Languages of unknown
    script (`scripts.UNKNOWN_SCRIPT`) are a group of their own, pooled with no script.
    """
    groups: dict[str, list[float]] = {}
    for code, value in premiums.items():
        if code not in exclude:
            groups.setdefault(scripts[code], []).append(value)
    return {
        script: {"languages": len(values), "mean": float(np.mean(values)), "median": float(np.median(values)),
                 "max": float(np.max(values))}
        for script, values in sorted(groups.items())
    }
