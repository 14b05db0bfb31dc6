"""Aligned chunks: the byte spans of a text on which two tokenizations agree about where tokens end.

Two tokenizers cut the same text at different places; wherever both have a token boundary, the
likelihood each model gives to the bytes between two such places is the probability of the same event
(those bytes, given the same preceding bytes), so the two can be compared. Boundaries are read through
the byte view, so any pair of tokenizers tokwork can transplant between can be aligned: byte-level BPE,
SentencePiece with byte fallback (a character split into bytes), a dummy-prefix space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tokwork.errors import TokworkError


class AlignmentError(TokworkError):
    """A text's tokens do not spell it byte for byte, so no chunk of it can be compared."""


def token_byte_ends(tokenizer, ids: list[int], text: str) -> np.ndarray:
    """Where each token of `ids` ends, as a byte offset into `text` encoded as UTF-8.

    `ids` must be `tokenizer.encode(text)`. A dummy-prefix space that the tokenizer adds in front of the
    text belongs to no byte of the text: the first token's end is shifted back by one. Raises
    `AlignmentError` when the tokens do not spell the text (a normaliser changed it, say).
    """
    view = tokenizer.byte_view
    lengths = np.fromiter((len(view[i] or b"") for i in ids), dtype=np.int64, count=len(ids))
    ends = np.cumsum(lengths)
    data = text.encode("utf-8")
    spelled = view.join(i for i in ids if view[i] is not None)
    if view.strips_leading_space and spelled == b" " + data:
        ends = np.maximum(ends - 1, 0)
    elif spelled != data:
        raise AlignmentError(
            f"the tokens of '{getattr(tokenizer, 'source', None) or 'a tokenizer'}' do not spell the text "
            f"{text[:40]!r}... byte for byte (its normaliser changes it), so no chunk of it can be aligned "
            "with the other model's; distill on text the tokenizer keeps as it is"
        )
    return ends


@dataclass(frozen=True)
class ChunkAlignment:
    """The shared boundaries of one text and, for each token on either side, the chunk it falls in.

    `boundaries` are the byte offsets where both tokenizations end a token (the text's end included, its
    start excluded); chunk `c` is the bytes between `boundaries[c-1]` (0 for the first) and `boundaries[c]`.
    """

    boundaries: np.ndarray
    teacher_chunks: np.ndarray  # chunk index of every teacher token
    student_chunks: np.ndarray  # chunk index of every student token

    @property
    def count(self) -> int:
        return len(self.boundaries)

    def spans(self) -> list[tuple[int, int]]:
        """Each chunk as (start, end) byte offsets."""
        starts = np.concatenate([[0], self.boundaries[:-1]])
        return [(int(s), int(e)) for s, e in zip(starts, self.boundaries, strict=True)]


def align_chunks(teacher_ends: np.ndarray, student_ends: np.ndarray,
                 cut_only_at: np.ndarray | None = None) -> ChunkAlignment:
    """Align two tokenizations of one text, given where each token ends (`token_byte_ends`).

    A token belongs to the chunk in which it ends (a lone dummy-prefix token, of no bytes, to the first
    chunk). Every chunk holds at least one token of each side. With `cut_only_at` (byte offsets), chunks
    end only at shared boundaries among those offsets and at the text's end (the last token's end).
    """
    boundaries = np.intersect1d(teacher_ends[teacher_ends > 0], student_ends[student_ends > 0])
    if cut_only_at is not None and len(boundaries):
        boundaries = np.union1d(np.intersect1d(boundaries, cut_only_at), boundaries[-1:])
    return ChunkAlignment(boundaries=boundaries,
                          teacher_chunks=np.searchsorted(boundaries, teacher_ends, side="left"),
                          student_chunks=np.searchsorted(boundaries, student_ends, side="left"))


def offsets_before_spaces(text: str) -> np.ndarray:
    """Byte offsets of `text` (UTF-8) that a space byte follows: where a chunk may end in `space` mode."""
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    return np.flatnonzero(data == 0x20)
