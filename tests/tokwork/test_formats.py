"""The Tokenizer wrapper over every format, checked on real tokenizers from registry packages.

The core property: `decode(encode(s)) == normalize(s)` and the byte view of `encode(s)` joins to the bytes
of `normalize(s)` (plus the dummy-prefix space where the tokenizer adds one), for arbitrary Unicode.
"""

from __future__ import annotations

import io
import json
import shutil
import unicodedata

import pytest
import sentencepiece as spm
from hypothesis import given

from tests.conftest import ENGLISH_SAMPLE, REFERENCE_TOKENIZERS, reference_tokenizer_path, texts, udhr_files
from tokwork import load_tokenizer
from tokwork.errors import TokenizerFormatError
from tokwork.formats.sentencepiece_model import SentencePieceTokenizer


@pytest.fixture(scope="session")
def llama_style_sentencepiece(tmp_path_factory):
    """A SentencePiece BPE with byte fallback and a dummy prefix, set up the way Llama 2's was."""
    model = io.BytesIO()
    lines = [line for p in udhr_files()[:30] for line in p.read_text(encoding="utf-8").splitlines() if line]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=3000, model_type="bpe", byte_fallback=True,
        normalization_rule_name="identity", add_dummy_prefix=True, remove_extra_whitespaces=False,
        split_digits=True, allow_whitespace_only_pieces=True, character_coverage=0.9995, minloglevel=2,
    )
    path = tmp_path_factory.mktemp("spm") / "llama_style.model"
    path.write_bytes(model.getvalue())
    return load_tokenizer(path)


@pytest.fixture(scope="session")
def any_tokenizer(reference_tokenizer, llama_style_sentencepiece):
    def get(name):
        return llama_style_sentencepiece if name == "llama-style-spm" else reference_tokenizer(name)

    return get


def check_exact(tok, text: str) -> None:
    ids = tok.encode(text)
    expected = tok.normalize(text)
    assert tok.decode(ids) == expected
    prefix = b" " if tok.byte_view.strips_leading_space and ids else b""
    assert tok.byte_view.join(ids) == prefix + expected.encode("utf-8")
    assert tok.decode_bytes(ids) == expected.encode("utf-8")


@pytest.mark.parametrize("name", ["gpt2", "o200k_base", "llama-style-spm"])
def test_what_is_no_text_or_no_id_is_refused_in_one_line(any_tokenizer, name):
    # a negative id was read from the end of the vocabulary, one string was encoded letter by letter
    from tokwork.errors import ParameterError
    from tokwork.sampling import StochasticTokenizer

    tok = any_tokenizer(name)
    last = tok.vocab_size - 1
    for bad in ([-1], [tok.vocab_size], [1, 2.5], [5, True]):
        with pytest.raises(ParameterError, match=rf"token id .* is not an id of this vocabulary \(0 to {last}\)"):
            tok.decode(bad)
        with pytest.raises(ParameterError, match="is not an id of this vocabulary"):
            tok.decode_bytes(bad)
    assert tok.id_to_token(-1) is None and tok.id_to_token(tok.vocab_size) is None
    for encoder in (tok, StochasticTokenizer(tok, p=0.1)):
        with pytest.raises(ParameterError, match="encode_batch takes a list of texts, not one string"):
            encoder.encode_batch("abc")
        with pytest.raises(ParameterError, match="must be a str, not NoneType"):
            encoder.encode(None)
        with pytest.raises(ParameterError, match="lone surrogate U\\+D800 at character 1"):
            encoder.encode("a\ud800b")
    assert tok.decode(tok.encode("fine")) == "fine" == tok.decode(i for i in tok.encode("fine"))


@pytest.mark.parametrize("name", [*REFERENCE_TOKENIZERS, "llama-style-spm"])
def test_round_trip_and_byte_view_on_arbitrary_text(any_tokenizer, name):
    tok = any_tokenizer(name)

    @given(texts)
    def run(text):
        check_exact(tok, text)

    run()


@pytest.mark.parametrize("name", [*REFERENCE_TOKENIZERS, "llama-style-spm"])
def test_round_trip_on_every_udhr_language_and_english(any_tokenizer, udhr_texts, name):
    tok = any_tokenizer(name)
    for code, text in [*udhr_texts.items(), ("en-sample", ENGLISH_SAMPLE.read_text(encoding="utf-8")[:200_000])]:
        try:
            check_exact(tok, text)
        except AssertionError:
            pytest.fail(f"{name} does not round-trip {code}")


