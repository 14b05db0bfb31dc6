"""Hugging Face `tokenizers` files: a `tokenizer.json`, or a folder with one and its `tokenizer_config.json`.

The byte view is read off the decoder the file declares, applied to one token at a time, because that is
what the library itself does when it decodes: `ByteLevel` undoes the GPT-2 alphabet, `ByteFallback` turns
`<0xNN>` into its byte, `Replace`/`Metaspace` turn `▁` back into a space, and a `Strip` after `Fuse` (or a
Metaspace with a prepend scheme) removes the dummy-prefix space from the start of the whole text.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer as BackendTokenizer

from tokwork.byteview import (
    ByteView,
    build_byte_view,
    byte_fallback_value,
    byte_level_to_bytes,
    derivation_key,
    unicode_to_byte,
)
from tokwork.errors import TokenizerFormatError
from tokwork.tokenizer import ROLES, SpecialTokens, Tokenizer, checked_ids, checked_text, checked_texts

CONFIG_NAME = "tokenizer_config.json"
# Names that mark a role when a bare tokenizer.json comes without a tokenizer_config.json.
ROLE_NAMES = {
    "bos": ("<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>", "[CLS]"),
    "eos": ("<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>", "[SEP]"),
    "pad": ("<pad>", "<|pad|>", "[PAD]", "<|finetune_right_pad_id|>"),
    "unk": ("<unk>", "<|unk|>", "[UNK]"),
}


def _flatten(component: dict | None, key: str) -> list[dict]:
    if not component:
        return []
    if component.get("type") == "Sequence":
        return [step for child in component[key] for step in _flatten(child, key)]
    return [component]


class DecoderChain:
    """The per-token part of a `tokenizers` decoder, plus whether it strips a dummy-prefix space."""

    def __init__(self, spec: dict):
        decoder = spec.get("decoder")
        pretokenizers = _flatten(spec.get("pre_tokenizer"), "pretokenizers")
        steps = _flatten(decoder, "decoders")
        if not steps:
            steps = [p for p in pretokenizers if p.get("type") in ("ByteLevel", "Metaspace")]
        self.steps: list[dict] = []
        self.strips_leading_space = False
        self.unsupported: str | None = None
        fused = False
        for step in steps:
            kind = step.get("type")
            if kind == "Fuse":
                fused = True
            elif kind == "Strip" and fused:
                if step.get("content") == " " and step.get("start", 0) == 1 and step.get("stop", 0) == 0:
                    self.strips_leading_space = True
                else:
                    self.unsupported = "a Strip decoder that removes more than one leading space"
            elif kind == "Metaspace":
                scheme = step.get("prepend_scheme", "always" if step.get("add_prefix_space", True) else "never")
                self.strips_leading_space = scheme != "never"
                self.steps.append(step)
            elif kind in ("ByteLevel", "ByteFallback", "Replace", "Strip"):
                self.steps.append(step)
            else:
                self.unsupported = f"the {kind} decoder, which does not keep every byte"
        self.byte_level_only = [step["type"] for step in self.steps] == ["ByteLevel"]
        self.byte_level = any(step["type"] == "ByteLevel" for step in self.steps)

    def token_bytes(self, token: str) -> bytes:
        """The bytes one token decodes to."""
        if self.byte_level_only:
            try:  # every character in GPT-2's alphabet: one C-level translation
                return token.translate(_BYTE_LEVEL_TABLE).encode("latin-1")
            except UnicodeEncodeError:  # some character is not: the library keeps the token's own UTF-8
                return token.encode("utf-8")
        value: str | bytes = token
        for step in self.steps:
            if isinstance(value, bytes):
                break
            kind = step["type"]
            if kind == "ByteLevel":
                value = byte_level_to_bytes(value) or value.encode("utf-8")
            elif kind == "ByteFallback":
                byte = byte_fallback_value(value)
                if byte is not None:
                    value = bytes([byte])
            elif kind == "Replace":
                value = _replace(value, step["pattern"], step["content"])
            elif kind == "Metaspace":
                value = value.replace(step.get("replacement", "▁"), " ")
            elif kind == "Strip":
                value = _strip_chars(value, step["content"], step.get("start", 0), step.get("stop", 0))
        return value if isinstance(value, bytes) else value.encode("utf-8")

    def text(self, normalized: str) -> str:
        """Undo the escapes (such as `▁` for a space) that a normaliser put into the text."""
        if self.byte_level:
            return normalized
        for step in self.steps:
            if step["type"] == "Replace":
                normalized = _replace(normalized, step["pattern"], step["content"])
            elif step["type"] == "Metaspace":
                normalized = normalized.replace(step.get("replacement", "▁"), " ")
        if self.strips_leading_space and normalized.startswith(" "):
            normalized = normalized[1:]
        return normalized


def _byte_level_table() -> dict[int, str]:
    """A `str.translate` table that turns GPT-2's alphabet into Latin-1 characters (one per byte) and every
    other Latin-1 character into one that Latin-1 cannot encode, so that encoding fails for those."""
    table = {ord(ch): chr(byte) for ch, byte in unicode_to_byte().items()}
    for code in range(256):
        table.setdefault(code, "\U0010ffff")
    return table


_BYTE_LEVEL_TABLE = _byte_level_table()


def _byte_level_bulk(tokens: list[str]) -> list[bytes] | None:
    """The bytes of many byte-level tokens at once (one translation and one encoding of their
    concatenation, then slices: every character of GPT-2's alphabet is one byte); None when some token has
    a character outside the alphabet, so that the caller goes token by token."""
    try:
        blob = "".join(tokens).translate(_BYTE_LEVEL_TABLE).encode("latin-1")
    except UnicodeEncodeError:
        return None
    bounds = [0, *itertools.accumulate(map(len, tokens))]
    return [blob[start:end] for start, end in itertools.pairwise(bounds)]


def _replace(value: str, pattern: dict, content: str) -> str:
    if "String" in pattern:
        return value.replace(pattern["String"], content)
    return re.sub(pattern["Regex"], content, value)


def _strip_chars(value: str, char: str, start: int, stop: int) -> str:
    for _ in range(start):
        if value.startswith(char):
            value = value[len(char):]
    for _ in range(stop):
        if value.endswith(char):
            value = value[: -len(char)]
    return value


def _token_content(entry) -> str | None:
    if isinstance(entry, dict):
        return entry.get("content")
    return entry if isinstance(entry, str) else None


class HFTokenizer(Tokenizer):
    """A `tokenizers` tokenizer (BPE, Unigram, WordLevel, ...) loaded from its `tokenizer.json`."""

    format = "tokenizer.json"

    def __init__(self, backend: BackendTokenizer, *, source: Path | None = None, config: dict | None = None,
                 file_stamp: tuple[Path, os.stat_result] | None = None):
        super().__init__(source)
        self.backend = backend
        self.config = dict(config or {})
        self._unk_token = getattr(backend.model, "unk_token", None)
        # The file read and its stat before reading, to key the cached byte view (None: built in memory).
        self._file_stamp = file_stamp

    # The vocabulary as a dict and the special ids are built on first use only: for a large vocabulary that
    # is a good part of loading, and encoding needs neither.
    @functools.cached_property
    def _vocab(self) -> dict[str, int]:
        return self.backend.get_vocab(with_added_tokens=True)

    @functools.cached_property
    def _special_ids(self) -> set[int]:
        return {i for i, token in self.backend.get_added_tokens_decoder().items() if token.special}

    @functools.cached_property
    def _vocab_size(self) -> int:
        stored = self._stored_byte_view  # one entry per id, so its length is the size, without the dict
        return len(stored) if stored is not None else max(self._vocab.values(), default=-1) + 1

    @functools.cached_property
    def spec(self) -> dict:
        """The whole `tokenizer.json` as a dict (parsed on first use: large vocabularies take a while)."""
        return json.loads(self.backend.to_str())

    @classmethod
    def from_path(cls, path: Path) -> HFTokenizer:
        """Load `tokenizer.json` (or a folder with it and, if present, `tokenizer_config.json`)."""
        folder = path if path.is_dir() else path.parent
        file = path / "tokenizer.json" if path.is_dir() else path
        try:
            stamp = file.stat()
        except OSError as err:
            raise TokenizerFormatError(f"cannot read '{file}': {err.strerror or err}") from None
        try:
            backend = BackendTokenizer.from_file(str(file))
        except Exception as err:  # the Rust side raises a bare Exception for every parse problem
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise TokenizerFormatError(f"'{file}' is not a valid tokenizer.json ({reason})") from None
        config = {}
        config_file = folder / CONFIG_NAME
        if config_file.is_file() and (path.is_dir() or file.name == "tokenizer.json"):
            try:
                config = json.loads(config_file.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise TokenizerFormatError(f"'{config_file}' is not valid JSON") from None
        return cls(backend, source=path, config=config, file_stamp=(file, stamp))

    def encode(self, text: str, *, add_special_tokens: bool = False, parse_special: bool = False) -> list[int]:
        self.backend.encode_special_tokens = not parse_special
        return self.backend.encode(checked_text(text), add_special_tokens=add_special_tokens).ids

    def encode_batch(
        self, texts: Sequence[str], *, add_special_tokens: bool = False, parse_special: bool = False
    ) -> list[list[int]]:
        self.backend.encode_special_tokens = not parse_special
        # The same ids as `encode_batch`, without the character offsets this method never returns.
        encodings = self.backend.encode_batch_fast(checked_texts(texts), add_special_tokens=add_special_tokens)
        return [e.ids for e in encodings]

    def decode(self, ids: Sequence[int]) -> str:
        return self.backend.decode(checked_ids(ids, self.vocab_size), skip_special_tokens=False)

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    def id_to_token(self, token_id: int) -> str | None:
        return self.backend.id_to_token(token_id) if 0 <= token_id < self.vocab_size else None

    def token_to_id(self, token: str) -> int | None:
        return self._vocab.get(token)

    @property
    def specials(self) -> SpecialTokens:
        roles: dict[str, int | None] = {}
        for role in ROLES:
            name = _token_content(self.config.get(f"{role}_token"))
            if name is None and not self.config:
                candidates = ROLE_NAMES[role]
                if role == "unk" and self._unk_token:
                    candidates = (self._unk_token, *candidates)
                name = next((c for c in candidates if c in self._vocab), None)
            roles[role] = self._vocab.get(name) if name is not None else None
        return SpecialTokens(**roles)

    def normalize(self, text: str) -> str:
        normalizer = self.backend.normalizer
        if normalizer is not None:
            text = normalizer.normalize_str(text)
        return self.decoder_chain.text(text)

    @functools.cached_property
    def decoder_chain(self) -> DecoderChain:
        parts = {"decoder": self.backend.decoder, "pre_tokenizer": self.backend.pre_tokenizer}
        return DecoderChain({k: json.loads(v.__getstate__()) for k, v in parts.items() if v is not None})

    def byte_view_key(self) -> str | None:
        """The digest of the `tokenizer.json` read (it alone fixes the byte view), None when it has changed
        since: then the view is built from the tokenizer in memory, and not cached."""
        if self._file_stamp is None:
            return None
        file, before = self._file_stamp
        try:
            data = file.read_bytes()
            now = file.stat()
        except OSError:
            return None
        if (now.st_size, now.st_mtime_ns, now.st_ino) != (before.st_size, before.st_mtime_ns, before.st_ino):
            return None
        return derivation_key(data, type(self))

    def _build_byte_view(self) -> ByteView:
        chain = self.decoder_chain
        if chain.unsupported:
            raise TokenizerFormatError(
                f"tokenizer '{self.source}' has no byte view: its decoder uses {chain.unsupported}"
            )
        unk_id = self._vocab.get(self._unk_token) if self._unk_token else None
        pieces: list[bytes | None] = [None] * self._vocab_size
        entries = [(token, token_id) for token, token_id in self._vocab.items()
                   if token_id not in self._special_ids and token_id != unk_id]
        found = _byte_level_bulk([token for token, _ in entries]) if chain.byte_level_only else None
        if found is None:
            found = [chain.token_bytes(token) for token, _ in entries]
        for (_, token_id), piece in zip(entries, found, strict=True):
            pieces[token_id] = piece
        return build_byte_view(pieces, strips_leading_space=chain.strips_leading_space)

    def _write_files(self, directory: Path) -> list[Path]:
        written = [directory / "tokenizer.json"]
        self.backend.save(str(written[0]))
        config = dict(self.config) or hf_config(self)
        (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", "utf-8")
        written.append(directory / CONFIG_NAME)
        return written


def hf_config(tokenizer: Tokenizer, *, model_max_length: int | None = None) -> dict:
    """A `tokenizer_config.json` that lets `transformers.AutoTokenizer` load the folder with its specials."""
    config: dict = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False}
    for role, token_id in tokenizer.specials.as_json().items():
        if token_id is not None:
            config[f"{role}_token"] = tokenizer.id_to_token(token_id)
    if model_max_length:
        config["model_max_length"] = model_max_length
    return config


CHAT_TEMPLATE = "chat_template.jinja"


def read_chat_template(folder: Path) -> str | None:
    """A model or tokenizer folder's chat template: its `chat_template.jinja` (newer transformers keep it
    there), else the one in its `tokenizer_config.json`; None when it has none."""
    if (folder / CHAT_TEMPLATE).is_file():
        return (folder / CHAT_TEMPLATE).read_text(encoding="utf-8")
    try:
        found = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")).get("chat_template")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) and found else None
