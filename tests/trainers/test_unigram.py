"""SentencePiece unigram with byte fallback: exact on any text, a standard .model plain sentencepiece reads."""

from __future__ import annotations

import sentencepiece as spm

from tests.conftest import assert_round_trips_any_text
from tests.trainers.conftest import bad_parameters_test
from tokwork import load_tokenizer
from tokwork.trainers.unigram import UnigramConfig


def test_round_trip_and_byte_view_on_arbitrary_text(trained):
    assert_round_trips_any_text(trained("unigram")[0].tokenizer)


def test_plain_sentencepiece_reads_the_model_and_agrees(trained, udhr_texts):
    result, folder = trained("unigram")
    assert sorted(p.name for p in folder.iterdir()) == ["tokenizer.model", "tokwork.json"]
    plain = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    ours = load_tokenizer(folder)
    assert plain.get_piece_size() == ours.vocab_size == 4000
    for code, text in list(udhr_texts.items())[:20]:
        assert "▁" not in text
        assert plain.encode(text) == ours.encode(text), code
        assert plain.decode(plain.encode(text)) == text, code


def test_unigram_is_a_unigram_model_with_byte_pieces(trained):
    tok = trained("unigram")[0].tokenizer
    assert tok.byte_view.single_byte_coverage() == 256
    assert trained("unigram")[0].card.kind == "unigram"
    newline = tok.token_to_id("\n")
    assert newline is not None and tok.encode("a\nb").count(newline) == 1


test_bad_parameters = bad_parameters_test([
    (UnigramConfig(vocab_size=200), "below the 256 byte pieces"),
    (UnigramConfig(vocab_size=5000, model_type="wordpiece"), "unknown model type"),
    (UnigramConfig(vocab_size=5000, character_coverage=0.1), "character coverage"),
])


def test_a_vocabulary_below_the_corpus_characters_is_refused_in_tokworks_terms(tmp_path):
    import pytest

    from tests.conftest import udhr_files
    from tokwork.errors import ParameterError
    from tokwork.trainers.unigram import train_unigram

    with pytest.raises(ParameterError, match=r"vocab size 300 is below the [\d,]+ characters and pieces .* "
                                             r"--character-coverage 0.9995; raise --vocab-size"):
        train_unigram(udhr_files(), UnigramConfig(vocab_size=300), progress=False)
