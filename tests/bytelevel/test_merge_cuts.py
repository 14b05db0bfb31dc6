"""Canonical states inside characters worked out from BPE merges equal those found by encoding every
completion of the character (`tokwork.bytelevel.merge_cuts` against `CanonicalEncoder._encoded_cuts`)."""

from __future__ import annotations

import functools
import random
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokwork.bytelevel.canonical import CanonicalEncoder
from tokwork.bytelevel.canonical_text import CanonicalText
from tokwork.bytelevel.merge_cuts import BYTE_LEVEL_PATTERN, MergeCuts, split_atoms
from tokwork.byteview import bytes_to_byte_level

# Characters the split regexes treat differently (letters, digits, marks, spaces, punctuation in several
# scripts; characters that fold to ASCII under (?i:'s|'t...), which must not share a group), mostly two- and
# three-byte ones: encoding every completion of a three-byte character takes 4,096 encodes.
TRICKY = list("ab 'sStK1\n\t.") + list("ſKßıİǅéЖж٣中の가กक\u0301\u200d\u3000\u00a0\u2028—™ﬅ５")


@functools.cache
def _merge_worker(tokenizer):
    """The tokenizer's worker from its merges, read once per test process (Llama 3's table takes seconds)."""
    return CanonicalEncoder(tokenizer)._merge_cuts


def _both(tokenizer) -> tuple[CanonicalEncoder, CanonicalEncoder]:
    """Fresh encoders (empty caches) from the merges and by encoding every completion."""
    merges, encoded = CanonicalEncoder(tokenizer), CanonicalEncoder(tokenizer, from_merges=False)
    merges.__dict__["_merge_cuts"] = _merge_worker(tokenizer)
    assert merges._merge_cuts is not None and encoded._merge_cuts is None
    return merges, encoded


def _assert_same_states(merges: CanonicalEncoder, encoded: CanonicalEncoder, data: bytes) -> int:
    """Compare canon(p) at every prefix end inside a character; returns how many states were found."""
    a, b = CanonicalText(merges, data), CanonicalText(encoded, data)
    found = 0
    for end in range(1, len(data)):
        if not a.is_boundary(end):
            assert a.states(end) == b.states(end), (data, end)
            found += len(b.states(end))
    return found


