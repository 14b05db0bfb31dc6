"""What comes next, as the same events for two tokenizers: groups of the student's first pieces.

At a shared boundary both models have read the same bytes and each gives a probability to every token
that could come next. Where the two vocabularies differ, "token t comes next" is not the same event for
both: the teacher writes " unbelievable" whole where the student writes " un" + "believable", so the
student's " un" should carry the teacher's mass of " unbelievable" (and of every other word the student
begins with " un"); the student writes " theory" whole where the teacher writes " the" + "ory", so the
teacher's " the" holds mass that the student keeps on " theory". This module maps both vocabularies onto
groups of student tokens such that a group means the same continuations for both models:

- a teacher token goes to the group of the student's first piece of its bytes (what the student would
  begin that text with);
- a student token goes to its own group;
- a student token the teacher lacks is joined with the group of the teacher's first piece of it (where
  the teacher keeps that text's mass), so that " theory" and " the" share a group.

Groups are sets of student tokens joined by these links (connected components); most hold one token. Mapping each
model's next-token distribution onto them gives two distributions over the same outcomes (up to how
each model would go on after a cut inside a word): the `first-pieces` side loss compares them, so the
student learns to give a short piece the mass of the longer tokens it stands for.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def _longest_start(piece: bytes, own: dict[bytes, int]) -> int:
    for end in range(len(piece), 0, -1):
        if piece[:end] in own:
            return own[piece[:end]]
    return -1


def _first_pieces(pieces: list[bytes | None], encode: Callable[[list[str]], list[list[int]]],
                  own: dict[bytes, int], own_pieces: list[bytes | None]) -> np.ndarray:
    """For each piece, the id of the first token another tokenizer (`own`: its tokens by bytes,
    `own_pieces`: its bytes by id) writes it with (-1: none).

    Pieces that are whole UTF-8 text are encoded; a piece that is part of a character (a byte-level
    token), or whose encoding does not begin with its own bytes (a SentencePiece model adds a space in
    front), takes the longest token of the other vocabulary that begins it, as a byte-level BPE would."""
    first = np.full(len(pieces), -1, dtype=np.int64)
    texts, where = [], []
    for i, piece in enumerate(pieces):
        if not piece:
            continue
        try:
            texts.append(piece.decode("utf-8"))
            where.append(i)
        except UnicodeDecodeError:
            first[i] = _longest_start(piece, own)
    for i, ids in zip(where, encode(texts), strict=True):
        start = own_pieces[ids[0]] if ids and 0 <= ids[0] < len(own_pieces) else None
        first[i] = ids[0] if start and pieces[i].startswith(start) else _longest_start(pieces[i], own)
    return first


def first_piece_groups(teacher_tokenizer, student_tokenizer, rows: tuple[int, int],
                       ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Group ids for the teacher's and the student's output rows (`rows`: how many each model has), and
    the number of groups. Rows that stand for no bytes (special tokens, padding rows) share one extra
    group, the last, so that both distributions keep their whole mass."""
    teacher_pieces = list(teacher_tokenizer.byte_view.pieces(range(min(rows[0], teacher_tokenizer.vocab_size))))
    student_pieces = list(student_tokenizer.byte_view.pieces(range(min(rows[1], student_tokenizer.vocab_size))))
    teacher_own = {p: i for i, p in enumerate(teacher_pieces) if p}
    student_own = {p: i for i, p in enumerate(student_pieces) if p}

    def encoder(tokenizer):
        return lambda texts: tokenizer.encode_batch(texts) if texts else []

    student_first_of_teacher = _first_pieces(teacher_pieces, encoder(student_tokenizer), student_own,
                                             student_pieces)
    missing = [i for i, p in enumerate(student_pieces) if p and p not in teacher_own]
    teacher_first_of_missing = _first_pieces([student_pieces[i] for i in missing], encoder(teacher_tokenizer),
                                             teacher_own, teacher_pieces)
    linked = np.flatnonzero(teacher_first_of_missing >= 0)
    joined = student_first_of_teacher[teacher_first_of_missing[linked]]
    keep = joined >= 0
    edges = (np.asarray(missing, dtype=np.int64)[linked][keep], joined[keep])
    size = len(student_pieces)
    graph = coo_matrix((np.ones(len(edges[0])), edges), shape=(size, size))
    _, components = connected_components(graph, directed=False)
    has_bytes = np.array([bool(p) for p in student_pieces])
    names, dense = np.unique(components[has_bytes], return_inverse=True)
    other = len(names)
    student_group = np.full(rows[1], other, dtype=np.int64)
    student_group[np.flatnonzero(has_bytes)] = dense
    teacher_group = np.full(rows[0], other, dtype=np.int64)
    mapped = np.flatnonzero(student_first_of_teacher >= 0)
    teacher_group[mapped] = student_group[student_first_of_teacher[mapped]]
    return torch.from_numpy(teacher_group), torch.from_numpy(student_group), other + 1


def group_logprobs(logits: torch.Tensor, groups: torch.Tensor, count: int) -> torch.Tensor:
    """Log-probability of each group as the next outcome, from next-token logits (rows, vocabulary);
    shape (rows, count). Float32 throughout; a group without mass gets log(1e-30), not -inf."""
    probabilities = torch.softmax(logits.float(), -1)
    summed = torch.zeros(logits.shape[0], count, dtype=probabilities.dtype, device=logits.device)
    summed = summed.index_add(1, groups.to(logits.device), probabilities)
    return summed.clamp(min=1e-30).log()

