"""Freed memory kept in the process during training: pages are reused, results unchanged, defaults restored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tokwork import allocator
from tokwork.allocator import reuse_freed_memory

glibc = pytest.mark.skipif(allocator._glibc() is None, reason="the allocator settings exist only in glibc")
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
small_pages = pytest.mark.skipif(THP.is_file() and "[always]" in THP.read_text(),
                                 reason="with huge pages always on, a fresh buffer takes too few faults to count")

# Training-shaped steps in a fresh process (the heap of a test worker that has run other tests is no
# model of a training run's): two logits-sized buffers and 30 layers' activations, the length changing
# from step to step as batches do; page faults per step with glibc's defaults, inside the block, after it.
STEPS = """
import json, resource, torch
from tokwork.allocator import reuse_freed_memory

def step(i):
    rows = 1100 + 13 * (i % 3)
    kept = [torch.empty(rows, 49152).fill_(1.0)]
    for _ in range(30):
        kept += [torch.empty(rows, 1536).fill_(1.0), torch.empty(rows, 576).fill_(1.0)]
    kept.append(torch.empty(rows, 49152).fill_(1.0))

def faults(steps):
    counts = []
    for i in range(steps):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        step(i)
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return counts

default = faults(6)
with reuse_freed_memory() as applied:
    kept = faults(6)
print(json.dumps({"applied": applied, "default": default, "kept": kept, "after": faults(1)}))
"""


@glibc
@small_pages
def test_steps_reuse_the_pages_they_freed_inside_and_fault_them_in_after():
    result = subprocess.run([sys.executable, "-c", STEPS], capture_output=True, text=True, check=True)
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["applied"]
    typical = sorted(counts["default"])[3]  # glibc's default: every step faults its large buffers in anew
    assert typical > 100_000
    # The defaults fault each step's memory in anew (six steps' worth, three in steps 3-5). Kept, the six
    # steps fault in 0.6-1.65 steps' worth in all and at most 0.6 in steps 3-5 (20 runs): which of the
    # logits-sized buffers (a third of a step each) still need new pages depends on how the heap's free
    # chunks were split, so the bounds leave room for that and stay far below the defaults.
    assert sum(counts["kept"]) < 2.5 * typical
    assert sum(counts["kept"][3:]) < typical  # once each shape has been seen, most of it comes from the heap
    assert counts["after"][0] > typical / 2  # defaults back, the free pages returned to the kernel


def _gradients() -> list[torch.Tensor]:
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Linear(1024, 4096), torch.nn.GELU(), torch.nn.Linear(4096, 1024))
    inputs = torch.randn(2048, 1024)
    torch.log_softmax(layer(inputs), -1).mean().backward()
    return [p.grad for p in layer.parameters()]


def test_training_arithmetic_is_the_same_bit_for_bit():
    plain = _gradients()
    with reuse_freed_memory():
        kept = [_gradients(), _gradients()]  # the second one on reused memory
    assert all(torch.equal(a, b) and torch.equal(a, c) for a, b, c in zip(plain, *kept, strict=True))


def test_elsewhere_it_does_nothing(monkeypatch):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    with reuse_freed_memory() as applied:
        assert applied is False


def test_the_environment_can_keep_glibcs_defaults(monkeypatch):
    monkeypatch.setenv("TOKWORK_KEEP_FREED_MEMORY", "0")
    with reuse_freed_memory() as applied:
        assert applied is False
