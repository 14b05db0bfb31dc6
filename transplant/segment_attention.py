"""Attention for texts packed one after another into one row: each text attends to itself alone, computed
one text at a time instead of over the whole row under a block-diagonal mask.

A packed row of n texts of length m costs (n m)^2 score entries under a mask, most of them masked; one text
at a time costs n m^2, with no mask to build or add. So the whole batch can go into one row, with no
padding at all, and attention costs what the texts alone cost. The model is told how long its texts are
by the `segment_lengths` keyword, which transformers passes from a model's forward down to its
attention function; without it (held-out scoring, padded batches) the attention is the plain one the
training loops use (`devices.use_training_attention`): eager on a CPU, torch's fused kernel elsewhere.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, eager_mask, sdpa_mask

NAME = "tokwork_segments"
_uses = {"segments": 0}  # forwards that saw `segment_lengths` (how `use_segment_attention` checks a model)


def _whole_row(module, query, key, value, attention_mask, **kwargs):
    # a model's eager attention is the function its own modeling file defines (the layout of its heads differs)
    eager = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
    plain = eager if query.device.type == "cpu" and eager is not None else sdpa_attention_forward
    return plain(module, query, key, value, attention_mask, **kwargs)


def _mask(*args, device="cpu", **kwargs):
    plain = eager_mask if torch.device(device).type == "cpu" else sdpa_mask
    return plain(*args, device=device, **kwargs)


def segment_attention(module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                      segment_lengths: Sequence[int] | None = None, **kwargs):
    """transformers' attention-function interface: with `segment_lengths` (the lengths of the texts one
    after another in a single row), causal attention within each text; otherwise the plain attention over
    the row and mask.

    Texts longer than a sliding window, and attention with logit soft-capping or sink tokens, take the
    plain path with the row's mask, which accounts for them."""
    special = kwargs.get("softcap") is not None or kwargs.get("s_aux") is not None
    window = kwargs.get("sliding_window")
    if segment_lengths is not None and window is not None:
        special = special or max(segment_lengths) > window
    if segment_lengths is None or special:
        return _whole_row(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
    if query.shape[0] != 1:
        raise ValueError(f"segment attention takes one packed row, not {query.shape[0]}")
    _uses["segments"] += 1
    grouped = query.shape[1] != key.shape[1]
    # split, not slices: a slice's gradient is a zero-filled copy of the whole row, one per text
    outputs = [F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scaling, dropout_p=dropout,
                                              enable_gqa=grouped)
               for q, k, v in zip(*(t.split(list(segment_lengths), dim=2) for t in (query, key, value)), strict=True)]
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def register() -> None:
    """Make NAME an attention implementation transformers models can be set to (idempotent)."""
    AttentionInterface.register(NAME, segment_attention)
    AttentionMaskInterface.register(NAME, _mask)


def segment_lengths(segments: torch.Tensor) -> list[int]:
    """The length of each run of equal ids in a packed row's segment ids (`segments`: (1, length))."""
    return torch.unique_consecutive(segments[0], return_counts=True)[1].tolist()


def use_segment_attention(model) -> bool:
    """Set `model` to segment attention if it passes attention keywords down to its attention function
    (checked with a tiny forward of two texts); otherwise leave it as it was. Returns whether it did."""
    register()
    before = model.config._attn_implementation
    try:
        model.set_attn_implementation(NAME)
    except (AttributeError, ValueError):  # an older or custom model class keeps its own
        return False
    device = next(model.parameters()).device
    seen = _uses["segments"]
    with torch.no_grad():
        model(torch.zeros((1, 4), dtype=torch.int64, device=device), use_cache=False,
              position_ids=torch.tensor([[0, 1, 0, 1]], device=device), segment_lengths=[2, 2])
    if _uses["segments"] > seen:
        return True
    model.set_attn_implementation(before)
    return False
