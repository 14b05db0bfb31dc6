"""Where a benchmark's figures go: its JSON, written whole or not at all, since the README quotes it."""

from __future__ import annotations

import json
from pathlib import Path

from tokwork.outputs import output_file


def write_results(path: str | Path, data, *, indent: int | None = 2) -> None:
    """Write `data` as JSON to `path` through a temporary sibling renamed into place, so that a run killed
    while writing leaves the previous results, never half a file."""
    with output_file(path) as staging:
        staging.write_text(json.dumps(data, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
