"""Whether a causal LM's logits are a plain product of its last hidden states and its output layer.

Code that applies the output layer itself (the byte level with its rows reordered, the distillation a
block of positions at a time) may only do so where the model's logits are exactly `decoder(...) @ W.T`.
"""

from __future__ import annotations

import torch


def plain_output_layer(model) -> torch.nn.Linear | None:
    """The model's output layer when its logits are exactly `model.get_decoder()(...) @ layer.weight.T` (a
    linear map without bias, no logit softcapping or scale, the decoder reachable), else None."""
    head = model.get_output_embeddings()
    config = model.config
    plain = (isinstance(head, torch.nn.Linear) and head.bias is None
             and not getattr(config, "final_logit_softcapping", None)
             and getattr(config, "logit_scale", None) in (None, 1.0)
             and callable(getattr(model, "get_decoder", None)))
    return head if plain else None
