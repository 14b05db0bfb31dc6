"""A local Ray of the command's own: started apart from any cluster, and leaving the command's handlers."""

from __future__ import annotations

import signal

import pytest

from tokwork.distributed import run_jobs
from tokwork.errors import TokworkError


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


def test_ray_address_from_the_environment_is_checked_and_named(monkeypatch):
    import socket

    import ray

    from tokwork.distributed import ray_cluster

    assert not ray.is_initialized()  # else the block would use that session and check nothing
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    refused = rf"cannot reach a Ray cluster at '127.0.0.1:{port}' \(RAY_ADDRESS\)"
    with pytest.raises(TokworkError, match=refused), ray_cluster():
        pass
