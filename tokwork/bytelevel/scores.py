"""What `ByteLM`'s scoring returns: every byte's normalised log-probability (`ByteScores`) or one text's
probability (`TextScore`), each with its certified bound and its cost."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ByteScores:
    """Per-byte scores of a text: normalised log P(byte | preceding bytes), natural log.

    `bounds[i]` is the certified largest absolute error of `logprobs[i]` and of every probability in
    `distributions[i]` (0 where nothing was pruned); `logprob_bound` that of `logprob`.
    """

    logprobs: np.ndarray
    logprob: float  # log P(prompt·text) - log P(prompt): the cover sum, not normalised
    distributions: np.ndarray | None = None  # [n, 257] normalised next-byte distributions, if asked
    stats: dict = field(default_factory=dict)
    bounds: np.ndarray | None = None
    logprob_bound: float = 0.0

    @property
    def bits_per_byte(self) -> float:
        return float(-self.logprobs.sum() / np.log(2) / max(len(self.logprobs), 1))

    @property
    def bound(self) -> float:
        """The largest per-byte bound: no returned log-probability or probability is further off."""
        return float(self.bounds.max()) if self.bounds is not None and len(self.bounds) else 0.0

    @property
    def bits_per_byte_bound(self) -> float:
        """Largest absolute error of `bits_per_byte` (the per-byte bounds add up)."""
        if self.bounds is None or not len(self.bounds):
            return 0.0
        return float(self.bounds.sum() / np.log(2) / len(self.bounds))


@dataclass
class TextScore:
    """The byte-level log-probability of a whole text after a prompt (natural log; the cover sum: the
    chance that the model's bytes start with the text, over the tokenizer's encodings of its prefixes each
    followed by any token that finishes it, not only the encoding of the whole text), its certified bound
    (the sum can only be too low, by at most that much) and what it cost (`stats`)."""

    logprob: float
    bound: float
    bytes: int
    stats: dict = field(default_factory=dict)

    @property
    def bits_per_byte(self) -> float:
        return float(-self.logprob / np.log(2) / max(self.bytes, 1))

    @property
    def bits_per_byte_bound(self) -> float:
        """Largest absolute error of `bits_per_byte`."""
        return float(self.bound / np.log(2) / max(self.bytes, 1))
