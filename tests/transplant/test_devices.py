"""Which precision a training loop runs in, and how a card records it."""

from __future__ import annotations

import pytest
import torch

from tokwork.transplant import devices


@pytest.mark.parametrize("units", [True, False])
def test_bfloat16_runs_on_a_cpu_only_where_it_has_bfloat16_units(monkeypatch, units):
    monkeypatch.setattr(devices, "cpu_has_bfloat16_units", lambda: units)
    assert devices.bfloat16_pays("cpu") is units
    assert devices.precision_of(True, torch.device("cpu")) == ("bfloat16 autocast" if units else "float32")
    assert devices.precision_of(False, "cpu") == "float32"  # asked for float32: float32 everywhere
    for asked in (True, False):  # the forwards run as the card says
        with devices.training_autocast(asked, "cpu"):
            assert torch.is_autocast_enabled("cpu") is (asked and units)
    assert devices.bfloat16_pays("cuda") and devices.precision_of(True, "cuda") == "bfloat16 autocast"


def test_a_resumed_run_keeps_every_precision_it_ran_in_in_order():
    assert devices.joined_precision(None, "float32") == "float32"  # a new card, or one older than the field
    assert devices.joined_precision("float32", "float32") == "float32"
    mixed = devices.joined_precision("float32", "bfloat16 autocast")
    assert mixed == "float32, then bfloat16 autocast"
    assert devices.joined_precision(mixed, "bfloat16 autocast") == mixed  # the same machine again: unchanged
    assert devices.joined_precision(mixed, "float32") == "float32, then bfloat16 autocast, then float32"
