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
    from sentencepiece import sentencepiece_model_pb2

    result, folder = trained("unigram")
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString((folder / "tokenizer.model").read_bytes())
    assert proto.trainer_spec.model_type == sentencepiece_model_pb2.TrainerSpec.UNIGRAM
    assert proto.trainer_spec.byte_fallback
    byte_type = sentencepiece_model_pb2.ModelProto.SentencePiece.BYTE
    byte_pieces = [p.piece for p in proto.pieces if p.type == byte_type]
    assert sorted(byte_pieces) == [f"<0x{b:02X}>" for b in range(256)]  # each byte once, nothing else
    tok = result.tokenizer
    assert tok.byte_view.single_byte_coverage() == 256
    assert result.card.kind == "unigram"
    newline = tok.token_to_id("\n")
    assert newline is not None and tok.encode("a\nb").count(newline) == 1


test_bad_parameters = bad_parameters_test([
    (UnigramConfig(vocab_size=200), "below the 256 byte pieces"),
    (UnigramConfig(vocab_size=5000, model_type="wordpiece"), "unknown model type"),
    (UnigramConfig(vocab_size=5000, character_coverage=0.1), "character coverage"),
    # a cut inside a character gave empty parts for ever: the training hung
    (UnigramConfig(vocab_size=5000, max_sentence_length=2), r"max sentence length 2 must lie in \[10, 2\*\*30\] bytes"),
    (UnigramConfig(vocab_size=5000, input_sentence_size=-1), "input sentence size -1 must be >= 0"),
    (UnigramConfig(vocab_size="5000"), r"UnigramConfig.vocab_size must be an integer, not '5000'"),
    (UnigramConfig(vocab_size=True), r"UnigramConfig.vocab_size must be an integer, not True"),
    (UnigramConfig(vocab_size=5000, seed=1.5), r"UnigramConfig.seed must be an integer, not 1.5"),
])


def test_a_corpus_of_nothing_sentencepiece_learns_from_is_refused_in_tokworks_terms(tmp_path):
    import pytest

    from tokwork.errors import CorpusError
    from tokwork.trainers.unigram import train_unigram

    for name, data in (("nul.txt", b"\x00" * 1000), ("crlf.txt", b"\r\n" * 3)):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CorpusError, match="no text SentencePiece can learn from"):
            train_unigram([tmp_path / name], UnigramConfig(vocab_size=300), progress=False)


def test_a_vocabulary_below_the_corpus_characters_is_refused_in_tokworks_terms(tmp_path):
    import pytest

    from tests.conftest import udhr_files
    from tokwork.errors import ParameterError
    from tokwork.trainers.unigram import train_unigram

    with pytest.raises(ParameterError, match=r"vocab size 300 is below the [\d,]+ characters and pieces .* "
                                             r"--character-coverage 0.9995; raise --vocab-size"):
        train_unigram(udhr_files(), UnigramConfig(vocab_size=300), progress=False)


def test_a_line_longer_than_sentencepiece_takes_is_cut_not_dropped():
    from tokwork.trainers.unigram import _lines

    line = "word " * 30 + "ωμέγα" * 10
    parts = list(_lines([line + "\nshort"], 40))
    assert "".join(parts[:-1]) == line and parts[-1] == "short"
    assert all(len(p.encode("utf-8")) <= 40 for p in parts)
    assert parts[0].endswith(" ")  # cut after a space where one is near


def test_a_long_line_is_trained_on(tmp_path):
    # one 100 KB Japanese line: sentencepiece skipped it whole, so no Japanese piece was learned
    from tests.conftest import UDHR
    from tokwork.trainers.unigram import train_unigram

    (tmp_path / "long.txt").write_text((UDHR / "jpn.txt").read_text(encoding="utf-8").replace("\n", "") * 8,
                                       encoding="utf-8")
    result = train_unigram([tmp_path / "long.txt"], UnigramConfig(vocab_size=1500, max_sentence_length=4096),
                           progress=False)
    pieces = [result.tokenizer.id_to_token(i) for i in range(result.tokenizer.vocab_size)]
    assert sum(any("\u3040" <= c <= "\u9fff" for c in p) for p in pieces) > 100
    assert result.card.notes["long_lines_cut"] == 1


def test_lines_above_the_cap_are_drawn_by_the_seed(tmp_path):
    from tests.conftest import udhr_files
    from tokwork.trainers.unigram import train_unigram

    def model(seed):
        config = UnigramConfig(vocab_size=1500, input_sentence_size=300, seed=seed)
        result = train_unigram(udhr_files()[:12], config, progress=False)
        return result.tokenizer.processor.serialized_model_proto(), result.card.notes["lines_trained_on"]

    first, note = model(0)
    assert model(0)[0] == first and model(1)[0] != first
    assert note.startswith("300 of ") and "seed 0" in note
