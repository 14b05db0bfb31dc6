"""Completion cuts of a byte-level BPE tokenizer worked out from its merges instead of by encoding.

A prefix that ends inside a UTF-8 character has as canonical encodings the token prefixes that spell it in
E(base + c), over every character c that starts with its partial bytes (`canonical.py`): 4,096 characters
after the first byte of a Han or Kana character, 196,608 after the first byte of an emoji. Encoding them
all is exact but costs seconds per byte. For a `tokenizer.json` byte-level BPE whose pre-tokenizer is a
regex split, the same set follows from far less work:

1. Characters the split regex cannot tell apart split the text alike. The regex sees a non-ASCII character
   only through the classes it names (`\\p{L}`, `\\s`, ...), so characters with the same membership in each
   (read from the tokenizer's own regex engine) and no case folding to ASCII fall into one group, and one
   representative per group gives the pre-token the character ends and the tokens before it.
2. Inside that last pre-token, BPE merges the lowest-ranked adjacent pair first. If the final tokens have a
   boundary at the cut, no merge ever crossed it, so the part left of the cut was merged exactly as BPE
   merges it alone: every character of a group that keeps the boundary gives the same cut. Whether one
   does is a race between the two sides' merges and the pair across the cut (`bpe_race.py`), decided per
   character from the merge ranks without encoding.

BPE with byte fallback (Gemma 3) has its own worker (`fallback_cuts.py`). Anything else (normalisers, other
pre-tokenizers, regexes with constructs not covered above, added tokens that are not special, subword
prefixes, dropout) keeps the encoding path; tests compare the paths on arbitrary text.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Sequence
from itertools import accumulate

import numpy as np

from tokwork.bytelevel.bpe_race import MergeRace
from tokwork.bytelevel.text_splits import AddedTokenScan, kept_by_nfc, nfc_boundary, nfc_safe
from tokwork.byteview import byte_to_unicode

Encoding = tuple[int, ...]
# The split pattern `tokenizers` applies for ByteLevel(use_regex=True) (GPT-2's).
BYTE_LEVEL_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
GROUPS_KEPT = 64  # partial characters whose completion groups an instance keeps
NFC_CHECK_CHARS = 1 << 23  # most text normalised at once to check completions NFC might change
FOLD_BLOCK = 1024  # characters checked for case folding to ASCII at once
_ASCII = re.compile(r"[\x00-\x7f]")
# Escapes that match only ASCII characters, which no completion (a multi-byte character) is, or only
# positions in the string (\A, \z, \Z, \G).
_ASCII_ESCAPES = set("rntfveAzZG")
# Escapes that test a character's class, by the class they test (\b: whether \w holds on either side).
_CLASS_ESCAPES = {"s": r"\s", "S": r"\s", "d": r"\d", "D": r"\d", "w": r"\w", "W": r"\w", "h": r"\h",
                  "H": r"\h", "b": r"\w", "B": r"\w"}


def split_atoms(pattern: str) -> list[str] | None:
    """The character classes through which `pattern` can tell non-ASCII characters apart (each as a
    one-character regex), or None when it has a construct this module does not account for (a non-ASCII
    literal, a code-point escape, a POSIX bracket such as `[:alpha:]`, a grapheme `\\X` ...)."""
    if "[:" in pattern:
        return None
    atoms: dict[str, None] = {}
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if not char.isascii():
            return None
        if char == ".":
            atoms["."] = None
        elif char == "\\":
            if i + 1 >= len(pattern):
                return None
            escape = pattern[i + 1]
            if escape in "pP":
                match = re.match(r"\{\^?([A-Za-z_ =]+)\}|([A-Za-z])", pattern[i + 2:])
                if match is None:
                    return None
                name = match.group(1) or match.group(2)
                atoms[r"\p{" + name.lstrip("^") + "}"] = None
                i += 2 + match.end()
                continue
            if escape in _CLASS_ESCAPES:
                atoms[_CLASS_ESCAPES[escape]] = None
            elif not (escape in _ASCII_ESCAPES or (not escape.isalnum() and escape.isascii())):
                return None
            i += 2
            continue
        i += 1
    return list(atoms)


def folds_to_ascii(char: str) -> bool:
    """Whether a case-insensitive regex may match `char` against ASCII letters (ſ, K, ß, ı ...)."""
    return any(c.isascii() for c in char.casefold() + char.lower() + char.upper())


def ascii_folding(chars: Sequence[str]) -> np.ndarray:
    """`folds_to_ascii` of each of `chars` (non-ASCII ones), a block at a time: a block none of whose
    characters fold to ASCII has no ASCII in its folded text, and few blocks have any."""
    flags = np.zeros(len(chars), dtype=bool)
    for start in range(0, len(chars), FOLD_BLOCK):
        joined = "".join(chars[start:start + FOLD_BLOCK])
        if any(_ASCII.search(fold(joined)) for fold in (str.casefold, str.lower, str.upper)):
            flags[start:start + FOLD_BLOCK] = [folds_to_ascii(c) for c in chars[start:start + FOLD_BLOCK]]
    return flags


class EncodedCuts:
    """What every worker for `completion_cuts` shares: the tokenizer, its token lengths, and the cuts of
    the completions it still encodes one by one."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    @functools.cached_property
    def _lengths(self) -> list[int]:
        return token_lengths(self.tokenizer)

    def encoded_cuts(self, indices: Sequence[int], encodings: Sequence[list[int]], window: int
                     ) -> list[tuple[int, Encoding]]:
        """(index, cut) for each completion at `indices` whose encoding has a token boundary at `window`."""
        found = []
        for index, ids in zip(indices, encodings, strict=True):
            taken = tokens_before(self._lengths, ids, window)
            if taken is not None:
                found.append((index, tuple(taken)))
        return found

    @staticmethod
    def distinct(found: list[tuple[int, Encoding]]) -> list[Encoding]:
        """The distinct cuts of (completion index, cut) pairs, in the order of the first completion giving
        each."""
        return list(dict.fromkeys(cut for _, cut in sorted(found)))


