"""Information-theoretic views of a tokenization: entropy, Rényi efficiency, bigram entropy, utilisation.

Following Zouhar et al. 2023, "Tokenization and the noiseless channel": a tokenizer is a channel whose
symbols are tokens; its unigram distribution's Shannon entropy H, and the Rényi entropy
H_a = log2(sum p^a) / (1 - a), divided by log2 |V|, say how evenly it uses its symbols (efficiency). The
published scorer (`tokenization-scorer`) takes |V| as the number of distinct tokens observed and log base 2;
`vocab_size` replaces that with the full vocabulary. Every function takes counts, so results pool exactly
by adding counts.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np

DEFAULT_ALPHA = 2.5
MEASURES = ("types", "shannon_entropy", "shannon_efficiency", "renyi_entropy", "renyi_efficiency", "utilisation",
            "conditional_entropy")


def token_counts(tokens: Iterable[Hashable]) -> np.ndarray:
    """Counts of each distinct token in a stream (tokens as written: `@@ed` and `ed` are different)."""
    return np.fromiter(Counter(tokens).values(), dtype=np.int64)


def _probabilities(counts) -> np.ndarray:
    if isinstance(counts, Mapping):  # a Counter of tokens
        counts = list(counts.values())
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1:
        raise ValueError(f"entropy takes a flat list of counts, not an array of shape {counts.shape}")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("token counts must be finite and non-negative")
    counts = counts[counts > 0]
    if counts.size == 0:
        raise ValueError("entropy of an empty token stream")
    return counts / counts.sum()


def shannon_entropy(counts) -> float:
    """Shannon entropy in bits of the distribution the counts give."""
    p = _probabilities(counts)
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: one type gives 0, not -0


def renyi_entropy(counts, *, alpha: float = DEFAULT_ALPHA) -> float:
    """Rényi entropy of order `alpha` >= 0 in bits (Shannon's at alpha = 1, log2 of the types at alpha = 0,
    the min-entropy -log2 max p at alpha = inf), accurate for every order: near 1, where the textbook form
    divides two vanishing quantities, and for large orders, where p ** alpha underflows."""
    if isinstance(alpha, bool | np.bool_) or not isinstance(alpha, int | float | np.number) or not alpha >= 0:
        raise ValueError(f"Rényi entropy needs an order alpha >= 0, not {alpha!r}")
    p = _probabilities(counts)
    if alpha == 1:
        return shannon_entropy(counts)
    if math.isinf(alpha):
        return float(-np.log2(p.max())) + 0.0
    if abs(alpha - 1) < 0.5:
        # sum p^a - 1 = sum p (p^(a-1) - 1), each term by expm1: no cancellation however close a is to 1
        excess = float((p * np.expm1((alpha - 1) * np.log(p))).sum())
        return math.log1p(excess) / ((1 - alpha) * math.log(2)) + 0.0
    top = p.max()  # sum p^a = top^a * sum (p / top)^a, whose sum is at least 1
    return float((alpha * np.log2(top) + np.log2(((p / top) ** alpha).sum())) / (1 - alpha)) + 0.0


def _efficiency(entropy: float, counts, vocab_size: int | None) -> float | None:
    types = int((_probabilities(counts) > 0).sum())
    if vocab_size is not None and vocab_size < types:
        raise ValueError(f"a vocabulary of {vocab_size} tokens cannot hold the {types} distinct tokens counted")
    size = vocab_size if vocab_size is not None else types
    return float(entropy / np.log2(size)) if size > 1 else None


def shannon_efficiency(counts, *, vocab_size: int | None = None) -> float | None:
    """H / log2 |V|, |V| the distinct tokens observed unless `vocab_size` is given (None when |V| = 1)."""
    return _efficiency(shannon_entropy(counts), counts, vocab_size)


def renyi_efficiency(counts, *, alpha: float = DEFAULT_ALPHA, vocab_size: int | None = None) -> float | None:
    """H_alpha / log2 |V| (Zouhar et al. 2023), |V| as in `shannon_efficiency`; 2.5 is the paper's alpha."""
    return _efficiency(renyi_entropy(counts, alpha=alpha), counts, vocab_size)


def conditional_entropy(sequences: Iterable[Sequence[int]]) -> float | None:
    """H(X_t | X_t-1) in bits: the entropy of a token given the one before it, from bigram counts within
    each sequence (H of the pairs minus H of their first tokens). None when no sequence has two tokens."""
    arrays = [np.asarray(s) for s in sequences]
    if any(a.ndim != 1 for a in arrays):
        raise ValueError("conditional entropy takes a list of token sequences (lists of ids), one per text")
    for a in arrays:
        if a.size and (a.dtype.kind not in "iu" or int(a.min()) < 0 or int(a.max()) >= 1 << 31):
            found = next(i for i in a.tolist()
                         if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < 1 << 31)
            raise ValueError(f"conditional entropy takes token ids from 0 to 2**31 - 1; found {found!r} "
                             "(padding such as -100 must go first)")
    arrays = [a.astype(np.int64) for a in arrays]
    if not any(len(a) > 1 for a in arrays):
        return None
    ids = np.concatenate(arrays)
    # one int64 per adjacent pair (first id in the high 32 bits); pairs that straddle two sequences go
    keys = (ids[:-1] << 32) | ids[1:]
    straddling = np.cumsum([len(a) for a in arrays])[:-1] - 1
    keys = np.delete(keys, straddling[(straddling >= 0) & (straddling < len(keys))])
    _, pair_counts = np.unique(keys, return_counts=True)
    _, first_counts = np.unique(keys >> 32, return_counts=True)
    return max(shannon_entropy(pair_counts) - shannon_entropy(first_counts), 0.0)


def vocabulary_utilisation(types: int, vocab_size: int) -> float:
    """Share of the vocabulary that a text uses at least once."""
    if vocab_size <= 0 or not 0 <= types <= vocab_size:
        raise ValueError(f"{types} distinct tokens cannot be used out of a vocabulary of {vocab_size}")
    return types / vocab_size


def entropy_profile(counts, *, alpha: float = DEFAULT_ALPHA, vocab_size: int, full_vocab: bool = False,
                    sequences: Iterable[Sequence[int]] | None = None) -> dict:
    """All unigram measures of one token distribution (and the bigram one when `sequences` are given).

    `vocab_size` is the tokenizer's, for utilisation; efficiencies divide by it only with `full_vocab`.
    """
    counts = np.asarray(list(counts.values()) if isinstance(counts, Mapping) else counts)  # a Counter too
    types = int((counts > 0).sum())
    denominator = vocab_size if full_vocab else None
    profile = {
        "types": types,
        "shannon_entropy": shannon_entropy(counts),
        "shannon_efficiency": shannon_efficiency(counts, vocab_size=denominator),
        "renyi_entropy": renyi_entropy(counts, alpha=alpha),
        "renyi_efficiency": renyi_efficiency(counts, alpha=alpha, vocab_size=denominator),
        "utilisation": vocabulary_utilisation(types, vocab_size),
    }
    if sequences is not None:
        profile["conditional_entropy"] = conditional_entropy(sequences)
    return profile
