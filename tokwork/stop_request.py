"""Stopping a training loop between steps: the first Ctrl-C or SIGTERM asks the loop to stop after the step
it is in, so that it can write a checkpoint; a second one interrupts at once.

A long run interrupted mid-step would otherwise lose everything since its last checkpoint (by default up to
50 steps, minutes on a CPU). The loop asks `requested()` after each step; once it has saved, `deliver`
hands the signal to the handler that was there before (the CLI's, which ends the command with the shell's
code), so the command still ends as interrupted.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_between_steps() -> Iterator[Callable[[], int | None]]:
    """Within the block, the first Ctrl-C or SIGTERM is held for the loop, which reads it from the yielded
    function (the signal's number, or None); a second one acts at once, as it would without the block.
    Outside the main thread (where Python delivers signals) nothing is held."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    caught: list[int] = []
    previous = {number: signal.getsignal(number) for number in SIGNALS}

    def hold(number, frame) -> None:
        if caught:  # asked twice: stop now
            _restore(previous)
            deliver(number)
            return
        caught.append(number)

    for number in SIGNALS:
        if previous[number] is not signal.SIG_IGN:  # a signal the process ignores (nohup) stays ignored
            signal.signal(number, hold)
    try:
        yield lambda: caught[0] if caught else None
    finally:
        _restore(previous)


def deliver(number: int) -> None:
    """Send signal `number` to this process again, for the handler now in place to act on."""
    os.kill(os.getpid(), number)


def stop_after_checkpoint(number: int, step: int, output: Path) -> None:
    """Say where a run stopped on signal `number` is kept, then hand the signal on (after the block of
    `stop_between_steps`), so that the command ends as interrupted."""
    print(f"stopped after step {step:,}: the checkpoint in '{output}' holds it; the same command again goes on "
          "from there", file=sys.stderr)
    deliver(number)  # the handler before ours (the CLI's) ends the command as interrupted


def _restore(previous: dict) -> None:
    for number, handler in previous.items():
        signal.signal(number, handler if handler is not None else signal.SIG_DFL)
