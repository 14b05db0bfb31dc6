"""The prompt-boundary problem: how a prompt that ends at an arbitrary byte is conditioned on.

Three ways to score the true continuation c of a prefix u, all as cover sums (`tokwork.bytelevel`), so that
only the treatment of the boundary differs:
- naive: tokenize u on its own, then let the model continue from that token boundary: P(c | E(u));
- token healing: back up the last token of E(u) and require the continuation to start with its bytes r:
  P(r·c | E(u) minus its last token) / P(r | same);
- exact: P(u·c) / P(u) over every canonical cover of the boundary.
A prompt cut inside a word forces a token boundary the model rarely saw there (naive), token healing
repairs one token, the exact method marginalises over all tokenizations (Phan et al. 2024; Hayase et al.
2025 show the same effect at prompt boundaries).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tokwork.bytelevel.bytelm import ByteLM
from tokwork.bytelevel.canonical_text import CanonicalText
from tokwork.bytelevel.covers import cover_masses
from tokwork.errors import ParameterError

METHODS = ("naive", "token healing", "exact")


def _segment_logprob(lm: ByteLM, context: list[int], data: bytes, start: int) -> float:
    """log P(data) - log P(data[:start]) for covers that begin after the fixed `context` tokens."""
    text = CanonicalText(lm.encoder, data)
    ends = [len(data) - 1] + ([start - 1] if start else [])
    found = cover_masses(lm, text, ends, context=context)
    total = 0.0
    for end, sign in ((len(data), 1.0), (start, -1.0)):
        if end:
            masses, scale = found.at(end - 1)
            mass = masses[data[end - 1]]
            total += sign * (np.log(mass) + scale if mass > 0 else -np.inf)
    return total


def boundary_logprobs(lm: ByteLM, prefix: str, continuation: bytes) -> dict[str, float]:
    """log P(continuation | prefix) under naive tokenization, token healing and the exact method."""
    if not prefix:
        raise ParameterError("the prompt is empty; the prompt-boundary comparison needs a prompt to cut")
    if lm.stream_prefix:
        raise ParameterError("the prompt-boundary comparison needs a tokenizer without a dummy prefix")
    ids = lm.tokenizer.encode(prefix)
    healed = lm.tokenizer.byte_view[ids[-1]]
    return {
        "naive": _segment_logprob(lm, lm.start_ids + ids, continuation, 0),
        "token healing": _segment_logprob(lm, lm.start_ids + ids[:-1], healed + continuation, len(healed)),
        "exact": lm.logprob(continuation, prompt=prefix.encode("utf-8")),
    }


@dataclass
class BoundaryTable:
    """Mean log2-probability of the true continuation per method, and how often each method was best."""

    cuts: int
    continuation_bytes: int
    mean_bits: dict[str, float]
    best_share: dict[str, float]
    rows: list[dict]


def boundary_table(lm: ByteLM, text: str, *, cuts: int = 32, continuation: int = 16, context: int = 256,
                   seed: int = 0) -> BoundaryTable:
    """Cut `text` at random byte positions (at character boundaries, inside words as often as anywhere)
    and score the next `continuation` bytes under each method, with `context` bytes of prompt."""
    data = text.encode("utf-8")
    rng = np.random.default_rng(seed)
    starts = [i for i in range(context, len(data) - continuation) if (data[i] & 0xC0) != 0x80]
    if len(starts) < cuts:
        raise ParameterError(f"the text is too short for {cuts} cuts with {context} bytes of context")
    rows = []
    for cut in sorted(rng.choice(starts, size=cuts, replace=False)):
        begin = int(cut) - context
        while (data[begin] & 0xC0) == 0x80:
            begin += 1
        prefix = data[begin:cut].decode("utf-8")
        logprobs = boundary_logprobs(lm, prefix, data[cut:cut + continuation])
        rows.append({"cut": int(cut), **{m: v / np.log(2) for m, v in logprobs.items()}})
    mean_bits = {m: float(np.mean([r[m] for r in rows])) for m in METHODS}
    best = [max(METHODS, key=lambda m, r=r: r[m]) for r in rows]
    share = {m: best.count(m) / len(rows) for m in METHODS}
    return BoundaryTable(cuts, continuation, mean_bits, share, rows)
