"""Words in byte offsets and how tokens cover them, checked by hand and against the real tokenizers."""

from __future__ import annotations

import numpy as np
from hypothesis import given

from tests.conftest import texts
from tokwork.metrics.words import (
    block_word_spans,
    byte_offsets,
    has_words,
    place_tokens,
    sole_tokens,
    token_spans,
    tokens_per_word,
    word_spans,
    word_token_count,
)


@given(texts)
def test_byte_offsets_match_utf8(text):
    offsets = byte_offsets(text)
    assert offsets.tolist() == [len(text[:i].encode("utf-8", "surrogatepass")) for i in range(len(text) + 1)]


def test_words_keep_marks_and_joiners():
    words, starts, ends = word_spans("नमस्ते, दुनिया! می‌خواهم 3rd")
    assert words == ["नमस्ते", "दुनिया", "می‌خواهم", "3rd"]  # vowel signs, virama and the ZWNJ stay inside
    text = "नमस्ते, दुनिया! می‌خواهم 3rd".encode()
    assert [text[a:b].decode() for a, b in zip(starts, ends, strict=True)] == words


def test_tokens_per_word_by_hand():
    # "the cat" as the|" c"|"at": words the [0,3), cat [4,7); token ends 3, 5, 7
    assert tokens_per_word(*token_spans(np.array([3, 5, 7]), np.array([0, 4]), np.array([3, 7]))).tolist() == [1, 2]
    # one token over both words (a superword) counts once for each
    assert tokens_per_word(*token_spans(np.array([7]), np.array([0, 4]), np.array([3, 7]))).tolist() == [1, 1]


def test_tokens_that_carry_words_by_hand():
    # "Hello, world! Yes." as Hello|,| world|!| Yes|.: three words kept whole; "," "!" "." carry none
    words, starts, ends = word_spans("Hello, world! Yes.")
    token_ends = np.array([5, 6, 12, 13, 17, 18])
    assert tokens_per_word(*token_spans(token_ends, starts, ends)).tolist() == [1, 1, 1]
    assert word_token_count(*token_spans(token_ends, starts, ends)) == 3
    # "the cat": the|" c"|"at" carries the words with 3 tokens; one superword token carries both with 1
    assert word_token_count(*token_spans(np.array([3, 5, 7]), np.array([0, 4]), np.array([3, 7]))) == 3
    assert word_token_count(*token_spans(np.array([7]), np.array([0, 4]), np.array([3, 7]))) == 1
    # "ab cd" as "a"|"b c"|"d": the middle token ends one word and begins the next, counted once
    assert word_token_count(*token_spans(np.array([1, 4, 5]), np.array([0, 3]), np.array([2, 5]))) == 3
    assert word_token_count(*token_spans(np.array([5]), np.zeros(0, np.int64), np.zeros(0, np.int64))) == 0


def test_the_token_that_holds_a_word_alone_by_hand():
    # "the cat": the|" c"|"at": "the" is token 0's alone, "cat" is split
    assert sole_tokens(*token_spans(np.array([3, 5, 7]), np.array([0, 4]), np.array([3, 7]))).tolist() == [0, -1]
    # a superword token holds both words: neither alone
    assert sole_tokens(*token_spans(np.array([7]), np.array([0, 4]), np.array([3, 7]))).tolist() == [-1, -1]
    # "a bc d" as "a b"|"c"|" d": "a" and "bc" share token 0, "d" is token 2's alone
    assert sole_tokens(*token_spans(np.array([3, 4, 6]), np.array([0, 2, 5]), np.array([1, 4, 6]))).tolist() == [-1, -1, 2]


def test_tokens_of_several_blocks_are_placed_on_the_joined_text():
    words, starts, ends, sizes = block_word_spans(("the cat", "a dog."))
    assert words == ["the", "cat", "a", "dog"]
    assert starts.tolist() == [0, 4, 7, 9] and ends.tolist() == [3, 7, 8, 12] and sizes.tolist() == [7, 6]
    # the| c|at and a| dog|.
    ends_ = place_tokens(np.array([3, 2, 2, 1, 4, 1]), [3, 3], sizes)
    assert ends_.tolist() == [3, 5, 7, 8, 12, 13]
    assert tokens_per_word(*token_spans(ends_, starts, ends)).tolist() == [1, 2, 1, 1]
    # a dummy-prefix tokenizer spells " the| cat" and " a| dog|.": one leading space per block is dropped
    prefixed = np.array([4, 4, 2, 4, 1])
    assert place_tokens(prefixed, [2, 3], sizes, dummy_prefix=True).tolist() == [3, 7, 8, 12, 13]
    assert place_tokens(prefixed, [2, 3], sizes) is None  # without a dummy prefix the sizes do not add up
    assert place_tokens(np.array([3, -1, 2, 1, 4, 1]), [3, 3], sizes) is None  # a token without bytes


def test_unspaced_scripts_have_no_words():
    assert not has_words("Hans") and not has_words("Thai") and not has_words("Tibt")
    assert has_words("Latn") and has_words("Kore") and has_words("Deva") and has_words("unknown")


def test_split_words_on_real_tokenizers(reference_tokenizer):
    """GPT-2 splits every Hindi word (its Devanagari is byte fragments); English words rarely."""
    from tokwork.metrics.jobs import align_words

    tok = reference_tokenizer("gpt2")
    for text, expected in (("the cat sat on the mat", [1] * 6), ("नमस्ते दुनिया", None)):
        ids = tok.encode(text)
        lengths = np.array([len(tok.byte_view[i]) for i in ids])
        aligned, note = align_words("Latn", tok, [text], lengths, [len(ids)])
        words, per_word = aligned.words, aligned.tokens_per_word
        assert note is None and len(words) == len(per_word) and aligned.word_tokens <= len(ids)
        if expected:
            assert per_word.tolist() == expected
        else:
            assert (per_word >= 2).all()
