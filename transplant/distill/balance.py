"""Weights that give every part of a summed distillation loss the same pull on the student.

The parts of `alm+lm` (or `alm+latents`, ...) differ in size by an order of magnitude and change at
different rates, so a fixed weight lets one of them steer the updates. With `balance="gradient"` each step
weighs the parts so that their gradients at the student's output layer input (the last hidden state, which
every part's gradient passes through) have the same norm, together the norm of the plain sum's gradient
there (after tokenkit's "approx_gradmag_preserve_mag": one extra backward through the output layer per
part, not through the network).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def output_layer_input(model) -> Iterator[list[torch.Tensor]]:
    """Collect, while open, the tensors the model's output layer reads (one per forward)."""
    seen: list[torch.Tensor] = []
    handle = model.get_output_embeddings().register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    try:
        yield seen
    finally:
        handle.remove()


def balanced_weights(parts: dict[str, torch.Tensor], at: torch.Tensor) -> dict[str, float]:
    """Per part, the weight that makes its gradient at `at` as large as every other part's, the parts
    together as large as their plain sum's; a part with no gradient there keeps weight 1."""
    grads = {name: torch.autograd.grad(value, at, retain_graph=True, allow_unused=True)[0]
             for name, value in parts.items()}
    present = {name: g for name, g in grads.items() if g is not None}
    norms = {name: float(g.norm()) for name, g in present.items()}
    present = {name: g for name, g in present.items() if norms[name] > 0}
    if not present:
        return {name: 1.0 for name in parts}
    share = float(torch.stack(list(present.values())).sum(0).norm()) / len(present)
    return {name: share / norms[name] if name in present else 1.0 for name in parts}
