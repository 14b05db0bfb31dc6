"""Freed memory kept in the process during training: pages are reused, results unchanged, defaults restored."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
import torch

from tokwork import allocator
from tokwork.allocator import reuse_freed_memory

BIG = 64 * 1024 * 1024  # float32 values: a 256 MB buffer, far above glibc's largest mmap threshold
PAGES = BIG * 4 // 4096

glibc = pytest.mark.skipif(allocator._glibc() is None, reason="the allocator settings exist only in glibc")
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
small_pages = pytest.mark.skipif(THP.is_file() and "[always]" in THP.read_text(),
                                 reason="with huge pages always on, a fresh buffer takes too few faults to count")


def _faults_of_a_fresh_buffer() -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffer = torch.empty(BIG)
    buffer.fill_(1.0)  # touch every page
    del buffer
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@glibc
@small_pages
def test_a_freed_buffer_is_reused_inside_and_faulted_in_anew_after():
    assert _faults_of_a_fresh_buffer() > PAGES // 2  # glibc's default: its own mapping, new pages every time
    with reuse_freed_memory() as applied:
        assert applied
        _faults_of_a_fresh_buffer()  # the first time the heap grows into new pages
        assert _faults_of_a_fresh_buffer() < PAGES // 20  # then the same pages serve the next step
    assert _faults_of_a_fresh_buffer() > PAGES // 2  # defaults back: large buffers are mapped and unmapped


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
