"""What the tokwork cache holds and how much room it takes, and clearing parts of it.

Each folder under the cache root is one kind of entry. Most are derived and come back by themselves when
next needed (byte views, sampler tables, donor vectors, converted tiktoken files, lexicon matches, the
converted SmolLM2); the reference tokenizers, corpora and Debian packages come back with `make
tokenizers`, `make corpora` and `make corpora-multilingual`. Entries keyed by a digest of the code that
made them pile up as tokwork changes, which is what clearing is for.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tokwork.cache import cache_root
from tokwork.errors import ParameterError

# folder -> (what it holds, how it comes back once cleared)
KINDS = {
    "byteviews": ("tokenizers' byte views", "on use"),
    "sampler-tables": ("stochastic tokenizers' tables", "on use"),
    "donors": ("transplant donor vectors", "on use"),
    "tiktoken": ("tiktoken files as tokenizer.json", "on use"),
    "lexicons": ("wordfreq lists for integrity", "on use"),
    "models": ("SmolLM2-135M as an HF folder", "on use"),
    "tokenizers": ("reference tokenizers", "make tokenizers"),
    "corpora": ("training corpora", "make corpora corpora-multilingual"),
    "debian": ("Debian packages for corpora", "make corpora corpora-multilingual"),
}


@dataclass
class CacheFolder:
    """One folder of the cache: its name, path, size in bytes and number of files."""

    name: str
    path: Path
    bytes: int
    files: int

    @property
    def holds(self) -> str:
        return KINDS.get(self.name, ("(not made by this version of tokwork)", ""))[0]

    @property
    def comes_back(self) -> str:
        return KINDS.get(self.name, ("", "not by itself"))[1]


def cache_usage() -> list[CacheFolder]:
    """The folders under the cache root with their sizes, largest first (empty when there is no cache)."""
    root = cache_root()
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        files = [f for f in folder.rglob("*") if f.is_file() and not f.is_symlink()]
        found.append(CacheFolder(folder.name, folder, sum(f.stat().st_size for f in files), len(files)))
    return sorted(found, key=lambda f: -f.bytes)


def clear_cache(names: list[str]) -> int:
    """Remove the named cache folders (`all`: every folder tokwork makes) and return the bytes freed. Only
    folders by the names tokwork gives its own are removed: another name, or one not in the cache, is
    refused before anything is removed (a cache root set to a folder of one's own keeps its other folders;
    one of its own called, say, `models` is taken for tokwork's)."""
    folders = {f.name: f for f in cache_usage() if f.name in KINDS}
    wanted = list(folders) if "all" in names else list(dict.fromkeys(names))
    foreign = [n for n in wanted if n not in KINDS]
    if foreign:
        raise ParameterError(f"{', '.join(repr(n) for n in foreign)} in {cache_root()} is not a folder tokwork "
                             f"makes ({', '.join(KINDS)}); tokwork leaves it alone")
    unknown = [n for n in wanted if n not in folders]
    if unknown:
        shown = ", ".join(folders) or "none: the cache is empty"
        raise ParameterError(f"no cache folder named {', '.join(repr(n) for n in unknown)} in {cache_root()}; "
                             f"its folders: {shown}")
    for name in wanted:
        shutil.rmtree(folders[name].path)
    return sum(folders[n].bytes for n in wanted)
