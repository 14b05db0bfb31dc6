"""Parity-aware byte-level BPE, after Foroutan et al., "Parity-Aware Byte-Pair Encoding: Improving
Cross-lingual Fairness in Tokenization" (2025): every merge is chosen for the language that is worst
compressed, so that no language is left with far longer token sequences than the others.

Pre-token counts are kept per language. At each step the language whose dev text now takes the most tokens
chooses the merge: its own most frequent pair. The dev set is parallel (the same text in every language),
so a language's token count is comparable across languages; it is reported relative to a pivot language
(English `eng` when present), which does not change the choice. The merge is applied to the words of
all languages, dev words included, whose token counts are updated as it is. With `mix` X, the paper's
hybrid variant: the first X share of the new tokens (rounded) come from the ordinary, global most frequent
pairs (the paper's `--global-merges`), the rest from the parity choice. With `window` W, the paper's
moving-window variant: a language that chose more than 2/L of the last W parity merges (L languages in the
choice; the reference code's default share) is passed over for the next worst, so that no language takes a
long run of merges while another waits. A language with no pair left at the
minimum frequency drops out of the choice, and is recorded with the dev token counts at that moment (in
the card too: from then on the others choose every merge, and its dev ratio may rise); training ends when
all have.

Everything else is `tokwork.trainers.bpe_learner`'s: ids, ties between pairs (the smaller pair of ids),
the incremental pair counts and the queue; each language has its own queue, and a list of words to merge
in (an entry) serves once, whichever queue pops it. So one language gives exactly plain BPE's merges, as
does `mix=1` on any number of languages. Ties between languages go to the first code in sorted order.

The dev set and the languages of the training files are read and checked by `parallel_dev.py`.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tokwork.distributed import check_engine
from tokwork.errors import CorpusError, ParameterError
from tokwork.pretoken_counts import count_pretokens_by_group, pretokenizer_from_json
from tokwork.setting_types import check_setting_types
from tokwork.trainers.bpe_learner import (
    NO_LIMIT,
    LearnedBPE,
    Tokens,
    gained_pairs,
    initial_pairs,
    learned_tokenizer,
    learner_options,
    merge_in_words,
    pair_deltas,
    word_symbols,
)
from tokwork.trainers.bpe_model import TRAINING_BLOCK_CHARS, BPEConfig, empty_byte_level_bpe
from tokwork.trainers.card import TrainedTokenizer, TrainingCard
from tokwork.trainers.parallel_dev import read_parallel_dev, training_languages

WINDOW_SHARE = 2.0  # the moving-window variant passes over a language with more than this / L of the window


@dataclass
class ParityConfig:
    """Settings of parity-aware training (saved in the card): the parallel dev folder, the share of merges
    chosen by global frequency, and the pivot language (default: `eng` if in the dev set, else the first)."""

    dev: str
    mix: float = 0.0
    pivot: str | None = None
    window: int = 0  # the moving-window variant's window (0: the plain parity choice)

    def validate(self) -> None:
        """Raise `ParameterError` for a mix outside [0, 1] or a negative window."""
        check_setting_types(self)
        if not 0.0 <= self.mix <= 1.0:  # NaN fails too
            raise ParameterError(f"parity mix {self.mix} must be between 0 and 1 (the share of merges chosen "
                                 "by global frequency)")
        if self.window < 0:
            raise ParameterError(f"parity window {self.window} must be 0 (off) or a number of merges")


@dataclass(frozen=True)
class LanguageStop:
    """A language that ran out of pairs at the minimum frequency and left the choice: after how many merges,
    and every language's dev token count at that moment."""

    after_merges: int
    dev_tokens: dict[str, int]


@dataclass
class ParityBPE(LearnedBPE):
    """Learned merges with, for each step, the language that chose it ("" for a global step), each
    language's dev token count after the last step, and the languages that ran out of pairs, in the order
    they did (when the global pairs run out, all that were left)."""

    steps: list[str]
    dev_tokens: dict[str, int]
    stopped: dict[str, LanguageStop]


