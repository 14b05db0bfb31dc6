"""The segment-sum kernel: every backend against the torch reference, over odd sizes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # run the Triton kernel in its interpreter on CPU

from tokwork.kernels.segment_sum import available_backends, segment_sum  # noqa: E402
from tokwork.kernels.segment_sum.reference import random_segments  # noqa: E402

BACKENDS = available_backends()


def test_reference_is_a_plain_loop():
    values, rows, offsets = random_segments(3, 50, 9, 4, seed=0)
    out = segment_sum(values, rows, offsets, backend="reference")
    for q in range(9):
        for j in range(4):
            expected = values[rows[q], offsets[q, j]:offsets[q, j + 1]].double().sum()
            assert out[q, j].item() == pytest.approx(expected.item(), abs=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("queries", "vocab"), [(1, 1), (1, 7), (7, 257), (257, 1031), (257, 7)])
def test_backends_match_the_reference(backend, queries, vocab):
    if backend == "triton":  # one program per (query, segment), each slow in the interpreter: fewer of them
        queries, segments = min(queries, 17), 3
    else:
        segments = 257
    values, rows, offsets = random_segments(5, vocab, queries, segments, seed=queries * vocab)
    device = "cuda" if backend == "triton" and torch.cuda.is_available() else "cpu"
    out = segment_sum(values.to(device), rows.to(device), offsets.to(device), backend=backend).cpu()
    expected = segment_sum(values, rows, offsets, backend="reference")
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_read_a_column_slice_without_a_copy_of_their_own(backend):
    """The byte-level layer passes the first columns of wider rows (a strided view)."""
    values, rows, offsets = random_segments(5, 257, 31, 3, seed=7)
    wider = torch.cat([values, torch.rand(5, 40, dtype=values.dtype)], dim=1)
    device = "cuda" if backend == "triton" and torch.cuda.is_available() else "cpu"
    view = wider.to(device)[:, :257]
    assert not view.is_contiguous()
    out = segment_sum(view, rows.to(device), offsets.to(device), backend=backend).cpu()
    expected = segment_sum(values, rows, offsets, backend="reference")
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12, atol=1e-9)


def test_auto_picks_numba_on_cpu_and_an_unknown_backend_is_refused():
    from tokwork.errors import ParameterError
    from tokwork.kernels.segment_sum import resolve_backend

    # numba is a hard dependency (pyproject.toml), so a CPU tensor always gets the compiled kernel
    assert resolve_backend("auto", torch.device("cpu")) == "numba"
    assert resolve_backend("reference", torch.device("cpu")) == "reference"  # a named backend is kept
    values, rows, offsets = random_segments(2, 9, 3, 2, seed=1)
    with pytest.raises(ParameterError, match="unknown kernel backend 'cuda'; choose auto, reference, numba, triton"):
        segment_sum(values, rows, offsets, backend="cuda")


def test_without_triton_the_gpu_backend_names_the_extra_and_auto_falls_back(monkeypatch):
    """triton is an optional extra (`tokwork[gpu]`): without it `auto` never picks it, and asking for it
    by name says what to install."""
    import sys

    from tokwork.errors import ParameterError
    from tokwork.kernels.segment_sum import available_backends, resolve_backend

    monkeypatch.setitem(sys.modules, "triton", None)  # `import triton` now fails as if it were not installed
    import tokwork.kernels.segment_sum as package

    monkeypatch.delitem(sys.modules, "tokwork.kernels.segment_sum.triton", raising=False)
    monkeypatch.delattr(package, "triton", raising=False)  # an earlier test's import left it on the package
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "triton" else object())
    assert "triton" not in available_backends()
    assert resolve_backend("auto", torch.device("cuda")) == "reference"
    values, rows, offsets = random_segments(2, 9, 3, 2, seed=1)
    with pytest.raises(ParameterError, match=r"pip install 'tokwork\[gpu\]'"):
        segment_sum(values, rows, offsets, backend="triton")
