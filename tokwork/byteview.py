"""The byte view: for every token id, the exact bytes it stands for.

Tokenizers spell their tokens in different alphabets: GPT-2 style byte-level BPE maps each byte to a
printable character, SentencePiece writes a space as `▁` and unknown bytes as `<0xNN>` pieces, tiktoken
stores raw bytes. The byte view undoes all of that, so that `b"".join(view[i] for i in encode(text))`
is `text.encode()` (after the tokenizer's own normalisation, and with a leading space where the tokenizer
adds a dummy prefix that its decoder strips again). Special tokens (bos, eos, pad, unk, control pieces)
stand for no bytes and are `None`. Vocabulary alignment, transplant and the byte-level layer build on it.

Building the view walks the whole vocabulary in Python, which for a large one costs as much as loading the
tokenizer; so the view of a tokenizer read from a file is kept in the tokwork cache (`store_byte_view`,
`stored_byte_view`) under `derivation_key`: a digest of the file and of the code that derives the view.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import sys
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokwork.cache import cache_dir, source_digest
from tokwork.errors import ParameterError, TokenizerFormatError


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


class ByteView:
    """The bytes of every token id, `None` for ids that stand for no bytes (special and control tokens).

    `strips_leading_space` is true for tokenizers that add a dummy-prefix space when encoding and whose
    decoder removes it again (Llama 2 style SentencePiece); `decode_bytes` removes it the same way.
    A view read from the cache keeps the tokens' bytes laid end to end and cuts a token out when asked
    for one, so that the benchmark, which needs the lengths and a few thousand tokens, never builds one
    bytes object per id; `token_bytes`, the tuple of them all, is built on first use.
    """

    def __init__(self, token_bytes: Sequence[bytes | None], strips_leading_space: bool = False):
        self.token_bytes = tuple(token_bytes)
        self.strips_leading_space = strips_leading_space
        self._packed = None

    @classmethod
    def _from_packed(cls, data: bytes, lengths, *, strips_leading_space: bool) -> ByteView:
        """A view over `data`, which holds the tokens' bytes end to end from offset `len(data) -
        lengths.clip(0).sum()`, given one length per id as an int64 array (-1: no bytes)."""
        import numpy as np  # only here and in `token_lengths`: plain `import tokwork` stays light

        sizes = np.maximum(lengths, 0)
        ends = np.cumsum(sizes) + (len(data) - int(sizes.sum()))
        view = cls.__new__(cls)
        view.strips_leading_space = strips_leading_space
        view._packed = (data, ends - sizes, lengths)
        return view

    @functools.cached_property
    def token_bytes(self) -> tuple[bytes | None, ...]:  # only views read from the cache get here
        data, starts, lengths = self._packed
        return tuple(None if n < 0 else data[a:a + n] for a, n in zip(starts.tolist(), lengths.tolist(),
                                                                        strict=True))

    def token_lengths(self):
        """The byte length of every id as an int64 numpy array, -1 for ids that stand for no bytes."""
        import numpy as np

        if self._packed is not None:
            return self._packed[2]
        return np.array([-1 if piece is None else len(piece) for piece in self.token_bytes], dtype=np.int64)

    def __len__(self) -> int:
        return len(self._packed[2]) if self._packed is not None else len(self.token_bytes)

    def __getitem__(self, token_id: int) -> bytes | None:
        if token_id < 0:  # not a token: Python would count it from the end
            raise IndexError(f"token id {token_id} is negative")
        if self._packed is None or "token_bytes" in self.__dict__:
            return self.token_bytes[token_id]
        data, starts, lengths = self._packed_lists
        length = lengths[token_id]
        return None if length < 0 else data[starts[token_id]:starts[token_id] + length]

    def pieces(self, token_ids: Sequence[int]) -> list[bytes | None]:
        """The bytes of each of `token_ids` (None for ids that stand for no bytes): for a few thousand ids
        of a large vocabulary, cheaper than indexing one at a time, which first lists every id's offsets."""
        if self._packed is None or "token_bytes" in self.__dict__ or "_packed_lists" in self.__dict__:
            return [self[token_id] for token_id in token_ids]
        import numpy as np

        data, starts, lengths = self._packed
        index = np.asarray(token_ids, dtype=np.int64)
        return [None if n < 0 else data[a:a + n]
                for a, n in zip(starts[index].tolist(), lengths[index].tolist(), strict=True)]

    @functools.cached_property
    def _packed_lists(self) -> tuple[bytes, list[int], list[int]]:
        """The packed offsets as Python lists: indexing those is several times faster than numpy's."""
        data, starts, lengths = self._packed
        return data, starts.tolist(), lengths.tolist()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ByteView):
            return NotImplemented
        return (self.strips_leading_space, self.token_bytes) == (other.strips_leading_space, other.token_bytes)

    def __hash__(self) -> int:
        return hash((self.token_bytes, self.strips_leading_space))

    def __repr__(self) -> str:
        return f"ByteView({len(self)} ids, strips_leading_space={self.strips_leading_space})"

    def join(self, ids: Iterable[int]) -> bytes:
        """Concatenate the bytes of `ids` as they are, dummy prefix included; specials are an error."""
        parts = []
        for token_id in ids:
            if not 0 <= token_id < len(self.token_bytes):
                raise ParameterError(f"token id {token_id} is not an id of this vocabulary (0 to "
                                     f"{len(self.token_bytes) - 1})")
            piece = self.token_bytes[token_id]
            if piece is None:
                raise TokenizerFormatError(f"token id {token_id} is a special token and stands for no bytes")
            parts.append(piece)
        return b"".join(parts)

    def decode_bytes(self, ids: Iterable[int], *, skip_special: bool = True) -> bytes:
        """The bytes a sequence of ids decodes to, with the decoder's own dummy-prefix stripping."""
        if skip_special:
            ids = [i for i in ids if not 0 <= i < len(self.token_bytes) or self.token_bytes[i] is not None]
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


# A stored view: this magic, the token count and a flag as two little-endian uint32, then one int32 length
# per token (-1: no bytes), then every token's bytes, concatenated.
STORED_MAGIC = b"tokwork byte view 1\n"
_HEADER = struct.Struct("<II")


def _code_digest(cls: type) -> str:
    """A hex digest of the source of this module and of every tokwork module `cls` and its bases live in."""
    return source_digest(frozenset({c.__module__ for c in cls.__mro__ if c.__module__.split(".")[0] == "tokwork"}
                                   | {__name__}))


def derivation_key(data: bytes, cls: type) -> str:
    """The cache key of the byte view that `cls` derives from `data` (the tokenizer's file, and whatever
    else fixes the view): `<digest of the data>-<digest of the code>`, so that a new file or a change to
    the code that reads it gives a new key, never a stale view."""
    return f"{hashlib.sha256(data).hexdigest()[:40]}-{_code_digest(cls)[:16]}"


def _stored_path(key: str) -> Path:
    return cache_dir("byteviews") / f"{key}.bin"


def store_byte_view(key: str, view: ByteView) -> None:
    """Keep `view` in the tokwork cache under `key` (written to a temporary sibling and renamed, so that
    processes storing the same view at once cannot leave half a file), in place of views of the same file
    that older code derived. A cache that cannot be written only costs speed: an `OSError` is ignored."""
    from tokwork.outputs import output_file  # here, not at the top: it imports importlib.metadata, slow

    lengths = array("i", (-1 if piece is None else len(piece) for piece in view.token_bytes))
    if sys.byteorder != "little":
        lengths.byteswap()
    try:
        with output_file(_stored_path(key), cache=True) as staging, staging.open("wb") as handle:
            handle.write(STORED_MAGIC + _HEADER.pack(len(view), view.strips_leading_space))
            handle.write(lengths.tobytes())
            handle.write(b"".join(piece for piece in view.token_bytes if piece is not None))
        data_digest = key.split("-")[0]
        for older in _stored_path(key).parent.glob(f"{data_digest}-*.bin"):  # the same file, older code
            if older.name != f"{key}.bin":
                older.unlink(missing_ok=True)
    except OSError:
        pass


def stored_byte_view(key: str) -> ByteView | None:
    """The view stored under `key`, or None when there is none (or a file that does not add up)."""
    try:
        data = _stored_path(key).read_bytes()
    except OSError:
        return None
    start = len(STORED_MAGIC) + _HEADER.size
    if not data.startswith(STORED_MAGIC) or len(data) < start:
        return None
    import numpy as np

    count, strips = _HEADER.unpack_from(data, len(STORED_MAGIC))
    if len(data) < start + 4 * count:
        return None
    lengths = np.frombuffer(data, dtype="<i4", count=count, offset=start).astype(np.int64)
    if start + 4 * count + int(np.maximum(lengths, 0).sum()) != len(data):
        return None
    return ByteView._from_packed(data, lengths, strips_leading_space=bool(strips))
