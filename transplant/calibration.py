"""Logit calibration: set how often the model predicts a new token, from the source model itself.

A new token's output row is a mix of other rows, and a mix regresses toward the average row, whose logit
is that of a common token: every new token then takes a little probability at every position, and with
thousands of them that theft costs more than their own predictions gain. (With tied embeddings the row
is the input too, so the fix must not disturb what the model reads.) The source model's final hidden
states have a direction `u` on which nearly every state projects to the same value (h·u ≈ 1): adding
b·u to an output row shifts that token's logit by b almost everywhere and changes nothing else, so it
acts as the per-token bias the head does not have.

Each new token's level is moved toward the one at which, over the model's own hidden states, its mean
logit is that of its first source piece, less the mean cost (in nats) of a word-internal continuation
piece for each further piece: predicting ` Magikarp` at once should be about as likely as predicting
` Mag` and then `ik` and `arp`. omp and hybrid move it half of the way by default: on a slice of the
en-docs training split that served hybrid better than all of the way or not at all. Both the states and that cost come from text the source model writes itself (seeded sampling),
so no outside text is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tokwork.errors import ParameterError
from tokwork.transplant.registry import Embeddings, TransplantContext

RIDGE = 100.0  # keeps |u| small: a direction every state shares, not one that fits noise


@dataclass(frozen=True)
class LogitLevel:
    """What calibration needs from the source model: the shared direction and the continuation cost."""

    direction: torch.Tensor  # u with h·u ≈ 1 for the model's hidden states
    states: torch.Tensor  # the hidden states u was fitted on (positions × hidden)
    continuation_nats: float  # mean NLL of a piece that continues a word


def _sample_states(model, *, start: int, vocab: int, sequences: int, length: int,
                   seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Final hidden states and sampled ids of text the model writes itself, `sequences` in parallel.

    Only ids of the tokenizer are sampled (never padding rows), and no sequence stops early.
    """
    rows = model.get_input_embeddings().weight.shape[0]
    prompt = torch.full((sequences, 1), start, dtype=torch.long)
    with torch.random.fork_rng(), torch.inference_mode():
        torch.manual_seed(seed)
        out = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=True, top_k=0, top_p=1.0,
                             temperature=1.0, max_new_tokens=length, min_new_tokens=length,
                             suppress_tokens=list(range(vocab, rows)) or None, output_hidden_states=True,
                             return_dict_in_generate=True, pad_token_id=start)
    states = torch.stack([step[-1][:, -1] for step in out.hidden_states], dim=1)
    return states, out.sequences


def logit_level(context: TransplantContext, *, sequences: int = 8, length: int = 64, seed: int = 0) -> LogitLevel:
    """Fit the shared direction and the continuation cost on text the source model samples itself."""
    if "logit_level" in context.cache:
        return context.cache["logit_level"]
    model = context.model
    source = context.alignment.source
    start = next(i for i in (source.specials.bos, source.specials.eos, 0) if i is not None)
    states, ids = _sample_states(model, start=start, vocab=source.vocab_size, sequences=sequences, length=length,
                                 seed=seed)
    head = context.output_embeddings if context.output_embeddings is not None else context.input_embeddings
    logits = states.reshape(-1, states.shape[-1]).float() @ head.float().T
    nll = -torch.log_softmax(logits, dim=-1).gather(1, ids[:, 1:].reshape(-1, 1))[:, 0]
    view = source.byte_view
    continues = torch.tensor([_continues_word(view[int(i)]) for i in ids[:, 1:].reshape(-1)])
    flat = states.reshape(-1, states.shape[-1]).double()
    gram = flat.T @ flat + RIDGE * torch.eye(flat.shape[1], dtype=torch.float64)
    direction = torch.linalg.solve(gram, flat.T @ torch.ones(len(flat), dtype=torch.float64)).float()
    cost = float(nll[continues].mean()) if bool(continues.any()) else float(nll.mean())
    level = LogitLevel(direction=direction, states=flat.float(), continuation_nats=cost)
    context.cache["logit_level"] = level
    return level


def _continues_word(piece: bytes | None) -> bool:
    """A piece that goes on with the word before it: it starts with a letter or a digit."""
    if not piece:
        return False
    first = piece[:1].decode("latin-1")
    return first.isalnum()


def calibrate_matrix(context: TransplantContext, rows: torch.Tensor, head: torch.Tensor, *,
                     strength: float = 1.0) -> torch.Tensor:
    """Shift each new token's row of `rows` along the shared direction, `strength` of the way to its
    calibrated logit level (1: all the way, 0: not at all)."""
    level = logit_level(context)
    ids = context.new_ids_with_bytes
    pieces = context.alignment.new_pieces
    firsts = torch.tensor([pieces[int(i)][0] if pieces.get(int(i)) else -1 for i in ids])
    counts = torch.tensor([len(pieces.get(int(i), ())) for i in ids], dtype=torch.float32)
    known = firsts >= 0
    index = torch.from_numpy(ids)[known]
    mean_state = level.states.mean(dim=0)
    current = rows[index].float() @ mean_state
    wanted = head[firsts[known]].float() @ mean_state - level.continuation_nats * (counts[known] - 1)
    scale = float(level.direction @ mean_state)
    result = rows.clone()
    shift = strength * (wanted - current) / scale
    result[index] += shift[:, None] * level.direction.to(rows.dtype)[None]
    return result


def calibrate_rows(context: TransplantContext, embeddings: Embeddings, *, strength: float = 1.0) -> Embeddings:
    """Calibrate the output side (the output matrix when untied, else the tied matrix itself), `strength`
    of the way; 0 (or a context without a model) leaves the rows as they are."""
    if strength == 0 or context.model is None or not len(context.new_ids_with_bytes):
        return embeddings
    if embeddings.output is not None:
        head = context.output_embeddings
        return Embeddings(input=embeddings.input,
                          output=calibrate_matrix(context, embeddings.output, head, strength=strength))
    return Embeddings(input=calibrate_matrix(context, embeddings.input, context.input_embeddings, strength=strength))


def check_strength(strength: float) -> None:
    """Refuse a calibration strength outside [0, 1]."""
    if not 0 <= strength <= 1:
        raise ParameterError(f"calibrate must lie in [0, 1] (0: off, 1: all the way), not {strength}")

