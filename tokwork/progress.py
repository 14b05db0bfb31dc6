"""Progress bars for long work, drawn by rich on stderr (so that stdout stays clean for results).

Bars are drawn only when stderr is a terminal, and vanish when the work ends, so logs and error
messages stay free of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_console = Console(stderr=True)


@contextmanager
def byte_progress(description: str, total: int | None, *, enabled: bool = True) -> Iterator:
    """A progress bar counting bytes; yields `advance(nbytes)`. Silent when `enabled` is false."""
    if not enabled or not _console.is_terminal:
        yield lambda nbytes: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=_console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda nbytes: bar.advance(task, nbytes)


def track(items: Iterable, description: str, *, total: int | None = None, enabled: bool = True) -> Iterator:
    """Iterate `items` with a progress bar counting them."""
    if not enabled or not _console.is_terminal:
        yield from items
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),  # whole numbers, not 0/2.0
               TimeElapsedColumn())
    with Progress(*columns, console=_console, transient=True) as bar:
        yield from bar.track(items, total=total, description=description)


@contextmanager
def count_progress(description: str, total: int, *, enabled: bool = True) -> Iterator:
    """A progress bar counting units of work done in any order; yields `advance(n=1)`. Silent when
    `enabled` is false."""
    if not enabled or not _console.is_terminal:
        yield lambda n=1: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),  # whole numbers, not 0/2.0
               TimeElapsedColumn())
    with Progress(*columns, console=_console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


@contextmanager
def loss_progress(description: str, total: int | None, done: int, *, enabled: bool = True) -> Iterator:
    """A progress bar over training steps (starting at `done`; `total` None: until a time limit) that shows
    the latest loss and a short note (such as a held-out score); yields `update(step, loss, note=None,
    total=None)`, where a note of None keeps the last one and a total replaces the planned number of steps.
    Silent when `enabled` is false."""
    if not enabled or not _console.is_terminal:
        yield lambda step, loss, note=None, total=None: None
        return
    columns = (TextColumn(description), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[note]}"), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=_console, transient=True) as bar:
        task = bar.add_task(description, total=total, completed=done, loss="-", note="")

        def update(step: int, loss: float, note: str | None = None, total: int | None = None) -> None:
            fields = {"note": note} if note is not None else {}
            bar.update(task, completed=step, loss=f"{loss:.3f}", **fields,
                       **({"total": total} if total is not None else {}))

        yield update


@contextmanager
def transformers_bars_off() -> Iterator[None]:
    """Within the block, transformers draws no progress bars (loading and saving weights draw them on
    stderr, which must stay free for one-line errors); the setting before the block comes back after it."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()
