"""Making a stochastic tokenizer over a base one, with a card saying how (`tokwork train stochastic`).

The tokenizer itself, its samplers and its saved form are core (`tokwork.sampling`), since any command
that encodes text may load one; this module is only the training-side step that builds it over a base
(for StochasTok, its expansion table) and writes it with a `tokwork.json` card like every trainer.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict
from pathlib import Path

from tokwork.card import CardError, read_card
from tokwork.loader import load_tokenizer
from tokwork.sampling.stochastic import StochasticConfig, StochasticTokenizer
from tokwork.trainers.card import TrainedTokenizer, TrainingCard


def make_stochastic(base: str | Path, config: StochasticConfig) -> TrainedTokenizer:
    """Build a stochastic tokenizer over the tokenizer at `base`, with a card saying how it was made.

    Raises `TokenizerFormatError` for a missing or unreadable base and `ParameterError` for a method that
    does not apply to it or parameters out of range.
    """
    config.validate()
    start = time.perf_counter()
    tokenizer = StochasticTokenizer(load_tokenizer(base), **asdict(config))
    notes: dict = {"base": str(base), "base_format": tokenizer.base.format}
    if config.method == "stochastok":
        table = tokenizer.sampler.table
        notes.update(splittable_tokens=table.splittable_tokens, expansion_pairs=len(table.left))
    with contextlib.suppress(CardError):  # how the base was trained, when tokwork trained it
        notes["base_card"] = read_card(base)
    card = TrainingCard(kind="stochastic", parameters={**config.parameters, "base": str(base)}, corpus=[],
                        seconds=time.perf_counter() - start, notes=notes)
    return TrainedTokenizer(tokenizer, card)
