"""Held-out bits per byte during a distillation: where the student stands between its start and its teacher.

A run given held-out text (text it never trains on) scores the teacher once, with the teacher's own
tokenizer, and the student when the run starts and then every `eval_every` steps, in bits per byte
(`tokwork.transplant.evaluate`, comparable across the two tokenizers; pooled over the texts). The teacher's
figure is the floor that matching it can reach; the share of the start's gap to it that is gone ("gap
closed") is what a user of a distillation watches, and what decides when it has run long enough.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tokwork.corpus import expand_corpus_paths
from tokwork.errors import ParameterError
from tokwork.transplant.evaluate import bits_per_byte, read_texts

WINDOW = 1024  # tokens a scoring window holds (`tokwork eval`'s default)


def texts_digest(texts: dict[str, str]) -> str:
    """A fingerprint of named texts: a resumed run scored on other texts starts a new track."""
    digest = hashlib.sha256()
    for name in sorted(texts):
        for part in (name, texts[name]):
            data = part.encode("utf-8")
            digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def read_heldout(paths: Sequence[str | Path], corpus: Sequence[str | Path]) -> dict[str, str]:
    """The held-out texts at `paths` (files or folders, one text a file), refused when one of them is also
    among the training files of `corpus`: a score on trained text says nothing about held-out text."""
    files = expand_corpus_paths(paths, role="held-out text")
    training = {path.resolve() for path in expand_corpus_paths(corpus)}
    for path in files:
        if path.resolve() in training:
            raise ParameterError(f"held-out text '{path}' is also training text (--corpus); hold out text "
                                 "the run never trains on")
    return read_texts(files)


def pooled_bits_per_byte(model, tokenizer, texts: dict[str, str]) -> float:
    """Bits per byte of `model` over all `texts` together (total bits over total bytes)."""
    return bits_per_byte(model, tokenizer, texts, window=WINDOW).total.bits_per_byte


@dataclass
class HeldoutTrack:
    """The teacher's held-out bits per byte and the student's at the steps it was scored, oldest first."""

    texts: dict[str, int]  # name -> UTF-8 bytes
    digest: str
    teacher: float
    scores: list[dict] = field(default_factory=list)  # {"step", "bits_per_byte", "gap_closed"}

    @property
    def start(self) -> dict:
        """The first score: the student before the run's first step."""
        return self.scores[0]

    @property
    def best(self) -> dict:
        """The lowest score (the earliest of equal ones)."""
        return min(self.scores, key=lambda score: (score["bits_per_byte"], score["step"]))

    def gap_closed(self, bits: float) -> float | None:
        """The share (0-1; above 1 past the teacher) of the first score's gap to the teacher gone at
        `bits`; None when the first score was already at or below the teacher's."""
        gap = self.start["bits_per_byte"] - self.teacher
        return (self.start["bits_per_byte"] - bits) / gap if gap > 0 else None

    def add(self, step: int, bits: float) -> dict:
        """Record the student's figure after `step` steps (replacing one at that step) and return it."""
        self.scores = [s for s in self.scores if s["step"] != step]
        score = {"step": step, "bits_per_byte": round(bits, 6)}
        self.scores.append(score)
        closed = self.gap_closed(bits)
        score["gap_closed"] = None if closed is None else round(closed, 4) + 0.0  # no -0.0
        return score

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> HeldoutTrack | None:
        return None if data is None else cls(**data)


def start_track(teacher, teacher_tokenizer, texts: dict[str, str]) -> HeldoutTrack:
    """A new track for `texts`: the teacher scored, no student score yet."""
    return HeldoutTrack(texts={name: len(text.encode("utf-8")) for name, text in texts.items()},
                        digest=texts_digest(texts),
                        teacher=round(pooled_bits_per_byte(teacher, teacher_tokenizer, texts), 6))


def describe(track: HeldoutTrack, score: dict) -> str:
    """One line for a score: its bits per byte, the teacher's and the share of the gap closed."""
    closed = "" if score["gap_closed"] is None else f"; {100 * score['gap_closed']:.0f}% of the gap closed"
    return (f"{score['bits_per_byte']:.4f} bits/byte at step {score['step']:,} (teacher "
            f"{track.teacher:.4f}; {track.start['bits_per_byte']:.4f} at step {track.start['step']:,}{closed})")


def short_note(score: dict) -> str:
    """A score as a progress bar's note: bits per byte and the share of the gap closed."""
    closed = "" if score["gap_closed"] is None else f" ({100 * score['gap_closed']:.0f}% of the gap)"
    return f"held-out {score['bits_per_byte']:.4f}{closed}"
