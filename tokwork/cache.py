"""Where tokwork keeps what it builds once and reuses: converted tokenizers, large corpora, models."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """Return (and create) a folder under the tokwork cache: `$TOKWORK_CACHE`, else `~/.cache/tokwork`."""
    root = Path(os.environ.get("TOKWORK_CACHE") or Path.home() / ".cache" / "tokwork")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
