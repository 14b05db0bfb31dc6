"""Compression: how much text each token carries, and how often words are cut.

From counts that pool by addition (bytes, characters, tokens, words, split words of a text), the usual
measures: bytes and characters per token, fertility (tokens per word; Rust et al. 2021, "How good is your
tokenizer?", whose words are a treebank's; here words are runs of letters and digits, so the tokens counted
are those that carry part of a word), the share of words split into two or more tokens, and the normalized sequence length
(tokens against a reference tokenizer's on the same text; Dagan et al. 2024, "Getting the most out of your
tokenizer for pre-training and domain adaptation"). Word measures are None where words are not counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TextCounts:
    """What compression is computed from; `words`/`split_words` are None for texts without words."""

    bytes: int
    chars: int
    tokens: int
    words: int | None = None
    split_words: int | None = None
    word_tokens: int | None = None  # tokens that overlap at least one word

    def __add__(self, other: TextCounts) -> TextCounts:
        words = None if self.words is None or other.words is None else self.words + other.words
        split = None if words is None else self.split_words + other.split_words
        carried = (None if words is None or self.word_tokens is None or other.word_tokens is None
                   else self.word_tokens + other.word_tokens)
        return TextCounts(self.bytes + other.bytes, self.chars + other.chars, self.tokens + other.tokens,
                          words, split, carried)

    @classmethod
    def pooled(cls, counts: list[TextCounts]) -> TextCounts:
        """The counts of several texts together; words only when every text has them."""
        if not counts:
            raise ValueError("pooling needs the counts of at least one text")
        total = counts[0]
        for more in counts[1:]:
            total = total + more
        return total

    def as_json(self) -> dict:
        return asdict(self)


def _ratio(numerator: int | None, denominator: int | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def bytes_per_token(counts: TextCounts) -> float | None:
    """UTF-8 bytes of the text per token: higher is more compression."""
    return _ratio(counts.bytes, counts.tokens)


def chars_per_token(counts: TextCounts) -> float | None:
    """Unicode characters (code points) of the text per token."""
    return _ratio(counts.chars, counts.tokens)


def fertility(counts: TextCounts) -> float | None:
    """Tokens per word: the tokens that carry part of a word, per word (None where words are not counted).
    Tokens of spaces or punctuation alone are not counted: a text whose words are all kept whole has
    fertility 1 however much punctuation it holds, and a token spanning two words counts once."""
    return _ratio(counts.word_tokens, counts.words)


def split_share(counts: TextCounts) -> float | None:
    """Share of the text's words that two or more tokens overlap."""
    return _ratio(counts.split_words, counts.words)


def normalized_sequence_length(tokens: int, reference_tokens: int) -> float | None:
    """Tokens of a tokenizer divided by a reference tokenizer's on the same text (below 1: shorter)."""
    return _ratio(tokens, reference_tokens)


def compression_metrics(counts: TextCounts) -> dict[str, float | None]:
    """Every per-text compression measure of `counts`, by name."""
    return {
        "bytes_per_token": bytes_per_token(counts),
        "chars_per_token": chars_per_token(counts),
        "fertility": fertility(counts),
        "split_share": split_share(counts),
    }