def test_which_tokenizers_are_worked_out_from_merges(reference_tokenizer, pico_bpe, pico_sentencepiece):
    for tokenizer in (reference_tokenizer("gpt2"), reference_tokenizer("llama3"), pico_bpe):
        assert MergeCuts.for_tokenizer(tokenizer) is not None
    assert MergeCuts.for_tokenizer(pico_sentencepiece) is None  # not a tokenizer.json
    spec = pico_bpe.spec

    def changed(**parts):
        return MergeCuts.for_tokenizer(SimpleNamespace(spec={**spec, **parts}))

    assert changed(normalizer={"type": "NFKC"}) is None
    assert changed(model={**spec["model"], "dropout": 0.1}) is None
    assert changed(added_tokens=[{"id": 0, "content": "x", "special": False, "lstrip": True}]) is None
    assert changed(pre_tokenizer={"type": "Whitespace"}) is None
    assert changed(pre_tokenizer={"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}) is None
    assert changed(pre_tokenizer={"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "[一-龥]+|\\S+"}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}) is None


def test_split_atoms():
    assert split_atoms(BYTE_LEVEL_PATTERN) == [r"\p{L}", r"\p{N}", r"\s"]
    assert split_atoms(r"[^\r\n\p{L}\p{N}]?\p{Lu}+|\S+|.") == [r"\p{L}", r"\p{N}", r"\p{Lu}", r"\s", "."]
    assert split_atoms("[一-龥]+|\\s+") is None  # a non-ASCII literal
    assert split_atoms(r"\b\w+|\s+\z") == [r"\w", r"\s"]  # word boundaries test \w; \z tests a position
    assert split_atoms(r"\X") is None  # a grapheme cluster
    assert split_atoms(r"\x{4e00}") is None  # a code point
    assert split_atoms(r"\0344") is None  # an octal byte
    assert split_atoms(r"[[:alpha:]]+") is None  # a POSIX class, which matches letters of every script


def test_word_merges_equal_the_library(reference_tokenizer):
    """`bpe_states` merges a word into the tokens `tokenizers` gives it (GPT-2 merges, no whole-word lookup)."""
    tokenizer = reference_tokenizer("gpt2")
    cuts = MergeCuts.for_tokenizer(tokenizer)
    model = tokenizer.backend.model
    rng = random.Random(4)
    words = ["Ġtokenization", "Ġunbelievable", "ä¸ŃåĽ½"] + [
        "".join(rng.choice("etaoinsrhldcu") for _ in range(rng.randint(1, 14))) for _ in range(300)]
    words += [bytes_to_byte_level(rng.randbytes(rng.randint(1, 9))) for _ in range(100)]
    for word in words:
        expected = [model.token_to_id(t.value) for t in model.tokenize(word)]
        symbols = [tokenizer.backend.token_to_id(c) for c in word]
        final, states = cuts.bpe_states(symbols)
        assert final == expected, word
        assert states[-1][2] > 10**18 and states[0][0] == symbols[0]


def test_a_pair_merged_twice_keeps_its_later_rank():
    """As `tokenizers` builds its merge map: ("b", "c") listed first and last ranks after ("a", "b")."""
    from tokenizers import models

    vocab = {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4}
    merges = [("b", "c"), ("a", "b"), ("b", "c")]
    library = [t.value for t in models.BPE(vocab=vocab, merges=merges).tokenize("abc")]
    cuts = MergeCuts(None, BYTE_LEVEL_PATTERN, [], {"vocab": vocab, "merges": [list(m) for m in merges]})
    final, _ = cuts.bpe_states([0, 1, 2])
    assert library == ["ab", "c"] and final == [3, 2]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(TRICKY), min_size=1, max_size=5).map("".join))
def test_states_inside_characters_equal_encoding_every_completion(reference_tokenizer, pico_bpe, text):
    """Llama 3 (a Split regex with (?i:...) and whole-word lookup) and a small tokwork BPE (GPT-2's ByteLevel
    regex; most characters split into bytes, so most prefixes have states)."""
    for tokenizer in (reference_tokenizer("llama3"), pico_bpe):
        _assert_same_states(*_both(tokenizer), text.encode())


def test_four_byte_characters(reference_tokenizer, pico_bpe):
    """An emoji after text: 196,608 completions of its first byte, encoded one by one on the slow side."""
    assert _assert_same_states(*_both(pico_bpe), "ok 😀".encode()) > 0


@pytest.mark.parametrize("code, chars", [("cmn_hans", 12), ("hin", 24), ("rus", 40)])
def test_udhr_text(reference_tokenizer, udhr_texts, code, chars):
    data = udhr_texts[code][:chars].encode()
    assert _assert_same_states(*_both(reference_tokenizer("llama3")), data) > 0


# BPE with byte fallback, built like Gemma 3's tokenizer.json: spaces normalised to "▁" (so the text is one
# word between added tokens), characters outside a small alphabet spelled by byte pieces.
GEMMA_LIKE_ADDED = ["\n", "\t\t", "<h1>", "▁▁"]
GEMMA_LIKE_SPECIAL = ["<h1>!"]  # matched first (longest), then left as text: "<h1>" does not split there


@pytest.fixture(scope="module")
def gemma_like(pico_corpus, tmp_path_factory):
    import json

    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    from tokwork.loader import load_tokenizer

    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.Replace(" ", "▁")
    backend.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    backend.train([str(pico_corpus)], trainers.BpeTrainer(vocab_size=450, limit_alphabet=120, show_progress=False))
    spec = json.loads(backend.to_str())  # the byte pieces join the model's vocabulary, as in Gemma's
    vocab = spec["model"]["vocab"]
    vocab.update({f"<0x{b:02X}>": len(vocab) + b for b in range(256)})
    spec["model"]["byte_fallback"] = True
    backend = Tokenizer.from_str(json.dumps(spec))
    backend.add_tokens([AddedToken(content, normalized=False) for content in GEMMA_LIKE_ADDED])
    backend.add_special_tokens([AddedToken(content, normalized=False) for content in GEMMA_LIKE_SPECIAL])
    folder = tmp_path_factory.mktemp("gemma-like")
    backend.save(str(folder / "tokenizer.json"))
    return load_tokenizer(folder)


def test_byte_fallback_bpe_is_worked_out_from_merges(gemma_like, pico_sentencepiece):
    from tokwork.bytelevel.fallback_cuts import FallbackCuts

    assert MergeCuts.for_tokenizer(gemma_like) is None
    assert isinstance(CanonicalEncoder(gemma_like)._merge_cuts, FallbackCuts)
    assert FallbackCuts.for_tokenizer(pico_sentencepiece) is None
    spec = gemma_like.spec
    assert FallbackCuts.for_tokenizer(SimpleNamespace(spec={**spec, "normalizer": {"type": "NFKC"}})) is None
    stripped = [{**token, "lstrip": True} for token in spec["added_tokens"]]
    assert FallbackCuts.for_tokenizer(SimpleNamespace(spec={**spec, "added_tokens": stripped})) is None


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(TRICKY + GEMMA_LIKE_ADDED + ["▁", "<", "h1>", "\t", "!"]), min_size=1, max_size=6)
       .map("".join))
