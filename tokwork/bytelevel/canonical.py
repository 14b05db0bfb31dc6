"""Canonical encodings of byte prefixes: the committed part of a cover must be one of them.

For a byte prefix p of a text, `canon(p)` is the set of token sequences the tokenizer itself produces for p:
- p ends at a character boundary: the tokenizer's encoding E(p) of the text p, if its byte view spells p
  exactly (a tokenizer that normalises or drops a character has no canonical encoding of that text);
- p ends inside a UTF-8 character: every E(p·z)[:m] whose bytes are exactly p, over all completions z of
  that character (the tokenizer cannot encode half a character; what it produces for p is what it
  produces for the texts that p can become, up to the end of that character).
These are the canonical (valid) encodings of Phan et al. 2024, "Exact Byte-Level Probabilities from
Tokenized Language Models", taken from the tokenizer as a black box; for byte-level BPE tokenizers with a
regex split, those inside a character are worked out from the merges instead (`merge_cuts.py`), which gives
the same sets without encoding thousands of completions, and so are those of BPE with byte fallback such as
Gemma 3's (`fallback_cuts.py`).

The encodings of every prefix of one text, which may grow, are `canonical_text.py`'s.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable

import numpy as np
from tokenizers import normalizers

from tokwork.bytelevel.fallback_cuts import FallbackCuts
from tokwork.bytelevel.merge_cuts import MergeCuts, token_lengths, tokens_before
from tokwork.bytelevel.safe_cuts import SafeCuts
from tokwork.bytelevel.unknown_char_cuts import UnknownCharCuts
from tokwork.tokenizer import Tokenizer

Encoding = tuple[int, ...]
COMPLETION_CUTS_KEPT = 4096  # (window, partial character) results an encoder keeps
COMPLETIONS_AT_ONCE = 16384  # completions of a character encoded in one batch
ANCHOR_TRIES = 64  # pre-token starts looked at for a window's anchor before encoding the prefix whole
# Up to this many completions (after the first byte of a two-byte character, or the second of a three-byte
# one) a cut is found by encoding them until the merges are read, which the first byte of a three- or
# four-byte character (2,048 to 196,608 completions) is worth.
FEW_COMPLETIONS = 64
UTF8_LENGTHS = {**{b: 2 for b in range(0xC2, 0xE0)}, **{b: 3 for b in range(0xE0, 0xF0)},
                **{b: 4 for b in range(0xF0, 0xF5)}}
UTF8_RANGES = {2: (0x80, 0x7FF), 3: (0x800, 0xFFFF), 4: (0x10000, 0x10FFFF)}  # code points by length


def complete_prefix_length(data: bytes) -> int:
    """Length of the longest prefix of `data` that is valid UTF-8."""
    try:
        data.decode("utf-8")
        return len(data)
    except UnicodeDecodeError as err:
        return err.start


def is_text_prefix(data: bytes) -> bool:
    """Whether `data` is valid UTF-8 or valid UTF-8 cut inside its last character."""
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError as err:
        return err.end == len(data) and err.reason == "unexpected end of data"


@functools.lru_cache(maxsize=1024)
def text_continuations(tail: bytes) -> np.ndarray:
    """Which of the 256 bytes keep a text prefix a text prefix, after its unfinished character `tail`
    (empty at a character boundary); the byte-level model gives every other byte probability zero."""
    return np.array([is_text_prefix(tail + bytes([b])) for b in range(256)])


@functools.lru_cache(maxsize=4096)
def completions(partial: bytes) -> tuple[str, ...]:
    """Every character whose UTF-8 encoding starts with `partial` (an incomplete character): UTF-8 keeps
    code point order, so they are one range of code points (less the surrogates)."""
    length = UTF8_LENGTHS.get(partial[0], 0) if partial else 0
    missing = length - len(partial)
    if missing <= 0 or any(b & 0xC0 != 0x80 for b in partial[1:]):
        return ()
    value = partial[0] & (0x7F >> length)
    for b in partial[1:]:
        value = value << 6 | (b & 0x3F)
    low = value << (6 * missing)
    smallest, largest = UTF8_RANGES[length]
    return tuple(map(chr, (c for c in range(max(low, smallest), min(low + (1 << 6 * missing), largest + 1))
                           if not 0xD800 <= c <= 0xDFFF)))


class CanonicalEncoder:
    """The tokenizer side of the byte-level layer: encodes texts and checks that encodings spell them.

    `stream_prefix` is the dummy-prefix space of Llama-2 style SentencePiece models: their encodings spell
    " " + text, so the byte stream the model sees starts with that space.
    """

    def __init__(self, tokenizer: Tokenizer, *, context_pretokens: int = 2, from_merges: bool = True):
        self.tokenizer = tokenizer
        self.from_merges = from_merges
        self.view = tokenizer.byte_view
        self.stream_prefix = b" " if self.view.strips_leading_space else b""
        self.context_pretokens = context_pretokens
        self._completed: dict[tuple[str, bytes, bytes], list[Encoding]] = {}
        backend = getattr(tokenizer, "backend", None)
        self._pretokenizer = None
        self.nfc = False  # windows must start where NFC splits the text (`windowed`)
        if backend is not None and not self.stream_prefix and (
                backend.normalizer is None or isinstance(backend.normalizer, normalizers.NFC)):
            self._pretokenizer = backend.pre_tokenizer
            self.nfc = backend.normalizer is not None

    @functools.cached_property
    def _safe_cuts(self) -> SafeCuts | None:
        """Where a tokenizer without a pre-tokenizer never merges across (BPE with byte fallback,
        SentencePiece), None for others."""
        if self._pretokenizer is not None:
            return None
        return SafeCuts.for_tokenizer(self.tokenizer, at_spaces=bool(self.stream_prefix))

    @property
    def windowed(self) -> bool:
        """Whether prefixes are encoded from a window: pre-tokenized `tokenizer.json` without normaliser, or
        with NFC alone, and BPE with byte fallback or SentencePiece cut where no merge crosses
        (`safe_cuts.py`)."""
        return self._pretokenizer is not None or self._safe_cuts is not None

    def whole_prefixes(self) -> CanonicalEncoder:
        """This encoder (its merge tables and caches shared) made to encode every prefix whole: what the
        windows must agree with, for tests and benchmarks."""
        whole = copy.copy(self)
        whole._pretokenizer = None
        whole.__dict__["_safe_cuts"] = None
        return whole

    @functools.cached_property
    def prefix_states(self) -> list[Encoding]:
        """canon of the dummy-prefix space alone (empty without one): the token sequences that spell exactly
        that space at the start of the tokenizer's encodings of texts, such as "▁" alone before a character
        the tokenizer does not join to it. No text is the space alone (the empty text encodes to nothing),
        so, as for a prefix that ends inside a character, these are what the tokenizer produces for it on
        the way to the texts it can become: here the texts of one character, each character a piece starts
        with (after its space) and one in no vocabulary (U+E000, private use)."""
        if not self.stream_prefix:
            return []
        firsts = {"\ue000"}
        for piece in self.view.token_bytes:
            for start in (piece or b"", piece[1:] if piece and piece[:1] == b" " else b""):
                char = start.decode("utf-8", errors="ignore")[:1]
                if char:
                    firsts.add(char)
        return self.cut_at(self.encode_many(sorted(firsts)), self.stream_prefix)

    def encode_many(self, texts: list[str]) -> list[list[int]]:
        """Token ids of many texts (special-token strings stay text)."""
        if not texts:
            return []
        return self.tokenizer.encode_batch(texts)

    def completion_cuts(self, base: str, partial: bytes, lead: bytes = b"") -> list[Encoding]:
        """The distinct token prefixes that spell exactly `lead` + `base` + `partial` in the encodings of
        `base` followed by every character that starts with `partial` (`lead`: what the tokenizer puts before
        any text, its dummy-prefix space). Cached by their inputs, which recur when a text is looked at
        again (a look ahead, a second query); only these few prefixes are kept, not the thousands of
        encodings they come from. Byte-level BPE tokenizers with a regex split and BPE with byte fallback
        work them out from their merges (`merge_cuts.py`, `fallback_cuts.py`), SentencePiece models with
        byte fallback from which characters are pieces (`unknown_char_cuts.py`), once a character with
        thousands of completions made it worth it; others encode every completion."""
        key = (base, partial, lead)
        found = self._completed.get(key)
        if found is None:
            chars, window = completions(partial), lead + base.encode("utf-8") + partial
            worth = len(chars) > FEW_COMPLETIONS or "_merge_cuts" in self.__dict__  # reading merges costs
            shortcut = self._merge_cuts if worth else None  # up to seconds, 64 encodes far less
            found = shortcut.cuts(base, partial, chars, self.encode_many, lead) if shortcut is not None else None
            if found is None:
                found = self._encoded_cuts(base, chars, window)
            else:
                found = [taken for taken in found if self.spelled(taken) == window]
            if len(self._completed) >= COMPLETION_CUTS_KEPT:
                self._completed.pop(next(iter(self._completed)))  # the oldest
            self._completed[key] = found
        return found

    def _encoded_cuts(self, base: str, chars: tuple[str, ...], window: bytes) -> list[Encoding]:
        """`completion_cuts` by encoding `base` followed by each character of `chars`."""
        cuts: dict[Encoding, None] = {}
        for start in range(0, len(chars), COMPLETIONS_AT_ONCE):  # bounded memory: an emoji has 196,608
            chunk = chars[start:start + COMPLETIONS_AT_ONCE]
            cuts.update(dict.fromkeys(self.cut_at(self.encode_many([base + ch for ch in chunk]), window)))
        return list(cuts)

    @functools.cached_property
    def _merge_cuts(self) -> MergeCuts | FallbackCuts | UnknownCharCuts | None:
        """The worker for `completion_cuts` that needs no encoding of every completion (byte-level BPE with a
        regex split, or BPE with byte fallback, from their merges; SentencePiece with byte fallback), None
        where the tokenizer needs encoding (made on first use: reading a large `tokenizer.json` takes a
        while)."""
        if not self.from_merges:
            return None
        return (MergeCuts.for_tokenizer(self.tokenizer) or FallbackCuts.for_tokenizer(self.tokenizer)
                or UnknownCharCuts.for_tokenizer(self.tokenizer))

    def cut_at(self, encodings: list[list[int]], window: bytes) -> list[Encoding]:
        """The distinct token prefixes of `encodings` that spell exactly `window` (in first-seen order): each
        encoding's tokens up to the first whose end reaches len(window), kept when it ends there and the
        tokens spell those bytes. Thousands of encodings (every completion of a character) are cut per call,
        so lengths are summed in C and only distinct prefixes are spelled out."""
        found: dict[Encoding, None] = {}
        for ids in encodings:
            taken = tokens_before(self._lengths, ids, len(window))
            if taken is not None:
                found[tuple(taken)] = None
        return [taken for taken in found if self.spelled(taken) == window]

    @functools.cached_property
    def _lengths(self) -> list[int]:
        """Byte length of every id the tokenizer can produce; ids that spell no bytes count as longer than any
        text, so that a prefix through one never ends at a cut."""
        return token_lengths(self.tokenizer)

    def spelled(self, ids: Iterable[int]) -> bytes | None:
        """The bytes a sequence of ids spells, None if one of them is special."""
        parts = []
        for token_id in ids:
            piece = self.view[token_id] if token_id < len(self.view) else None
            if piece is None:
                return None
            parts.append(piece)
        return b"".join(parts)

    def pretoken_starts(self, text: str) -> list[int]:
        """Byte offsets where the pre-tokenizer starts a pre-token in `text` (where no merge crosses, for a
        tokenizer without one)."""
        if self._pretokenizer is None:
            return self._safe_cuts.starts(text)
        pieces = self._pretokenizer.pre_tokenize_str(text)
        char_starts = [start for _, (start, _) in pieces]
        starts, position, consumed = [], 0, 0
        for char_start in char_starts:
            position += len(text[consumed:char_start].encode("utf-8"))
            consumed = char_start
            starts.append(position)
        return starts
