"""Two-stage superword BPE, after SuperBPE (Liu et al., "SuperBPE: Space Travel for Language Models", 2025).

Stage 1 is ordinary byte-level BPE on whitespace-bounded pretokens (the split's, within superword chunks),
stopped at the transition point. Stage 2
counts the distinct superword chunks (`chunks`), encodes them with stage 1 (`units`) and learns merges over
their stage-1 ids (`merges`); the numba code of those three loads only when stage 2 starts, so that it adds
nothing to stage 1's time and memory.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from tokenizers import pre_tokenizers

from tokwork.corpus import CorpusReader
from tokwork.progress import track
from tokwork.split_patterns import SUPERWORD
from tokwork.trainers.bpe_model import (
    TRAINING_BLOCK_CHARS,
    bpe_trainer,
    empty_byte_level_bpe,
    trained_tokenizer,
)
from tokwork.trainers.card import TrainingCard
from tokwork.trainers.supertoken.byte_level_bpe import superword_pretokenizer, with_merges
from tokwork.trainers.supertoken.config import SupertokenConfig, TrainedSupertoken
from tokwork.trainers.supertoken.memory import TextBuffer, release_freed_memory
from tokwork.trainers.supertoken.stages import SuperwordStages

STAGE2_PHASES = ("count_chunks", "stage1_ids", "learn_merges")


def train_two_stage(corpus: Sequence[str | Path], config: SupertokenConfig, *, text_field: str = "text",
                    progress: bool = True) -> TrainedSupertoken:
    """Two-stage superword BPE (SuperBPE, Liu et al. 2025): stage 1 to the transition point, stage 2 over
    superword chunks; returns the single-file tokenizer, its card and the separate stages."""
    start = time.perf_counter()
    reader = CorpusReader(corpus, text_field=text_field, progress=progress, block_chars=TRAINING_BLOCK_CHARS)
    stage1_config = config.bpe_config(config.transition_point)
    stage1 = empty_byte_level_bpe(stage1_config)
    # stage 1 learns within superword chunks too: a token the split allows across a chunk's end (o200k's
    # " don't", GPT-2's " 2001") could never come out of the saved file, which cuts text into chunks first
    stage1.pre_tokenizer = pre_tokenizers.Sequence([superword_pretokenizer(byte_level=False), stage1.pre_tokenizer])
    texts = TextBuffer(reader)
    stage1.train_from_iterator(texts, trainer=bpe_trainer(stage1_config, show_progress=progress))
    timings = {"stage1": time.perf_counter() - start}
    release_freed_memory()
    first_id = stage1.get_vocab_size(with_added_tokens=True)

    for phase in track(STAGE2_PHASES, "stage 2: superword merges", enabled=progress):
        began = time.perf_counter()
        if phase == "count_chunks":
            # the numba modules load here, after stage 1, as each phase starts
            from tokwork.trainers.supertoken.chunks import count_chunks

            chunks = count_chunks(*texts.read())
            del texts  # the chunks hold the text now
        elif phase == "stage1_ids":
            from tokwork.trainers.supertoken.units import stage1_ids

            ids = stage1_ids(stage1, chunks)
            counts = chunks.counts
            del chunks  # the stage-1 ids replace the text
        else:
            from tokwork.trainers.supertoken.merges import learn_merges

            merges, refused = learn_merges(stage1, *ids, counts, num_merges=config.vocab_size - first_id,
                                           min_frequency=config.min_frequency)
            del ids
        release_freed_memory()
        timings[phase] = time.perf_counter() - began
    backend = with_merges(stage1, merges, superword_pretokenizer())
    tokenizer = trained_tokenizer(backend, config.bpe_config(config.vocab_size))
    timings["stage2"] = time.perf_counter() - start - timings["stage1"]
    notes = {
        "vocab_size_reached": tokenizer.vocab_size,
        "stage1_vocab_size": first_id,
        "stage2_merges": len(merges),
        "stage2_refused_merges": refused,
        "distinct_chunks": len(counts),
        "chunks": int(counts.sum()),
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "pretokenizer": SUPERWORD,
        "inference": "split on the superword pattern, byte-level alphabet, stage-1 merges then stage-2 "
                     "merges in learning order; equal to stage 1 inside each chunk followed by stage 2",
    }
    card = TrainingCard.for_corpus("supertoken", {**config.card_parameters(), "transition": config.transition_point},
                                   reader.files, time.perf_counter() - start, notes=notes)
    return TrainedSupertoken(tokenizer, card, SuperwordStages(stage1, merges))