def test_byte_fallback_states_equal_encoding_every_completion(gemma_like, text):
    _assert_same_states(*_both(gemma_like), text.encode())


def test_byte_fallback_on_udhr_text(gemma_like, udhr_texts):
    data = (udhr_texts["cmn_hans"][:10] + "\n" + udhr_texts["hin"][:8] + "<h1>!" + udhr_texts["jpn"][:4]).encode()
    assert _assert_same_states(*_both(gemma_like), data) > 0


def test_merges_are_read_only_once_a_character_has_thousands_of_completions(pico_bpe):
    """Two-byte characters (64 completions) are encoded; the first byte of a Han character (4,096) makes
    reading the merges worth it, and from then on every position uses them."""
    encoder = CanonicalEncoder(pico_bpe)
    text = CanonicalText(encoder, "Жж é 中é".encode())
    for end in (1, 3, 6):  # inside Ж, ж, é
        text.states(end)
    assert "_merge_cuts" not in encoder.__dict__
    text.states(9)  # after the first byte of 中
    assert encoder.__dict__.get("_merge_cuts") is not None


# Qwen 3: NFC first (completions that NFC changes or composes after the text are encoded one by one: Hangul
# jamo, combining marks, compatibility ideographs) and non-special added tokens (<think>) cut out.
NFC_TRICKY = ["\u1100", "\u1161", "\u11a8", "가", "\uf900", "\u212b", "\u0344", "e\u0301", "<think>", "क़"]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(TRICKY + NFC_TRICKY), min_size=1, max_size=5).map("".join))
def test_nfc_split_states_equal_encoding_every_completion(reference_tokenizer, text):
    _assert_same_states(*_both(reference_tokenizer("qwen3")), text.encode())


def test_nfc_split_on_udhr_text(reference_tokenizer, udhr_texts):
    data = (udhr_texts["hin"][:12] + "<think>" + udhr_texts["kor"][:6]).encode()
    assert _assert_same_states(*_both(reference_tokenizer("qwen3")), data) > 0


def _windowed_and_whole(tokenizer) -> tuple[CanonicalEncoder, CanonicalEncoder]:
    """The tokenizer's encoder, which encodes prefixes from windows, and the same encoder made to encode
    every prefix whole (sharing its merge table and caches)."""
    windowed = CanonicalEncoder(tokenizer)
    assert windowed.windowed and windowed._merge_cuts is not None  # read once, for both
    whole = windowed.whole_prefixes()
    assert not whole.windowed
    return windowed, whole


@pytest.fixture(scope="module")
def qwen_windowed_and_whole(reference_tokenizer):
    found = _windowed_and_whole(reference_tokenizer("qwen3"))
    assert found[0].nfc
    return found


def _assert_windows_give_whole_states(windowed, whole, data: bytes) -> int:
    """Compare canon(p) at every prefix end; returns how many states came from a window."""
    a, b = CanonicalText(windowed, data), CanonicalText(whole, data)
    for end in range(len(data) + 1):
        assert a.states(end) == b.states(end), (data, end)
    return sum(count > 0 for end in range(len(data) + 1) for count, _ in a.state_windows(end))


