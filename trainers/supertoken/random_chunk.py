"""Random-chunk supertokens, after TokenAdapt (Sharthak et al., "Achieving Tokenizer Flexibility in Language
Models through Heuristic Adaptation and Supertoken Learning", 2025).

The text is cut into chunks of random length in characters (the length distribution is a parameter, the cuts
are seeded) that ignore word boundaries, and byte-level BPE is learned over the distinct chunks with their
counts, by the same incremental learner as stage 2 of the two-stage method, starting from the bare byte
alphabet. The saved `tokenizer.json` does not cut text at all: its merges apply over the whole input, so
tokens may cross words, punctuation and lines.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer as BackendTokenizer
from tokenizers import pre_tokenizers

from tokwork.byteview import bytes_to_byte_level
from tokwork.corpus import CorpusReader
from tokwork.progress import track
from tokwork.trainers.bpe_model import (
    BYTE_ALPHABET,
    TRAINING_BLOCK_CHARS,
    bpe_trainer,
    empty_byte_level_bpe,
    trained_tokenizer,
)
from tokwork.trainers.card import TrainingCard
from tokwork.trainers.supertoken.byte_level_bpe import with_merges
from tokwork.trainers.supertoken.config import SupertokenConfig, TrainedSupertoken, parse_chunk_lengths
from tokwork.trainers.supertoken.memory import TextBuffer, release_freed_memory

PHASES = ("count_chunks", "learn_merges")


def random_chunks(texts: Sequence[str], spec: str, *, seed: int) -> list[list[str]]:
    """The random-length chunks that `random-chunk` training cuts `texts` into (lengths in characters
    drawn from `spec`, see `parse_chunk_lengths`, with a seeded generator), as one list per text."""
    from tokwork.trainers.supertoken.chunks import random_cuts  # numba loads when chunks are cut

    ranges, probabilities = parse_chunk_lengths(spec)
    data, ends = TextBuffer(texts).read()
    cuts = random_cuts(data, ends, np.array([low for low, _ in ranges], dtype=np.int64),
                       np.array([high - low + 1 for low, high in ranges], dtype=np.int64),
                       np.cumsum(probabilities), seed)
    pieces = [[] for _ in texts]
    text, start = 0, 0
    for cut in cuts.tolist():
        while cut > ends[text]:
            text += 1
        pieces[text].append(data[start:cut].tobytes().decode("utf-8"))
        start = cut
    return pieces


def byte_alphabet(config: SupertokenConfig) -> BackendTokenizer:
    """A byte-level BPE without merges: the end-of-text token and the 256 bytes, in the order the
    `tokenizers` trainer numbers them."""
    bpe = config.bpe_config(BYTE_ALPHABET + 1)
    backend = empty_byte_level_bpe(bpe)
    backend.train_from_iterator([], trainer=bpe_trainer(bpe, show_progress=False))
    return backend


def train_random_chunk(corpus: Sequence[str | Path], config: SupertokenConfig, *, text_field: str = "text",
                       progress: bool = True) -> TrainedSupertoken:
    """Random-chunk supertokens (TokenAdapt, Sharthak et al. 2025): byte-level BPE learned over chunks of
    random length that ignore word boundaries (the merges are learned as in stage 2 of the two-stage
    method, from the bytes up); the saved file applies its merges over the whole input."""
    from tokwork.trainers.supertoken.chunks import count_random_chunks, span_bytes  # numba loads here
    from tokwork.trainers.supertoken.merges import learn_merges

    start = time.perf_counter()
    reader = CorpusReader(corpus, text_field=text_field, progress=progress, block_chars=TRAINING_BLOCK_CHARS)
    ranges, probabilities = parse_chunk_lengths(config.chunk_lengths)
    base = byte_alphabet(config)
    byte_ids = np.array([base.token_to_id(bytes_to_byte_level(bytes([b]))) for b in range(256)], dtype=np.int32)
    timings = {}
    for phase in track(PHASES, "random-chunk supertokens", enabled=progress):
        began = time.perf_counter()
        if phase == "count_chunks":
            chunks = count_random_chunks(*TextBuffer(reader).read(), ranges, probabilities, seed=config.seed)
        else:
            ids = span_bytes(chunks.data, chunks.starts, chunks.ends, byte_ids)
            merges, refused = learn_merges(base, *ids, chunks.counts, min_frequency=config.min_frequency,
                                           num_merges=config.vocab_size - base.get_vocab_size())
        release_freed_memory()
        timings[phase] = round(time.perf_counter() - began, 3)
    backend = with_merges(base, merges, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False))
    tokenizer = trained_tokenizer(backend, config.bpe_config(config.vocab_size))
    notes = {"vocab_size_reached": tokenizer.vocab_size, "refused_merges": refused,
             "distinct_chunks": len(chunks.counts), "chunks": int(chunks.counts.sum()), "seconds": timings,
             "inference": "no pretokenization: the merges apply over the whole input"}
    card = TrainingCard.for_corpus("supertoken", config.card_parameters(), reader.files, time.perf_counter() - start,
                                   notes=notes)
    return TrainedSupertoken(tokenizer, card)
