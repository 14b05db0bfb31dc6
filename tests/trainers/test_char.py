"""Character-level tokenizers (KL3M recipe and pure characters): short tokens, powers of two, exact."""

from __future__ import annotations

import pytest

from tests.conftest import assert_round_trips_any_text
from tests.trainers.conftest import bad_parameters_test
from tokwork.trainers.char import CharConfig, next_power_of_two, train_char


def test_vocab_is_rounded_up_to_a_power_of_two(trained):
    assert [next_power_of_two(n) for n in (1, 2, 3, 1000, 1024, 1025)] == [1, 2, 4, 1024, 1024, 2048]
    result, _ = trained("char-bpe")
    assert result.tokenizer.vocab_size == 2048
    assert result.card.parameters["vocab_size"] == 1500 and result.card.parameters["vocab_size_rounded"] == 2048
    from tokwork.trainers.char import CharConfig

    # char mode's card leaves out the BPE mode's settings, which do nothing there
    assert "max_token_length" not in CharConfig(vocab_size=600, mode="char").card_parameters()


@pytest.mark.parametrize("limit", [2, 3, 4])
def test_kl3m_tokens_are_at_most_max_token_length_bytes(udhr_corpus, limit):
    result = train_char(udhr_corpus, CharConfig(vocab_size=2048, max_token_length=limit), progress=False)
    lengths = [len(piece) for piece in result.tokenizer.byte_view.token_bytes if piece is not None]
    assert max(lengths) == limit  # the cap is reached, never passed
    assert result.tokenizer.vocab_size == 2048


def test_pure_char_mode_keeps_frequent_characters_and_spells_the_rest_in_bytes(trained, udhr_texts):
    tok = trained("char")[0].tokenizer
    english = udhr_texts["eng"]
    ids = tok.encode("Human rights")
    assert len(ids) == len("Human rights")
    rare = "\U0001f99c"  # a parrot emoji, not in the UDHR
    assert [tok.id_to_token(i) for i in tok.encode(rare)] == ["<0xF0>", "<0x9F>", "<0xA6>", "<0x9C>"]
    assert tok.decode(tok.encode(english)) == english


@pytest.mark.parametrize("name", ["char", "char-bpe"])
def test_round_trip_and_byte_view_on_arbitrary_text(trained, name):
    assert_round_trips_any_text(trained(name)[0].tokenizer)


test_bad_parameters = bad_parameters_test([
    (CharConfig(vocab_size=100), "below the byte alphabet"),
    (CharConfig(vocab_size=-5), "vocab size -5 is below"),
    (CharConfig(vocab_size=1000, mode="word"), "unknown char mode"),
    (CharConfig(vocab_size=1000, max_token_length=1), "max token length"),
])
