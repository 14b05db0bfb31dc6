"""Information-theoretic views of a tokenization: entropy, Rényi efficiency, bigram entropy, utilisation.

Following Zouhar et al. 2023, "Tokenization and the noiseless channel": a tokenizer is a channel whose
symbols are tokens; its unigram distribution's Shannon entropy H, and the Rényi entropy
H_a = log2(sum p^a) / (1 - a), divided by log2 |V|, say how evenly it uses its symbols (efficiency). The
published scorer (`tokenization-scorer`) takes |V| as the number of distinct tokens observed and log base 2;
`vocab_size` replaces that with the full vocabulary. Every function takes counts, so results pool exactly
by adding counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Sequence

import numpy as np

DEFAULT_ALPHA = 2.5
MEASURES = ("types", "shannon_entropy", "shannon_efficiency", "renyi_entropy", "renyi_efficiency", "utilisation",
            "conditional_entropy")


def token_counts(tokens: Iterable[Hashable]) -> np.ndarray:
    """Counts of each distinct token in a stream (tokens as written: `@@ed` and `ed` are different)."""
    return np.fromiter(Counter(tokens).values(), dtype=np.int64)


def _probabilities(counts) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    counts = counts[counts > 0]
    if counts.size == 0:
        raise ValueError("entropy of an empty token stream")
    return counts / counts.sum()


def shannon_entropy(counts) -> float:
    """Shannon entropy in bits of the distribution the counts give."""
    p = _probabilities(counts)
    return float(-(p * np.log2(p)).sum())


def renyi_entropy(counts, *, alpha: float = DEFAULT_ALPHA) -> float:
    """Rényi entropy of order `alpha` in bits (Shannon's at alpha = 1, log2 of the types at alpha = 0)."""
    p = _probabilities(counts)
    if alpha == 1:
        return shannon_entropy(counts)
    return float(np.log2((p ** alpha).sum()) / (1 - alpha))


def _efficiency(entropy: float, counts, vocab_size: int | None) -> float | None:
    size = vocab_size if vocab_size is not None else int((np.asarray(counts) > 0).sum())
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
    arrays = [np.asarray(s, dtype=np.int64) for s in sequences]
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
    return types / vocab_size if vocab_size else 0.0


def entropy_profile(counts, *, alpha: float = DEFAULT_ALPHA, vocab_size: int, full_vocab: bool = False,
                    sequences: Iterable[Sequence[int]] | None = None) -> dict:
    """All unigram measures of one token distribution (and the bigram one when `sequences` are given).

    `vocab_size` is the tokenizer's, for utilisation; efficiencies divide by it only with `full_vocab`.
    """
    counts = np.asarray(counts)
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
