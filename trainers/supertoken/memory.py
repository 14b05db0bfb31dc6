"""How the supertoken trainers keep their memory down: the corpus is read once and kept as UTF-8 bytes back
to back (`TextBuffer`), and what one phase freed is handed back to the system before the next
(`release_freed_memory`)."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterable, Iterator

import numpy as np


class TextBuffer:
    """Passes texts through (to a first trainer) while keeping their UTF-8 bytes back to back."""

    def __init__(self, texts: Iterable[str]):
        self.texts = texts
        self.buffer = bytearray()
        self.ends: list[int] = []

    def __iter__(self) -> Iterator[str]:
        for text in self.texts:
            self.buffer += text.encode("utf-8")
            self.ends.append(len(self.buffer))
            yield text

    def read(self) -> tuple[np.ndarray, np.ndarray]:
        """The bytes and where each text ends, reading the texts first if nothing has read them."""
        if not self.ends:
            for _ in self:
                pass
        return np.frombuffer(self.buffer, dtype=np.uint8), np.array(self.ends, dtype=np.int64)


def release_freed_memory() -> None:
    """Hand memory that was freed back to the system (glibc's `malloc_trim`; nothing elsewhere), so that the
    next phase does not pile up on top of what the previous one used and let go."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