def test_normalising_tokenizers_say_what_they_measure(reference_tokenizer):
    qwen = reference_tokenizer("qwen3")
    decomposed = "e\u0301"
    assert qwen.normalize(decomposed) == unicodedata.normalize("NFC", decomposed) == "é"
    gemma = reference_tokenizer("gemma3")
    assert gemma.normalize("a▁b") == "a b"  # Gemma writes spaces as ▁, so a literal ▁ comes back as a space


def test_known_ids_and_pieces(reference_tokenizer):
    gpt2 = reference_tokenizer("gpt2")
    assert gpt2.encode("Hello world") == [15496, 995]
    assert gpt2.byte_view[995] == b" world"  # stored as 'Ġworld'
    assert gpt2.id_to_token(995) == "Ġworld"
    llama3 = reference_tokenizer("llama3")
    assert llama3.encode("Hello world") == [9906, 1917]
    gemma = reference_tokenizer("gemma3")
    assert gemma.byte_view[gemma.token_to_id("<0x0A>")] == b"\n"
    assert gemma.byte_view[gemma.token_to_id("▁the")] == b" the"
    assert gemma.byte_view[gemma.specials.bos] is None


def test_special_tokens_by_role(reference_tokenizer, llama_style_sentencepiece):
    assert reference_tokenizer("gpt2").specials.eos == 50256
    llama3 = reference_tokenizer("llama3").specials
    assert (llama3.bos, llama3.eos) == (128000, 128001)
    gemma = reference_tokenizer("gemma3").specials
    assert (gemma.bos, gemma.pad, gemma.unk) == (2, 0, 3)
    assert reference_tokenizer("qwen3").specials.pad == 151643
    assert reference_tokenizer("cl100k_base").specials.eos == 100257
    spm_roles = llama_style_sentencepiece.specials
    assert (spm_roles.unk, spm_roles.bos, spm_roles.eos) == (0, 1, 2)


def test_special_strings_in_text_are_text_unless_asked(reference_tokenizer):
    gpt2 = reference_tokenizer("gpt2")
    assert gpt2.encode("<|endoftext|>") != [50256]
    assert gpt2.encode("<|endoftext|>", parse_special=True) == [50256]
    gemma = reference_tokenizer("gemma3")
    assert gemma.encode("hi", add_special_tokens=True)[0] == gemma.specials.bos


def test_dummy_prefix_is_in_the_byte_view_and_stripped_on_decode(llama_style_sentencepiece):
    tok = llama_style_sentencepiece
    assert tok.byte_view.strips_leading_space
    ids = tok.encode("Hello")
    assert tok.byte_view.join(ids) == b" Hello"
    assert tok.decode_bytes(ids) == b"Hello"


def test_tiktoken_files_encode_exactly_like_tiktoken(reference_tokenizer, udhr_texts, monkeypatch):
    import tiktoken  # a dev dependency: a broken install fails here instead of skipping the comparison
    from tiktoken.load import load_tiktoken_bpe
    from tiktoken_ext import openai_public

    extra = ["a  \n\nb", "x \n", "  \n \n  y", "hello   ", "1234567 ab's IT'S", "\r\n\r\n  \t\n", "a\u00a0\u00a0b"]
    corpus = [*udhr_texts.values(), ENGLISH_SAMPLE.read_text(encoding="utf-8")[:100_000], *extra]
    for name in ("r50k_base", "cl100k_base", "o200k_base"):
        path = reference_tokenizer_path(name)
        ranks = load_tiktoken_bpe(str(path))
        # The standard pattern lives in tiktoken's own encoding constructor; give it the ranks from disk.
        monkeypatch.setattr(openai_public, "load_tiktoken_bpe", lambda *a, _r=ranks, **k: _r)
        params = getattr(openai_public, name)()
        reference = tiktoken.Encoding(name, pat_str=params["pat_str"], mergeable_ranks=ranks,
                                      special_tokens=params["special_tokens"])
        ours = reference_tokenizer(name)
        for text in corpus:
            assert ours.encode(text) == reference.encode_ordinary(text), name


def test_saved_tokenizers_load_back_identically(tmp_path, reference_tokenizer, llama_style_sentencepiece):
    sample = "Saving keeps every id: 日本語, ▁x, <|endoftext|> and  spaces\n"
    for tok in (reference_tokenizer("gpt2"), reference_tokenizer("cl100k_base"), llama_style_sentencepiece):
        folder = tmp_path / tok.format
        folder.mkdir()
        tok.save(folder)
        again = load_tokenizer(folder)
        assert again.encode(sample) == tok.encode(sample)
        assert again.specials == tok.specials