class _PairCounts:
    """Each pair's counts, a row (one column per language, then their total), kept in blocks of rows: growing
    adds a block and copies nothing, where one array would hold two copies while it grows; and a block's
    rows take memory only once written (zeros this large come from calloc, whose pages are mapped on first
    write)."""

    SHIFT = 18

    def __init__(self, width: int):
        self.width = width
        self.blocks: list[np.ndarray] = []

    def item(self, row: int, column: int) -> int:
        return self.blocks[row >> self.SHIFT].item(row & ((1 << self.SHIFT) - 1), column)

    def _by_block(self, rows: Sequence[int]) -> Iterator[tuple[np.ndarray, np.ndarray | slice, np.ndarray]]:
        """For each block that `rows` fall in: the block, which of `rows` fall in it, and where."""
        if len(rows) == 0:
            return
        low, high = min(rows) >> self.SHIFT, max(rows) >> self.SHIFT
        while len(self.blocks) <= high:
            self.blocks.append(np.zeros((1 << self.SHIFT, self.width), dtype=np.int64))
        rows = np.asarray(rows, dtype=np.int64)
        if low == high:
            yield self.blocks[high], slice(None), rows - (high << self.SHIFT)
            return
        block, within = rows >> self.SHIFT, rows & ((1 << self.SHIFT) - 1)
        for b in np.unique(block).tolist():
            picked = block == b
            yield self.blocks[b], picked, within[picked]

    def add(self, rows: Sequence[int], sums: np.ndarray) -> None:
        """Add row i of `sums` to the counts of `rows[i]` (distinct rows)."""
        for block, picked, within in self._by_block(rows):
            block[within] += sums[picked]

    def take(self, rows: Sequence[int]) -> np.ndarray:
        """The counts of `rows`, a row each."""
        taken = np.empty((len(rows), self.width), dtype=np.int64)
        for block, picked, within in self._by_block(rows):
            taken[picked] = block[within]
        return taken


