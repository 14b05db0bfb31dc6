"""The rich consoles the commands print with: results on stdout, progress and notes on stderr.

Where a stream is not a terminal (a pipe, a file) and COLUMNS does not say how wide, rich would wrap and
cut tables at 80 columns; there they may take up to 200, so that piped output keeps every cell whole.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.table import Table

PIPED_WIDTH = 200
SIGPIPE_EXIT = 141  # the shell's code for a command ended by SIGPIPE


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """A reader that closed the pipe early (`tokwork encode ... | head`) ends the command quietly, with
        the code a shell gives a command that SIGPIPE ended (rich's own choice is 1, as for an error)."""
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush would fail again
        raise SystemExit(SIGPIPE_EXIT)


def _console(**options) -> Console:
    console = _Console(highlight=False, **options)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = _Console(highlight=False, width=PIPED_WIDTH, **options)
    return console


out = _console()
err = _console(stderr=True)


def titled_table(title: str, **options) -> Table:
    """A table at least as wide as its title, which rich would otherwise wrap to the columns' width."""
    return Table(title=title, min_width=len(title) + 2, **options)