class CompletionCutter(EncodedCuts, MergeRace):
    """A worker from the merges: what both merge-based workers share."""

    def __init__(self, tokenizer, model: dict, byte_symbol: list[int | None]):
        MergeRace.__init__(self, model, byte_symbol)
        EncodedCuts.__init__(self, tokenizer)

    def first_kept(self, indices: Sequence[int], chars: Sequence[str], partial: bytes,
                   left: list[tuple[int, int, int]], whole_word: Callable[[int], str]) -> int | None:
        """The first completion at `indices` after which BPE keeps the cut: its word (`whole_word(index)`,
        as the vocabulary spells it) is not one token by whole-word lookup, and no merge crosses the cut
        between the part before it (`left`, from `bpe_states`) and the rest of the character."""
        for index in indices:
            if self.ignore_merges and whole_word(index) in self.vocab:
                continue  # the whole pre-token is one token
            if self.keeps_boundary(left, self._right_states(chars[index].encode("utf-8")[len(partial):])):
                return index
        return None


class MergeCuts(CompletionCutter):
    """`completion_cuts` for byte-level BPE tokenizers, from their merges (see the module docstring).

    Build with `for_tokenizer`, which returns None for tokenizers this does not cover.
    """

    def __init__(self, tokenizer, pattern: str, atoms: list[str], model: dict, *,
                 added: AddedTokenScan | None = None, nfc: bool = False):
        table = byte_to_unicode()
        # a byte whose symbol is not in the vocabulary is dropped from the word by `tokenizers` (no unk)
        super().__init__(tokenizer, model, [model["vocab"].get(table[b]) for b in range(256)])
        self.pattern = pattern
        self.atoms = atoms
        self.case_insensitive = re.search(r"\(\?[A-Za-z-]*i", pattern) is not None  # (?i) (?mi:...) ...
        self.added = added if added is not None else AddedTokenScan([])
        self.nfc = nfc  # the text is put in NFC first (Qwen): completions that change that are encoded
        self._groups: dict[bytes, tuple[list[np.ndarray], np.ndarray, np.ndarray]] = {}

    @classmethod
    def for_tokenizer(cls, tokenizer) -> MergeCuts | None:
        """The worker for a `tokenizer.json` byte-level BPE with a regex split and nothing else between the
        text and its merges; None for any other tokenizer."""
        spec = getattr(tokenizer, "spec", None)
        if not isinstance(spec, dict) or spec.get("normalizer") not in (None, {"type": "NFC"}):
            return None
        model = spec.get("model") or {}
        if (model.get("type") != "BPE" or model.get("dropout") or model.get("byte_fallback")
                or model.get("continuing_subword_prefix") or model.get("end_of_word_suffix")):
            return None
        added = AddedTokenScan.from_spec(spec, normalized_ok=True)  # the caller checks NFC leaves the text
        pattern = _split_pattern(spec.get("pre_tokenizer"))
        atoms = split_atoms(pattern) if pattern is not None else None
        vocab = model.get("vocab")
        if added is None or atoms is None or not isinstance(vocab, dict) or model.get("unk_token") is not None:
            return None
        return cls(tokenizer, pattern, atoms, model, added=added, nfc=spec.get("normalizer") is not None)

    # --- completions --------------------------------------------------------------------------------------
    def groups(self, chars: Sequence[str]) -> list[np.ndarray]:
        """Indices of `chars` in groups the split regex cannot tell apart (each in order)."""
        from tokenizers import Regex
        from tokenizers.pre_tokenizers import Split

        joined = "".join(chars)
        signature = np.zeros(len(chars), dtype=np.int64)
        for k, atom in enumerate(self.atoms):
            outside = np.zeros(len(chars), dtype=bool)
            for _, (start, end) in Split(Regex(atom), behavior="removed").pre_tokenize_str(joined):
                outside[start:end] = True
            signature |= (~outside).astype(np.int64) << k
        if self.case_insensitive:  # (?i:'s) matches 'ſ: such characters each make a group of their own
            singles = ascii_folding(chars)
            signature[singles] = -1 - np.flatnonzero(singles)
        _, first, inverse = np.unique(signature, return_index=True, return_inverse=True)
        order = np.argsort(first)
        return [np.flatnonzero(inverse == g) for g in order]

    def cuts(self, base: str, partial: bytes, chars: Sequence[str],
             encode: Callable[[list[str]], list[list[int]]], lead: bytes = b"") -> list[Encoding] | None:
        """The distinct token prefixes spelling `base` + `partial` in the encodings of `base` + c for every
        c in `chars` (the characters starting with `partial`), in the order of the first c giving each;
        None when a representative's encoding does not split as the argument needs (the caller encodes).
        Characters in an added token, or that NFC would change after `base` (by the tokenizer's normaliser),
        are encoded one by one."""
        if lead:  # no tokenizer.json this covers puts text before the text
            return None
        if self.nfc and self.tokenizer.backend.normalizer.normalize_str(base) != base:
            return None
        found_groups = self._groups.get(partial)
        if found_groups is None:
            nfc_kept = nfc_safe(chars) if self.nfc else np.ones(len(chars), dtype=bool)
            outside_added = np.ones(len(chars), dtype=bool)
            if self.added.chars:
                outside_added = np.array([c not in self.added.chars for c in chars], dtype=bool)
            found_groups = self.groups(chars), nfc_kept, outside_added
            if len(self._groups) >= GROUPS_KEPT:
                self._groups.pop(next(iter(self._groups)))
            self._groups[partial] = found_groups
        groups, nfc_kept, outside_added = found_groups
        safe = self._kept_after(base, chars, nfc_kept, outside_added) & outside_added
        groups = [kept for kept in (group[safe[group]] for group in groups) if len(kept)]
        base_bytes = base.encode("utf-8")
        window = len(base_bytes) + len(partial)
        representatives = [base + chars[group[0]] for group in groups]
        special = np.flatnonzero(~safe).tolist()
        encodings = encode(representatives + [base + chars[i] for i in special])
        found: list[tuple[int, Encoding]] = []
        pretokenize = self.tokenizer.backend.pre_tokenizer.pre_tokenize_str
        table = byte_to_unicode()
        segment = self.added.last_end(base)  # the text the split sees starts after the last added token
        for group, text, ids in zip(groups, representatives, encodings, strict=False):
            start_char = segment + pretokenize(text[segment:])[-1][1][0]
            start = len(text[:start_char].encode("utf-8"))
            earlier = tokens_before(self._lengths, ids, start)
            if earlier is None:
                return None
            left_bytes = (base_bytes + partial)[start:window]
            symbols = [self.byte_symbol[b] for b in left_bytes]
            if None in symbols:
                return None
            left_tokens, left = self.bpe_states(symbols)
            left_word = "".join(table[b] for b in left_bytes)
            kept = self.first_kept(group.tolist(), chars, partial, left, lambda index, word=left_word: word + "".join(
                table[b] for b in chars[index].encode("utf-8")[len(partial):]))
            if kept is not None:
                found.append((kept, tuple(earlier) + tuple(left_tokens)))
        found += self.encoded_cuts(special, encodings[len(groups):], window)
        return self.distinct(found)

    def _kept_after(self, base: str, chars: Sequence[str], nfc_kept: np.ndarray,
                    outside_added: np.ndarray) -> np.ndarray:
        """`nfc_kept` (completions Python's tables vouch for under NFC), plus the others that the tokenizer's
        own NFC leaves unchanged after `base`: NFC(base + c) is NFC(base[:b]) + NFC(base[b:] + c) for the
        last NFC boundary b, so they are checked after base[b:] alone, all in one call."""
        doubtful = np.flatnonzero(~nfc_kept & outside_added)
        if not len(doubtful):
            return nfc_kept
        normalize = self.tokenizer.backend.normalizer.normalize_str
        boundary = nfc_boundary(base)
        tail = base[boundary:]
        if len(doubtful) * (len(tail) + 2) > NFC_CHECK_CHARS or normalize(base[:boundary]) != base[:boundary]:
            return nfc_kept
        kept = nfc_kept.copy()
        kept[doubtful] = kept_by_nfc(normalize, tail, [chars[i] for i in doubtful.tolist()])
        return kept


