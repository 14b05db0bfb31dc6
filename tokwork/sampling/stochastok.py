"""StochasTok: random splits of deterministic tokens into pairs of smaller in-vocabulary tokens.

After Sims et al., "StochasTok: Improving Fine-Grained Subword Understanding in LLMs" (2025). The expansion
table lists, for every token, each way its bytes cut into two tokens that are both in the vocabulary.
Encoding first runs the base tokenizer, then repeats `int(len(ids) * p)` times: pick a position of the
current sequence at random; if the token there has splits, replace it by one of them, chosen at random (the
sequence grows as it goes, so split halves can be split again). The bytes never change, so decoding gives
the text back exactly, and every id is a token of the base vocabulary.

The kernel runs the paper's loop in numba without moving the whole sequence on each split: each original
token keeps its current pieces in a slot as long as its byte count (a piece has at least one byte) and a
Fenwick tree over the pieces per token finds the token under a random position in O(log n), so a text of
n tokens costs O(n + p n log n). `stochastok_reference` is the same loop on a Python list, drawing from
the same stream; the tests hold the two equal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
from numba import njit

from tokwork.errors import TokenizerFormatError
from tokwork.sampling.per_tokenizer import once_per_tokenizer
from tokwork.sampling.ragged_ids import flatten_ids, unflatten_ids
from tokwork.sampling.random_streams import next_below, text_state
from tokwork.sampling.stored_tables import stored_arrays
from tokwork.tokenizer import Tokenizer

_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")


@dataclass(frozen=True)
class ExpansionTable:
    """Every split of every token into two in-vocabulary tokens: the splits of token t are
    `zip(left[starts[t]:starts[t+1]], right[starts[t]:starts[t+1]])` (CSR arrays over the vocabulary)."""

    starts: np.ndarray
    left: np.ndarray
    right: np.ndarray

    @property
    def vocab_size(self) -> int:
        return len(self.starts) - 1

    def splits(self, token_id: int) -> list[tuple[int, int]]:
        """The splits of one token as (left id, right id) pairs, in order of the cut position."""
        a, b = self.starts[token_id], self.starts[token_id + 1]
        return list(zip(self.left[a:b].tolist(), self.right[a:b].tolist(), strict=True))

    @property
    def splittable_tokens(self) -> int:
        return int(np.count_nonzero(np.diff(self.starts)))

    def as_json(self) -> dict[str, list[list[int]]]:
        """{token id: [[left, right], ...]} for the tokens that have splits (how `stochastic.json` keeps it)."""
        return {str(t): [list(pair) for pair in self.splits(t)]
                for t in np.flatnonzero(np.diff(self.starts)).tolist()}

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[int, int, int]], vocab_size: int) -> ExpansionTable:
        """Build from (token, left, right) rows (any order)."""
        data = np.array(rows, dtype=np.int64).reshape(-1, 3)
        data = data[np.lexsort((data[:, 2], data[:, 1], data[:, 0]))]
        counts = np.bincount(data[:, 0], minlength=vocab_size)[:vocab_size]
        starts = np.zeros(vocab_size + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        return cls(starts, np.ascontiguousarray(data[:, 1]), np.ascontiguousarray(data[:, 2]))

    @classmethod
    def from_json(cls, data: dict, tokenizer: Tokenizer) -> ExpansionTable:
        """Read the JSON form back, checking every split against the tokenizer's bytes.

        Raises `TokenizerFormatError` when a split names an id outside the vocabulary, a special token, or
        two tokens whose bytes do not join to the token's bytes (then the table belongs to another base).
        """
        pieces = tokenizer.byte_view.token_bytes
        size = len(pieces)
        try:
            tokens = np.repeat(np.array([int(key) for key in data], dtype=np.int64), [len(v) for v in data.values()])
            pairs = np.array(list(chain.from_iterable(data.values())), dtype=np.int64)
            if not len(tokens):  # a base with no token made of two others: nothing to split
                pairs = pairs.reshape(0, 2)
        except (TypeError, ValueError):
            pairs = None
        if pairs is None or pairs.shape != (len(tokens), 2):
            raise TokenizerFormatError("the StochasTok expansion table is not {id: [[left, right], ...]}")
        rows = np.column_stack([tokens, pairs])
        table = cls.from_rows(rows, size)
        if table == _expansion_table_of(tokenizer):  # what tokwork builds from this base: right by construction
            return table
        for token, left, right in rows.tolist():
            whole = pieces[token] if 0 <= token < size else None
            head = pieces[left] if 0 <= left < size else None
            tail = pieces[right] if 0 <= right < size else None
            if whole is None or head is None or tail is None or head + tail != whole:
                raise TokenizerFormatError(
                    f"the StochasTok expansion table splits token {token} into ({left}, {right}), which is not "
                    "a split of its bytes in this tokenizer; rebuild it with 'tokwork train stochastic'"
                )
        return table

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ExpansionTable) and np.array_equal(self.starts, other.starts)
                and np.array_equal(self.left, other.left) and np.array_equal(self.right, other.right))


def canonical_ids(tokenizer: Tokenizer) -> dict[bytes, int]:
    """For each byte string the vocabulary spells, the one id that StochasTok emits for it.

    Several ids can spell the same bytes (Gemma's `A` and its byte-fallback piece `<0x41>`); the ordinary
    token is preferred over a byte-fallback piece, then the lowest id, so that splits produce the tokens the
    base tokenizer itself produces for those bytes. Special tokens stand for no bytes and never appear.
    """
    best: dict[bytes, tuple[bool, int]] = {}
    for token_id, piece in enumerate(tokenizer.byte_view.token_bytes):
        if piece is None:
            continue
        fallback = len(piece) == 1 and bool(_BYTE_PIECE.fullmatch(tokenizer.id_to_token(token_id) or ""))
        rank = (fallback, token_id)
        if piece not in best or rank < best[piece]:
            best[piece] = rank
    return {piece: rank[1] for piece, rank in best.items()}


def build_expansion_table(tokenizer: Tokenizer) -> ExpansionTable:
    """The StochasTok expansion table of a tokenizer: for each token with bytes, every cut of its bytes into
    two non-empty parts that both are tokens (by bytes), as (left id, right id) with the canonical ids."""
    canonical = canonical_ids(tokenizer)
    rows = []
    for token_id, piece in enumerate(tokenizer.byte_view.token_bytes):
        if piece is None or len(piece) < 2:
            continue
        for cut in range(1, len(piece)):
            left = canonical.get(piece[:cut])
            if left is not None:
                right = canonical.get(piece[cut:])
                if right is not None:
                    rows.append((token_id, left, right))
    return ExpansionTable.from_rows(rows, tokenizer.vocab_size)


def token_lengths(tokenizer: Tokenizer) -> np.ndarray:
    """Bytes per token id (0 for specials): the most pieces a token can be split into."""
    return np.array([len(p) if p is not None else 0 for p in tokenizer.byte_view.token_bytes], dtype=np.int64)


def _stored_expansion_table(tokenizer: Tokenizer) -> ExpansionTable:
    """The expansion table, kept in the cache for the base's file (`stored_tables`)."""

    def build() -> dict[str, np.ndarray]:
        table = build_expansion_table(tokenizer)
        return {"starts": table.starts, "left": table.left, "right": table.right}

    arrays = stored_arrays(tokenizer, "stochastok", build, (__name__,))
    return ExpansionTable(arrays["starts"], arrays["left"], arrays["right"])


_expansion_table_of = once_per_tokenizer(_stored_expansion_table)
_token_lengths_of = once_per_tokenizer(token_lengths)


@njit(cache=True)
def _expand(flat, starts, lengths, split_starts, left, right, p, seed, first_index):
    """The StochasTok loop over a ragged batch; returns (new flat ids, new starts, splits per text).

    Each step adds at most one token, so the output fits in len(flat) + the steps of all texts; a text
    without steps is copied as it is, the others go through a reused buffer of per-token slots.
    """
    n_texts = len(starts) - 1
    room, longest, widest = len(flat), 1, 1
    for t in range(n_texts):
        n = starts[t + 1] - starts[t]
        room += np.int64(n * p)
        longest = max(longest, n)
        width = 0
        for j in range(starts[t], starts[t + 1]):
            width += max(1, lengths[flat[j]])
        widest = max(widest, width)
    out = np.empty(room, np.int64)
    new_starts = np.zeros(n_texts + 1, np.int64)
    splits = np.zeros(n_texts, np.int64)
    slot = np.empty(longest + 1, np.int64)  # where each token's pieces live in `pieces`
    count = np.empty(longest, np.int64)
    pieces = np.empty(widest, np.int64)
    tree = np.empty(longest + 1, np.int64)
    k = 0
    for t in range(n_texts):
        first, n = starts[t], starts[t + 1] - starts[t]
        steps = np.int64(n * p)
        if steps == 0:
            for j in range(first, first + n):
                out[k] = flat[j]
                k += 1
            new_starts[t + 1] = k
            continue
        slot[0] = 0
        for j in range(n):
            slot[j + 1] = slot[j] + max(1, lengths[flat[first + j]])
            pieces[slot[j]] = flat[first + j]
            count[j] = 1
            tree[j + 1] = (j + 1) & -(j + 1)  # Fenwick tree over n counts of one piece each
        top = 1
        while top * 2 <= n:
            top *= 2
        state = text_state(seed, first_index + t)
        length = n
        for _ in range(steps):
            state, position = next_below(state, length)
            node, rest, step = 0, position, top
            while step > 0:
                if node + step <= n and tree[node + step] <= rest:
                    node += step
                    rest -= tree[node]
                step //= 2
            at = slot[node] + rest  # token `node` of the text holds `position`, as its piece `rest`
            token = pieces[at]
            options = split_starts[token + 1] - split_starts[token]
            if options == 0:
                continue
            state, choice = next_below(state, options)
            for q in range(slot[node] + count[node], at + 1, -1):
                pieces[q] = pieces[q - 1]
            pieces[at] = left[split_starts[token] + choice]
            pieces[at + 1] = right[split_starts[token] + choice]
            count[node] += 1
            i = node + 1
            while i <= n:
                tree[i] += 1
                i += i & -i
            length += 1
        for j in range(n):
            for q in range(slot[j], slot[j] + count[j]):
                out[k] = pieces[q]
                k += 1
        splits[t] = length - n
        new_starts[t + 1] = k
    return out[:k], new_starts, splits


class StochasTok:
    """StochasTok over a base tokenizer: deterministic encoding, then `int(len(ids) * p)` random splits."""

    method = "stochastok"

    def __init__(self, base: Tokenizer, *, p: float, table: ExpansionTable | None = None):
        self.base = base
        self.p = p
        self.table = table if table is not None else _expansion_table_of(base)
        self.lengths = _token_lengths_of(base)

    def expand_arrays(self, flat: np.ndarray, starts: np.ndarray, *, seed: int, first_index: int):
        """Split a ragged batch of deterministic ids; returns (flat ids, starts, splits per text)."""
        return _expand(flat, starts, self.lengths, self.table.starts, self.table.left, self.table.right,
                       float(self.p), seed, first_index)

    def expand(self, batch: Sequence[Sequence[int]], *, seed: int, first_index: int) -> list[list[int]]:
        """Apply StochasTok to deterministic id sequences; sequence i draws from stream `first_index + i`."""
        flat, starts = flatten_ids(batch)
        out, new_starts, _ = self.expand_arrays(flat, starts, seed=seed, first_index=first_index)
        return unflatten_ids(out, new_starts)

    def sample(self, texts: Sequence[str], *, seed: int, first_index: int, add_special_tokens: bool = False,
               parse_special: bool = False) -> list[list[int]]:
        """Encode texts with the base tokenizer, then split; text i draws from stream `first_index + i`."""
        ids = self.base.encode_batch(texts, add_special_tokens=add_special_tokens, parse_special=parse_special)
        return self.expand(ids, seed=seed, first_index=first_index)

    def saved_state(self) -> dict:
        """What `stochastic.json` keeps besides the parameters: the expansion table."""
        return {"expansion": self.table.as_json()}


def stochastok_reference(ids: Sequence[int], table: ExpansionTable, *, p: float, seed: int, index: int) -> list[int]:
    """The paper's loop on a Python list (insert in place), drawing from the same stream as the kernel.

    Slow and obviously right; the tests compare the kernel with it.
    """
    out = list(ids)
    state = np.uint64(text_state(seed, index))  # numba hands back a Python int; keep it unsigned
    for _ in range(int(len(ids) * p)):
        state, position = next_below(np.uint64(state), len(out))
        splits = table.splits(out[position])
        if splits:
            state, choice = next_below(np.uint64(state), len(splits))
            out[position:position + 1] = splits[choice]
    return out
