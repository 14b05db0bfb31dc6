"""Learning new tokens on top of a base tokenizer's segmentations: the core of `tokwork.trainers.extend`.

The new text comes as the base segments it (`Segmentations`: each distinct word as token ids, characters
the base spells only in byte-fallback pieces, and cuts), and is cut into the runs that merges may join
(`word_units`). Characters that occur often enough become tokens first; then merges are learned as
`tokwork.trainers.bpe_learner` learns them (and with its numba kernels): the most frequent adjacent pair,
ties to the smaller pair of ids, counts updated only in the words that hold the merged pair, stale queue
entries refreshed when they reach the top. The difference is the start: the base's tokens and ids, not
the alphabet, so that extending a BPE on the text it was trained on gives the merges more training would.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

# A symbol of a segmentation: a token id, a character the base spells only in byte-fallback pieces, or a
# cut (an unknown or control token) that no pair crosses.
Symbol = int | str | None


@dataclass
class Segmentations:
    """The new text as the base segments it, one (symbols, count) per distinct word, and the base's token
    strings by id (what a merge's result is spelled from)."""

    words: list[tuple[list[Symbol], int]]
    strings: dict[int, str]
    starts_word: frozenset[int] = frozenset()  # tokens that begin a word (SentencePiece's `▁x`)
    ends_word: frozenset[int] = frozenset()  # tokens that end one (`x▁`, whitespace as suffix)


@dataclass
class LearnedExtension:
    """What extension learned: the new tokens by id (new characters first), and the merges to append in rank
    order as pairs of ids. `parts` gives, for each new token made by a merge, the pair that first made it;
    `reused` counts the merges that spell a base token and so use its id; `exhausted` says that fewer
    tokens than asked were found (no other pair occurs `min_frequency` times).
    """

    new_tokens: dict[int, str] = field(default_factory=dict)
    new_characters: list[str] = field(default_factory=list)
    merges: list[tuple[int, int]] = field(default_factory=list)
    parts: dict[int, tuple[int, int]] = field(default_factory=dict)
    reused: int = 0
    exhausted: bool = False


def word_units(segmentations: Segmentations, char_ids: Mapping[str, int]) -> Counter:
    """Cut each segmentation into the runs that new merges may join, with their counts: at cuts, at
    characters without an id, and at word starts and ends. Runs of one symbol have no pair and are left out."""
    units: Counter = Counter()
    for symbols, count in segmentations.words:
        run: list[int] = []
        for symbol in symbols:
            if isinstance(symbol, str):
                symbol = char_ids.get(symbol)
            if symbol is None or symbol in segmentations.starts_word:
                if len(run) > 1:
                    units[tuple(run)] += count
                run = [] if symbol is None else [symbol]
            else:
                run.append(symbol)
            if run and run[-1] in segmentations.ends_word:
                if len(run) > 1:
                    units[tuple(run)] += count
                run = []
        if len(run) > 1:
            units[tuple(run)] += count
    return units


def new_characters(segmentations: Segmentations, *, limit: int, min_frequency: int) -> list[str]:
    """The characters the base spells only in bytes that occur at least `min_frequency` times, most
    frequent first (ties by code point), at most `limit` of them."""
    counts: Counter = Counter()
    for symbols, count in segmentations.words:
        for symbol in symbols:
            if isinstance(symbol, str):
                counts[symbol] += count
    ranked = sorted((item for item in counts.items() if item[1] >= min_frequency), key=lambda x: (-x[1], x[0]))
    return [char for char, _ in ranked[:limit]]


def learn_extension(segmentations: Segmentations, *, next_id: int, add: int, min_frequency: int,
                    reuse_base_tokens: bool = True, forbidden: Collection[str] = ()) -> LearnedExtension:
    """Learn up to `add` new tokens on the base's segmentations: new characters first, then merges.

    New ids count up from `next_id`. A merge whose result spells a base token uses that token's id when
    `reuse_base_tokens` (BPE bases, where the merge then makes the token in new places), and is skipped
    otherwise (SentencePiece models, which have no merges to add); a merge into a string in `forbidden` (an
    added token's text: no text may turn into a special token) is skipped.
    """
    # numba loads only when an extension runs, not whenever the trainers are imported
    from tokwork.trainers.bpe_learner import NO_LIMIT, initial_pairs, merge_and_requeue

    learned = LearnedExtension()
    learned.new_characters = new_characters(segmentations, limit=add, min_frequency=min_frequency)
    strings = dict(segmentations.strings)
    for char in learned.new_characters:
        strings[next_id] = learned.new_tokens[next_id] = char
        next_id += 1
    vocab = {token: token_id for token_id, token in strings.items()}
    base_ids = set(segmentations.strings)
    units = word_units(segmentations, {c: vocab[c] for c in learned.new_characters})

    counts = np.fromiter(units.values(), dtype=np.int64, count=len(units))
    lengths = np.fromiter((len(u) for u in units), dtype=np.int64, count=len(units))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64) if len(units) else lengths.copy()
    symbols = np.fromiter((s for unit in units for s in unit), dtype=np.int64, count=int(lengths.sum()))
    # No length limit: the lengths only feed the limit's test, so zeros will do.
    token_length = np.zeros(next_id + add + 1, dtype=np.int64)

    keys, totals, where = initial_pairs(symbols, starts, lengths, counts)
    pair_counts = dict(zip(keys, totals, strict=True))
    queue = [(-c, k >> 32, k & 0xFFFFFFFF, i, where[i]) for i, (k, c) in enumerate(zip(keys, totals, strict=True))
             if c > 0]
    heapq.heapify(queue)
    sequence = len(keys)
    ranked: list[tuple[int, int]] = []
    while len(learned.new_tokens) < add:
        if not queue:
            learned.exhausted = True
            break
        negative, first, second, _, positions = heapq.heappop(queue)
        current = pair_counts[(first << 32) | second]
        if -negative != current:
            heapq.heappush(queue, (-current, first, second, sequence, positions))
            sequence += 1
            continue
        if current < max(1, min_frequency):
            learned.exhausted = True
            break
        token = strings[first] + strings[second]
        if token in forbidden:
            continue
        result = vocab.get(token)
        if result is None:
            result = next_id
            next_id += 1
            strings[result] = vocab[token] = learned.new_tokens[result] = token
            learned.parts[result] = (first, second)
        elif result in base_ids:
            if not reuse_base_tokens:
                continue
            learned.reused += 1
        ranked.append((first, second))
        sequence = merge_and_requeue(queue, sequence, pair_counts, counts, positions, (first, second), result,
                                     (symbols, starts, lengths, token_length), NO_LIMIT)
    # A pair merged twice keeps the rank of its last merge, as in `tokenizers` and `learn_bpe`.
    last_rank = {pair: rank for rank, pair in enumerate(ranked)}
    learned.merges = sorted(last_rank, key=last_rank.__getitem__)
    return learned


def characters_for_bytes(ids: Iterable[int], byte_values: Mapping[int, int], *, cut: Collection) -> list[Symbol]:
    """`ids` with each run of byte-fallback ids replaced by the characters it spells, and `cut` ids by cuts."""
    symbols: list[Symbol] = []
    pending = bytearray()
    for token_id in [*ids, None]:
        if token_id is not None and token_id in byte_values:
            pending.append(byte_values[token_id])
            continue
        if pending:
            try:
                symbols.extend(pending.decode("utf-8"))
            except UnicodeDecodeError:  # bytes that spell no character: nothing to learn from them
                symbols.append(None)
            pending.clear()
        if token_id is not None:
            symbols.append(None if token_id in cut else token_id)
    return symbols
