"""Opening a tokenizer from disk: which file a path means, its format, and whether it samples.

`open_tokenizer` is the one call for a tokenizer as tokwork uses it: the stochastic tokenizer for a folder
written by `StochasticTokenizer.save` (with `seed` instead of the saved one, if given), else the tokenizer
the files hold. `load_tokenizer` always gives the latter, deterministic one, the same one plain Hugging
Face reads from such a folder, for the measures and conversions that are about the vocabulary itself.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from tokwork.cache import file_stamp
from tokwork.errors import ParameterError, TokenizerFormatError
from tokwork.formats.hf_json import HFTokenizer
from tokwork.formats.sentencepiece_model import SentencePieceTokenizer
from tokwork.formats.tiktoken_file import TiktokenTokenizer
from tokwork.reference_tokenizers import tokenizer_path
from tokwork.sampling.stochastic import (
    STOCHASTIC_NAME,
    StochasticTokenizer,
    is_stochastic_directory,
    read_stochastic_record,
)
from tokwork.tokenizer import Tokenizer


def tokenizer_stamp(path: str | Path) -> tuple[tuple[str, tuple[int, int, int] | None], ...]:
    """The `file_stamp` of each file in the folder that holds the tokenizer at `path` (the folder itself,
    or a file's folder), by name; empty when `path` does not exist. Caches of tokenizers loaded by path key
    on it too, so that a long-lived process (a notebook, a Ray worker) never encodes with a tokenizer whose
    files were replaced since it was loaded."""
    try:
        path = tokenizer_path(path)
    except TokenizerFormatError:
        return ()
    folder = path if path.is_dir() else path.parent
    try:
        if not path.exists():
            return ()
        files = sorted(entry for entry in folder.iterdir() if entry.is_file())
    except OSError:
        return ()
    return tuple((file.name, file_stamp(file)) for file in files)


def tokenizer_file(path: str | Path) -> Path:
    """The file `load_tokenizer(path)` reads: `path` itself, or for a folder its `tokenizer.json`, else its
    first SentencePiece `.model`, else its first `.tiktoken`. Raises `TokenizerFormatError` naming the path
    when it is missing, or a folder or file in none of these formats; reads nothing. A reference name
    (`gpt2`, `llama3`, ...; `reference_tokenizers.py`) means that tokenizer in the cache."""
    path = tokenizer_path(path)
    if not path.exists():
        from tokwork.smollm2 import ALIAS

        hint = (f" ('{ALIAS}' names a model: its tokenizer is the model folder's, "
                "tokwork.smollm2.resolve_model_path('smollm2'))" if str(path) == ALIAS else "")
        raise TokenizerFormatError(f"tokenizer '{path}' does not exist{hint}")
    if path.is_dir():
        if (path / "tokenizer.json").is_file():
            return path / "tokenizer.json"
        found = sorted(path.glob("*.model")) or sorted(path.glob("*.tiktoken"))
        if found:
            return found[0]
        from tokwork.reference_tokenizers import REFERENCE_TOKENIZERS

        hidden = (f"; this folder hides the reference tokenizer '{path}', which its path in the cache reaches"
                  if str(path) in REFERENCE_TOKENIZERS else "")
        raise TokenizerFormatError(
            f"folder '{path}' holds no tokenizer.json, SentencePiece .model or .tiktoken file{hidden}"
        )
    if path.suffix not in (".json", ".model", ".tiktoken"):
        raise TokenizerFormatError(
            f"unknown tokenizer format '{path}': expected tokenizer.json, a folder with one, "
            "a SentencePiece .model or a .tiktoken file"
        )
    return path


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Open a tokenizer from a `tokenizer.json`, a folder holding one (HF style), a SentencePiece `.model`,
    or a tiktoken `.tiktoken` file. Raises `TokenizerFormatError` naming the path when none of these fit.

    A stochastic tokenizer's folder gives its deterministic base here; `open_tokenizer` gives it sampling.
    """
    path = tokenizer_path(path)
    file = tokenizer_file(path)
    if file.suffix == ".model":
        return SentencePieceTokenizer.from_path(file)
    if file.suffix == ".tiktoken":
        return TiktokenTokenizer.from_path(file)
    return HFTokenizer.from_path(path)


def load_stochastic(directory: str | Path, *, seed: int | None = None) -> StochasticTokenizer:
    """Open a saved stochastic tokenizer (with `seed` instead of the saved one, if given).

    Raises `TokenizerFormatError` when `stochastic.json` is missing or corrupt, or its expansion table
    does not fit the base tokenizer's bytes.
    """
    config, record = read_stochastic_record(directory)
    if seed is not None:
        config.seed = seed
    base = load_tokenizer(directory)
    if record.get("base", {}).get("vocab_size", base.vocab_size) != base.vocab_size:
        raise TokenizerFormatError(f"'{Path(directory) / STOCHASTIC_NAME}' was made for a vocabulary of "
                                   f"{record['base']['vocab_size']} tokens, but the tokenizer beside it has "
                                   f"{base.vocab_size}")
    return StochasticTokenizer(base, **asdict(config), saved=record)


def open_tokenizer(path: str | Path, *, seed: int | None = None) -> Tokenizer:
    """A stochastic tokenizer for a folder with `stochastic.json`, else the plain tokenizer at `path`.

    Raises `ParameterError` when a seed is given for a tokenizer that is not stochastic.
    """
    path = tokenizer_path(path)
    if path.is_dir() and is_stochastic_directory(path):
        return load_stochastic(path, seed=seed)
    if seed is not None:
        raise ParameterError(f"--seed applies to stochastic tokenizers, and '{path}' is deterministic; "
                             "make one with 'tokwork train stochastic'")
    return load_tokenizer(path)