def test_bad_tokenizer_files_raise_one_clear_error(tmp_path):
    cases = {
        "missing": (tmp_path / "nothing.json", "does not exist"),
        "corrupt": (tmp_path / "tokenizer.json", "is not a valid tokenizer.json"),
        "unknown": (tmp_path / "vocab.txt", "unknown tokenizer format"),
        "garbage model": (tmp_path / "x.model", "is not a valid SentencePiece model"),
        "bad tiktoken": (tmp_path / "x.tiktoken", "line 1 is not '<base64 token> <rank>'"),
        "empty folder": (tmp_path / "folder", "holds no tokenizer.json"),
    }
    (tmp_path / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE"', encoding="utf-8")
    (tmp_path / "vocab.txt").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "x.model").write_bytes(b"\x00\x01not a model")
    (tmp_path / "x.tiktoken").write_text("!!! 0\n", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    for path, message in cases.values():
        with pytest.raises(TokenizerFormatError, match=message):
            load_tokenizer(path)


def test_wrapper_keeps_a_literal_space_mark_that_plain_sentencepiece_loses(tmp_path):
    from tokwork.trainers.unigram import UnigramConfig, train_unigram

    trained = train_unigram(udhr_files()[:5], UnigramConfig(vocab_size=600), progress=False)
    tok = trained.tokenizer
    assert isinstance(tok, SentencePieceTokenizer)
    text = "a▁b ▁"
    assert tok.decode(tok.encode(text)) == text
    assert tok.processor.decode(tok.processor.encode(text)) != text
    assert tok.normalize(text) == text  # what `encode`'s round-trip check compares with keeps the mark too
    assert tok.normalize("x\u00a0▁ y") == tok.decode(tok.encode("x\u00a0▁ y"))  # NFKC on each side of it


def test_byte_level_fast_path_equals_the_decoder_chain_step_by_step(reference_tokenizer):
    from tokwork.formats.hf_json import DecoderChain

    for name in ("gpt2", "llama3", "qwen3"):
        tok = reference_tokenizer(name)
        fast = tok.decoder_chain
        assert fast.byte_level_only
        slow = DecoderChain({"decoder": {"type": "ByteLevel"}})
        slow.byte_level_only = False
        tokens = [*tok.backend.get_vocab(with_added_tokens=True), "a b", "Ġ日本", "<|im_start|>", "\x00Ā", "ÿĀ"]
        assert all(fast.token_bytes(t) == slow.token_bytes(t) for t in tokens), name


def test_byte_level_bulk_translation_equals_token_by_token(reference_tokenizer):
    from tokwork.formats.hf_json import _byte_level_bulk

    for name in ("gpt2", "qwen3"):
        tok = reference_tokenizer(name)
        tokens = list(tok.backend.get_vocab(with_added_tokens=False))
        assert _byte_level_bulk(tokens) == [tok.decoder_chain.token_bytes(t) for t in tokens], name
    assert _byte_level_bulk(["ĠA", "日本"]) is None  # outside GPT-2's alphabet: the caller goes token by token
    assert _byte_level_bulk([]) == []


def test_byte_view_is_cached_under_the_file_digest(tmp_path, monkeypatch):
    from tokwork.byteview import _stored_path

    original = reference_tokenizer_path("gpt2") / "tokenizer.json"
    monkeypatch.setenv("TOKWORK_CACHE", str(tmp_path / "cache"))
    stored = tmp_path / "cache" / "byteviews"
    file = tmp_path / "gpt2" / "tokenizer.json"
    file.parent.mkdir()
    shutil.copy(original, file)
    first = load_tokenizer(file)
    assert first._stored_byte_view is None
    view = first.byte_view
    assert view == first._build_byte_view() and _stored_path(first.byte_view_key()).is_file()
    again = load_tokenizer(file)
    assert again._stored_byte_view == view and again.byte_view == view and again.vocab_size == len(view) == 50257
    # a view of the same file that older code derived is replaced
    older = stored / f"{first._byte_view_key.split('-')[0]}-0123456789abcdef.bin"
    older.write_bytes(b"")
    _stored_path(first._byte_view_key).unlink()
    assert load_tokenizer(file).byte_view == view and not older.exists()
    # another file, another key
    again.backend.add_tokens(["qqzzyy"])
    again.backend.save(str(file))
    grown = load_tokenizer(file)
    assert grown._stored_byte_view is None and grown.vocab_size == 50258 and grown.byte_view[50257] == b"qqzzyy"
    assert len(list(stored.iterdir())) == 2
    # a file that changed since it was read: its view is built from the tokenizer in memory, not cached
    late = load_tokenizer(file)
    file.write_bytes(original.read_bytes())
    assert late.byte_view_key() is None and late.byte_view[50257] == b"qqzzyy"
    assert len(list(stored.iterdir())) == 2
    # a stored view cut short reads as absent and is built again
    path = _stored_path(first._byte_view_key)
    path.write_bytes(path.read_bytes()[:-3])
    cut = load_tokenizer(file)
    assert cut._stored_byte_view is None and cut.byte_view == view
    assert load_tokenizer(file)._stored_byte_view == view


def test_tiktoken_conversion_keeps_one_merge_per_token_the_last_join_of_its_bytes():
    from tokwork.formats.tiktoken_file import last_merge, ranks_to_backend

    ranks = {b"a": 0, b"b": 1, b"c": 2, b"x": 3, b"ab": 4, b"bc": 5, b"abc": 6, b"ca": 7, b"xab": 8, b"cab": 9}
    assert last_merge(b"abc", ranks) == (b"ab", b"c")  # ab ranks before bc, so abc is ab + c, never a + bc
    assert last_merge(b"cab", ranks) == (b"c", b"ab")
    assert last_merge(b"xab", ranks) == (b"x", b"ab")
    assert last_merge(b"xxx", {b"x": 0, b"xxx": 1}) is None  # never reached by merges: no merge for it
    backend = ranks_to_backend(ranks, r"\S+|\s+", {})
    # tiktoken joins the lowest-ranked adjacent pair first: b c a -> bc a (bca is no token); x a b c -> x ab c
    # -> x abc, since abc ranks before xab
    expected = {"abc": [6], "cab": [9], "bca": [5, 0], "abcab": [6, 4], "xabc": [3, 6], "cxab": [2, 8]}
    assert {text: backend.encode(text).ids for text in expected} == expected
    assert len(json.loads(backend.to_str())["model"]["merges"]) == 6


def test_pieces_of_a_stored_view_equal_one_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKWORK_CACHE", str(tmp_path / "cache"))
    file = tmp_path / "gpt2" / "tokenizer.json"
    file.parent.mkdir()
    shutil.copy(reference_tokenizer_path("gpt2") / "tokenizer.json", file)
    built = load_tokenizer(file).byte_view  # builds and stores the view
    ids = [0, 50256, 5, 50256, 42, len(built) - 2, 198, 5]  # a special (no bytes, the last id), repeats
    stored = load_tokenizer(file)._stored_byte_view
    assert stored is not None and stored._packed is not None and "_packed_lists" not in stored.__dict__
    assert stored.pieces(ids) == [built[i] for i in ids] and stored.pieces([]) == []
    assert stored.pieces(ids) == [stored[i] for i in ids]  # also once indexing has listed the offsets
    assert built.pieces(ids) == [built[i] for i in ids]  # a view built in memory
    assert None in stored.pieces(ids)


def test_reference_tokenizers_are_taken_by_name(tmp_path, monkeypatch):
    """`gpt2`, `cl100k`... mean the reference tokenizers in the cache wherever a tokenizer path is taken;
    a file or folder of that name wins, and a name not fetched says how to fetch it."""
    from tokwork.loader import open_tokenizer, tokenizer_file

    gpt2 = load_tokenizer(reference_tokenizer_path("gpt2"))
    cl100k = load_tokenizer(reference_tokenizer_path("cl100k_base"))
    monkeypatch.chdir(tmp_path)
    assert load_tokenizer("gpt2").encode("Hello world") == gpt2.encode("Hello world") == [15496, 995]
    assert open_tokenizer("cl100k").encode("Hello world") == cl100k.encode("Hello world")
    assert tokenizer_file("gpt2") == reference_tokenizer_path("gpt2") / "tokenizer.json"
    shutil.copytree(reference_tokenizer_path("llama3"), tmp_path / "gpt2")  # a local folder of that name
    assert tokenizer_file("gpt2").resolve() == tmp_path / "gpt2" / "tokenizer.json"
    assert load_tokenizer("gpt2").vocab_size != gpt2.vocab_size
    monkeypatch.setenv("TOKWORK_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(TokenizerFormatError, match="reference tokenizer 'qwen3' is not in the tokwork cache.*make tokenizers"):
        load_tokenizer("qwen3")
    with pytest.raises(TokenizerFormatError, match="tokenizer 'nope' does not exist"):
        load_tokenizer("nope")
