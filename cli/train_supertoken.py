"""`tokwork train supertoken`: byte-level BPE with tokens that span words (two-stage or random-chunk)."""

from __future__ import annotations

from typing import Any

import typer

from tokwork.cli.options import SEED_LIMIT
from tokwork.cli.train import training_command
from tokwork.trainers.supertoken import DEFAULT_CHUNK_LENGTHS


def supertoken_arguments(
    vocab_size: int,
    method: str = typer.Option("two-stage", help="two-stage (superword BPE after SuperBPE) or random-chunk "
                               "(after TokenAdapt)."),
    transition: int | None = typer.Option(None, "--transition", "-t", help="Two-stage: vocabulary size at which "
                                          "stage 1 stops and superword merges begin (default: 80% of the vocab)."),
    chunk_lengths: str = typer.Option(DEFAULT_CHUNK_LENGTHS, help="Random-chunk: chunk lengths in "
                                      "characters with weights, e.g. '6-18:0.7,19-28:0.3' or '4-12'."),
    seed: int = typer.Option(0, min=0, max=SEED_LIMIT, help="Random-chunk: seed of the chunk lengths."),
    min_frequency: int = typer.Option(2, help="Least count of a pair to be merged."),
    split: str = typer.Option("gpt2", help="Two-stage: stage-1 pre-tokenization pattern: gpt2, cl100k or o200k "
                              "(random-chunk cuts text without one)."),
    eos_token: str = typer.Option("<|endoftext|>", help="End-of-text token (also used as bos)."),
) -> dict[str, Any]:
    """Supertokens: tokens may span several words; writes one standard tokenizer.json."""
    from tokwork.trainers.supertoken import SupertokenConfig

    return {"config": SupertokenConfig(vocab_size=vocab_size, method=method, transition=transition,
                                       chunk_lengths=chunk_lengths, seed=seed, min_frequency=min_frequency,
                                       split=split, eos_token=eos_token)}


train_supertoken_command = training_command(supertoken_arguments)