@settings(max_examples=10, deadline=None)
@given(st.lists(st.sampled_from(TRICKY + NFC_TRICKY + ["  ", "\u0301 ", " \u0316"]), min_size=1, max_size=10)
       .map("".join))
def test_nfc_windows_give_the_states_of_whole_prefixes(qwen_windowed_and_whole, text):
    """Qwen 3 encodes prefixes from a window only where NFC splits the text there (a window from a combining
    mark, or a text that is not in NFC, is encoded whole)."""
    _assert_windows_give_whole_states(*qwen_windowed_and_whole, text.encode())


def test_nfc_windows_on_udhr_text(qwen_windowed_and_whole, udhr_texts):
    import unicodedata

    text = udhr_texts["kor"][:14] + " " + udhr_texts["hin"][:14] + " " + udhr_texts["vie"][:16]
    assert not unicodedata.is_normalized("NFC", text)  # the UDHR's Vietnamese has combining marks NFC joins
    assert _assert_windows_give_whole_states(*qwen_windowed_and_whole, text.encode()) == 0  # all whole
    composed = unicodedata.normalize("NFC", text)
    assert _assert_windows_give_whole_states(*qwen_windowed_and_whole, composed.encode()) > 40


def test_completions_nfc_might_change_are_checked_with_the_tokenizers_own_nfc(reference_tokenizer):
    """Completions that Python's tables cannot vouch for (unassigned there, marks, second parts) are kept
    exactly where the tokenizer's NFC leaves the text + completion unchanged, checked all in one call."""
    from tokwork.bytelevel.text_splits import kept_by_nfc, nfc_boundary

    normalize = reference_tokenizer("qwen3").backend.normalizer.normalize_str
    chars = ["\u0301", "\u0316", "\U00010efd", "\U0001e4ec", "\u1161", "\u11a8", "中", "\u0344", "\U0001fae9"]
    for text in ["कि", "q\u0301", "\x00가", "\x01", "ᄀ", "e", "日本", "x y\u0327"]:
        tail = text[nfc_boundary(text):]
        expected = [normalize(tail + c) == tail + c for c in chars]
        assert kept_by_nfc(normalize, tail, chars).tolist() == expected, text
        assert [normalize(text + c) == text + c for c in chars] == expected, text
    assert nfc_boundary("ab\u0301\u0316") == 1 and nfc_boundary("\u0301") == 0 and nfc_boundary("a b") == 2
    assert not kept_by_nfc(normalize, "e", ["\u0301"])[0] and kept_by_nfc(normalize, "e", ["中"])[0]


# SentencePiece with byte fallback (`unknown_char_cuts.py`): a completion that is a piece is never cut,
# one in no piece leaves the text before it as it is; one encode stands for all of those.
SP_TRICKY = TRICKY + ["日本", "▁", "é", "\u0378", "\u0800"]


def _edited_sentencepiece(tokenizer, extra_piece: str):
    """The same model with one more ordinary piece (that holds a character which is no piece of its own)."""
    from sentencepiece import sentencepiece_model_pb2

    from tokwork.formats.sentencepiece_model import SentencePieceTokenizer

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(tokenizer.processor.serialized_model_proto())
    piece = proto.pieces.add()
    piece.piece, piece.score, piece.type = extra_piece, 0.0, sentencepiece_model_pb2.ModelProto.SentencePiece.NORMAL
    return SentencePieceTokenizer.from_bytes(proto.SerializeToString())


