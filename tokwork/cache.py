"""Where tokwork keeps what it builds once and reuses: converted tokenizers, large corpora, models.

The cache root is spelled here only. This module uses the standard library alone, so that the corpus scripts,
which run on any `python3`, read the same root from this file (`runpy.run_path`) without importing tokwork.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from pathlib import Path


def cache_root() -> Path:
    """The tokwork cache folder, `$TOKWORK_CACHE` if set, else `~/.cache/tokwork`; it may not exist yet."""
    return Path(os.environ.get("TOKWORK_CACHE") or Path.home() / ".cache" / "tokwork")


def cache_dir(*parts: str) -> Path:
    """Return (and create) a folder under the tokwork cache (`cache_root`)."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_stamp(path: str | Path) -> tuple[int, int, int] | None:
    """Size, modification time (ns) and inode of the file at `path`, None when there is none: part of the
    key of an in-process cache of what was read from the file, so that a file written again since (tokwork
    renames new files into place, so they get a new inode even where times are coarse) is read again."""
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


@functools.cache
def source_digest(module_names: frozenset[str]) -> str:
    """A hex digest of the source files of the (imported) modules `module_names`: part of the key of what is
    cached from code, so that a change to the code that derives it gives a new key, never a stale entry."""
    digest = hashlib.sha256()
    for name in sorted(module_names):
        digest.update(Path(sys.modules[name].__file__).read_bytes())
    return digest.hexdigest()
