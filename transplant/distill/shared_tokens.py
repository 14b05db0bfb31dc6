"""The tokens whose next-token probabilities two models share: the `side` part of distillation compares them.

At a shared boundary both models have read the same bytes, and each gives a probability to every token
that could come next. For a token t that both vocabularies spell with the same bytes, "the next token is
t" is nearly the same event for both, but not exactly: when one vocabulary has a longer token starting
with t's bytes that the other lacks (GPT-2's " theory" against a vocabulary that writes " the" + "ory"),
the model without it puts that continuation's mass on t, and matching the two would teach the student
to spell the word the other way. So only tokens whose longer extensions are the same in both
vocabularies (every token starting with t's bytes exists on both sides, or on neither) are compared.
"""

from __future__ import annotations

import bisect

import numpy as np
import torch


def _extensions(sorted_pieces: list[bytes], piece: bytes) -> list[bytes]:
    """The pieces of a sorted list that start with `piece` and are longer than it."""
    start = bisect.bisect_right(sorted_pieces, piece)
    end = start
    while end < len(sorted_pieces) and sorted_pieces[end].startswith(piece):
        end += 1
    return sorted_pieces[start:end]


def shared_token_ids(teacher_view, student_view, teacher_of: np.ndarray, rows: tuple[int, int],
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The tokens both vocabularies spell with the same bytes and extend alike, as two aligned id lists
    (the teacher's, the student's). `teacher_of[s]` is the teacher id with student id s's bytes (or -1);
    `rows` are the two models' output rows (ids past them have no probability and are left out)."""
    teacher_pieces = sorted({p for p in teacher_view.pieces(range(rows[0])) if p})
    student_pieces = sorted({p for p in student_view.pieces(range(rows[1])) if p})
    teacher_ids, student_ids = [], []
    for s in np.flatnonzero(teacher_of >= 0).tolist():
        piece = student_view[s]
        if not piece or s >= rows[1] or teacher_of[s] >= rows[0]:
            continue
        if _extensions(teacher_pieces, piece) == _extensions(student_pieces, piece):
            teacher_ids.append(int(teacher_of[s]))
            student_ids.append(s)
    return torch.tensor(teacher_ids, dtype=torch.int64), torch.tensor(student_ids, dtype=torch.int64)