def test_sentencepiece_with_byte_fallback_is_worked_out_from_its_pieces(pico_sentencepiece, pico_dummy_prefix_sentencepiece,
                                                                      udhr_texts, tmp_path):
    from tokwork.bytelevel.unknown_char_cuts import UnknownCharCuts
    from tokwork.formats.sentencepiece_model import SentencePieceTokenizer
    from tokwork.trainers.unigram import UnigramConfig, train_unigram

    for tokenizer in (pico_sentencepiece, pico_dummy_prefix_sentencepiece):
        cuts = UnknownCharCuts.for_tokenizer(tokenizer)
        assert cuts is not None and "e" in cuts.known and "▁" in cuts.doubtful
    import sentencepiece as spm

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(udhr_texts["fra"], encoding="utf-8")
    for options in ({"normalization_rule_name": "nmt_nfkc", "byte_fallback": True}, {"byte_fallback": False}):
        model = tmp_path / "m"
        spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(model), vocab_size=400, model_type="bpe",
                                       minloglevel=2, num_threads=1, **options)
        assert UnknownCharCuts.for_tokenizer(SentencePieceTokenizer.from_path(tmp_path / "m.model")) is None
    unigram = train_unigram([corpus], UnigramConfig(vocab_size=400), progress=False).tokenizer
    assert UnknownCharCuts.for_tokenizer(unigram) is not None
    # a character held by a longer piece only is encoded one by one
    edited = _edited_sentencepiece(pico_sentencepiece, "中国")
    assert "中" in UnknownCharCuts.for_tokenizer(edited).doubtful
    assert _assert_same_states(*_both(edited), "ok 中国 中".encode()) > 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(SP_TRICKY), min_size=1, max_size=6).map("".join))
def test_sentencepiece_states_equal_encoding_every_completion(pico_sentencepiece, pico_dummy_prefix_sentencepiece, text):
    """BPE without and with the dummy-prefix space (Llama 2 style), a literal ▁ and unassigned characters."""
    for tokenizer in (pico_sentencepiece, pico_dummy_prefix_sentencepiece):
        _assert_same_states(*_both(tokenizer), text.encode())


def test_sentencepiece_unigram_on_udhr_text(trained_unigram_on_udhr):
    for code in ("cmn_hans", "hin", "jpn"):
        data = trained_unigram_on_udhr[1][code][:15].encode()
        assert _assert_same_states(*_both(trained_unigram_on_udhr[0]), data) > 0


@pytest.fixture(scope="module")
def trained_unigram_on_udhr(udhr_texts, tmp_path_factory):
    from tokwork.trainers.unigram import UnigramConfig, train_unigram

    corpus = tmp_path_factory.mktemp("unigram") / "corpus.txt"
    corpus.write_text("\n".join(udhr_texts[c][:4000] for c in ("eng", "cmn_hans", "hin", "jpn")), encoding="utf-8")
    return train_unigram([corpus], UnigramConfig(vocab_size=1500), progress=False).tokenizer, udhr_texts


# Gemma 3: no pre-tokenizer in effect; windows start where no token holds the two characters side by side.
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(TRICKY + GEMMA_LIKE_ADDED + ["▁", "<", "h1>", "  ", "the ", "e t"]), min_size=1,
                max_size=16).map("".join))
def test_safe_cut_windows_give_the_states_of_whole_prefixes(gemma_like, text):
    _assert_windows_give_whole_states(*_windowed_and_whole(gemma_like), text.encode())


def test_safe_cut_windows_on_udhr_text(reference_tokenizer, gemma_like, udhr_texts):
    from tokwork.bytelevel.safe_cuts import SafeCuts

    cuts = SafeCuts.for_tokenizer(gemma_like)
    joined = next(pair for pair in cuts.joined if pair[1] == "▁" and pair[0] != "▁")  # a token across a space
    assert 0 not in cuts.starts(f"{joined[0]} x")[1:] and cuts.starts("ab")[0] == 0
    text = udhr_texts["eng"][:60] + "<h1>" + udhr_texts["hin"][:6] + "\n\n" + udhr_texts["cmn_hans"][:3]
    assert _assert_windows_give_whole_states(*_windowed_and_whole(gemma_like), text.encode()) > 40
    text = udhr_texts["eng"][:60] + "<h1>\n\n  " + udhr_texts["fra"][:30]  # no merge table to read: faster
    assert _assert_windows_give_whole_states(*_windowed_and_whole(reference_tokenizer("gemma3")), text.encode()) > 40


# SentencePiece `.model` files: the same cuts from their pieces; with a dummy prefix, at spaces only.
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["pico_sentencepiece", "pico_dummy_prefix_sentencepiece"]),
       text=st.lists(st.sampled_from(TRICKY + ["▁", "  ", "the ", " of", "e t", "日本"]), min_size=1, max_size=16)
       .map("".join))
def test_sentencepiece_windows_give_the_states_of_whole_prefixes(request, kind, text):
    _assert_windows_give_whole_states(*_windowed_and_whole(request.getfixturevalue(kind)), text.encode())


