"""What happens to a text before a BPE model merges it, as far as the merge-based cuts need to know:
added tokens cut out of it, and NFC normalisation.

`AddedTokenScan` finds where the last added-token match in a text ends, as `tokenizers` matches them
(leftmost-longest over the raw text; special tokens are matched too, but the byte level encodes with
`encode_special_tokens`, so they stay text and split nothing). `nfc_safe` says which characters, appended
to a text already in NFC, leave it in NFC: assigned starters that are their own NFC and never the second
part of a composition. Those properties of assigned characters never change between Unicode versions, so
Python's tables agree with the tokenizer's wherever both know a character; a character Python does not
know is not counted as safe. Such characters can still be checked with the tokenizer's own normaliser
after the text that can interact with them (`nfc_boundary`, `kept_by_nfc`), many in one call.
"""

from __future__ import annotations

import functools
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np


class AddedTokenScan:
    """The added tokens of a `tokenizer.json` as `tokenizers` cuts them out of a text before its model."""

    def __init__(self, added: list[tuple[str, bool]]):
        self.by_first: dict[str, list[tuple[str, bool]]] = defaultdict(list)
        for content, splits in sorted(added, key=lambda item: len(item[0]), reverse=True):  # longest first
            self.by_first[content[0]].append((content, splits))
        self.chars = {char for content, _ in added for char in content if not char.isascii()}

    @classmethod
    def from_spec(cls, spec: dict, *, normalized_ok: bool) -> AddedTokenScan | None:
        """The scan of `spec`'s added tokens (`normalized_ok`: non-special tokens matched after normalising
        may be taken as matched on the raw text, because the caller checks the text is left unchanged);
        None when a non-special token strips spaces or matches whole words only."""
        added = []
        for token in spec.get("added_tokens", []):
            special, content = bool(token.get("special")), token.get("content") or ""
            if special and token.get("normalized"):
                continue  # matched after normalising, where no other token is: it shadows nothing
            if not special and ((token.get("normalized") and not normalized_ok) or token.get("lstrip")
                                or token.get("rstrip") or token.get("single_word")):
                return None
            if content:
                added.append((content, not special))
        return cls(added)

    def last_end(self, text: str) -> int:
        """Where the last added-token match that splits `text` ends (0: none)."""
        last, i = 0, 0
        while i < len(text):
            for content, splits in self.by_first.get(text[i], ()):
                if text.startswith(content, i):
                    i += len(content)
                    last = i if splits else last
                    break
            else:
                i += 1
        return last


# Hangul syllables compose algorithmically (not listed in the decomposition tables): a vowel jamo after a
# leading consonant, a trailing consonant after a syllable without one.
HANGUL_SECOND_PARTS = frozenset(map(chr, [*range(0x1161, 0x1176), *range(0x11A8, 0x11C3)]))


@functools.cache
def _second_parts() -> frozenset[str]:
    """Characters that are the second part of a canonical composition NFC makes."""
    found = set(HANGUL_SECOND_PARTS)
    for code in range(0x80, 0x30000):
        char = chr(code)
        parts = unicodedata.decomposition(char)
        if parts and not parts.startswith("<") and unicodedata.normalize("NFC", char) == char:
            found.add(chr(int(parts.split()[-1], 16)))
    return frozenset(found)


def _is_nfc_safe(char: str, second: frozenset[str]) -> bool:
    return (unicodedata.category(char) != "Cn" and unicodedata.combining(char) == 0 and char not in second
            and unicodedata.is_normalized("NFC", char))


def nfc_safe(chars: Sequence[str]) -> np.ndarray:
    """For each character, whether appending it to a text in NFC leaves the text in NFC."""
    second = _second_parts()
    return np.array([_is_nfc_safe(c, second) for c in chars], dtype=bool)


def starts_nfc_piece(char: str) -> bool:
    """Whether NFC of a text splits before `char`: NFC of what comes before it followed by NFC of the rest
    (`char` is a starter that composes with nothing before it)."""
    return _is_nfc_safe(char, _second_parts())


def nfc_boundary(text: str) -> int:
    """Where the last piece of `text` that NFC normalises on its own starts: before its last character
    that `nfc_safe` counts as safe (a starter that composes with nothing before it), else 0. NFC of the
    text is NFC of what comes before that point followed by NFC of what comes after it."""
    second = _second_parts()
    return next((i for i in range(len(text) - 1, -1, -1) if _is_nfc_safe(text[i], second)), 0)


def kept_by_nfc(normalize: Callable[[str], str], tail: str, chars: Sequence[str]) -> np.ndarray:
    """For each character c (none ASCII), whether `normalize` (a tokenizer's own NFC) leaves `tail` + c as
    it is: one call over all of them, joined by an ASCII control character that the tail does not hold
    (ASCII characters are NFC boundaries, so each piece normalises as it would alone)."""
    if not len(chars):
        return np.zeros(0, dtype=bool)
    separator = "\x00" if "\x00" not in tail else "\x01"  # the tail holds one ASCII character at most
    pieces = [tail + c for c in chars]
    normalized = normalize(separator.join(pieces)).split(separator)
    if len(normalized) != len(pieces):
        return np.zeros(len(pieces), dtype=bool)
    return np.array([a == b for a, b in zip(normalized, pieces, strict=True)], dtype=bool)
