"""Words of a text and how tokens cover them, in UTF-8 byte offsets.

A word is a maximal run of letters, combining marks, digits and zero-width (non-)joiners, so that
Devanagari vowel signs or a Persian ZWNJ stay inside their word; punctuation and spaces separate words.
Scripts that do not put spaces between words (Han, kana, Thai, Lao, Khmer, Myanmar, Tibetan) have no such
words, and word-level measures are not defined for them. Tokens are placed on the text by the byte
lengths of their byte view, so the alignment is exact for every format; a word is split when two or more
tokens overlap it (Rust et al. 2021, "How good is your tokenizer?", count such continued words), and the
tokens that carry words are those overlapping at least one (what fertility counts per word).
"""

from __future__ import annotations

import numpy as np
import regex

WORD = regex.compile(r"[\p{L}\p{M}\p{N}\u200c\u200d]+")
LETTER = regex.compile(r"\p{L}")
# ISO 15924 codes of scripts written without spaces between words (Unicode line breaking handles them by
# dictionary or per character): a whitespace-and-punctuation word there is a phrase or a sentence.
UNSPACED_SCRIPTS = frozenset({"Hans", "Hant", "Hani", "Jpan", "Thai", "Laoo", "Khmr", "Mymr", "Tibt"})


def has_words(script: str) -> bool:
    """True when texts in this script separate words with spaces, so word counts mean something."""
    return script not in UNSPACED_SCRIPTS


def byte_offsets(text: str) -> np.ndarray:
    """offsets[i] is the UTF-8 byte offset of character i (one extra entry: the total byte length)."""
    code_points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    widths = 1 + (code_points >= 0x80) + (code_points >= 0x800) + (code_points >= 0x10000)
    offsets = np.zeros(len(code_points) + 1, dtype=np.int64)
    np.cumsum(widths, out=offsets[1:])
    return offsets


def word_spans(text: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The words of `text` with their start and end UTF-8 byte offsets."""
    matches = list(WORD.finditer(text))
    offsets = byte_offsets(text)
    starts = offsets[np.fromiter((m.start() for m in matches), dtype=np.int64, count=len(matches))]
    ends = offsets[np.fromiter((m.end() for m in matches), dtype=np.int64, count=len(matches))]
    return [m.group() for m in matches], starts, ends


def token_spans(token_ends: np.ndarray, word_starts: np.ndarray, word_ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each word, the index of the first and of the last token that overlap it, given each token's end
    offset in the same bytes (ascending): the first is the first whose end passes the word's start, the
    last the one holding its last byte. The measures below are read off these."""
    return (np.searchsorted(token_ends, word_starts, side="right"),
            np.searchsorted(token_ends, word_ends - 1, side="right"))


def tokens_per_word(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """How many tokens overlap each word (from `token_spans`)."""
    return last - first + 1


def word_token_count(first: np.ndarray, last: np.ndarray) -> int:
    """How many tokens overlap at least one word (from `token_spans`): a token spanning two words counts
    once, tokens of spaces or punctuation alone not at all."""
    if not len(first):
        return 0
    shared = np.maximum(last[:-1] - first[1:] + 1, 0)  # tokens the next word begins in
    return int((last - first + 1).sum() - shared.sum())


def sole_tokens(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """For each word, the index of the one token that holds it and no other word, or -1 where the word is
    split or its token reaches into another word (a superword); from `token_spans`."""
    alone = first == last
    alone[1:] &= first[1:] != last[:-1]
    alone[:-1] &= last[:-1] != first[1:]
    return np.where(alone, first, -1)


def block_word_spans(blocks: tuple[str, ...]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """The words of several blocks with start and end offsets in the bytes of the blocks joined end to
    end, and the UTF-8 size of each block."""
    words: list[str] = []
    starts, ends, sizes = [], [], []
    offset = 0
    for text in blocks:
        found, first, last = word_spans(text)
        words.extend(found)
        starts.append(first + offset)
        ends.append(last + offset)
        size = len(text.encode("utf-8", "surrogatepass"))
        sizes.append(size)
        offset += size
    empty = np.zeros(0, dtype=np.int64)
    return (words, np.concatenate(starts) if starts else empty, np.concatenate(ends) if ends else empty,
            np.asarray(sizes, dtype=np.int64))


def place_tokens(token_lengths: np.ndarray, block_tokens: list[int], block_bytes: np.ndarray, *,
                 dummy_prefix: bool = False) -> np.ndarray | None:
    """End offsets of the tokens of several blocks in the bytes of the blocks joined end to end.

    `token_lengths` are the byte lengths of all tokens (block after block, -1 for a token without bytes),
    `block_tokens` how many tokens each block has, `block_bytes` each block's text size. A dummy-prefix
    tokenizer (Llama 2 style, `dummy_prefix`) may spell one space before each block, which is dropped.
    None when some block's tokens do not spell its text: a token without bytes or sizes that differ.
    """
    if token_lengths.size and int(token_lengths.min()) < 0:
        return None
    spelled = np.zeros(len(token_lengths) + 1, dtype=np.int64)
    np.cumsum(token_lengths, out=spelled[1:])
    bounds = np.zeros(len(block_tokens) + 1, dtype=np.int64)
    np.cumsum(block_tokens, out=bounds[1:])
    surplus = spelled[bounds[1:]] - spelled[bounds[:-1]] - block_bytes
    if not ((surplus == 0) | ((surplus == 1) & dummy_prefix)).all():
        return None
    text_starts = np.concatenate([[0], np.cumsum(block_bytes)[:-1]])
    shift = np.repeat(text_starts - spelled[bounds[:-1]] - surplus, block_tokens)
    return spelled[1:] + shift
