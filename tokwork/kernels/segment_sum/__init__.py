"""Segment sums: `out[q, j] = values[rows[q], offsets[q, j]:offsets[q, j + 1]].sum()`, in float64.

The byte-level layer (`tokwork.bytelevel`) keeps the vocabulary sorted by the bytes of each token, so the
tokens that extend a partial token form one contiguous range and the tokens that continue it with a given
next byte a contiguous sub-range (Phan et al. 2024, "Exact Byte-Level Probabilities from Tokenized Language
Models"): turning a next-token distribution into next-byte masses is a set of segment sums. `backend="auto"`
picks Triton for CUDA tensors, numba for CPU tensors, and the torch reference when neither is installed.
"""

from __future__ import annotations

import importlib.util

import torch

from tokwork.errors import ParameterError

BACKENDS = ("reference", "numba", "triton")


def available_backends() -> list[str]:
    """The backends that can run here (Triton needs CUDA, or `TRITON_INTERPRET=1` for CPU tensors)."""
    names = ["reference"]
    if importlib.util.find_spec("numba") is not None:
        names.append("numba")
    if importlib.util.find_spec("triton") is not None:
        names.append("triton")
    return names


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend `segment_sum` will use for tensors on `device`."""
    if backend not in ("auto", *BACKENDS):
        raise ParameterError(f"unknown kernel backend '{backend}'; choose auto, {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    names = available_backends()
    if device.type == "cuda" and "triton" in names:
        return "triton"
    if device.type == "cpu" and "numba" in names:
        return "numba"
    return "reference"


def segment_sum(values: torch.Tensor, rows: torch.Tensor, offsets: torch.Tensor, *,
                backend: str = "auto") -> torch.Tensor:
    """Sums of contiguous segments of the rows of `values` ([R, V]); `rows` ([Q]) picks a row per query and
    `offsets` ([Q, J + 1], non-decreasing, within [0, V]) bounds its J segments. Returns [Q, J] float64."""
    name = resolve_backend(backend, values.device)
    if name == "numba":
        from tokwork.kernels.segment_sum import numba as implementation
    elif name == "triton":
        try:
            from tokwork.kernels.segment_sum import triton as implementation
        except ImportError:
            raise ParameterError("the triton backend needs the triton package: pip install 'tokwork[gpu]' "
                                 "(or pip install triton)") from None
    else:
        from tokwork.kernels.segment_sum import reference as implementation
    return implementation.segment_sum(values, rows, offsets)
