"""Activation checkpointing for training a model whose activations do not fit: each layer keeps only its
input in the forward and computes the rest again in the backward (Hugging Face's gradient checkpointing),
about one more forward's work for a fraction of the memory.

transformers checkpoints layers only in training mode, while tokwork fits its students in evaluation mode
(no dropout); so the model is put in training mode with every dropout set to 0, which computes what
evaluation mode does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from tokwork.errors import ParameterError


def recompute_activations(model, *, role: str = "model") -> None:
    """Make `model` keep only its layers' inputs during training forwards, dropout off; `ParameterError` for
    an architecture transformers cannot checkpoint."""
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise ParameterError(f"the {role}'s architecture ({type(model).__name__}) cannot recompute its "
                             "activations; drop --checkpoint-activations")
    enable = getattr(model, "activation_checkpointing_enable", None)  # transformers 5's name for it
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0
    model.train()


@contextmanager
def evaluating(model) -> Iterator[None]:
    """Within the block `model` is in evaluation mode (for scoring: nothing to recompute without a
    backward); the mode it had comes back after."""
    training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)
