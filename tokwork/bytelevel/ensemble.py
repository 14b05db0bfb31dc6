"""Ensembles of models with different tokenizers, combined where they agree: at the byte level.

Each member is a `ByteLM` with its own tokenizer; the ensemble's next-byte distribution is the weighted
mean of the members' exact next-byte distributions (Phan et al. 2024, "Exact Byte-Level Probabilities from
Tokenized Language Models", use the same byte-level view to ensemble models whose vocabularies differ).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tokwork.bytelevel.bytelm import ByteLM
from tokwork.bytelevel.covers import END
from tokwork.bytelevel.sampling import ByteState
from tokwork.errors import ParameterError, TokworkError


@dataclass
class EnsembleScores:
    """Per-byte log-probabilities (natural log) of the ensemble and of each member on one text."""

    logprobs: np.ndarray
    member_logprobs: list[np.ndarray]

    @staticmethod
    def _bpb(logprobs: np.ndarray) -> float:
        return float(-logprobs.sum() / np.log(2) / max(len(logprobs), 1))

    @property
    def bits_per_byte(self) -> float:
        return self._bpb(self.logprobs)

    @property
    def member_bits_per_byte(self) -> list[float]:
        return [self._bpb(m) for m in self.member_logprobs]


class ByteEnsemble:
    """The weighted mean of several byte-level models' next-byte distributions."""

    def __init__(self, members: Sequence[ByteLM], *, weights: Sequence[float] | None = None):
        if len(members) < 2:
            raise ParameterError("an ensemble needs at least two models")
        weights = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=np.float64)
        if len(weights) != len(members) or (weights < 0).any() or weights.sum() <= 0:
            raise ParameterError("give one non-negative weight per model, not all zero")
        self.members = list(members)
        self.weights = weights / weights.sum()

    def next_byte_probs(self, prefix: bytes) -> np.ndarray:
        """The mixture of the members' next-byte distributions (256 bytes, then end of text)."""
        return sum(w * m.next_byte_probs(prefix) for w, m in zip(self.weights, self.members, strict=True))

    def score(self, text: bytes, *, prompt: bytes = b"",
              progress: Callable[[int], None] | None = None) -> EnsembleScores:
        """log P_ensemble(byte | preceding bytes) for every byte of `text`, with each member's own. The
        members score the text one after another; `progress` is told each window's bytes as a member
        scores it (the text's length times the number of members in all)."""
        text = bytes(text)
        codes = np.frombuffer(text, dtype=np.uint8)
        mixture = np.zeros((len(text), END + 1))
        members = []
        for weight, member in zip(self.weights, self.members, strict=True):
            scores = member.score(text, prompt=prompt, distributions=True, progress=progress)
            mixture += weight * scores.distributions
            members.append(scores.logprobs)
        return EnsembleScores(np.log(mixture[np.arange(len(text)), codes]), members)

    def generate(self, prompt: bytes, max_bytes: int, *, greedy: bool = False, seed: int = 0) -> bytes:
        """Sample (or greedily decode) bytes from the mixture, one exact mixture distribution per byte."""
        states = [ByteState(m, bytes(prompt)) for m in self.members]
        rng = np.random.default_rng(seed)
        out = bytearray()
        while len(out) < max_bytes:
            mixture = np.zeros(END + 1)
            for weight, state in zip(self.weights, states, strict=True):
                masses = state.full_masses()
                if masses.sum() > 0:
                    mixture += weight * masses / masses.sum()
            if mixture.sum() <= 0:
                raise TokworkError("every model gives the text so far probability zero")
            byte = int(np.argmax(mixture)) if greedy else int(rng.choice(END + 1, p=mixture / mixture.sum()))
            if byte == END:
                break
            out.append(byte)
            for state in states:
                state.advance(byte)
        return bytes(out)
