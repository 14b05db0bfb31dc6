"""Attention masks that say, per query, which keys it may see, in the additive form transformers models
take as a ready-made 4D `attention_mask`: 0 where a key is seen, the dtype's lowest value where it is not.
Used wherever tokwork runs a model over something other than one plain causal sequence a row: the byte-level
tree (each node sees its ancestors) and packed distillation batches (each text sees itself)."""

from __future__ import annotations

import torch


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`allowed` (bool, any shape) as an additive mask of `dtype` on the same device and of the same shape."""
    blocked = torch.full(allowed.shape, torch.finfo(dtype).min, dtype=dtype, device=allowed.device)
    return blocked.masked_fill(allowed, 0)
