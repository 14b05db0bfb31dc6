"""Stopping between steps: the first signal is held for the loop, an ignored signal stays ignored."""

from __future__ import annotations

import os
import signal

import pytest

from tokwork.stop_request import stop_between_steps


def test_the_first_signal_is_held_and_a_second_acts_at_once():
    class Stop(Exception):
        pass

    def act(number, frame):
        raise Stop

    previous = signal.signal(signal.SIGTERM, act)
    try:
        with stop_between_steps() as requested:
            assert requested() is None
            os.kill(os.getpid(), signal.SIGTERM)
            assert requested() == signal.SIGTERM  # held: the loop finishes its step
            with pytest.raises(Stop):
                os.kill(os.getpid(), signal.SIGTERM)  # asked twice: the handler before acts now
        assert signal.getsignal(signal.SIGTERM) is act
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with stop_between_steps() as requested:
            os.kill(os.getpid(), signal.SIGTERM)
            assert requested() is None  # nohup's SIGTERM-ignoring process is not stopped part way
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)
