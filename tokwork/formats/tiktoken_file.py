"""tiktoken `.tiktoken` files: one line per token, the token's bytes in base64 and its merge rank.

The file holds neither the split pattern nor the special tokens; they come from a sidecar `<name>.json`
(`{"pattern": ..., "special_tokens": {...}}`, as `corpora/fetch_tokenizers.py` writes it) or, for the
standard encodings, from the table below. tiktoken merges, inside each pre-token, the adjacent pair whose
concatenation has the lowest rank; that is byte-level BPE whose merges, one per token, are the last join of
encoding the token's own bytes, ordered by the rank of the result, and whose whole-word lookup comes first
(`ignore_merges`). The file is converted once into such a `tokenizers` BPE (cached by the file's sha256), so
encoding runs in Rust; a cached conversion is loaded without parsing the file again.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import json
import shutil
from pathlib import Path

from tokenizers import AddedToken, decoders, models
from tokenizers import Tokenizer as BackendTokenizer

from tokwork.byteview import ByteView, build_byte_view, bytes_to_byte_level, derivation_key
from tokwork.cache import cache_dir
from tokwork.errors import TokenizerFormatError
from tokwork.formats.hf_json import HFTokenizer
from tokwork.split_patterns import CL100K, O200K, R50K, byte_level_pretokenizer
from tokwork.tokenizer import SpecialTokens

# Part of the key of converted files: a new conversion gives new files instead of reusing old ones.
CONVERSION = b"tokenizers BPE, one merge per token\n"
# The standard encodings' split patterns and special tokens, for files that come without a sidecar.
KNOWN_ENCODINGS = {
    "r50k_base": (R50K, {"<|endoftext|>": 50256}),
    "p50k_base": (R50K, {"<|endoftext|>": 50256}),
    "cl100k_base": (CL100K, {
        "<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276,
    }),
    "o200k_base": (O200K, {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}),
}


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise TokenizerFormatError(f"cannot read '{path}' ({err.strerror})") from None


def read_ranks(path: Path, data: bytes | None = None) -> dict[bytes, int]:
    """Read a `.tiktoken` file (or `data`, its bytes) into {token bytes: rank}; raises
    `TokenizerFormatError` on a bad line."""
    ranks: dict[bytes, int] = {}
    lines = (_read_file(path) if data is None else data).splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[binascii.a2b_base64(token, strict_mode=True)] = int(rank)
        except (ValueError, binascii.Error):
            raise TokenizerFormatError(f"'{path}' line {number} is not '<base64 token> <rank>'") from None
    if not ranks:
        raise TokenizerFormatError(f"'{path}' holds no tokens")
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise TokenizerFormatError(f"'{path}' ranks are not 0..{len(ranks) - 1} without gaps or repeats")
    return ranks


def read_encoding_params(path: Path) -> tuple[str, dict[str, int]]:
    """The split pattern and special tokens of a `.tiktoken` file: its sidecar JSON, else a known name."""
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        try:
            params = json.loads(sidecar.read_text(encoding="utf-8"))
            return params["pattern"], {k: int(v) for k, v in params.get("special_tokens", {}).items()}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError):
            raise TokenizerFormatError(f"'{sidecar}' is not a valid tiktoken sidecar (needs 'pattern')") from None
    if path.stem in KNOWN_ENCODINGS:
        return KNOWN_ENCODINGS[path.stem]
    raise TokenizerFormatError(
        f"'{path}' has no split pattern: put a '{sidecar.name}' with 'pattern' and 'special_tokens' beside it"
    )


def last_merge(token: bytes, ranks: dict[bytes, int]) -> tuple[bytes, bytes] | None:
    """The two parts tiktoken joins last when it encodes `token`'s own bytes (always the adjacent pair whose
    join has the lowest rank, the leftmost of equals), or None when its merges never reach `token`."""
    parts = [token[i:i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best_rank, best = None, -1
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and (best_rank is None or rank < best_rank):
                best_rank, best = rank, i
        if best_rank is None:
            return None
        parts[best:best + 2] = [parts[best] + parts[best + 1]]
    return (parts[0], parts[1]) if len(parts) == 2 else None


def ranks_to_backend(ranks: dict[bytes, int], pattern: str, special_tokens: dict[str, int]) -> BackendTokenizer:
    """Build the `tokenizers` byte-level BPE that encodes exactly as tiktoken does with these ranks.

    Its merges are one per token, the token's `last_merge`, in rank order. They are all the merges tiktoken
    ever makes: wherever it forms a token from two parts, no merge has crossed the token's edges, so the
    merges inside them were those of encoding the token's bytes alone, which end with its last merge. BPE
    picks the lowest-ranked of the merges it has, leftmost first, as tiktoken does, so leaving out the
    splits that never happen changes no output and halves the file to load.
    """
    vocab = {bytes_to_byte_level(token): rank for token, rank in ranks.items()}
    for content, token_id in special_tokens.items():
        if token_id < len(ranks) or content in vocab:
            raise TokenizerFormatError(f"special token {content!r} reuses id {token_id} or a token's spelling")
        vocab[content] = token_id  # specials may leave gaps in the ids, which added tokens cannot
    merges = [(rank, last_merge(token, ranks)) for token, rank in ranks.items() if len(token) > 1]
    pairs = [(bytes_to_byte_level(left), bytes_to_byte_level(right))
             for _, (left, right) in sorted((rank, pair) for rank, pair in merges if pair is not None)]
    backend = BackendTokenizer(models.BPE(vocab, pairs, ignore_merges=True))
    backend.pre_tokenizer = byte_level_pretokenizer(pattern)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(c, special=True, normalized=False) for c in special_tokens])
    return backend


class TiktokenTokenizer(HFTokenizer):
    """A tiktoken encoding, run by an equivalent `tokenizers` BPE; the byte view is the file's bytes."""

    format = "tiktoken"

    def __init__(self, backend: BackendTokenizer, data: bytes, *, source: Path, special_tokens, key: str):
        super().__init__(backend, source=source)
        self._data = data  # the file's bytes, parsed into ranks only where needed
        self._key = key
        self.special_tokens = dict(special_tokens)

    @classmethod
    def from_path(cls, path: Path) -> TiktokenTokenizer:
        """Load a `.tiktoken` file, converting it on first use and caching the result (under a digest of
        the file, its split pattern and specials, and the conversion, so a cached file was checked once)."""
        data = _read_file(path)
        try:
            pattern, special_tokens = read_encoding_params(path)
        except TokenizerFormatError:
            read_ranks(path, data)  # a broken file is the first thing to fix: say so first
            raise
        key = hashlib.sha256(CONVERSION + data + json.dumps([pattern, special_tokens]).encode()).hexdigest()
        cached = cache_dir("tiktoken") / f"{key[:32]}.json"
        if cached.is_file():
            backend = BackendTokenizer.from_file(str(cached))
        else:
            from tokwork.outputs import output_file  # only here: it imports importlib.metadata, slow

            backend = ranks_to_backend(read_ranks(path, data), pattern, special_tokens)
            with output_file(cached, cache=True) as staging:
                backend.save(str(staging))
        return cls(backend, data, source=path, special_tokens=special_tokens, key=key)

    @functools.cached_property
    def ranks(self) -> dict[bytes, int]:
        """{token bytes: rank}, as the file holds them."""
        return read_ranks(self.source, self._data)

    def byte_view_key(self) -> str | None:
        return derivation_key(self._key.encode(), type(self))

    @property
    def specials(self) -> SpecialTokens:
        eos = self.special_tokens.get("<|endoftext|>")
        return SpecialTokens(eos=eos)

    def _build_byte_view(self) -> ByteView:
        pieces: list[bytes | None] = [None] * self.vocab_size  # specials and gaps stay None
        for token, rank in self.ranks.items():
            pieces[rank] = token
        return build_byte_view(pieces)

    def _write_files(self, directory: Path) -> list[Path]:
        directory = Path(directory)
        target = directory / self.source.name
        shutil.copyfile(self.source, target)
        sidecar = target.with_suffix(".json")
        pattern, _ = read_encoding_params(self.source)
        params = {"name": self.source.stem, "pattern": pattern, "special_tokens": self.special_tokens}
        sidecar.write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")
        return [target, sidecar]
