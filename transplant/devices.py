"""Where training loops run: the device a user asked for, whether bfloat16 autocast pays there (always on
a GPU, on a CPU only with bfloat16 units), and the attention and optimizer that train fastest there.

On a CPU without them (no AMX, no AVX-512 BF16) torch emulates bfloat16 matrix products, and a model's
forward and backward run much slower than in float32, so training
loops that ask for bfloat16 get it only where it is faster.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import torch

from tokwork.errors import ParameterError

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.cache
def cpu_has_bfloat16_units() -> bool:
    """True when /proc/cpuinfo lists AMX or AVX-512 BF16 (False where it cannot be read)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").split()
    except OSError:
        return False
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def bfloat16_pays(device: torch.device | str) -> bool:
    """Whether to run `device`'s forward passes in bfloat16 autocast when bfloat16 is asked for."""
    kind = torch.device(device).type
    return kind == "cuda" or (kind == "cpu" and cpu_has_bfloat16_units())


def uses_bfloat16(bf16: bool, device: torch.device | str) -> bool:
    """Whether a training loop that asked for bfloat16 (`bf16`) runs its forwards in it on `device`."""
    return bf16 and bfloat16_pays(device)


def training_autocast(bf16: bool, device: torch.device | str) -> torch.autocast:
    """The autocast a training loop's forwards run under: bfloat16 where `uses_bfloat16`, else off."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=uses_bfloat16(bf16, device))


def precision_of(bf16: bool, device: torch.device | str) -> str:
    """What a training loop's forward passes run in, for its card: "bfloat16 autocast" where
    `uses_bfloat16`, else "float32". Runs in the two differ in rounding, not in kind."""
    return "bfloat16 autocast" if uses_bfloat16(bf16, device) else "float32"


def joined_precision(before: str | None, now: str) -> str:
    """A resumed run's precision for its card: `now`, or both in order where a process resumed it on a
    machine that ran the other (`precision_of`). Cards older than the field say nothing before."""
    if not before or before.endswith(now):
        return before or now
    return f"{before}, then {now}"


def pick_device(device: str | None) -> torch.device:
    """`auto` (or None): the GPU when torch sees one, else the CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        chosen = None
    if chosen is None or chosen.type not in ("cpu", "cuda"):
        raise ParameterError(f"unknown device '{device}'; use auto, cpu, cuda or cuda:N")
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device '{device}' asked for, but torch sees no GPU; use --device cpu")
    return chosen


def use_training_attention(model, device: torch.device | str) -> None:
    """On a CPU, train `model` with the plain (eager) attention: backpropagating through torch's fused
    attention is slower on a CPU at these sequence lengths (`benchmarks/training_step.py`). The choice is not
    saved with the model; elsewhere the model keeps its own."""
    if torch.device(device).type != "cpu":
        return
    with contextlib.suppress(AttributeError, ValueError):  # an older or custom model class keeps its own
        model.set_attn_implementation("eager")


def training_adam(parameters, learning_rate: float) -> torch.optim.Adam:
    """Adam with torch's fused update (one kernel over every parameter, CPU and GPU), the same
    arithmetic as the per-tensor loop at a lower cost per step (`benchmarks/training_step.py`)."""
    return torch.optim.Adam(parameters, lr=learning_rate, fused=True)
