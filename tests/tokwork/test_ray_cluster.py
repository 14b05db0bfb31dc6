"""A local Ray of the command's own: started apart from any cluster, and leaving the command's handlers."""

from __future__ import annotations

import signal

from tokwork.distributed import run_jobs


def _handler(signum, frame):  # a stand-in for the CLI's SIGTERM handler, which unwinds and cleans up
    raise KeyboardInterrupt


def test_ray_leaves_the_commands_sigterm_handler_in_place(monkeypatch):
    """`ray.init` puts in a SIGTERM handler that exits at once; a command's own, which unwinds so that no
    output is left half written, must stay (else `kill` ends a Ray run with Ray's crash dump)."""
    import ray

    assert not ray.is_initialized()  # this module starts its own, so the test sees `ray.init` run
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    previous = signal.signal(signal.SIGTERM, _handler)
    try:
        assert run_jobs(abs, [-3, -1, -2], engine="ray") == [3, 1, 2]
        assert signal.getsignal(signal.SIGTERM) is _handler
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not ray.is_initialized()  # shut down with the block
