"""A `tokenizers` BPE model's merges as ids, and the symbols each token starts from, for re-merging.

BPE-dropout (`tokwork.sampling.bpe_dropout`) rebuilds each pre-token from the symbols the model started
from and merges them again; this module reads those two things from a `tokenizer.json` model (or a
converted tiktoken file): the merge table, pair -> (rank, merged id), and every token's initial symbols
(its characters, or its byte-fallback pieces). Added tokens are marked as fixed: they are never re-merged.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from itertools import chain

import numpy as np

from tokwork.errors import ParameterError
from tokwork.formats.hf_json import HFTokenizer
from tokwork.tokenizer import Tokenizer

_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")


@dataclass(frozen=True)
class MergeTable:
    """A BPE model's merges as ids, and each token's initial symbols (`atoms`) for re-merging.

    `merges` has one row (left, right, rank, merged id) per pair that merges; `atom_starts`/`atoms` are CSR
    arrays: the symbols the model starts from when a pre-token contains this token's text; `fixed` marks
    added tokens. All of it is arrays, so that it can be kept in the cache (`as_arrays`, `from_arrays`).
    """

    merges: np.ndarray
    atom_starts: np.ndarray
    atoms: np.ndarray
    fixed: np.ndarray
    ignore_merges: bool

    @property
    def vocab_size(self) -> int:
        """Tokens in the vocabulary the table merges into."""
        return len(self.fixed)

    @functools.cached_property
    def pairs(self) -> dict[tuple[int, int], tuple[int, int]]:
        """(left, right) -> (rank, merged id)."""
        return {(left, right): (rank, merged) for left, right, rank, merged in self.merges.tolist()}

    def as_arrays(self) -> dict[str, np.ndarray]:
        """The table as named arrays, for the cache (`from_arrays` reads them back)."""
        return {"merges": self.merges, "atom_starts": self.atom_starts, "atoms": self.atoms, "fixed": self.fixed,
                "ignore_merges": np.array(self.ignore_merges)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> MergeTable:
        """The table `as_arrays` stored."""
        return cls(arrays["merges"], arrays["atom_starts"], arrays["atoms"], arrays["fixed"],
                   bool(arrays["ignore_merges"]))

    def atoms_of(self, token_id: int) -> list[int]:
        """The atoms (single-symbol ids) a token is merged from, in order."""
        return self.atoms[self.atom_starts[token_id]:self.atom_starts[token_id + 1]].tolist()


def merge_pairs(model: dict) -> list[tuple[str, str]]:
    """The (left, right) token strings of a `tokenizer.json` BPE model's merges, in rank order (both the
    "a b" and the ["a", "b"] forms)."""
    pairs = []
    for entry in model.get("merges", []):
        if isinstance(entry, str):
            parts = entry.split(" ")
            if len(parts) != 2:
                continue
            entry = parts
        pairs.append((entry[0], entry[1]))
    return pairs


def merge_ids(model: dict) -> list[tuple[int, int, int, int]]:
    """(rank, left id, right id, merged id) of each merge whose three tokens are in the vocabulary, in rank
    order: read into a dict, a pair listed twice keeps its later rank, as `tokenizers`' merge map does."""
    vocab: dict[str, int] = model["vocab"]
    found = []
    for rank, (left, right) in enumerate(merge_pairs(model)):
        ids = vocab.get(left), vocab.get(right), vocab.get(left + right)
        if None not in ids:
            found.append((rank, *ids))
    return found


def merge_table(tokenizer: Tokenizer) -> MergeTable:
    """The merge table of a `tokenizers` BPE model (tokenizer.json or a converted tiktoken file).

    Raises `ParameterError` for other models (BPE-dropout only means something for BPE) and for BPE
    variants whose words carry a continuing-subword prefix or end-of-word suffix.
    """
    model = tokenizer.spec["model"] if isinstance(tokenizer, HFTokenizer) else None
    if model is None or model.get("type") != "BPE":
        kind = model.get("type") if model else tokenizer.format
        raise ParameterError(
            f"BPE-dropout needs a BPE tokenizer, and '{tokenizer.source or 'the base tokenizer'}' is {kind}; "
            "use --method stochastok, or unigram-sampling for a SentencePiece unigram model"
        )
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        raise ParameterError(f"BPE-dropout does not support BPE models with subword prefixes or suffixes "
                             f"('{tokenizer.source or 'the base tokenizer'}'); use --method stochastok")
    vocab: dict[str, int] = model["vocab"]
    pairs = {(left, right): (rank, merged) for rank, left, right, merged in merge_ids(model)}  # later rank kept
    merges = np.array([(left, right, rank, merged) for (left, right), (rank, merged) in pairs.items()],
                      dtype=np.int64).reshape(-1, 4)
    size = tokenizer.vocab_size
    fixed = np.zeros(size, dtype=np.bool_)
    for added in tokenizer.spec.get("added_tokens", []):
        if 0 <= added["id"] < size:
            fixed[added["id"]] = True
    byte_fallback = bool(model.get("byte_fallback"))
    tokens: list[str | None] = [None] * size
    for token, token_id in vocab.items():
        if token_id < size:
            tokens[token_id] = token
    rows = [_atoms(token, i, vocab, byte_fallback, fixed[i]) for i, token in enumerate(tokens)]
    atom_starts = np.zeros(size + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=atom_starts[1:])
    atoms = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(atom_starts[-1]))
    return MergeTable(merges, atom_starts, atoms, fixed, bool(model.get("ignore_merges")))


def _atoms(token: str | None, token_id: int, vocab: dict[str, int], byte_fallback: bool, fixed: bool) -> list[int]:
    """The symbols `tokenizers` starts a word from, for the characters of one token."""
    if token is None or fixed or len(token) == 1 or (byte_fallback and _BYTE_PIECE.fullmatch(token)):
        return [token_id]
    symbols = [vocab.get(char) for char in token]
    if None not in symbols:
        return symbols
    if not byte_fallback:
        return [token_id]  # not reachable by merges; keep the token whole
    spelled: list[int] = []
    for char, char_id in zip(token, symbols, strict=True):
        pieces = [char_id] if char_id is not None else [vocab.get(f"<0x{b:02X}>") for b in char.encode("utf-8")]
        if None in pieces:
            return [token_id]
        spelled.extend(pieces)
    return spelled
