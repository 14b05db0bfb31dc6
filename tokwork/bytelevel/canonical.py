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

E is computed for every prefix of a long text without re-encoding the text each time: for tokenizers that
split text into pre-tokens before their model (`tokenizer.json` with a pre-tokenizer and no normaliser) the
prefix up to the start of a pre-token two pre-tokens back is reused and only the rest is encoded; BPE with
byte fallback and no pre-tokenizer (Gemma 3) and SentencePiece models with byte fallback are cut where no
merge crosses (`safe_cuts.py`; with a dummy prefix, at a space, which the tokenizer puts back). An NFC
normaliser (Qwen) allows the same where the text is already in NFC (the reference encoding spells it) and
the window starts at a character NFC cannot join to what precedes it, so that NFC of the prefix is the
text before the window followed by NFC of the window. The tests compare this with full encodes on
arbitrary text; other tokenizers are encoded in full.
"""

from __future__ import annotations

import bisect
import copy
import functools
from collections.abc import Iterable

import numpy as np
from tokenizers import normalizers

from tokwork.bytelevel.fallback_cuts import FallbackCuts
from tokwork.bytelevel.merge_cuts import MergeCuts, token_lengths, tokens_before
from tokwork.bytelevel.safe_cuts import SafeCuts
from tokwork.bytelevel.text_splits import starts_nfc_piece
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


class CanonicalText:
    """canon(p) for the byte prefixes p of one text, which may grow (generation) and may end mid-character.

    Positions are offsets in the byte stream (the user's bytes after `encoder.stream_prefix`).
    """

    def __init__(self, encoder: CanonicalEncoder, data: bytes = b""):
        self.encoder = encoder
        self.data = encoder.stream_prefix
        # end -> (reference tokens kept, ids after them), None where E(data[:end]) does not spell it
        self.windows: dict[int, tuple[int, Encoding] | None] = {0: (0, ())}
        self._heads: dict[int, Encoding] = {}  # end -> the reference encoding its states start with
        self._reference: tuple[Encoding | None, dict[int, int]] | None = None
        self._state_windows: dict[int, list[tuple[int, Encoding]]] = {}
        self._starts: list[int] | None = None
        self._boundaries: list[int] = [0]
        self._complete = 0
        self._refreshed = 0  # the complete length the reference and the pre-token starts are for
        self.extend(data)

    def extend(self, more: bytes) -> None:
        """Append bytes to the text; canonical encodings of earlier prefixes stay as they were. The reference
        encoding and the pre-token starts are brought up to date lazily, from a window before the old end
        (`_refresh`), so that a text growing byte by byte is not encoded anew at every byte."""
        if not more:
            return
        self.data += more
        complete = complete_prefix_length(self.data)
        if complete > self._complete:
            text = self.data[self._complete:complete].decode("utf-8")
            position = self._complete
            for char in text:
                position += len(char.encode("utf-8"))
                self._boundaries.append(position)
            self._complete = complete

    def grown(self, more: bytes) -> CanonicalText:
        """A new text: this one followed by `more`, starting from this one's reference encoding and pre-token
        starts instead of encoding the whole text again (what a look ahead of a few bytes needs)."""
        other = CanonicalText(self.encoder)
        other.data = self.data
        other._reference, other._starts, other._refreshed = self._reference, self._starts, self._refreshed
        other._boundaries, other._complete = list(self._boundaries), self._complete
        other.extend(more)
        return other

    @property
    def complete_length(self) -> int:
        """Length of the longest prefix that ends at a character boundary of valid UTF-8."""
        return self._complete

    def continuations(self, end: int) -> np.ndarray:
        """The bytes that may follow the first `end` bytes in UTF-8 text (all False after invalid bytes)."""
        start = self._boundaries[bisect.bisect_right(self._boundaries, end) - 1]
        tail = self.data[start:end]
        if len(tail) > 3 or (tail and not is_text_prefix(tail)):
            return np.zeros(256, dtype=bool)
        return text_continuations(tail)

    def is_boundary(self, end: int) -> bool:
        """Whether the prefix of length `end` is valid UTF-8 ending at a character boundary."""
        index = bisect.bisect_left(self._boundaries, end)
        return index < len(self._boundaries) and self._boundaries[index] == end

    def is_encoded(self, end: int) -> bool:
        """Whether the tokenizer's encoding of the prefix of length `end` spells it, so that the text may end
        there (not inside a character, nor after the dummy-prefix space alone, whose text is empty)."""
        if not self.is_boundary(end):
            return False
        self.encode_ends([end])
        return self.windows[end] is not None

    def _text(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8")

    def _window_text(self, anchor: int, end: int) -> str:
        """The text whose encoding spells data[anchor:end]: without its first byte where the tokenizer puts
        that space back (its dummy prefix: the stream's start, or a window's anchor at a space)."""
        return self._text(anchor + len(self.encoder.stream_prefix), end) if end > anchor else ""

    def _anchor_in(self, starts: list[int], end: int, bounds: dict[int, int]) -> int:
        """Where the window for E(data[:end]) starts: a pre-token start two pre-tokens before `end` or
        earlier, where the reference has a token boundary and NFC (if any) splits the text; 0 if none."""
        last = bisect.bisect_right(starts, end - 1) - 1 - self.encoder.context_pretokens
        for index in range(last, max(last - ANCHOR_TRIES, 0), -1):
            anchor = starts[index]
            if anchor in bounds and self._nfc_splits_at(anchor):
                return anchor
        return 0

    def _pretoken_starts(self) -> list[int]:
        """Byte offsets where the pre-tokenizer starts a pre-token in the complete text."""
        self._refresh()
        if self._starts is None:
            self._starts = self.encoder.pretoken_starts(self._text(0, self._complete))
        return self._starts

    def reference(self) -> tuple[Encoding | None, dict[int, int]]:
        """E of the longest complete prefix, and for each of its token boundaries (byte offset) the number
        of tokens before it. Windows reuse its tokens up to their anchor: the text before an anchor two
        pre-tokens back is tokenized as in the whole text (a prefix on its own can differ: trailing
        whitespace is split differently when nothing follows it)."""
        self._refresh()
        if self._reference is None:
            self._reference = self._encoded_from(0, (), {0: 0})
        return self._reference

    def _encoded_from(self, anchor: int, head: Encoding, bounds: dict[int, int]) -> tuple[Encoding | None, dict]:
        """The reference from `head` (its tokens before `anchor`, with their `bounds`) and the encoding of
        the complete text after `anchor`."""
        ids = self.encoder.encode_many([self._window_text(anchor, self._complete)])[0]
        position, count = anchor, len(head)
        for k, token_id in enumerate(ids):
            piece = self.encoder.view[token_id] if token_id < len(self.encoder.view) else None
            if piece is None:
                break
            position += len(piece)
            bounds[position] = count + k + 1
        spelled = (position == self._complete and len(bounds) == count + len(ids) + 1
                   and self.encoder.spelled(ids) == self.data[anchor:position])  # a normaliser may change it
        return (head + tuple(ids) if spelled else None), bounds

    def _refresh(self) -> None:
        """Bring the reference and the pre-token starts up to the complete text after it grew: both are kept
        up to the window anchor of the old end (the text before it is tokenized as in the longer text) and
        worked out again after it; without a windowed tokenizer, or a reference that does not spell its
        text, they are worked out anew."""
        if self._refreshed == self._complete:
            return
        old, self._refreshed = self._refreshed, self._complete
        reference, starts = self._reference, self._starts
        self._reference = self._starts = None
        if not self.encoder.windowed or reference is None or reference[0] is None or starts is None:
            return
        ids, bounds = reference
        anchor = self._anchor_in(starts, old, bounds)
        if not anchor:
            return
        self._starts = [s for s in starts if s < anchor] + [
            anchor + s for s in self.encoder.pretoken_starts(self._text(anchor, self._complete))]
        self._reference = self._encoded_from(anchor, ids[:bounds[anchor]],
                                             {end: n for end, n in bounds.items() if end <= anchor})

    def _window(self, end: int) -> tuple[int, Encoding, int] | None:
        """(anchor, the reference encoding, its tokens before the anchor) for a window ending at `end`, None
        to encode fully."""
        if not self.encoder.windowed:
            return None
        ids, bounds = self.reference()
        if ids is None:
            return None
        anchor = self._anchor_in(self._pretoken_starts(), end, bounds)
        return anchor, ids, bounds[anchor]

    def _nfc_splits_at(self, anchor: int) -> bool:
        """Whether the tokenizer's NFC (if it has one) normalises the text before `anchor` and the text from
        it apart, so that a window may start there."""
        if not self.encoder.nfc or anchor == 0:
            return True
        return starts_nfc_piece(self.data[anchor:anchor + 4].decode("utf-8", errors="ignore")[:1])

    def encodings(self, ends: Iterable[int]) -> dict[int, Encoding | None]:
        """E(data[:end]) for character-boundary ends, None where the encoding does not spell the prefix."""
        ends = list(ends)
        self.encode_ends(ends)
        return {e: None if self.windows[e] is None else self._spelled_out(e, *self.windows[e]) for e in ends}

    def encode_ends(self, ends: Iterable[int]) -> None:
        """Work out E(data[:end]) for character-boundary ends, as `windows[end]`: (the number of reference
        tokens it starts with, the tokens after them), or None where the encoding does not spell the prefix.
        The pairs keep a long text's encodings from each holding a copy of all the tokens before them."""
        wanted = sorted({e for e in ends if e not in self.windows})
        heads = {end: self._window(end) or (0, (), 0) for end in wanted}
        while wanted:
            texts = [self._window_text(heads[end][0], end) for end in wanted]
            retry = []
            for end, ids in zip(wanted, self.encoder.encode_many(texts), strict=True):
                anchor, source, count = heads[end]
                tail = tuple(ids)
                if self.encoder.spelled(tail) == self.data[anchor:end]:
                    self.windows[end] = (count, tail)
                    if count:
                        self._heads[end] = source
                elif anchor:  # a window the normaliser changed: encode the whole prefix instead
                    heads[end] = (0, (), 0)
                    retry.append(end)
                else:
                    self.windows[end] = None
            wanted = retry

    def _spelled_out(self, end: int, count: int, tail: Encoding) -> Encoding:
        return self._heads[end][:count] + tail if count else tail

    def state_windows(self, end: int) -> list[tuple[int, Encoding]]:
        """canon(data[:end]) as (n, tail) pairs: the first n tokens of the reference encoding followed by
        `tail`; what `states` spells out in full (the states of a long text share their heads)."""
        cached = self._state_windows.get(end)
        if cached is not None:
            return cached
        if end and end == len(self.encoder.stream_prefix):
            found = [(0, taken) for taken in self.encoder.prefix_states]
        elif self.is_boundary(end):
            self.encode_ends([end])
            found = [] if self.windows[end] is None else [self.windows[end]]
        else:
            found = self._partial_states(end)
        self._state_windows[end] = found
        return found

    def states(self, end: int) -> list[Encoding]:
        """canon(data[:end]): the canonical encodings whose bytes are exactly the first `end` bytes."""
        return [self._spelled_out(end, count, tail) for count, tail in self.state_windows(end)]

    def _partial_states(self, end: int) -> list[tuple[int, Encoding]]:
        """canon(p) for a prefix that ends inside a character, over every completion of that character, as
        `state_windows` gives them."""
        start = self._boundaries[bisect.bisect_right(self._boundaries, end) - 1]
        partial = self.data[start:end]
        chars = completions(partial) if 0 < len(partial) < 4 else ()
        if not chars:
            return []
        anchor, source, count = (self._window(start) if start else None) or (0, (), 0)
        if count:
            self._heads[end] = source
        base, lead = self._window_text(anchor, start), self.encoder.stream_prefix
        return [(count, taken) for taken in self.encoder.completion_cuts(base, partial, lead)]
