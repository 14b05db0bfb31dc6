"""The vocabulary sorted by the bytes of each token, so that extensions of a partial token are ranges.

Sorted byte strings put every token that starts with `u` in one contiguous range, `u` itself first (a
shorter string sorts before its extensions), then the tokens whose next byte is 0x00, 0x01, ... 0xFF, each a
contiguous sub-range. `offsets(u)` gives the 258 bounds of those 257 segments, which the `segment_sum`
kernel turns into next-byte masses (Phan et al. 2024, "Exact Byte-Level Probabilities from Tokenized
Language Models"). Ids without bytes (special tokens, rows the model has beyond the tokenizer, empty
tokens) are left out: they can never spell text.
"""

from __future__ import annotations

import bisect

import numpy as np

from tokwork.byteview import ByteView

SEGMENTS = 257  # the exact match, then one segment per next byte
PROBE_BYTES = np.arange(-1, 256, dtype=np.int16)


def _successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string that starts with `prefix` (None: no such string)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


class ByteVocabulary:
    """Byte-bearing token ids in byte order, with ranges of extensions and next-byte segment bounds."""

    def __init__(self, view: ByteView, model_vocab_size: int):
        usable = min(len(view), model_vocab_size)
        ids = [i for i in range(usable) if view[i]]
        ids.sort(key=lambda i: (view[i], i))
        self.order = np.array(ids, dtype=np.int64)  # sorted position -> token id
        self.pieces: list[bytes] = [view[i] for i in ids]
        self.size = len(ids)
        self.max_length = max((len(p) for p in self.pieces), default=0)
        # byte_at[d, k]: byte d of sorted token k, or -1 where the token is shorter; non-decreasing inside
        # every range of tokens that share their first d bytes, which is what searchsorted needs.
        self.byte_at = np.full((self.max_length + 1, self.size), -1, dtype=np.int16)
        for k, piece in enumerate(self.pieces):
            self.byte_at[: len(piece), k] = np.frombuffer(piece, dtype=np.uint8)
        self.single_bytes = sorted({p[0] for p in self.pieces if len(p) == 1})
        self.first_bytes = sorted({p[0] for p in self.pieces})
        self._offsets: dict[bytes, np.ndarray] = {}

    def extension_range(self, prefix: bytes) -> tuple[int, int]:
        """Sorted positions [lo, hi) of the tokens whose bytes start with `prefix`."""
        lo = bisect.bisect_left(self.pieces, prefix)
        successor = _successor(prefix)
        hi = self.size if successor is None else bisect.bisect_left(self.pieces, successor, lo)
        return lo, hi

    def has_extension(self, prefix: bytes) -> bool:
        """Whether some token starts with `prefix` (so a cover can still end inside that token)."""
        lo, hi = self.extension_range(prefix)
        return lo < hi

    def offsets(self, prefix: bytes) -> np.ndarray:
        """The 258 bounds of the segments of tokens extending `prefix`: [lo, end of the tokens equal to it,
        end of those continuing with byte 0, ..., end of those continuing with byte 255 = hi]."""
        cached = self._offsets.get(prefix)
        if cached is not None:
            return cached
        lo, hi = self.extension_range(prefix)
        bounds = np.empty(SEGMENTS + 1, dtype=np.int64)
        bounds[0] = lo
        depth = len(prefix)
        if depth <= self.max_length:
            bounds[1:] = lo + np.searchsorted(self.byte_at[depth, lo:hi], PROBE_BYTES, side="right")
        else:
            bounds[1:] = lo
        if len(self._offsets) < 1 << 18:
            self._offsets[prefix] = bounds
        return bounds
