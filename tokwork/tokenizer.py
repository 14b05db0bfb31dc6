"""One `Tokenizer` type over every format users have: `tokenizer.json`, SentencePiece `.model`, tiktoken.

Each format is a subclass in `tokwork.formats`; `tokwork.loader.load_tokenizer` picks it from the path.
This module holds only the abstract type, so the formats build on it and the loader on them. All give
the same interface: encode and decode exactly (special-token strings in the text are encoded as plain text
unless asked otherwise), the special tokens by role, and the byte view of the vocabulary.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tokwork.byteview import ByteView, store_byte_view, stored_byte_view
from tokwork.errors import ParameterError

ROLES = ("bos", "eos", "pad", "unk")


def text_problem(text: object) -> str | None:
    """Why `text` cannot be encoded, in a line (not a string; a lone surrogate, which UTF-8 cannot hold),
    or None."""
    if not isinstance(text, str):
        return f"a text to encode must be a str, not {type(text).__name__}"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return (f"the text holds a lone surrogate U+{ord(text[err.start]):04X} at character {err.start}, which "
                "UTF-8 cannot encode (decode its bytes with errors='replace' or mend it first)")
    return None


def checked_texts(texts: Sequence[str]) -> list[str]:
    """`texts` as a list of encodable strings; `ParameterError` for a single string given where a list of
    texts is wanted (it would be read one character at a time) and for any text `text_problem` refuses
    (named by its number where there are several)."""
    if isinstance(texts, str):
        raise ParameterError("encode_batch takes a list of texts, not one string; use encode(text) for one")
    texts = list(texts)
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not text.isascii():
            problem = text_problem(text)
            if problem:
                raise ParameterError(f"text {index}: {problem}" if len(texts) > 1 else problem)
    return texts


def checked_text(text: str) -> str:
    """`text` itself, or `ParameterError` saying why it cannot be encoded (`text_problem`)."""
    if not isinstance(text, str) or not text.isascii():
        problem = text_problem(text)
        if problem:
            raise ParameterError(problem)
    return text


def checked_ids(ids: Sequence[int], vocab_size: int) -> list[int]:
    """`ids` (any iterable of integers, a numpy array too) as a list of ints, each a token id of a
    vocabulary of `vocab_size`; `ParameterError` naming the first that is not (Python would read a negative
    id from the end of the vocabulary, numpy a bool among ints as 0 or 1)."""
    import numpy as np

    if not isinstance(ids, np.ndarray):
        ids = list(ids)
    array = np.asarray(ids)
    mixed = not isinstance(ids, np.ndarray) and bool in set(map(type, ids))
    if array.size and (mixed or array.dtype.kind not in "iu" or array.ndim != 1 or array.min() < 0
                       or array.max() >= vocab_size):
        listed = ids.ravel().tolist() if isinstance(ids, np.ndarray) else ids
        bad = next((i for i in listed if isinstance(i, bool | np.bool_) or not isinstance(i, int | np.integer)
                    or not 0 <= i < vocab_size), listed)
        raise ParameterError(f"token id {bad!r} is not an id of this vocabulary (0 to {vocab_size - 1})")
    return array.tolist()


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of the special tokens by role (None where the tokenizer has no such token)."""

    bos: int | None = None
    eos: int | None = None
    pad: int | None = None
    unk: int | None = None

    def as_json(self) -> dict[str, int | None]:
        return asdict(self)


