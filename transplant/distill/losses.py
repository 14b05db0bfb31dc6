"""The distillation losses: approximate likelihood matching on aligned chunks, and plain next-token loss.

ALM compares, for every aligned chunk, the teacher's and the student's log-likelihood of the chunk's
bytes. Following Minixhofer et al. 2025, each log-likelihood is divided by a temperature and read as the
probability of a binary event (the chunk, or not the chunk); the loss is the divergence between the two
Bernoulli distributions. We use the binary KL divergence, which is the paper's binary cross-entropy
minus the teacher's binary entropy: the same gradients for the student, but zero when the student
matches the teacher, so its value reads as "how far from the teacher". A large temperature keeps the
gradient alive for unlikely chunks (it tends to a relative error of the chunk's negative log-likelihood).

Two refinements are options: chunks that end only where a space follows, each with the probability that
the next token starts with that space (`alm_chunks="space"`, after tokenkit's "append space" mode: the
probability of a token path up to a shared boundary also says that no longer token of that model
continued there, an event that differs between tokenizers, while "these bytes, then a space" is the same
event for both where pre-tokenizers cut before a space); a hidden-state term (`latent_loss`); and the
next-token distributions at shared boundaries over the tokens both vocabularies have (`side_loss`, after
tokenkit's "side path" losses), or over every token as groups of the student's first pieces (`group_kl`).
"""

from __future__ import annotations

import math

import torch

EPSILON = 1e-6


class _PickedLogprobs(torch.autograd.Function):
    """log_softmax(logits)[..., target] whose backward allocates one (positions x vocabulary) buffer: the
    plain composition (a slice, log_softmax, gather) allocates and fills three in its backward, a quarter
    of a gigabyte each for a batch onto GPT-2's vocabulary."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logprobs = torch.log_softmax(logits, dim=-1)
        ctx.save_for_backward(logprobs, targets)
        return logprobs.gather(-1, targets[..., None]).squeeze(-1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        logprobs, targets = ctx.saved_tensors
        # d/dx log p_y = onehot(y) - softmax(x); a new buffer, as a retained graph may run this again
        gradient = logprobs.exp().mul_(-grad[..., None])
        return gradient.scatter_add_(-1, targets[..., None], grad[..., None]), None


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Log-probability of each next token: `logits[:, t]` scores `ids[:, t + 1]`; shape (batch, length-1)."""
    # every position is scored (the last against a stand-in target, then dropped), so that the gradient is
    # the whole logits' shape and needs no zero-filled copy around a slice
    targets = torch.cat([ids[:, 1:], ids[:, :1]], dim=1)
    return _PickedLogprobs.apply(logits.float(), targets)[:, :-1]


def chunk_logprobs(logprobs: torch.Tensor, chunk_index: torch.Tensor, chunks: int) -> torch.Tensor:
    """Sum token log-probabilities into chunks: `chunk_index` maps each (flattened) token to its chunk."""
    sums = torch.zeros(chunks, dtype=logprobs.dtype, device=logprobs.device)
    return sums.index_add(0, chunk_index, logprobs)


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x < 0, accurate on both sides of log(1/2)."""
    return torch.where(x < -math.log(2), torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))


def binary_kl(teacher: torch.Tensor, student: torch.Tensor, *, temperature: float) -> torch.Tensor:
    """KL(Bernoulli(exp(t/T)) || Bernoulli(exp(s/T))) per chunk, from chunk log-likelihoods t and s."""
    log_p = (teacher / temperature).clamp(max=0.0) - EPSILON
    log_q = (student / temperature).clamp(max=0.0) - EPSILON
    p = torch.exp(log_p)
    kl = p * (log_p - log_q) + (1 - p) * (_log1mexp(log_p) - _log1mexp(log_q))
    return kl.clamp(min=0.0)


def alm_loss(teacher_chunks: torch.Tensor, student_chunks: torch.Tensor, *, temperature: float,
             diff: str = "binary-kl") -> torch.Tensor:
    """Mean difference over aligned chunks between the two models' chunk log-likelihoods t and s.

    `binary-kl` (the paper's form): the binary KL, times the temperature so that its size does not depend on
    it; at a large temperature it tends to (t - s)^2 / 2|s|, a relative error, which weighs a small error on
    an easy chunk like a large one on a hard chunk. `shortfall`: the same, only on the chunks the student
    gives less likelihood than the teacher (s < t; the others count 0): the transfer's aim is a student as
    good as its teacher, and pushing down a chunk the student already predicts better spends the step on
    moving the student away from the text. `squared`: (t - s)^2 / 2 in nats, and `abs`: |t - s|, absolute
    errors, as a text's total log-likelihood (its bits per byte) adds them. Each is zero when the student
    gives every chunk the teacher's likelihood; all but `shortfall` and `hinge` are positive otherwise (those
    two where the student falls short on some chunk). `hinge`: t - s where the student falls short, 0
    elsewhere, in nats: the likelihood the student has lost against the teacher, each chunk's shortfall
    counted as bits per byte count it (every short chunk pushed up alike, as the next-token loss pushes
    every token, but none where the student is already at or above the teacher).
    """
    teacher_chunks = teacher_chunks.detach()
    if diff == "squared":
        return 0.5 * (teacher_chunks - student_chunks).pow(2).mean()
    if diff == "abs":
        return (teacher_chunks - student_chunks).abs().mean()
    if diff == "hinge":
        return torch.relu(teacher_chunks - student_chunks).mean()
    kl = temperature * binary_kl(teacher_chunks, student_chunks, temperature=temperature)
    if diff == "shortfall":
        return (kl * (student_chunks.detach() < teacher_chunks)).mean()
    return kl.mean()


def lm_loss(logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean next-token negative log-likelihood (nats) over the real (unpadded) targets."""
    return -(logprobs * mask).sum() / mask.sum().clamp(min=1)


