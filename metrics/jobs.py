"""One benchmark job: every per-text measure of one tokenizer on one language of a parallel corpus.

`run_job(job)` is a pure function of its `BenchJob` (plain data: names, a tokenizer path, the blocks of
text, a lexicon spec, options) and returns plain data (ints, floats, strings, lists), so jobs can run in
any order, in any process or on any machine and give the same results; `tokwork.metrics.bench` combines
them. Loaded tokenizers and lexicons are cached per process, which changes speed, never results.

Where jobs leave this process they travel in tasks (`tokwork.metrics.tasks`), each holding every job of
one or more tokenizers, so that a tokenizer is loaded in one worker only.

Counts of bytes and characters are of the input text, as the corpus holds it; the tokens spell the text
after the tokenizer's own normalisation (`Tokenizer.normalize`: NFC for Qwen 3), so words are found and
aligned in that normalised text, and the result says how many blocks the normalisation changed.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from tokwork.loader import load_tokenizer, tokenizer_stamp
from tokwork.metrics.compression import TextCounts
from tokwork.metrics.entropy import DEFAULT_ALPHA, entropy_profile
from tokwork.metrics.integrity import integrity_metrics, lexicon_mask, word_candidate
from tokwork.metrics.lexicon import LexiconSpec, load_lexicon
from tokwork.metrics.words import (
    block_word_spans,
    has_words,
    place_tokens,
    sole_tokens,
    token_spans,
    tokens_per_word,
    word_token_count,
)
from tokwork.tokenizer import Tokenizer


@dataclass(frozen=True)
class BenchJob:
    """What one job measures: a tokenizer (name and path) on the aligned blocks of one language."""

    tokenizer: str
    tokenizer_path: str
    language: str
    script: str
    blocks: tuple[str, ...]
    lexicon: LexiconSpec | None = None
    alpha: float = DEFAULT_ALPHA
    full_vocab: bool = False


def cached_tokenizer(path: str) -> Tokenizer:
    """The tokenizer at `path`, loaded once per process while its files stay as they are."""
    return _loaded(path, tokenizer_stamp(path))


def token_lengths(path: str) -> np.ndarray:
    """Byte length of every token id of the tokenizer at `path` (-1 for ids that stand for no bytes)."""
    return _token_lengths(path, tokenizer_stamp(path))


@functools.lru_cache(maxsize=16)
def _loaded(path: str, stamp: tuple) -> Tokenizer:
    return load_tokenizer(path)


@functools.lru_cache(maxsize=16)
def _token_lengths(path: str, stamp: tuple) -> np.ndarray:
    return _loaded(path, stamp).byte_view.token_lengths()


@functools.lru_cache(maxsize=16)
def _candidates(path: str, stamp: tuple) -> dict[int, str | None]:
    """Per tokenizer, the `word_candidate` of each token id met so far (filled as jobs need them)."""
    return {}


def word_candidates(path: str, stamp: tuple, ids: list[int]) -> list[str | None]:
    """`word_candidate` of each id, computed once per tokenizer (as its files are: `stamp`) and id."""
    known = _candidates(path, stamp)
    missing = [token_id for token_id in ids if token_id not in known]
    if missing:
        for token_id, piece in zip(missing, _loaded(path, stamp).byte_view.pieces(missing), strict=True):
            known[token_id] = word_candidate(piece)
    return [known[i] for i in ids]


# Per-text caches hold every language of a run (up to this many), since a worker process measures one
# tokenizer on every language, then the next tokenizer on every language again.
TEXT_CACHE = 256


@functools.lru_cache(maxsize=TEXT_CACHE)
def _block_words(blocks: tuple[str, ...]):
    return block_word_spans(blocks)


@functools.lru_cache(maxsize=TEXT_CACHE)
def _lexicon_mask(blocks: tuple[str, ...], spec: LexiconSpec) -> np.ndarray:
    """Which words of the blocks are lexicon words: the same for every tokenizer that sees these blocks."""
    return lexicon_mask(_block_words(blocks)[0], load_lexicon(spec))


@dataclass(frozen=True)
class WordAlignment:
    """The words of a text and how its tokens lie on them."""

    words: list[str]
    tokens_per_word: np.ndarray  # tokens overlapping each word
    word_tokens: int  # tokens overlapping any word
    sole_tokens: np.ndarray  # per word, the index of the token holding it alone, or -1


def align_words(script: str, tokenizer: Tokenizer, normalized: list[str], lengths: np.ndarray,
                block_tokens: list[int]) -> tuple[WordAlignment | None, str | None]:
    """How the tokens lie on the words of the (normalised) blocks, given the byte lengths of all tokens and
    each block's token count; or (None, why) where the script has no words or the tokens cannot be placed.
    The byte view's exactness (`join(encode(t)) == normalize(t)`) is the core's tested promise, so lengths
    suffice to place the tokens."""
    if not has_words(script):
        return None, f"script {script} does not separate words with spaces"
    words, starts, ends, block_bytes = _block_words(tuple(normalized))
    placed = place_tokens(lengths, block_tokens, block_bytes, dummy_prefix=tokenizer.byte_view.strips_leading_space)
    if placed is None:
        return None, "the tokens do not spell the text (unknown or special tokens)"
    first, last = token_spans(placed, starts, ends)
    return WordAlignment(words, tokens_per_word(first, last), word_token_count(first, last),
                         sole_tokens(first, last)), None


def run_job(job: BenchJob) -> dict:
    """Encode every block of the job's language and measure compression, entropy and integrity."""
    path = job.tokenizer_path
    stamp = tokenizer_stamp(path)  # once: every table of this job comes from the same files
    tokenizer = _loaded(path, stamp)
    encoded = tokenizer.encode_batch(list(job.blocks))
    sizes = [len(ids) for ids in encoded]
    ids = np.fromiter(itertools.chain.from_iterable(encoded), dtype=np.int64, count=sum(sizes))
    bounds = np.cumsum([0, *sizes])
    blocks = [ids[a:b] for a, b in itertools.pairwise(bounds)]
    normalized = [tokenizer.normalize(block) for block in job.blocks]
    lengths = _token_lengths(path, stamp)[ids]
    aligned, note = align_words(job.script, tokenizer, normalized, lengths, sizes)

    unique_ids, counts = np.unique(ids, return_counts=True)
    entropy = (entropy_profile(counts, alpha=job.alpha, vocab_size=tokenizer.vocab_size,
                               full_vocab=job.full_vocab, sequences=blocks) if ids.size else None)
    integrity = None
    if job.lexicon is not None:
        lexicon = load_lexicon(job.lexicon)
        known = whole = None
        if aligned is not None:
            known = _lexicon_mask(tuple(normalized), job.lexicon)
            sole = aligned.sole_tokens[aligned.sole_tokens >= 0]
            whole = word_candidates(path, stamp, ids[sole].tolist())
        integrity = integrity_metrics(word_candidates(path, stamp, unique_ids.tolist()), counts.tolist(), lexicon,
                                      words=None if aligned is None else aligned.words,
                                      tokens_per_word=None if aligned is None else aligned.tokens_per_word,
                                      in_lexicon=known, whole_word_tokens=whole)
        lexicon.keep_answers()
    counts_total = TextCounts(
        bytes=sum(len(b.encode("utf-8")) for b in job.blocks),
        chars=sum(len(b) for b in job.blocks),
        tokens=int(ids.size),
        words=None if aligned is None else len(aligned.words),
        split_words=None if aligned is None else int((aligned.tokens_per_word >= 2).sum()),
        word_tokens=None if aligned is None else aligned.word_tokens,
    )
    return {
        "tokenizer": job.tokenizer,
        "language": job.language,
        "script": job.script,
        "vocab_size": tokenizer.vocab_size,
        "block_tokens": sizes,
        "counts": counts_total.as_json(),
        "word_note": note,
        "tokens_without_bytes": int((lengths < 0).sum()),  # unknown or special tokens: no length of text
        "normalized_blocks": sum(n != b for n, b in zip(normalized, job.blocks, strict=True)),
        "normalized_bytes": sum(len(n.encode("utf-8")) for n in normalized),
        "entropy": entropy,
        "lexicon": job.lexicon.describe() if job.lexicon else None,
        "integrity": integrity,
        "unigram": {"ids": unique_ids.tolist(), "counts": counts.tolist()},
    }