class Tokenizer(ABC):
    """A tokenizer of any supported format, with the exact bytes of each token (`byte_view`)."""

    format: str = ""

    def __init__(self, source: Path | None):
        self.source = source

    def __repr__(self) -> str:
        where = f"'{self.source}'" if self.source is not None else "in memory"
        return f"<{type(self).__name__} {where}: {self.format}, {self.vocab_size:,} ids>"

    @abstractmethod
    def encode(self, text: str, *, add_special_tokens: bool = False, parse_special: bool = False) -> list[int]:
        """Token ids of `text`. Special-token strings inside the text stay text unless `parse_special`."""

    def encode_batch(
        self, texts: Sequence[str], *, add_special_tokens: bool = False, parse_special: bool = False
    ) -> list[list[int]]:
        """Token ids of many texts at once (in parallel where the backend can)."""
        return [self.encode(t, add_special_tokens=add_special_tokens, parse_special=parse_special) for t in texts]

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """The text of a sequence of ids, as the tokenizer's own library decodes it (specials kept)."""

    def decode_bytes(self, ids: Sequence[int], *, skip_special: bool = True) -> bytes:
        """The exact bytes of a sequence of ids, from the byte view (no lossy UTF-8 repair)."""
        return self.byte_view.decode_bytes(checked_ids(ids, self.vocab_size), skip_special=skip_special)

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """The number of token ids (one more than the largest id, added tokens included)."""

    @abstractmethod
    def id_to_token(self, token_id: int) -> str | None:
        """The token's string as the tokenizer stores it (`Ġthe`, `▁the`, `<0x0A>`), None for a gap."""

    @abstractmethod
    def token_to_id(self, token: str) -> int | None:
        """The id of a token string as the tokenizer stores it, None if absent."""

    @property
    @abstractmethod
    def specials(self) -> SpecialTokens:
        """The special tokens by role."""

    def normalize(self, text: str) -> str:
        """The text this tokenizer actually represents: `text` after its normaliser (e.g. NFC).

        `decode(encode(text)) == normalize(text)` for every text the tokenizer can represent.
        """
        return text

    def round_trip(self, text: str, ids: Sequence[int]) -> str:
        """How `ids` (an encoding of `text`) decode: "exact" (to `text` itself), "normalized" (to the text
        after the tokenizer's normaliser, which is all it represents) or "lost" (to something else: a
        character the vocabulary cannot spell, say)."""
        decoded = self.decode(ids)
        if decoded == text:
            return "exact"
        return "normalized" if decoded == self.normalize(text) else "lost"

    @functools.cached_property
    def byte_view(self) -> ByteView:
        """For every id, the bytes it stands for; computed once on first use, and for a tokenizer read from
        a file kept in the tokwork cache under the file's digest (`byte_view_key`)."""
        if self._stored_byte_view is not None:
            return self._stored_byte_view
        view = self._build_byte_view()
        if self._byte_view_key is not None:
            store_byte_view(self._byte_view_key, view)
        return view

    @abstractmethod
    def _build_byte_view(self) -> ByteView: ...

    def byte_view_key(self) -> str | None:
        """The key the byte view is cached under (`tokwork.byteview.derivation_key` of the files it is
        derived from), or None to build it every time: tokenizers built in memory, or whose file changed
        since it was read."""
        return None

    @functools.cached_property
    def _byte_view_key(self) -> str | None:
        return self.byte_view_key()

    @functools.cached_property
    def _stored_byte_view(self) -> ByteView | None:
        """The cached byte view, if there is one (read once; it also gives the vocabulary size)."""
        return None if self._byte_view_key is None else stored_byte_view(self._byte_view_key)

    def save(self, directory: str | Path) -> list[Path]:
        """Write the tokenizer's native files into `directory` (which must exist); return their paths. Each
        file is written whole beside the folder's others and then renamed into place, so an interrupted save
        never leaves half a file."""
        from tokwork.outputs import files_into  # outputs reads cached tokenizers' paths: imported late

        return files_into(directory, self._write_files)

    @abstractmethod
    def _write_files(self, directory: Path) -> list[Path]:
        """Write the tokenizer's native files into the empty folder `directory`; return their paths."""

    def describe(self) -> dict:
        """A summary for `tokwork info`: format, size, specials by role and byte coverage."""
        view = self.byte_view
        specials = self.specials
        names = {role: self.id_to_token(i) for role, i in specials.as_json().items() if i is not None}
        return {
            "format": self.format,
            "source": str(self.source) if self.source else None,
            "vocab_size": self.vocab_size,
            "specials": specials.as_json(),
            "special_names": names,
            "no_byte_tokens": len(view.special_ids()),
            "single_byte_tokens": view.single_byte_coverage(),
            "dummy_prefix": view.strips_leading_space,
        }
