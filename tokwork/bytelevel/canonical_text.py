"""canon(p) for every byte prefix p of one text, which may grow as bytes are generated.

E(p), the tokenizer's encoding of p (`canonical.py`), is computed for every prefix of a long text without
re-encoding the text each time: for tokenizers that split text into pre-tokens before their model
(`tokenizer.json` with a pre-tokenizer and no normaliser) the prefix up to the start of a pre-token two
pre-tokens back is reused and only the rest is encoded; BPE with byte fallback and no pre-tokenizer (Gemma 3)
and SentencePiece models with byte fallback are cut where no merge crosses (`safe_cuts.py`; with a dummy
prefix, at a space, which the tokenizer puts back). An NFC normaliser (Qwen) allows the same where the text is
already in NFC (the reference encoding spells it) and the window starts at a character NFC cannot join to what
precedes it, so that NFC of the prefix is the text before the window followed by NFC of the window. The tests
compare this with full encodes on arbitrary text; other tokenizers are encoded in full.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

import numpy as np

from tokwork.bytelevel.canonical import (
    ANCHOR_TRIES,
    CanonicalEncoder,
    Encoding,
    complete_prefix_length,
    completions,
    is_text_prefix,
    text_continuations,
)
from tokwork.bytelevel.text_splits import starts_nfc_piece


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
