"""Vocabulary alignment: which target token is which source token, read through the byte view.

Two tokenizers spell the same bytes differently (`Ġthe` in GPT-2's alphabet, `▁the` in SentencePiece's,
`<0x41>` as a byte-fallback piece), so tokens are matched on the bytes they stand for, never on their
stored strings. Special tokens stand for no bytes; they are matched by role (bos, eos, pad, unk) first, and a
special whose role the source does not name, or that has no role, matches a source special of the same name. Rows a model has beyond its tokenizer
(padding to a multiple of 64, say) are not tokens: they are never used as anchors and are carried over
to the new matrix as they are.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np

from tokwork.errors import TokworkError
from tokwork.tokenizer import Tokenizer


class Match(enum.IntEnum):
    """How a target token found its source row."""

    NEW = 0  # no source token has its bytes: a method must make its row
    EXACT = 1  # same bytes and same stored string
    BYTES = 2  # same bytes, spelled differently (`Ġx` vs `▁x`, `<0x41>` vs `A`)
    SPECIAL = 3  # a special token matched by role, or by name when it has no role


@dataclass(frozen=True)
class AlignmentReport:
    """Counts of an alignment, for the CLI summary and the transplant card."""

    target_vocab: int
    source_vocab: int
    exact: int
    bytes: int
    special: int
    new: int
    padding_rows: int
    new_examples: tuple[str, ...]

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Alignment:
    """For every target id, the source id whose row it takes (-1 for new tokens) and how it matched.

    `source_rows` is the number of rows in the source model's embedding matrix; rows at or beyond the
    source tokenizer's vocabulary are padding, kept after the target's rows (`padding_source_ids`).
    """

    source: Tokenizer
    target: Tokenizer
    source_ids: np.ndarray  # int64, one per target id; -1 where the token is new
    kinds: np.ndarray  # uint8 `Match` per target id
    source_rows: int

    @property
    def target_vocab(self) -> int:
        return len(self.source_ids)

    @cached_property
    def padding_source_ids(self) -> np.ndarray:
        """Source rows beyond the source tokenizer's vocabulary (model padding), in order."""
        return np.arange(self.source.vocab_size, self.source_rows, dtype=np.int64)

    @property
    def target_rows(self) -> int:
        """Rows of the new matrices: the target vocabulary, then the source's padding rows."""
        return self.target_vocab + len(self.padding_source_ids)

    @cached_property
    def shared_target_ids(self) -> np.ndarray:
        """Target ids that have a source row (exact, byte or special matches)."""
        return np.flatnonzero(self.source_ids >= 0)

    @cached_property
    def shared_source_ids(self) -> np.ndarray:
        """The source ids of `shared_target_ids`, position by position."""
        return self.source_ids[self.shared_target_ids]

    @cached_property
    def anchor_target_ids(self) -> np.ndarray:
        """Shared target ids that stand for bytes: the dictionary that OMP and hybrid draw on."""
        view = self.target.byte_view
        return np.array([i for i in self.shared_target_ids if view[int(i)] is not None], dtype=np.int64)

    @cached_property
    def new_ids(self) -> np.ndarray:
        """Target ids no source token matches: the rows a method must make."""
        return np.flatnonzero(self.source_ids < 0)

    @cached_property
    def new_pieces(self) -> dict[int, tuple[int, ...]]:
        """For each new target token that stands for bytes, the source ids that spell the same bytes.

        The source tokenizer's own encoding is used where the bytes are text and it spells them exactly
        (that is what the model saw); otherwise the fewest source tokens that cover the bytes, found by
        dynamic programming over the source byte view. Bytes no source token holds are left out.
        """
        view = self.target.byte_view
        ids = [int(i) for i in self.new_ids if view[int(i)] is not None]
        texts = [view[i].decode("utf-8", "replace") for i in ids]
        encoded = self.source.encode_batch(texts)
        source_view = self.source.byte_view
        pieces: dict[int, tuple[int, ...]] = {}
        for token_id, text, candidate in zip(ids, texts, encoded, strict=True):
            spelled = [source_view[i] for i in candidate]
            if (text.encode("utf-8") == view[token_id] and None not in spelled
                    and b"".join(spelled) == view[token_id] and max(candidate, default=-1) < self.source_rows):
                pieces[token_id] = tuple(candidate)
            else:
                pieces[token_id] = _fewest_pieces(view[token_id], self._source_lookup)
        return pieces

    @cached_property
    def _source_lookup(self) -> dict[bytes, int]:
        table: dict[bytes, int] = {}
        for piece, ids in self.source.byte_view.ids_by_bytes().items():
            usable = [i for i in ids if i < self.source_rows]
            if usable:
                table[piece] = usable[0]
        return table

    def report(self, *, examples: int = 8) -> AlignmentReport:
        """Counts of exact, byte, special and unmatched tokens, with a few unmatched ones to look at."""
        counts = np.bincount(self.kinds, minlength=len(Match))
        readable = []
        for token_id in self.new_ids:
            piece = self.target.byte_view[int(token_id)]
            try:
                readable.append(repr(piece.decode("utf-8")) if piece is not None
                                else str(self.target.id_to_token(int(token_id))))
            except UnicodeDecodeError:
                continue  # part of a character: says little to a reader
        step = max(1, len(readable) // examples)
        shown = readable[::step][:examples]
        return AlignmentReport(
            target_vocab=self.target_vocab, source_vocab=self.source.vocab_size,
            exact=int(counts[Match.EXACT]), bytes=int(counts[Match.BYTES]), special=int(counts[Match.SPECIAL]),
            new=int(counts[Match.NEW]), padding_rows=len(self.padding_source_ids), new_examples=tuple(shown),
        )


def _fewest_pieces(data: bytes, lookup: dict[bytes, int], *, longest: int = 64) -> tuple[int, ...]:
    """The fewest source tokens whose bytes concatenate to `data`, skipping as few bytes (that no source
    token holds) as possible first."""
    size = len(data)
    best = [(0, 0)] + [(size + 1, 0)] * size  # best[i]: (bytes skipped, pieces) to spell data[:i]
    back: list[tuple[int, int | None]] = [(0, None)] * (size + 1)
    for end in range(1, size + 1):
        skipped, count = best[end - 1]
        best[end], back[end] = (skipped + 1, count), (end - 1, None)
        for start in range(max(0, end - longest), end):
            token = lookup.get(data[start:end])
            if token is not None and (best[start][0], best[start][1] + 1) < best[end]:
                best[end], back[end] = (best[start][0], best[start][1] + 1), (start, token)
    pieces = []
    end = size
    while end > 0:
        start, token = back[end]
        if token is not None:
            pieces.append(token)
        end = start
    return tuple(reversed(pieces))


# A target special that plays several roles (GPT-2's <|endoftext|> is bos, eos and unk) takes the row of
# the source's special of the first role here: eos first, so that generation stops where the source model
# stops (SmolLM2-Instruct puts 0.85 on its eos <|im_end|> where its answer ends, 4e-6 on <|endoftext|>).
ROLE_ORDER = ("eos", "bos", "pad", "unk")


def _special_match(source: Tokenizer, target: Tokenizer, token_id: int, source_by_role: dict[str, int],
                   source_specials_by_name: dict[str, int]) -> int | None:
    """The source row for a target special: the source special with the same role (eos, bos, pad, unk in
    that order) when the source names one, else the source special with the same string."""
    roles = [role for role, i in target.specials.as_json().items() if i == token_id]
    for role in ROLE_ORDER:
        if role in roles and role in source_by_role:
            return source_by_role[role]
    return source_specials_by_name.get(str(target.id_to_token(token_id)))


def align_vocabularies(source: Tokenizer, target: Tokenizer, *, source_rows: int | None = None) -> Alignment:
    """Match every target token to a source token through the byte view, specials by role.

    `source_rows` is the height of the source model's embedding matrix (default: the source vocabulary);
    source ids at or beyond it have no row and are never matched. Among several source ids with the same
    bytes, the one with the same stored string wins (an exact match), else the lowest id.
    Raises `TokworkError` when the source model has fewer rows than its tokenizer has tokens with bytes.
    """
    source_rows = source.vocab_size if source_rows is None else source_rows
    source_view, target_view = source.byte_view, target.byte_view
    by_bytes = source_view.ids_by_bytes()
    if any(ids[-1] >= source_rows for ids in by_bytes.values()):
        raise TokworkError(
            f"the source model has {source_rows} embedding rows but its tokenizer has {source.vocab_size} "
            "tokens; the tokenizer does not belong to this model"
        )
    source_by_role = {role: i for role, i in source.specials.as_json().items() if i is not None and i < source_rows}
    source_specials_by_name = {str(source.id_to_token(i)): i for i in source_view.special_ids() if i < source_rows}
    source_ids = np.full(target.vocab_size, -1, dtype=np.int64)
    kinds = np.zeros(target.vocab_size, dtype=np.uint8)
    for token_id in range(target.vocab_size):
        piece = target_view[token_id]
        if piece is None:
            match = _special_match(source, target, token_id, source_by_role, source_specials_by_name)
            if match is not None:
                source_ids[token_id], kinds[token_id] = match, Match.SPECIAL
            continue
        candidates = by_bytes.get(piece)
        if not candidates:
            continue
        name = target.id_to_token(token_id)
        exact = next((i for i in candidates if source.id_to_token(i) == name), None)
        if exact is not None:
            source_ids[token_id], kinds[token_id] = exact, Match.EXACT
        else:
            source_ids[token_id], kinds[token_id] = candidates[0], Match.BYTES
    return Alignment(source=source, target=target, source_ids=source_ids, kinds=kinds, source_rows=source_rows)
