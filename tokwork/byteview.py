"""The byte view: for every token id, the exact bytes it stands for.

Tokenizers spell their tokens in different alphabets: GPT-2 style byte-level BPE maps each byte to a
printable character, SentencePiece writes a space as `▁` and unknown bytes as `<0xNN>` pieces, tiktoken
stores raw bytes. The byte view undoes all of that, so that `b"".join(view[i] for i in encode(text))`
is `text.encode()` (after the tokenizer's own normalisation, and with a leading space where the tokenizer
adds a dummy prefix that its decoder strips again). Special tokens (bos, eos, pad, unk, control pieces)
stand for no bytes and are `None`. Vocabulary alignment, transplant and the byte-level layer build on it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tokwork.errors import TokenizerFormatError


@functools.cache
def byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable characters (as in byte-level BPE).

    Printable Latin-1 bytes map to themselves; the other 68 bytes map, in byte order, to U+0100 onwards.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


@functools.cache
def unicode_to_byte() -> dict[str, int]:
    """The inverse of `byte_to_unicode`."""
    return {ch: b for b, ch in byte_to_unicode().items()}


def bytes_to_byte_level(data: bytes) -> str:
    """Spell raw bytes in the GPT-2 byte-level alphabet (how byte-level BPE vocabularies store tokens)."""
    table = byte_to_unicode()
    return "".join(table[b] for b in data)


def byte_level_to_bytes(token: str) -> bytes | None:
    """Undo the GPT-2 alphabet; None when a character is outside it (then the token is literal text)."""
    table = unicode_to_byte()
    try:
        return bytes(table[ch] for ch in token)
    except KeyError:
        return None


def byte_fallback_value(piece: str) -> int | None:
    """The byte of a SentencePiece byte-fallback piece such as `<0x0A>`, else None."""
    if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
        try:
            return int(piece[3:5], 16)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class ByteView:
    """The bytes of every token id, `None` for ids that stand for no bytes (special and control tokens).

    `strips_leading_space` is true for tokenizers that add a dummy-prefix space when encoding and whose
    decoder removes it again (Llama 2 style SentencePiece); `decode_bytes` removes it the same way.
    """

    token_bytes: tuple[bytes | None, ...]
    strips_leading_space: bool = False

    def __len__(self) -> int:
        return len(self.token_bytes)

    def __getitem__(self, token_id: int) -> bytes | None:
        return self.token_bytes[token_id]

    def join(self, ids: Iterable[int]) -> bytes:
        """Concatenate the bytes of `ids` as they are, dummy prefix included; specials are an error."""
        parts = []
        for token_id in ids:
            piece = self.token_bytes[token_id]
            if piece is None:
                raise TokenizerFormatError(f"token id {token_id} is a special token and stands for no bytes")
            parts.append(piece)
        return b"".join(parts)

    def decode_bytes(self, ids: Iterable[int], *, skip_special: bool = True) -> bytes:
        """The bytes a sequence of ids decodes to, with the decoder's own dummy-prefix stripping."""
        if skip_special:
            ids = [i for i in ids if self.token_bytes[i] is not None]
        data = self.join(ids)
        if self.strips_leading_space and data.startswith(b" "):
            data = data[1:]
        return data

    def special_ids(self) -> list[int]:
        """Ids that stand for no bytes."""
        return [i for i, piece in enumerate(self.token_bytes) if piece is None]

    def single_byte_coverage(self) -> int:
        """How many of the 256 byte values have a token of exactly that one byte."""
        return len({piece for piece in self.token_bytes if piece is not None and len(piece) == 1})

    def ids_by_bytes(self) -> dict[bytes, list[int]]:
        """Map each byte string to the ids that spell it (several ids can share one byte string)."""
        table: dict[bytes, list[int]] = {}
        for token_id, piece in enumerate(self.token_bytes):
            if piece is not None:
                table.setdefault(piece, []).append(token_id)
        return table


def build_byte_view(pieces: Sequence[bytes | None], *, strips_leading_space: bool = False) -> ByteView:
    """Freeze a list of per-id bytes into a `ByteView`."""
    return ByteView(tuple(pieces), strips_leading_space)
