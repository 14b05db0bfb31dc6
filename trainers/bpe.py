"""Byte-level BPE (as in GPT-2), trained by Hugging Face `tokenizers` on a streamed corpus.

The model and its settings (`BPEConfig`) are those of `tokwork.trainers.bpe_model`. The corpus is
streamed in blocks of whole paragraphs (newlines kept, so tokens for blank lines can be learned, and
pre-tokens are those of the file's own text) and never loaded whole; `.jsonl` records are fed one by one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from tokwork.corpus import CorpusReader
from tokwork.distributed import ENGINES, check_engine
from tokwork.trainers.bpe_model import (
    TRAINING_BLOCK_CHARS,
    BPEConfig,
    bpe_trainer,
    empty_byte_level_bpe,
    trained_tokenizer,
)
from tokwork.trainers.card import TrainedTokenizer, TrainingCard

if TYPE_CHECKING:
    from tokwork.trainers.parity_bpe import ParityConfig

__all__ = ["BPE_ENGINES", "BPEConfig", "train_bpe"]  # BPEConfig comes with its trainer: `train_bpe(corpus, BPEConfig(...))`

# Where BPE is trained: the `tokenizers` trainer in this process, or counts taken on an engine of
# `tokwork.distributed` and merges learned from them.
BPE_ENGINES = ("hf", *ENGINES)


def train_bpe(
    corpus: Sequence[str | Path],
    config: BPEConfig,
    *,
    text_field: str = "text",
    progress: bool = True,
    engine: str = "hf",
    address: str | None = None,
    parity: ParityConfig | None = None,
) -> TrainedTokenizer:
    """Train byte-level BPE on `corpus` (files, folders, `.gz`, `.jsonl`) and return it with its card.

    `engine="hf"` runs the `tokenizers` trainer end to end; `"local"` and `"ray"` count pre-tokens per
    shard (in this process, or on Ray workers at `address`) and learn the same merges from the counts
    (`tokwork.trainers.bpe_learner`). With `parity`, parity-aware BPE (`tokwork.trainers.parity_bpe`),
    learned from counts taken on "local" (also for "hf") or "ray". Raises `ParameterError` for an engine
    not in `BPE_ENGINES`.
    """
    check_engine(engine, choices=BPE_ENGINES, address=address)
    if parity is not None:
        from tokwork.trainers.parity_bpe import train_parity_bpe

        return train_parity_bpe(corpus, config, parity, engine="local" if engine == "hf" else engine,
                                address=address, text_field=text_field, progress=progress)
    if engine != "hf":
        from tokwork.trainers.bpe_learner import train_bpe_from_counts  # numba loads only for these engines

        return train_bpe_from_counts(corpus, config, engine=engine, address=address, text_field=text_field,
                                     progress=progress)
    config.validate()
    start = time.perf_counter()
    reader = CorpusReader(corpus, text_field=text_field, progress=progress, block_chars=TRAINING_BLOCK_CHARS)
    backend = empty_byte_level_bpe(config)
    backend.train_from_iterator(reader, trainer=bpe_trainer(config, show_progress=progress))
    tokenizer = trained_tokenizer(backend, config)
    card = TrainingCard.for_corpus("bpe", asdict(config), reader.files, time.perf_counter() - start,
                                   notes={"vocab_size_reached": tokenizer.vocab_size})
    return TrainedTokenizer(tokenizer, card)
