"""The rich consoles the commands print with: results on stdout, progress and notes on stderr."""

from __future__ import annotations

from rich.console import Console

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
