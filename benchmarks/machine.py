"""What a benchmark ran on, for its JSON: CPU seconds and CPU-minutes depend on the CPU's model (the same
2-core training step has cost several times more on one 2-core machine than on another), so a row is
comparable only with rows of the same CPU."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it ('' where it cannot be read)."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")


def machine_info(**extra) -> dict:
    """CPU count and model, whether the CPU has bfloat16 units (tokwork's training loops then run in bfloat16
    autocast, about twice as fast a step), Python and torch versions, the GPU's name when torch sees one, and
    `extra`."""
    import torch

    from tokwork.transplant.devices import cpu_has_bfloat16_units

    machine = {"cpus": os.cpu_count(), "cpu": cpu_model(), "bfloat16_units": cpu_has_bfloat16_units(),
               "python": platform.python_version(), "torch": torch.__version__, **extra}
    if torch.cuda.is_available():
        machine["gpu"] = torch.cuda.get_device_name()
    return machine