def learn_parity_bpe(
    training: Mapping[str, Mapping[str, int]],
    dev: Mapping[str, Mapping[str, int]],
    *,
    vocab_size: int,
    mix: float = 0.0,
    window: int = 0,
    min_frequency: int = 0,
    special_tokens: Iterable[str] = (),
    initial_alphabet: Iterable[str] = (),
    max_token_length: int | None = None,
) -> ParityBPE:
    """Learn parity-aware BPE merges from pre-token counts per language (`training`) and the pre-token
    counts of each language's parallel dev text (`dev`, the same languages).

    The arguments after `window` are `learn_bpe`'s; `mix` is the share of new tokens, taken first, that come
    from global most frequent pairs; `window` (> 0) passes over a language that chose more than 2/L of the
    last `window` parity merges. Dev characters must be in the alphabet (byte-level text always is).
    """
    languages = sorted(training)
    if sorted(dev) != languages:
        raise ValueError(f"dev languages {sorted(dev)} differ from training languages {languages}")
    alphabet = set(initial_alphabet)
    for counts in training.values():
        for word in counts:
            alphabet.update(word)
    tokens = Tokens(special_tokens, alphabet, capacity=vocab_size)
    global_until = len(tokens) + round(mix * max(0, vocab_size - len(tokens)))
    words = list(dict.fromkeys(w for table in (*training.values(), *dev.values()) for w in table if w))
    if set("".join(words)) - alphabet:
        raise ValueError("dev text has characters outside the training alphabet")
    n = len(languages)
    index = {word: i for i, word in enumerate(words)}
    # The dev text is small: its counts have a row per dev word only (`dev_row` of each word, -1 for none).
    dev_index = {word: i for i, word in enumerate(dict.fromkeys(w for table in dev.values() for w in table if w))}
    dev_words = np.array([index[w] for w in dev_index], dtype=np.int64)
    dev_row = np.full(len(words), -1, dtype=np.int64)
    dev_row[dev_words] = np.arange(len(dev_words))
    # Column j < n: the words' counts in language j; column n: their total, for the global steps.
    weights = np.zeros((len(words), n + 1), dtype=np.int64)
    dev_weights = np.zeros((len(dev_index), n), dtype=np.int64)
    for j, code in enumerate(languages):
        for table, target, row in ((training[code], weights, index), (dev[code], dev_weights, dev_index)):
            rows = [row[w] for w in table if w]
            np.add.at(target[:, j], rows, [c for w, c in table.items() if w])
    weights[:, n] = weights[:, :n].sum(axis=1)
    symbols, starts, lengths = word_symbols(words, tokens, alphabet)
    dev_tokens = lengths[dev_words] @ dev_weights
    max_length = NO_LIMIT if max_token_length is None else max_token_length

    keys, totals, where = initial_pairs(symbols, starts, lengths, weights)
    totals = np.array(totals, dtype=np.int64).reshape(len(keys), n + 1)
    pair_counts = _PairCounts(n + 1)
    pair_counts.add(list(range(len(keys))), totals)
    row_of = {k: i for i, k in enumerate(keys)}
    # An entry of a list of words to merge in serves once: `entries[e]` is None once some queue has used it.
    entries: list[np.ndarray | None] = list(where)
    # Queues still filled: the languages still in the choice, and the global one while it serves. With one
    # language the global pair is that language's, and its own queue serves for both.
    wanted = np.ones(n + 1, dtype=bool)
    wanted[n] = n > 1 and global_until > len(tokens)
    # Queue entries: (-count, pair key, sequence number, entry). The key orders pairs as `learn_bpe`'s
    # (first, second) does, since second < 2**32.
    queues: list[list] = [[] for _ in range(n + 1)]
    for q in np.flatnonzero(wanted).tolist():
        column = totals[:, q].tolist()
        queues[q] = [(-c, k, i, i) for i, (k, c) in enumerate(zip(keys, column, strict=True)) if c > 0]
        heapq.heapify(queues[q])
    del totals
    sequence = itertools.count(len(keys))

    def top(q: int) -> tuple[int, int, int] | None:
        """Queue q's most frequent pair (count, key, entry), refreshing stale counts as `learn_bpe` does;
        None when the queue is empty."""
        queue = queues[q]
        while queue:
            negative, key, _, entry = heapq.heappop(queue)
            if entries[entry] is None:
                continue
            current = pair_counts.item(row_of[key], q)
            if -negative != current:
                heapq.heappush(queue, (-current, key, next(sequence), entry))
                continue
            return current, key, entry
        return None

    def dev_counts() -> dict[str, int]:
        return dict(zip(languages, dev_tokens.tolist(), strict=True))

    merges: list[tuple[int, int]] = []
    steps: list[str] = []
    stopped: dict[str, LanguageStop] = {}
    recent: deque[int] = deque(maxlen=max(window, 1))  # the languages of the last `window` parity merges
    while len(tokens) < vocab_size:
        global_step = len(tokens) < global_until
        wanted[n] = n > 1 and global_step
        if wanted[n]:
            q = n
        elif wanted[:n].any():
            q = _worst_language(dev_tokens, wanted[:n], recent, window)
        else:
            break
        best = top(q)
        if best is None or best[0] < 1 or min_frequency > best[0]:
            # A global count is the sum of the languages': when the global pairs run out, all have.
            for j in (np.flatnonzero(wanted[:n]).tolist() if q == n else [q]):
                wanted[j] = False
                stopped[languages[j]] = LanguageStop(len(merges), dev_counts())
            if q == n:
                break
            continue
        _, key, entry = best
        first, second = key >> 32, key & 0xFFFFFFFF
        positions, entries[entry] = entries[entry], None
        new_id = tokens.merged(first, second)
        merges.append((first, second))
        steps.append("" if global_step else languages[q])
        if window and not global_step:
            recent.append(q)
        dev_touched = np.unique(positions[dev_row[positions] >= 0])
        before = lengths[dev_touched]
        changes = merge_in_words(positions, first, second, new_id, symbols, starts, lengths, tokens.length,
                                 max_length)
        dev_tokens -= (before - lengths[dev_touched]) @ dev_weights[dev_row[dev_touched]]
        if len(changes) == 0:
            continue
        change_keys, unique_keys, sums = pair_deltas(changes, weights)
        rows = [row_of.setdefault(k, len(row_of)) for k in unique_keys.tolist()]
        pair_counts.add(rows, sums)
        gained = list(gained_pairs(changes, change_keys))
        counts = pair_counts.take([row_of[k] for k, _ in gained])
        pushes, targets = np.nonzero((counts > 0) & wanted)
        first_entry = len(entries)
        entries.extend(found for _, found in gained)
        # Pair by pair in key order, then queue by queue, as `learn_bpe` numbers its entries (the sequence
        # number breaks ties between entries of one pair).
        for i, q, count in zip(pushes.tolist(), targets.tolist(), counts[pushes, targets].tolist(), strict=True):
            heapq.heappush(queues[q], (-count, gained[i][0], next(sequence), first_entry + i))

    return ParityBPE(vocab=dict(tokens.token_to_id), merges=tokens.ranked_merges(merges), steps=steps,
                     dev_tokens=dev_counts(), stopped=stopped)


