"""Keeping freed memory in the process during training, so that each step does not fault it in again.

A training step on a CPU allocates and frees the same large buffers every step: activations kept for the
backward pass, logits over the vocabulary (a quarter of a gigabyte for a batch onto GPT-2's), gradients.
By default glibc serves every allocation above its mmap threshold (at most 32 MB) with a fresh `mmap` and
hands smaller freed memory at the top of the heap back to the kernel, so the next step touches new pages
again: SmolLM2's distillation step faults in gigabytes a step, at a few microseconds a page on the 2-core
VMs this project runs on (`benchmarks/training_step.py` times it against the `default-malloc` setup).
Serving every allocation from the heap and keeping what is freed there makes later steps reuse the same
pages.

Only glibc (Linux) has these settings; elsewhere this does nothing. They hold for what the process's main
thread allocates, where tokwork's training loops run (and a CPU backward pass with them); a loop run in
another thread allocates from that thread's own arena, where glibc keeps its way. The resident memory stays
at its peak while the settings hold, which is what a training loop needs anyway; on leaving, glibc's
defaults come back and the free pages are returned to the kernel. `TOKWORK_KEEP_FREED_MEMORY=0` in the
environment keeps glibc's defaults throughout (a machine short of memory, where the heap's growth over the
first steps, as longer batches come, matters more than their page faults).
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager

# mallopt parameter numbers (malloc.h) and glibc's defaults for them on 64-bit Linux
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}
_KEPT = {
    _M_MMAP_MAX: 0,  # no allocation gets its own mapping: all come from the heap, where freed memory stays
    _M_TRIM_THRESHOLD: -1,  # never hand the heap's free top back to the kernel (mallopt(3): -1 disables it)
}


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


@contextmanager
def reuse_freed_memory() -> Iterator[bool]:
    """Within the block, memory a training step frees stays in the process for the next step (yields
    whether the allocator could be told so: glibc only). Makes CPU training steps cheaper by the page
    faults they no longer take; nothing else changes, results are the same bit for bit."""
    libc = _glibc() if os.environ.get("TOKWORK_KEEP_FREED_MEMORY", "1") != "0" else None
    if libc is None:
        yield False
        return
    applied = all(libc.mallopt(param, value) == 1 for param, value in _KEPT.items())
    try:
        yield applied
    finally:
        for param, value in _DEFAULTS.items():
            libc.mallopt(param, value)
        libc.malloc_trim(0)