def _split_pattern(pre_tokenizer: dict | None) -> str | None:
    """The regex of a pre-tokenizer that is a byte-level split and nothing else, None otherwise."""
    if not isinstance(pre_tokenizer, dict):
        return None
    steps = pre_tokenizer.get("pretokenizers") if pre_tokenizer.get("type") == "Sequence" else [pre_tokenizer]
    if not steps or any(step.get("type") == "ByteLevel" and step.get("add_prefix_space") for step in steps):
        return None
    if len(steps) == 1 and steps[0].get("type") == "ByteLevel" and steps[0].get("use_regex", True):
        return BYTE_LEVEL_PATTERN
    if len(steps) != 2:
        return None
    split, byte_level = steps
    if (byte_level.get("type") != "ByteLevel" or byte_level.get("use_regex", True)
            or split.get("type") != "Split" or split.get("behavior") != "Isolated" or split.get("invert")):
        return None
    pattern = split.get("pattern") or {}
    return pattern.get("Regex")


def token_lengths(tokenizer) -> list[int]:
    """Bytes each id spells; ids that spell none (specials) count as longer than any text."""
    never = 1 << 60
    lengths = [never if n < 0 else n for n in tokenizer.byte_view.token_lengths().tolist()]
    return lengths + [never] * max(0, tokenizer.vocab_size - len(lengths))


def tokens_before(lengths: list[int], ids: Sequence[int], end: int) -> list[int] | None:
    """The tokens of `ids` that spell the first `end` bytes (`lengths` from `token_lengths`), None when no
    token boundary falls there."""
    if end == 0:
        return []
    ends = list(accumulate(map(lengths.__getitem__, ids)))
    k = bisect.bisect_left(ends, end)
    return list(ids[:k + 1]) if k < len(ends) and ends[k] == end else None
