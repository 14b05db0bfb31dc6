"""Next-token log-probabilities read through the output layer a block of positions at a time.

A batch's logits are positions x vocabulary: 16 texts of 2,048 characters onto GPT-2's 50,257 tokens are about
8,000 positions and 1.6 GB of float32 logits, and the model's own forward, the log-softmax, its backward and
the teacher's copy hold several such buffers (such a run peaked at 19-23 GB against 14 GB read by blocks:
benchmarks/distill_memory.py). Past `MAX_LOGITS` entries the distillation runs the decoder alone and applies
the output layer itself, `BLOCK_LOGITS` entries at a time, keeping only each position's log-normaliser and the
picked token's log-probability; the backward computes each block's logits again. The output layer then holds
one block's logits whatever the batch, for one more matrix product per block. Only a plain output layer (a
linear map without bias, no logit softcapping or scale, the decoder reachable) is read this way; any other
model keeps the whole logits, as do batches below the limit (whose arithmetic is then the same as before) and
runs that weigh their loss parts by gradient (`--balance gradient` reads the output layer's input by a hook).
"""

from __future__ import annotations

import os

import torch

from tokwork.causal_lm import plain_output_layer

# 134M entries (512 MB of float32 logits): larger batches are read block by block; TOKWORK_MAX_LOGITS sets
# another limit (a very large one keeps the whole logits always, as before this module)
MAX_LOGITS = int(os.environ.get("TOKWORK_MAX_LOGITS") or 1 << 27)
BLOCK_LOGITS = 1 << 24  # entries of one block's logits (64 MB of float32)


def reads_by_block(model, ids: torch.Tensor, *, whole_logits: bool = False) -> bool:
    """Whether a forward of `ids` through `model` should read its logits block by block."""
    if whole_logits or plain_output_layer(model) is None:
        return False
    return ids.numel() * model.get_output_embeddings().weight.shape[0] > MAX_LOGITS


class _BlockLogprobs(torch.autograd.Function):
    """log_softmax(hidden @ weight.T)[target] per row, the logits made and dropped a block at a time."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, compute: torch.dtype,
                rows: int) -> torch.Tensor:
        picked = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
        normaliser = torch.empty_like(picked)
        matrix = weight.to(compute)
        for start in range(0, hidden.shape[0], rows):
            logits = (hidden[start:start + rows].to(compute) @ matrix.T).float()
            normaliser[start:start + rows] = torch.logsumexp(logits, -1)
            picked[start:start + rows] = logits.gather(1, targets[start:start + rows, None])[:, 0]
        ctx.save_for_backward(hidden, weight, targets, normaliser)
        ctx.compute, ctx.rows = compute, rows
        return picked - normaliser

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        hidden, weight, targets, normaliser = ctx.saved_tensors
        compute, rows = ctx.compute, ctx.rows
        matrix = weight.to(compute)
        grad_hidden = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) \
            if ctx.needs_input_grad[1] else None
        for start in range(0, hidden.shape[0], rows):
            block = hidden[start:start + rows].to(compute)
            logits = (block @ matrix.T).float()
            # d(picked - normaliser)/d(logits) = onehot(target) - softmax, times the incoming gradient
            scores = torch.exp(logits - normaliser[start:start + rows, None]).mul_(-grad[start:start + rows, None])
            scores.scatter_add_(1, targets[start:start + rows, None], grad[start:start + rows, None])
            scores = scores.to(compute)
            if grad_hidden is not None:
                grad_hidden[start:start + rows] = (scores @ matrix).to(hidden.dtype)
            if grad_weight is not None:
                grad_weight += (scores.T @ block).float()
        return (grad_hidden, grad_weight.to(weight.dtype) if grad_weight is not None else None, None, None, None)


def block_token_logprobs(hidden: torch.Tensor, weight: torch.Tensor, ids: torch.Tensor, *,
                         compute: torch.dtype) -> torch.Tensor:
    """Log-probability of each next token from the last hidden states (batch, length, width) through the
    output layer `weight`, as `losses.token_logprobs` gives it from the logits: `hidden[:, t]` scores
    `ids[:, t + 1]`; shape (batch, length-1). The products run in `compute` (bfloat16 under autocast), the
    log-softmax in float32."""
    batch, length, width = hidden.shape
    targets = torch.cat([ids[:, 1:], ids[:, :1]], dim=1).reshape(-1)  # the last position against a stand-in
    rows = max(1, BLOCK_LOGITS // weight.shape[0])
    picked = _BlockLogprobs.apply(hidden.reshape(-1, width), weight, targets, compute, rows)
    return picked.reshape(batch, length)[:, :-1]
