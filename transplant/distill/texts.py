"""The distillation corpus as an endless, seeded stream of training texts, and batches of both tokenizations.

The corpus is streamed (never held in memory): it is cut into small shards (64 KiB, at paragraph ends)
that are read in a seeded random order, so that a short run sees text from across the whole corpus, not
its first documents; paragraphs are joined into texts of about `text_chars` characters, a long one is cut
at a space, and a seeded shuffle buffer mixes neighbouring texts. The
stream is a pure function of the corpus and the seed, so a resumed run replays it to where it stopped
and sees exactly the texts an uninterrupted run would have seen. At the corpus's end it starts again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tokwork.corpus import expand_corpus_paths, shard_texts
from tokwork.errors import CorpusError
from tokwork.shards import plan_shards
from tokwork.transplant.distill.chunks import align_chunks, offsets_before_spaces, token_byte_ends
from tokwork.transplant.distill.packing import pack_rows

SHUFFLE_BUFFER = 256
STREAM_SHARD_BYTES = 1 << 16
MIN_TEXT_CHARS = 16


def _cut(block: str, text_chars: int) -> Iterator[str]:
    """Pieces of `block` of at most about `text_chars` characters, cut just after a space where possible."""
    while len(block) > text_chars * 3 // 2:
        cut = block.rfind(" ", text_chars // 2, text_chars) + 1 or text_chars
        yield block[:cut]
        block = block[cut:]
    yield block


def training_texts(corpus: Sequence[str | Path], *, text_chars: int, seed: int,
                   text_field: str = "text") -> Iterator[str]:
    """Texts of about `text_chars` characters from `corpus` (`.jsonl` records' `text_field`), shuffled in a
    seeded buffer, without end."""
    rng = np.random.default_rng([seed, 7])
    shards = plan_shards(expand_corpus_paths(corpus), shard_bytes=STREAM_SHARD_BYTES)
    pool: list[str] = []
    while True:
        yielded = 0
        blocks = (block for number in rng.permutation(len(shards))
                  for block in shard_texts(shards[number], text_field=text_field, block_chars=text_chars))
        for block in blocks:
            for text in _cut(block, text_chars):
                if len(text.strip()) < MIN_TEXT_CHARS:
                    continue
                pool.append(text)
                if len(pool) >= SHUFFLE_BUFFER:
                    yielded += 1
                    yield pool.pop(int(rng.integers(len(pool))))
        if not yielded and not pool:
            raise CorpusError(f"the distillation corpus holds no text of {MIN_TEXT_CHARS} characters or more")
        while pool and not yielded:  # a corpus smaller than the buffer: serve what there is, then go round
            yielded += 1
            yield pool.pop(int(rng.integers(len(pool))))


@dataclass
class Side:
    """One model's view of a batch: ids in rows (each text with its leading bos/eos), mask, and chunk of each
    target. A row holds one text, padded, or several texts packed one after another (`segments` set)."""

    ids: torch.Tensor  # (rows, length) int64
    mask: torch.Tensor  # (rows, length - 1) float: 1 where the target is a real token of the same text
    chunks: torch.Tensor  # (rows * (length - 1),) int64 chunk of each target; padding -> the dummy chunk
    positions: torch.Tensor | None = None  # (rows, length) each token's position in its own text, when packed
    segments: torch.Tensor | None = None  # (rows, length) which text of its row each token is (padding: -1)

    def to(self, device: torch.device) -> Side:
        return Side(*(None if t is None else t.to(device)
                      for t in (self.ids, self.mask, self.chunks, self.positions, self.segments)))


@dataclass
class Batch:
    """A batch of texts as the teacher and the student see it, with their shared chunks."""

    teacher: Side
    student: Side
    chunks: int  # real chunks in the batch; index `chunks` is the dummy that collects padding
    valid: torch.Tensor  # (chunks,) bool: chunks both models score (all, when both have a prefix token)
    nbytes: int

    def to(self, device: torch.device) -> Batch:
        return Batch(self.teacher.to(device), self.student.to(device), self.chunks, self.valid.to(device),
                     self.nbytes)


def _prefix(tokenizer) -> int | None:
    specials = tokenizer.specials
    return specials.bos if specials.bos is not None else specials.eos


def _side(rows: list[list[int]], chunk_rows: list[np.ndarray], offsets: list[int], dummy: int, pad: int,
          prefix: int | None, pack: bool, one_row: bool) -> Side:
    sequences = [row if prefix is None else [prefix, *row] for row in rows]
    if not pack:
        layout = [[i] for i in range(len(sequences))]
    elif one_row:
        layout = [list(range(len(sequences)))]
    else:
        layout = pack_rows([len(s) for s in sequences])
    packed = any(len(texts) > 1 for texts in layout)
    length = max(sum(len(sequences[i]) for i in texts) for texts in layout)
    ids = torch.full((len(layout), length), pad, dtype=torch.int64)
    mask = torch.zeros((len(layout), length - 1))
    chunks = torch.full((len(layout), length - 1), dummy, dtype=torch.int64)
    positions = torch.zeros((len(layout), length), dtype=torch.int64) if packed else None
    segments = torch.full((len(layout), length), -1, dtype=torch.int64) if packed else None
    for r, texts in enumerate(layout):
        start = 0
        for segment, b in enumerate(texts):
            full, end = sequences[b], start + len(sequences[b])
            ids[r, start:end] = torch.tensor(full)
            if packed:
                positions[r, start:end] = torch.arange(len(full))
                segments[r, start:end] = segment
            scored = chunk_rows[b][1:] if prefix is None else chunk_rows[b]  # no prefix: the first token unscored
            mask[r, start:end - 1] = 1.0
            chunks[r, start:end - 1] = torch.from_numpy(scored + offsets[b])
            start = end
    return Side(ids, mask, chunks.reshape(-1), positions, segments)


def make_batch(texts: list[str], teacher, student, *, space_chunks: bool = False, pack: bool = True,
               one_row: bool = False) -> Batch:
    """Tokenize `texts` with both tokenizers, align their chunks, and pad everything into tensors.

    With `space_chunks`, chunks end only where a space follows, and each text's last chunk (which no
    space follows) is left out of `valid`. With `pack`, each side's texts are packed into rows
    (`packing.pack_rows`) instead of one padded row each; with `one_row` as well, all into one row, no
    padding at all (for models that attend one text at a time: `segment_attention.py`).
    """
    teacher_rows, student_rows, teacher_chunks, student_chunks, offsets = [], [], [], [], []
    total = 0
    for text in texts:
        t_ids, s_ids = teacher.encode(text), student.encode(text)
        cuts = offsets_before_spaces(text) if space_chunks else None
        alignment = align_chunks(token_byte_ends(teacher, t_ids, text), token_byte_ends(student, s_ids, text),
                                 cut_only_at=cuts)
        teacher_rows.append(t_ids)
        student_rows.append(s_ids)
        teacher_chunks.append(alignment.teacher_chunks)
        student_chunks.append(alignment.student_chunks)
        offsets.append(total)
        total += alignment.count
    valid = torch.ones(total, dtype=torch.bool)
    if _prefix(teacher) is None or _prefix(student) is None:
        valid[offsets] = False  # its first token is not predicted by one of the models
    if space_chunks:
        valid[[offset - 1 for offset in offsets[1:]] + [total - 1]] = False  # no space follows a text's end
    pads = [t.specials.pad if t.specials.pad is not None else 0 for t in (teacher, student)]
    teacher_side = _side(teacher_rows, teacher_chunks, offsets, total, pads[0], _prefix(teacher), pack, one_row)
    student_side = _side(student_rows, student_chunks, offsets, total, pads[1], _prefix(student), pack, one_row)
    return Batch(teacher=teacher_side, student=student_side,
                 chunks=total, valid=valid, nbytes=sum(len(t.encode("utf-8")) for t in texts))
