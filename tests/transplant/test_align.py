"""Alignment through the byte view: spellings of the same bytes match, specials by role, padding kept."""

from __future__ import annotations

from tokwork import load_tokenizer
from tokwork.transplant.align import Match, align_vocabularies

from .conftest import byte_level_tokenizer, sentencepiece_style_tokenizer


def ids_of(tokenizer, spelled: str) -> int:
    return tokenizer.token_to_id(spelled)


def test_byte_equivalent_spellings_match(tmp_path):
    source = load_tokenizer(byte_level_tokenizer(tmp_path / "s"))
    target = load_tokenizer(sentencepiece_style_tokenizer(tmp_path / "t"))
    alignment = align_vocabularies(source, target)
    expected = {"▁x": ("Ġx", Match.BYTES), "<0x41>": ("A", Match.BYTES), "▁world": ("Ġworld", Match.BYTES),
                "▁": ("Ġ", Match.BYTES), "<0x0A>": ("Ċ", Match.BYTES), "<0xC3>": ("Ã", Match.BYTES),
                "hello": ("hello", Match.EXACT), "a": ("a", Match.EXACT), "he": ("he", Match.EXACT)}
    for piece, (source_piece, kind) in expected.items():
        token_id = ids_of(target, piece)
        assert alignment.source_ids[token_id] == ids_of(source, source_piece), piece
        assert alignment.kinds[token_id] == kind, piece
    new = {target.id_to_token(int(i)) for i in alignment.new_ids}
    assert new == {"zz", "▁hello", "ly", "é", "<unk>"}


def test_specials_match_by_role_not_by_string(tmp_path):
    source = load_tokenizer(byte_level_tokenizer(tmp_path / "s"))
    target = load_tokenizer(sentencepiece_style_tokenizer(tmp_path / "t"))
    alignment = align_vocabularies(source, target)
    # <s> is bos and </s> eos: both roles belong to the source's <|endoftext|>; <unk> has no source role.
    for piece in ("<s>", "</s>"):
        token_id = ids_of(target, piece)
        assert alignment.source_ids[token_id] == 0 and alignment.kinds[token_id] == Match.SPECIAL
    assert alignment.source_ids[ids_of(target, "<unk>")] == -1


def test_new_tokens_are_spelled_by_source_pieces(tmp_path):
    source = load_tokenizer(byte_level_tokenizer(tmp_path / "s"))
    target = load_tokenizer(sentencepiece_style_tokenizer(tmp_path / "t"))
    alignment = align_vocabularies(source, target)
    view = source.byte_view
    for piece, spelled in {"zz": b"zz", "▁hello": b" hello", "é": b"\xc3\xa9"}.items():
        pieces = alignment.new_pieces[ids_of(target, piece)]
        assert b"".join(view[i] for i in pieces) == spelled
    # `ly`: the source has no `y`, so only `l` spells part of it
    assert [view[i] for i in alignment.new_pieces[ids_of(target, "ly")]] == [b"l"]


def test_padding_rows_are_counted_and_never_matched(tmp_path):
    source = load_tokenizer(byte_level_tokenizer(tmp_path / "s"))
    target = load_tokenizer(sentencepiece_style_tokenizer(tmp_path / "t"))
    alignment = align_vocabularies(source, target, source_rows=source.vocab_size + 5)
    assert alignment.target_rows == target.vocab_size + 5
    assert list(alignment.padding_source_ids) == list(range(source.vocab_size, source.vocab_size + 5))
    assert alignment.source_ids.max() < source.vocab_size
    report = alignment.report()
    assert (report.exact, report.bytes, report.special, report.padding_rows) == (14, 7, 2, 5)
    assert report.exact + report.bytes + report.special + report.new == target.vocab_size


def test_gpt2_onto_itself_is_all_exact(reference_tokenizer):
    gpt2 = reference_tokenizer("gpt2")
    alignment = align_vocabularies(gpt2, gpt2)
    report = alignment.report()
    assert report.new == 0 and report.exact == gpt2.vocab_size - 1 and report.special == 1
    assert (alignment.source_ids == range(gpt2.vocab_size)).all()


def test_a_special_playing_bos_and_eos_takes_the_source_eos_row(tmp_path, reference_tokenizer):
    # GPT-2's <|endoftext|> is bos, eos and unk; given the source's bos row (<s>) a transplanted model never
    # predicts it where the source would end its text, and generation does not stop
    source = load_tokenizer(sentencepiece_style_tokenizer(tmp_path / "t"))
    gpt2 = reference_tokenizer("gpt2")
    alignment = align_vocabularies(source, gpt2)
    end = gpt2.token_to_id("<|endoftext|>")
    assert alignment.source_ids[end] == ids_of(source, "</s>") == source.specials.eos
    assert alignment.kinds[end] == Match.SPECIAL
