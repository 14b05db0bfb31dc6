"""Supertoken tokenizers: byte-level BPE whose tokens may span several words, as one standard `tokenizer.json`.

Two methods:

- **two-stage** superword BPE, after SuperBPE (Liu et al., "SuperBPE: Space Travel for Language Models",
  2025). Stage 1 is ordinary byte-level BPE on whitespace-bounded pretokens, stopped at the transition
  point t (a stage-1 vocabulary of t tokens). Stage 2 goes on learning merges over much longer pretokens
  that end only before digit groups and runs of punctuation and after line breaks
  (`tokwork.split_patterns.SUPERWORD`), so merges can join words (" of the", ", I am"). Stage 2 counts the
  distinct chunks (`chunks`), encodes them with stage 1 (`units`) and learns over their stage-1 ids with
  incremental pair counts (`merges`, on the hash tables and heap of `tables`); `two_stage` runs it.
- **random-chunk** supertokens, after TokenAdapt (Sharthak et al., "Achieving Tokenizer Flexibility in
  Language Models through Heuristic Adaptation and Supertoken Learning", 2025): the text is cut into
  chunks of random length (seeded; the length distribution is a parameter) that ignore word boundaries,
  and byte-level BPE is trained on the chunks (`random_chunk`). The saved file does not cut text at all:
  its merges apply over the whole input.

How two-stage inference matches training: the saved file splits text with the superword pattern, spells
bytes in GPT-2's alphabet, then applies the stage-1 merges followed by the stage-2 merges, in learning order.
Inside a chunk, BPE applies every stage-1 merge that can apply before any stage-2 merge (they rank lower),
which is exactly stage 1 encoding the chunk; stage-2 merges then act on stage-1 ids as during training,
because no stage-2 merge makes a string that already is a token. `SuperwordStages.encode` runs the two
stages as separate passes; the tests check that it gives the same ids as the saved file.

The settings and the result are in `config`, the byte-level BPE plumbing both methods share in
`byte_level_bpe`, and the memory habits of both trainers in `memory`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tokwork.trainers.supertoken.config import (
    DEFAULT_CHUNK_LENGTHS,
    METHODS,
    SupertokenConfig,
    TrainedSupertoken,
    parse_chunk_lengths,
)

# The trainers (numba kernels, the `tokenizers` plumbing) load on first use, so that reading the settings
# above, as the CLI does to show its defaults, costs no more than the config module.
_LAZY = {"train_random_chunk": "random_chunk", "SuperwordStages": "stages", "train_two_stage": "two_stage"}

__all__ = ["DEFAULT_CHUNK_LENGTHS", "METHODS", "SuperwordStages", "SupertokenConfig", "TrainedSupertoken",
           "parse_chunk_lengths", "train_random_chunk", "train_supertoken", "train_two_stage"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def train_supertoken(corpus: Sequence[str | Path], config: SupertokenConfig, *, text_field: str = "text",
                     progress: bool = True) -> TrainedSupertoken:
    """Train a supertoken tokenizer with `config.method` ("two-stage" or "random-chunk")."""
    config.validate()
    if config.method == "random-chunk":
        from tokwork.trainers.supertoken.random_chunk import train_random_chunk

        return train_random_chunk(corpus, config, text_field=text_field, progress=progress)
    from tokwork.trainers.supertoken.two_stage import train_two_stage

    return train_two_stage(corpus, config, text_field=text_field, progress=progress)
