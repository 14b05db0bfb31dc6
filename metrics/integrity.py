"""Integrity: do tokens line up with the words of the language?

After the Turkish tokenizer-evaluation work (Bayram et al. 2025, "Tokenization Standards for Linguistic
Integrity: Turkish as a Benchmark"), whose %TR counts tokens that are valid words of the language and
%Pure tokens that are whole linguistic units: here, against a pluggable lexicon (`tokwork.metrics.lexicon`),

- `lexicon_tokens`: of the token occurrences that are word material (a letter, or part of a character),
  the share that are a lexicon word where they stand: the token holds one whole word of the text and no
  other, and its text (surrounding spaces dropped) is a lexicon word. Word lists hold every letter and many
  fragments ("ung", "en" in German), so a token is not taken for a word out of place: a character-level
  tokenizer's "a" inside "cat" is not one. In scripts without spaces between words (no words to place
  tokens on), and for tokens that cannot be placed on the text (unknown tokens), the token's text alone
  decides;
- `lexicon_words_whole`: of the text's words that are lexicon words, the share kept as one token;
- `lexicon_coverage`: the share of the text's words found in the lexicon at all (how well the lexicon fits
  the text; low coverage makes the other two less telling).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tokwork.metrics.lexicon import Lexicon
from tokwork.metrics.words import LETTER

MEASURES = ("lexicon_tokens", "lexicon_coverage", "lexicon_words_whole")


def word_candidate(piece: bytes | None) -> str | None:
    """What a token offers as a word: its text without surrounding whitespace when it carries a letter,
    '' when it holds part of a character (word material that can never be a whole word), None for
    specials and for tokens of spaces, punctuation or digits."""
    if piece is None:
        return None
    try:
        text = piece.decode("utf-8").strip()
    except UnicodeDecodeError:
        return ""
    return text if LETTER.search(text) else None


def lexicon_token_share(candidates: Sequence[str | None], counts: Sequence[int], lexicon: Lexicon, *,
                        whole_word_tokens: Sequence[str | None] | None = None) -> float | None:
    """Share of word-material token occurrences that are lexicon words; `candidates[i]` is `word_candidate`
    of a token occurring `counts[i]` times. With `whole_word_tokens` (the `word_candidate` of each token
    occurrence that holds one whole word of the text alone) only those can count as words; without, every
    occurrence of a lexicon word does. None when no token is word material."""
    material = words = 0
    for candidate, count in zip(candidates, counts, strict=True):
        if candidate is not None:
            material += count
            if whole_word_tokens is None and candidate and candidate in lexicon:
                words += count
    if whole_word_tokens is not None:
        words = sum(1 for candidate in whole_word_tokens if candidate and candidate in lexicon)
    return words / material if material else None


def lexicon_word_shares(words: Sequence[str], tokens_per_word: np.ndarray, lexicon: Lexicon, *,
                        in_lexicon: np.ndarray | None = None) -> dict:
    """Coverage of the text's words by the lexicon, and the share of lexicon words kept as one token.
    `in_lexicon` (which words are lexicon words) may be passed when it is already known."""
    if not words:
        return {"lexicon_coverage": None, "lexicon_words_whole": None}
    if in_lexicon is None:
        in_lexicon = lexicon_mask(words, lexicon)
    found = int(in_lexicon.sum())
    whole = int((tokens_per_word[in_lexicon] == 1).sum())
    return {"lexicon_coverage": found / len(words), "lexicon_words_whole": whole / found if found else None}


def lexicon_mask(words: Sequence[str], lexicon: Lexicon) -> np.ndarray:
    """For each word, whether it is a lexicon word."""
    known = {w: w in lexicon for w in set(words)}
    return np.fromiter((known[w] for w in words), dtype=bool, count=len(words))


def integrity_metrics(candidates: Sequence[str | None], counts: Sequence[int], lexicon: Lexicon, *,
                      words: Sequence[str] | None, tokens_per_word: np.ndarray | None,
                      in_lexicon: np.ndarray | None = None,
                      whole_word_tokens: Sequence[str | None] | None = None) -> dict:
    """All integrity measures of one text (tokens given as `word_candidate`s with their counts, and those
    holding a whole word alone as `whole_word_tokens`); the word-level ones are None when the text has no
    words."""
    result = {"lexicon_tokens": lexicon_token_share(candidates, counts, lexicon, whole_word_tokens=whole_word_tokens)}
    if words is None or tokens_per_word is None:
        result.update(lexicon_coverage=None, lexicon_words_whole=None)
    else:
        result.update(lexicon_word_shares(words, tokens_per_word, lexicon, in_lexicon=in_lexicon))
    return result