def chunk_last_targets(chunks: torch.Tensor, count: int) -> torch.Tensor:
    """For each of `count` chunks, the flattened target index of its last token (-1 for a chunk with none).

    `chunks` maps each target (flattened batch x length-1) to its chunk, padding to the dummy `count`. The
    model's hidden state at that token has read the whole chunk and nothing after it.
    """
    positions = torch.arange(len(chunks), device=chunks.device)
    last = torch.full((count + 1,), -1, dtype=torch.int64, device=chunks.device)
    return last.scatter_reduce(0, chunks, positions, reduce="amax", include_self=True)[:-1]


def latent_loss(teacher_states: torch.Tensor, student_states: torch.Tensor) -> torch.Tensor:
    """Squared distance between the two models' hidden states at chunk ends, per channel over the
    teacher's mean square there (so that no channel of large scale dominates); 0 when they agree.

    Shapes (layers, chunks, width). After a transplant the student is the teacher's network with new
    embeddings, so at a byte offset where both have just read the same text its hidden states should be
    the teacher's: a dense target, where ALM gives one number per chunk.
    """
    teacher_states = teacher_states.detach().float()
    scale = teacher_states.pow(2).mean(dim=1, keepdim=True) + 1e-8
    return ((student_states.float() - teacher_states).pow(2) / scale).mean()


def side_loss(teacher_next: torch.Tensor, student_next: torch.Tensor) -> torch.Tensor:
    """Mean KL divergence, over shared boundaries, between the two models' next-token distributions coarsened
    to the tokens both vocabularies have (the same bytes), one outcome each, plus one outcome for all others.

    Shapes (boundaries, shared tokens): row i holds each model's log-probability that the token after the
    i-th boundary is shared token j. At a boundary both models have read the same bytes, so "the next token
    is these bytes" is nearly the same event for both (not exactly: a longer token that only one vocabulary
    has takes some of its mass). Where ALM gives one number per chunk, this compares thousands of
    alternatives per boundary: the chunks that could have come next. Zero when the two agree.
    """
    teacher_next = teacher_next.detach()
    teacher_rest = _log1mexp(torch.logsumexp(teacher_next, -1, keepdim=True).clamp(max=-EPSILON))
    student_rest = _log1mexp(torch.logsumexp(student_next, -1, keepdim=True).clamp(max=-EPSILON))
    return group_kl(torch.cat([teacher_next, teacher_rest], -1), torch.cat([student_next, student_rest], -1))


def group_kl(teacher_next: torch.Tensor, student_next: torch.Tensor) -> torch.Tensor:
    """Mean KL divergence, over shared boundaries, from the teacher's to the student's distribution of what
    comes next, both as log-probabilities of the same outcomes (`first_pieces.py`'s groups, which hold the
    whole mass), shape (boundaries, groups). Zero when the two agree."""
    teacher_next = teacher_next.detach()
    return (teacher_next.exp() * (teacher_next - student_next)).sum(-1).mean()
