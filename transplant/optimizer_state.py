"""An optimizer's state as safetensors (no pickle): moments as tensors, parameter groups as metadata.

Training runs that resume exactly (the hypernetwork, distillation) save Adam's moments beside their
weights; restoring them is what makes a resumed run take the same steps as an uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tokwork.errors import TokworkError


def save_optimizer(optimizer: torch.optim.Optimizer, path: str | Path) -> None:
    """Write `optimizer`'s state dict to `path` as one safetensors file."""
    from safetensors.torch import save_file

    saved = optimizer.state_dict()
    tensors = {f"{index}.{name}": torch.as_tensor(value).detach().cpu().contiguous()
               for index, values in saved["state"].items() for name, value in values.items()}
    save_file(tensors, str(path), metadata={"param_groups": json.dumps(saved["param_groups"])})


def load_optimizer(optimizer: torch.optim.Optimizer, path: str | Path, *, error: type[TokworkError],
                   what: str) -> None:
    """Restore the state `save_optimizer` wrote; a missing or corrupt file raises `error` naming `what`."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            groups = json.loads(handle.metadata()["param_groups"])
            state: dict[int, dict[str, torch.Tensor]] = {}
            for key in handle.keys():  # noqa: SIM118  (safe_open has keys(), not iteration)
                index, name = key.split(".", 1)
                state.setdefault(int(index), {})[name] = handle.get_tensor(key)
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (SafetensorError, OSError, KeyError, ValueError, json.JSONDecodeError) as err:
        reason = " ".join(str(err).split())[:160]
        raise error(f"{what} cannot be resumed: its optimizer state is missing or corrupt ({reason}); "
                    "pass --fresh to start over") from None
