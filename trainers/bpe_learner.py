"""Byte-level BPE learned from a pre-token count table (word -> count), the step that stays on one machine.

Counting pre-tokens parallelises over shards (see `tokwork.pretoken_counts`); learning merges needs the
whole table. This learner follows the `tokenizers` BPE trainer step for step, so that the same table gives
the same merges: ids are the special tokens, then the alphabet sorted by code point, then new tokens in
order; each step takes the pair with the highest count, ties going to the smaller pair of ids; counts are
kept up to date incrementally, only for the words that hold the merged pair; stale queue entries are
refreshed when they reach the top; a merge that spells an existing token reuses its id; and a merged
token's neighbours are counted only while the new pair is shorter than the length limit. The per-word
merges run in numba; the queue and the bookkeeping per step stay in Python (one step touches few pairs).
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numba
import numpy as np
from tokenizers import Tokenizer as BackendTokenizer
from tokenizers import models, pre_tokenizers

from tokwork.distributed import check_engine
from tokwork.formats.hf_json import HFTokenizer
from tokwork.pretoken_counts import count_pretokens
from tokwork.trainers.bpe_model import (
    TRAINING_BLOCK_CHARS,
    BPEConfig,
    empty_byte_level_bpe,
    trained_tokenizer,
    trainer_length_limit,
)
from tokwork.trainers.card import TrainedTokenizer, TrainingCard

NO_LIMIT = np.iinfo(np.int64).max


@dataclass
class LearnedBPE:
    """The outcome of learning: the vocabulary (token -> id) and the merges in rank order."""

    vocab: dict[str, int]
    merges: list[tuple[str, str]]


@numba.njit(cache=True)
def merge_in_words(words, first, second, new_id, symbols, starts, lengths, token_length, max_length):
    """Merge (first, second) into new_id, left to right, in each listed word; return the pair changes as
    (left, right, delta, word) rows, the way the `tokenizers` trainer records them."""
    out = np.empty((64, 4), dtype=np.int64)
    used = 0
    new_length = token_length[first] + token_length[second]
    for w in words:
        base = starts[w]
        i = 0
        while i < lengths[w]:
            n = lengths[w]
            if symbols[base + i] == first and i + 1 < n and symbols[base + i + 1] == second:
                if used + 4 > out.shape[0]:
                    grown = np.empty((2 * out.shape[0], 4), dtype=np.int64)
                    for r in range(used):  # a loop: a slice assignment compiles numba's shape-error text
                        for col in range(4):
                            grown[r, col] = out[r, col]
                    out = grown
                if i > 0:
                    prev = symbols[base + i - 1]
                    out[used, 0], out[used, 1], out[used, 2], out[used, 3] = prev, first, -1, w
                    used += 1
                    if token_length[prev] + new_length < max_length:
                        out[used, 0], out[used, 1], out[used, 2], out[used, 3] = prev, new_id, 1, w
                        used += 1
                symbols[base + i] = new_id
                for j in range(i + 1, n - 1):
                    symbols[base + j] = symbols[base + j + 1]
                lengths[w] = n - 1
                if i < n - 2:
                    following = symbols[base + i + 1]
                    out[used, 0], out[used, 1], out[used, 2], out[used, 3] = second, following, -1, w
                    used += 1
                    if token_length[following] + new_length < max_length:
                        out[used, 0], out[used, 1], out[used, 2], out[used, 3] = new_id, following, 1, w
                        used += 1
            i += 1
    return out[:used]


def _as_columns(counts: np.ndarray) -> np.ndarray:
    """Word counts as a matrix with a row per word: one column, or one per language."""
    return counts.reshape(len(counts), math.prod(counts.shape[1:]))


def initial_pairs(symbols: np.ndarray, starts: np.ndarray, lengths: np.ndarray, counts: np.ndarray):
    """Count every adjacent pair of every word (weighted by the word's count) and where each occurs.

    `counts` holds each word's count, or a row of counts per word (one column per language): the totals
    are then a row per pair."""
    word_of = np.repeat(np.arange(len(starts)), lengths)
    position = np.arange(len(symbols))
    is_left = position < (np.repeat(starts + lengths, lengths) - 1)
    left = symbols[position[is_left]].astype(np.int64)
    right = symbols[position[is_left] + 1].astype(np.int64)
    words = word_of[is_left]
    keys = (left << 32) | right
    order = np.lexsort((words, keys))
    keys, words = keys[order], words[order]
    unique_keys, first_index = np.unique(keys, return_index=True)
    columns = _as_columns(counts)
    totals = np.zeros((len(unique_keys), columns.shape[1]), dtype=np.int64)
    # One column at a time: all of them at once would hold every pair occurrence once per column.
    for j in range(columns.shape[1] if len(keys) else 0):
        totals[:, j] = np.add.reduceat(np.ascontiguousarray(columns[:, j])[words], first_index)
    totals = totals.reshape(len(unique_keys), *counts.shape[1:])
    bounds = np.append(first_index, len(keys))
    # A word that holds a pair twice is listed twice; merging it again finds nothing, so that is harmless.
    where = [words[bounds[i]:bounds[i + 1]] for i in range(len(unique_keys))]
    return unique_keys.tolist(), totals.tolist(), where


class Tokens:
    """Token ids as the `tokenizers` trainer gives them (the special tokens, then the alphabet sorted by code
    point, then merged tokens in order; a token spelled twice keeps its first id), with each token's length
    in characters for the length limit."""

    def __init__(self, special_tokens: Iterable[str], alphabet: set[str], *, capacity: int):
        self.id_to_token: list[str] = []
        self.token_to_id: dict[str, int] = {}
        for token in (*special_tokens, *sorted(alphabet)):
            if token not in self.token_to_id:
                self.token_to_id[token] = len(self.id_to_token)
                self.id_to_token.append(token)
        self.length = np.zeros(max(capacity, len(self.id_to_token)) + 1, dtype=np.int64)
        self.length[: len(self.id_to_token)] = [len(t) for t in self.id_to_token]

    def __len__(self) -> int:
        return len(self.id_to_token)

    def add(self, token: str) -> int:
        """The id of `token`, a new one if it is new."""
        if token in self.token_to_id:
            return self.token_to_id[token]
        new_id = len(self.id_to_token)
        self.token_to_id[token] = new_id
        self.id_to_token.append(token)
        if new_id >= len(self.length):
            self.length = np.concatenate((self.length, np.zeros(len(self.length), dtype=np.int64)))
        self.length[new_id] = len(token)
        return new_id

    def merged(self, first: int, second: int) -> int:
        return self.add(self.id_to_token[first] + self.id_to_token[second])

    def ranked_merges(self, merges: Sequence[tuple[int, int]]) -> list[tuple[str, str]]:
        """The merges as token pairs in rank order: a pair merged twice keeps the rank of its last merge, as
        in `tokenizers`."""
        last_rank = {pair: rank for rank, pair in enumerate(merges)}
        ordered = sorted(last_rank, key=last_rank.__getitem__)
        return [(self.id_to_token[a], self.id_to_token[b]) for a, b in ordered]


def word_symbols(words: Sequence[str], tokens: Tokens, alphabet: set[str]):
    """The words as ids of their characters, one after another in one array: (symbols, starts, lengths)."""
    lengths = np.array([len(w) for w in words], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64) if words else np.zeros(0, np.int64)
    code_points = np.frombuffer("".join(words).encode("utf-32-le"), dtype=np.uint32)
    char_ids = {ord(t): i for i, t in enumerate(tokens.id_to_token) if len(t) == 1 and t in alphabet}
    lookup = np.zeros(max(char_ids, default=0) + 1, dtype=np.int64)
    for point, token_id in char_ids.items():
        lookup[point] = token_id
    symbols = lookup[code_points] if len(code_points) else np.zeros(0, dtype=np.int64)
    return symbols, starts, lengths


@numba.njit(cache=True)
def _summed_changes(changes, order, first_index, columns):
    """Row s: the sum of delta * columns[word] over the change rows order[first_index[s]:first_index[s + 1]]
    (numba, so that no change row is copied once per column)."""
    sums = np.zeros((len(first_index), columns.shape[1]), dtype=np.int64)
    for s in range(len(first_index)):
        end = first_index[s + 1] if s + 1 < len(first_index) else len(order)
        for r in range(first_index[s], end):
            delta, word = changes[order[r], 2], changes[order[r], 3]
            for j in range(columns.shape[1]):
                sums[s, j] += delta * columns[word, j]
    return sums


def pair_deltas(changes: np.ndarray, weights: np.ndarray):
    """The pair changes of one merge (at least one) summed per pair: (key of each change row, changed keys,
    their sums). `weights` holds each word's count, or a row of counts per word (one per language)."""
    change_keys = (changes[:, 0] << 32) | changes[:, 1]
    order = np.argsort(change_keys, kind="stable")
    ordered = change_keys[order]
    first_index = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    sums = _summed_changes(changes, order, first_index, _as_columns(weights))
    return change_keys, ordered[first_index], sums.reshape(len(first_index), *weights.shape[1:])


def gained_pairs(changes: np.ndarray, change_keys: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Each pair a merge formed, in key order, with the words where it formed (in word order)."""
    gained = changes[:, 2] > 0
    if not gained.any():
        return
    gained_keys, gained_words = change_keys[gained], changes[gained, 3]
    order = np.lexsort((gained_words, gained_keys))
    gained_keys, gained_words = gained_keys[order], gained_words[order]
    heads, first_index = np.unique(gained_keys, return_index=True)
    bounds = np.append(first_index, len(gained_keys))
    for i, k in enumerate(heads.tolist()):
        yield k, gained_words[bounds[i]:bounds[i + 1]]


def merge_and_requeue(queue: list, sequence: int, pair_counts: dict, counts: np.ndarray, positions: np.ndarray,
                      pair: tuple[int, int], new_id: int, words: tuple, max_length: int) -> int:
    """Merge `pair` into `new_id` in the words at `positions` (`words`: symbols, starts, lengths and token
    lengths), update `pair_counts` by the pairs lost and formed, and queue each formed pair that occurs with
    the words where it formed; returns the next queue sequence number."""
    symbols, starts, lengths, token_length = words
    changes = merge_in_words(positions, *pair, new_id, symbols, starts, lengths, token_length, max_length)
    if len(changes) == 0:
        return sequence
    change_keys, unique_keys, sums = pair_deltas(changes, counts)
    for k, delta in zip(unique_keys.tolist(), sums.tolist(), strict=True):
        pair_counts[k] = pair_counts.get(k, 0) + delta
    for k, pushed in gained_pairs(changes, change_keys):
        count = pair_counts[k]
        if count > 0:
            heapq.heappush(queue, (-count, k >> 32, k & 0xFFFFFFFF, sequence, pushed))
            sequence += 1
    return sequence


def learn_bpe(
    word_counts: Mapping[str, int],
    *,
    vocab_size: int,
    min_frequency: int = 0,
    special_tokens: Iterable[str] = (),
    initial_alphabet: Iterable[str] = (),
    max_token_length: int | None = None,
) -> LearnedBPE:
    """Learn BPE merges from pre-token counts, as `tokenizers.trainers.BpeTrainer` would from the text.

    `max_token_length` is the trainer's own limit (a merged token must be shorter than it).
    """
    alphabet = set(initial_alphabet)
    for word in word_counts:
        alphabet.update(word)
    tokens = Tokens(special_tokens, alphabet, capacity=vocab_size)
    words = [w for w in word_counts if w]
    counts = np.array([word_counts[w] for w in words], dtype=np.int64)
    symbols, starts, lengths = word_symbols(words, tokens, alphabet)
    max_length = NO_LIMIT if max_token_length is None else max_token_length

    keys, totals, where = initial_pairs(symbols, starts, lengths, counts)
    pair_counts = dict(zip(keys, totals, strict=True))
    # Queue entries: (-count, first, second, sequence number, words); the sequence number only keeps
    # entries of the same pair and count from being compared by their word lists.
    queue = [(-c, k >> 32, k & 0xFFFFFFFF, i, where[i]) for i, (k, c) in enumerate(zip(keys, totals, strict=True)) if c > 0]
    heapq.heapify(queue)
    sequence = len(keys)
    merges: list[tuple[int, int]] = []

    while len(tokens) < vocab_size and queue:
        negative, first, second, _, positions = heapq.heappop(queue)
        current = pair_counts[(first << 32) | second]
        if -negative != current:
            heapq.heappush(queue, (-current, first, second, sequence, positions))
            sequence += 1
            continue
        if current < 1 or min_frequency > current:
            break
        new_id = tokens.merged(first, second)
        merges.append((first, second))
        sequence = merge_and_requeue(queue, sequence, pair_counts, counts, positions, (first, second), new_id,
                                     (symbols, starts, lengths, tokens.length), max_length)

    return LearnedBPE(vocab=dict(tokens.token_to_id), merges=tokens.ranked_merges(merges))


def learner_options(config: BPEConfig) -> dict:
    """The settings of `learn_bpe` that match those the `tokenizers` trainer takes from a byte-level config."""
    return {"vocab_size": config.vocab_size, "min_frequency": config.min_frequency,
            "special_tokens": config.all_special_tokens, "initial_alphabet": pre_tokenizers.ByteLevel.alphabet(),
            "max_token_length": trainer_length_limit(config)}


def learned_tokenizer(backend: BackendTokenizer, learned: LearnedBPE, config: BPEConfig) -> HFTokenizer:
    """The untrained byte-level BPE `backend` with the learned vocabulary and merges, as a tokenizer."""
    backend.model = models.BPE(learned.vocab, learned.merges)
    backend.add_special_tokens(config.all_special_tokens)
    return trained_tokenizer(backend, config)


def train_bpe_from_counts(
    corpus: Sequence[str | Path],
    config: BPEConfig,
    *,
    engine: str = "local",
    address: str | None = None,
    text_field: str = "text",
    progress: bool = True,
) -> TrainedTokenizer:
    """Byte-level BPE trained from pre-token counts taken per shard on `engine` ("local" or "ray").

    The counts are those the `tokenizers` trainer would take from the same text, and `learn_bpe` learns
    the same merges from them, so the result is the tokenizer `train_bpe(engine="hf")` writes.
    """
    config.validate()
    check_engine(engine, address=address)
    start = time.perf_counter()
    backend = empty_byte_level_bpe(config)
    table, files = count_pretokens(corpus, tokenizer_json=backend.to_str(), engine=engine, address=address,
                                   text_field=text_field, block_chars=TRAINING_BLOCK_CHARS, progress=progress)
    counted = time.perf_counter()
    word_counts = table.to_dict()
    table.close()
    tokenizer = learned_tokenizer(backend, learn_bpe(word_counts, **learner_options(config)), config)
    notes = {"vocab_size_reached": tokenizer.vocab_size, "engine": engine, "distinct_pretokens": len(word_counts),
             "counting_seconds": round(counted - start, 3),
             "learning_seconds": round(time.perf_counter() - counted, 3)}
    card = TrainingCard.for_corpus("bpe", asdict(config), files, time.perf_counter() - start, notes=notes)
    return TrainedTokenizer(tokenizer, card)
