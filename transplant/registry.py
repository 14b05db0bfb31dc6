"""The method interface of transplant: what a method is given, what it returns, and the registry of names.

A method is a function `method(context, **options) -> Embeddings`: it gets a `TransplantContext` (the
alignment, the source model's input and output matrices, the donor space if it asked for one) and
returns the full input and output matrices of the target vocabulary. Most methods only make the rows of
new tokens and let `TransplantContext.fill` copy the matched rows; a method that predicts every row
(a hypernetwork) returns whole matrices. Methods register themselves by name, so the CLI lists them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tokwork.errors import ParameterError
from tokwork.transplant.align import Alignment

if TYPE_CHECKING:
    from tokwork.transplant.donors import DonorSpace


@dataclass(frozen=True)
class Embeddings:
    """The new input matrix and output matrix (None when input and output are tied), target rows each."""

    input: torch.Tensor
    output: torch.Tensor | None = None


@dataclass
class TransplantContext:
    """Everything a method may use: the alignment, the source matrices, the source model, the donor space.

    `output_embeddings` is None when the source ties its head to its input embeddings; `model` is the
    loaded source model (for donors that run it), `donor` the donor space for methods that need one.
    """

    alignment: Alignment
    input_embeddings: torch.Tensor
    output_embeddings: torch.Tensor | None = None
    model: Any = None
    donor: DonorSpace | None = None
    progress: bool = False
    cache: dict = field(default_factory=dict)

    @property
    def tied(self) -> bool:
        return self.output_embeddings is None

    @property
    def new_ids_with_bytes(self) -> np.ndarray:
        """New target ids that stand for bytes (the ones a subword or donor method can place)."""
        view = self.alignment.target.byte_view
        return np.array([i for i in self.alignment.new_ids if view[int(i)] is not None], dtype=np.int64)

    def token_rows(self, matrix: torch.Tensor) -> torch.Tensor:
        """The rows of a source matrix that belong to tokens (padding rows left out)."""
        return matrix[: self.alignment.source.vocab_size]

    def carry_over(self, matrix: torch.Tensor) -> torch.Tensor:
        """A target-sized matrix with matched and padding rows copied from `matrix`, new rows zero."""
        alignment = self.alignment
        result = matrix.new_zeros((alignment.target_rows, matrix.shape[1]))
        shared = torch.from_numpy(alignment.shared_target_ids)
        result[shared] = matrix[torch.from_numpy(alignment.shared_source_ids)]
        if len(alignment.padding_source_ids):
            result[alignment.target_vocab:] = matrix[torch.from_numpy(alignment.padding_source_ids)]
        return result

    def fill(self, new_rows: Callable[[torch.Tensor, np.ndarray], torch.Tensor], *,
             needs_bytes: bool = False) -> Embeddings:
        """Copy matched rows and ask `new_rows(source_matrix, new_ids)` for the rest, for each matrix.

        With `needs_bytes`, only new tokens that stand for bytes go to `new_rows`; new special tokens
        (no bytes, no role match) get the mean of the source's token rows.
        """
        ids = self.new_ids_with_bytes if needs_bytes else self.alignment.new_ids

        def one(matrix: torch.Tensor) -> torch.Tensor:
            result = self.carry_over(matrix)
            rest = np.setdiff1d(self.alignment.new_ids, ids)
            if len(rest):
                result[torch.from_numpy(rest)] = self.token_rows(matrix).mean(dim=0)
            if len(ids):
                rows = new_rows(matrix, ids)
                if rows.shape != (len(ids), matrix.shape[1]):
                    raise ValueError(f"method returned rows of shape {tuple(rows.shape)} for {len(ids)} tokens")
                result[torch.from_numpy(ids)] = rows.to(matrix.dtype)
            return result

        output = None if self.output_embeddings is None else one(self.output_embeddings)
        return Embeddings(input=one(self.input_embeddings), output=output)


Method = Callable[..., Embeddings]


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its function, one line about it, whether it needs a donor space, its options."""

    name: str
    function: Method
    summary: str
    needs_donor: bool
    options: dict[str, Any]
    check: Callable[..., None] | None = None


METHODS: dict[str, MethodInfo] = {}


def register(name: str, *, summary: str, needs_donor: bool = False,
             check: Callable[..., None] | None = None) -> Callable[[Method], Method]:
    """Register a method under `name`; its keyword-only arguments (with defaults) are its options.

    `check(**options)` raises `ParameterError` for options out of range; it runs before any model loads.
    """

    def decorate(function: Method) -> Method:
        parameters = inspect.signature(function).parameters.values()
        options = {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
        METHODS[name] = MethodInfo(name, function, summary, needs_donor, options, check)
        return function

    return decorate


def load_methods() -> dict[str, MethodInfo]:
    """Import every built-in method module (each registers itself) and return the registry.

    A new method (a module or a sub-package such as `transplant/hypernet/`) registers with `register`
    and is imported here once, so that the CLI and `get_method` see it.
    """
    from tokwork.transplant import baselines, hybrid, omp, subword_mean  # noqa: F401
    from tokwork.transplant.hypernet import method  # noqa: F401

    return METHODS


def get_method(name: str) -> MethodInfo:
    """The registered method called `name`; a `ParameterError` listing the names when there is none."""
    methods = load_methods()
    if name not in methods:
        raise ParameterError(f"unknown transplant method '{name}'; choose one of: {', '.join(sorted(methods))}")
    return methods[name]


def check_options(info: MethodInfo, options: dict[str, Any]) -> dict[str, Any]:
    """Refuse options the method does not take; return the options with the method's defaults filled in."""
    unknown = sorted(set(options) - set(info.options))
    if unknown:
        takes = ", ".join(sorted(info.options)) or "no options"
        raise ParameterError(f"method '{info.name}' does not take {', '.join(unknown)}; it takes {takes}")
    options = {**info.options, **options}
    if info.check is not None:
        info.check(**options)
    return options