def _worst_language(dev_tokens: np.ndarray, wanted: np.ndarray, recent: deque[int], window: int) -> int:
    """The language in the choice with the most dev tokens; with a window, skipping those that chose more
    than 2/L of the last `window` parity merges (L languages in the choice), unless all would be skipped."""
    order = np.argsort(-np.where(wanted, dev_tokens, -1), kind="stable")
    if window:
        choice = int(wanted.sum())
        limit = WINDOW_SHARE / choice * window
        chosen = Counter(recent)
        for q in order[:choice].tolist():
            if chosen[q] <= limit:
                return q
    return int(order[0])


def train_parity_bpe(
    corpus: Sequence[str | Path],
    config: BPEConfig,
    parity: ParityConfig,
    *,
    engine: str = "local",
    address: str | None = None,
    text_field: str = "text",
    progress: bool = True,
) -> TrainedTokenizer:
    """Parity-aware byte-level BPE on `corpus`, its pre-tokens counted per shard and per language on
    `engine` ("local" or "ray"); the card records the parity settings, each language's dev tokens
    (encoded with the trained tokenizer) and their ratio to the pivot's, and the languages that ran out of
    pairs (`stopped`: after how many merges, and their dev tokens and ratio at that moment).

    The dev set and the languages of the corpus are checked before counting (see `read_parallel_dev`
    and `training_languages`).
    """
    config.validate()
    parity.validate()
    check_engine(engine, address=address)
    start = time.perf_counter()
    dev = read_parallel_dev(parity.dev, pivot=parity.pivot)
    language_of = training_languages(corpus, dev)
    backend = empty_byte_level_bpe(config)
    tables, files = count_pretokens_by_group(corpus, group_of=language_of.__getitem__,
                                             tokenizer_json=backend.to_str(), engine=engine, address=address,
                                             text_field=text_field, block_chars=TRAINING_BLOCK_CHARS,
                                             progress=progress)
    text_bytes = Counter()
    for file in files:
        text_bytes[language_of[file.path]] += file.nbytes
    for code in dev.texts:
        if text_bytes[code] == 0:
            raise CorpusError(f"dev language '{code}' has no training text: its training files are empty")
    counted = time.perf_counter()
    training = {code: table.to_dict() for code, table in tables.items()}
    for table in tables.values():
        table.close()
    split = pretokenizer_from_json(backend.to_str())
    learned = learn_parity_bpe(training, {code: Counter(split(text)) for code, text in dev.texts.items()},
                               mix=parity.mix, window=parity.window, **learner_options(config))
    tokenizer = learned_tokenizer(backend, learned, config)
    dev_tokens = {code: len(tokenizer.encode(text)) for code, text in dev.texts.items()}
    chosen = Counter(learned.steps)
    stopped = {code: {"after_merges": stop.after_merges, "dev_tokens": stop.dev_tokens[code],
                      "dev_token_ratio": round(stop.dev_tokens[code] / stop.dev_tokens[dev.pivot], 4)}
               for code, stop in learned.stopped.items()}
    notes = {"vocab_size_reached": tokenizer.vocab_size, "engine": engine,
             "distinct_pretokens": len(set().union(*training.values())),
             "counting_seconds": round(counted - start, 3),
             "learning_seconds": round(time.perf_counter() - counted, 3),
             "parity": {"pivot": dev.pivot, "global_steps": chosen.pop("", 0),
                        # the dev texts decide every parity merge: their fingerprints say which they were
                        "dev_sha256": {code: hashlib.sha256(text.encode("utf-8")).hexdigest()
                                       for code, text in dev.texts.items()},
                        "steps_chosen_by": dict(sorted(chosen.items())), "dev_tokens": dev_tokens,
                        "dev_token_ratios": {code: round(count / dev_tokens[dev.pivot], 4)
                                             for code, count in dev_tokens.items()},
                        "stopped": stopped}}
    parameters = {**asdict(config), "parity": {**asdict(parity), "pivot": dev.pivot}}
    card = TrainingCard.for_corpus("bpe", parameters, files, time.perf_counter() - start, notes=notes)
    return TrainedTokenizer(tokenizer, card)