def test_sentencepiece_windows_on_udhr_text(pico_sentencepiece, pico_dummy_prefix_sentencepiece, udhr_texts):
    text = udhr_texts["eng"][:100] + "\n" + udhr_texts["fra"][:60] + " " + udhr_texts["jpn"][:8]
    for tokenizer in (pico_sentencepiece, pico_dummy_prefix_sentencepiece):
        assert _assert_windows_give_whole_states(*_windowed_and_whole(tokenizer), text.encode()) > 50


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(["the ", "  ", "é", "日本", " of", "x", "\n", "▁"]), min_size=1, max_size=30)
       .map("".join), st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=40))
def test_a_growing_dummy_prefix_text_keeps_its_reference_equal_to_a_full_encode(pico_dummy_prefix_sentencepiece,
                                                                                text, steps):
    """The reference is brought up to date from a window at a space (which the tokenizer puts back); it is
    None where the full encode does not spell the text (a literal ▁ decodes as a space)."""
    tokenizer = pico_dummy_prefix_sentencepiece
    encoder = CanonicalEncoder(tokenizer)
    assert encoder.windowed
    data, canonical, position = text.encode(), CanonicalText(encoder, b""), 0
    for step in [*steps, len(data)]:
        canonical.extend(data[position:position + step])
        position = min(position + step, len(data))
        complete = canonical.complete_length
        full = tuple(tokenizer.encode(canonical.data[1:complete].decode()))
        spelled = encoder.spelled(full) == canonical.data[:complete]
        assert canonical.reference()[0] == (full if spelled else None), (text, complete)


# Llama-2 style `tokenizer.json` (Prepend + Replace normaliser): windows at spaces, never right after an added
# token, after which `tokenizers` prepends "▁" again; cuts inside characters from the merges, the word starting
# with the dummy prefix.
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(TRICKY + ["▁", "<s>", " </s>", "e t"]), min_size=1, max_size=6).map("".join))
def test_dummy_prefix_json_states_inside_characters_equal_encoding_every_completion(dummy_prefix_tokenizer_json,
                                                                                    text):
    _assert_same_states(*_both(dummy_prefix_tokenizer_json), text.encode())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["the ", "  ", " of", "e t", "é", "\n", "▁", "<s>", "</s> ", " <unk>", "x"]),
                min_size=1, max_size=16).map("".join))
def test_dummy_prefix_json_windows_give_the_states_of_whole_prefixes(dummy_prefix_tokenizer_json, text):
    _assert_windows_give_whole_states(*_windowed_and_whole(dummy_prefix_tokenizer_json), text.encode())


def test_dummy_prefix_json_windows_on_real_text(dummy_prefix_tokenizer_json, pico_dummy_prefix_sentencepiece,
                                                pico_sentencepiece, udhr_texts):
    from tokwork.bytelevel.safe_cuts import SafeCuts
    from tokwork.errors import TokenizerFormatError

    with pytest.raises(TokenizerFormatError, match="dummy prefix"):  # no Llama 2 layout without one
        pico_sentencepiece.legacy_tokenizer_json()

    cuts = SafeCuts.for_tokenizer(dummy_prefix_tokenizer_json, at_spaces=True)
    assert 5 in cuts.starts("a b c d") and 5 not in cuts.starts("a </s> b")  # not right after an added token
    text = udhr_texts["eng"][:120] + "\n" + udhr_texts["fra"][:60] + " </s> " + udhr_texts["eng"][120:160]
    windowed, whole = _windowed_and_whole(dummy_prefix_tokenizer_json)
    assert _assert_windows_give_whole_states(windowed, whole, text.encode()) > 80
    sentencepiece = CanonicalText(CanonicalEncoder(pico_dummy_prefix_sentencepiece), text.encode())
    json_text = CanonicalText(windowed, text.encode())
    assert json_text.reference()[0] == sentencepiece.reference()[0]  # the conversion encodes as the model does
    data = (udhr_texts["cmn_hans"][:10] + " " + udhr_texts["hin"][:8] + " é" + udhr_texts["jpn"][:4]).encode()
    assert _assert_same_states(*_both(dummy_prefix_tokenizer_json), data) > 0
