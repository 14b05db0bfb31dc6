"""Vocabulary extension: old tokens, ids and merges kept; new merges used on the new text; exact transplant."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
from hypothesis import given
from tokenizers import AddedToken, decoders, models, normalizers, pre_tokenizers, trainers
from tokenizers import Tokenizer as BackendTokenizer

from tests.conftest import UDHR, assert_round_trips_any_text, reference_tokenizer_path, texts
from tokwork import load_tokenizer
from tokwork.byteview import byte_fallback_value
from tokwork.cli.main import main
from tokwork.formats.hf_json import HFTokenizer
from tokwork.trainers.bpe import BPEConfig, train_bpe
from tokwork.trainers.char import CharConfig, train_char
from tokwork.trainers.extend import ExtendConfig, extend_tokenizer, new_token_ids
from tokwork.trainers.unigram import UnigramConfig, train_unigram

RUS, ENG = UDHR / "rus.txt", UDHR / "eng.txt"


def extend(base, corpus, add, **options):
    return extend_tokenizer([str(p) for p in corpus], ExtendConfig(base=str(base), add=add, **options),
                            progress=False)


def saved(result, folder: Path) -> Path:
    result.save(folder)
    return folder


def model_of(tokenizer: HFTokenizer) -> dict:
    return json.loads(tokenizer.backend.to_str())["model"]


def tokens_per_byte(tokenizer, path: Path) -> float:
    text = path.read_text(encoding="utf-8")
    return len(tokenizer.encode(text)) / len(text.encode("utf-8"))


def base_token_texts(tokenizer) -> list[str]:
    """Every token that stands for whole UTF-8 text, as that text (`Ġthe` -> ` the`). Byte-fallback pieces
    (`<0x41>`) are bytes, not text: an extension may well spell their character with a new token."""
    found = []
    for token_id in range(tokenizer.vocab_size):
        piece = tokenizer.byte_view[token_id]
        if piece and byte_fallback_value(tokenizer.id_to_token(token_id)) is None:
            try:
                found.append(piece.decode("utf-8"))
            except UnicodeDecodeError:
                continue
    return found


def assert_base_tokens_encode_as_before(base, extended) -> None:
    strings = base_token_texts(base)
    assert base.encode_batch(strings) == extended.encode_batch(strings)


def base_spelling(base: HFTokenizer, extended: HFTokenizer):
    """A function that spells ids of `extended` in ids of `base`: each new token as the base tokens it was
    merged from (a new character as its byte-fallback pieces)."""
    old, new = model_of(base), model_of(extended)
    vocab = new["vocab"]
    parts: dict[int, tuple[int, ...]] = {}
    for token, token_id in vocab.items():
        if token_id >= base.vocab_size and token not in old["vocab"] and len(token) == 1 and old["byte_fallback"]:
            parts[token_id] = tuple(old["vocab"][f"<0x{b:02X}>"] for b in token.encode("utf-8"))
    for left, right in new["merges"][len(old["merges"]):]:
        parts.setdefault(vocab[left + right], (vocab[left], vocab[right]))

    def spell(ids):
        return [p for i in ids for p in (spell(parts[i]) if i in parts else [i])]

    return spell


# --- golden cases ------------------------------------------------------------------------------------------

def test_golden_extension_of_aaabdaaabac(tmp_path):
    # The base has one merge, (a, a). On "aaabdaaabac" = [aa, a, b, d, aa, a, b, a, c], (aa, a) and (a, b)
    # both occur twice; the tie goes to the pair of lower ids, (a, b). Then (aa, ab), as training 3 merges
    # would. Then no pair occurs twice: 2 new tokens of the 10 asked.
    corpus = tmp_path / "golden.txt"
    corpus.write_text("aaabdaaabac", encoding="utf-8")
    base = saved(train_bpe([corpus], BPEConfig(vocab_size=256 + 1 + 1, min_frequency=1), progress=False),
                 tmp_path / "base")
    result = extend(base, [corpus], 10, min_frequency=2)
    model = model_of(result.tokenizer)
    assert model["merges"] == [["a", "a"], ["a", "b"], ["aa", "ab"]]
    assert (model["vocab"]["ab"], model["vocab"]["aaab"]) == (258, 259)
    assert result.card.notes["new_ids"] == {"start": 258, "stop": 260} and result.card.notes["fewer_than_asked"]
    tok = result.tokenizer
    assert [tok.id_to_token(i) for i in tok.encode("aaabdaaabac")] == ["aaab", "d", "aaab", "a", "c"]


def test_extending_on_the_training_text_continues_training_exactly(tmp_path):
    corpus = [ENG, RUS]
    base = saved(train_bpe(corpus, BPEConfig(vocab_size=600), progress=False), tmp_path / "base")
    longer = train_bpe(corpus, BPEConfig(vocab_size=900), progress=False)
    result = extend(base, corpus, 300)
    assert model_of(result.tokenizer)["merges"] == model_of(longer.tokenizer)["merges"]
    assert model_of(result.tokenizer)["vocab"] == model_of(longer.tokenizer)["vocab"]


# --- byte-level BPE: GPT-2 -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gpt2_extended(tmp_path_factory, reference_tokenizer):
    base = reference_tokenizer("gpt2")
    result = extend(reference_tokenizer_path("gpt2"), [RUS], 300)
    return base, result, saved(result, tmp_path_factory.mktemp("gpt2") / "out")


def test_gpt2_keeps_every_token_id_and_merge(gpt2_extended):
    base, result, _ = gpt2_extended
    old, new = model_of(base), model_of(result.tokenizer)
    assert new["merges"][:len(old["merges"])] == old["merges"] and len(new["merges"]) == len(old["merges"]) + 300
    assert {t: new["vocab"][t] for t in old["vocab"]} == old["vocab"]
    assert sorted(set(new["vocab"].values()) - set(old["vocab"].values())) == list(range(50257, 50557))
    assert result.tokenizer.token_to_id("<|endoftext|>") == 50256 and result.tokenizer.vocab_size == 50557


def test_gpt2_every_base_token_string_encodes_as_before(gpt2_extended):
    base, result, _ = gpt2_extended
    assert_base_tokens_encode_as_before(base, result.tokenizer)


def test_gpt2_new_merges_are_used_on_the_new_text_only(gpt2_extended):
    base, result, _ = gpt2_extended
    ext = result.tokenizer
    assert tokens_per_byte(ext, RUS) < 0.5 * tokens_per_byte(base, RUS)
    assert sum(i >= 50257 for i in ext.encode(RUS.read_text(encoding="utf-8"))) > 500
    english = ENG.read_text(encoding="utf-8")
    assert ext.encode(english) == base.encode(english)


def test_gpt2_extension_round_trips_and_only_joins_base_tokens(gpt2_extended):
    base, result, _ = gpt2_extended
    ext = result.tokenizer
    assert_round_trips_any_text(ext)
    spell = base_spelling(base, ext)

    @given(texts)
    def check(text):
        assert spell(ext.encode(text)) == base.encode(text)

    check()
    russian = RUS.read_text(encoding="utf-8")
    assert spell(ext.encode(russian)) == base.encode(russian)


def test_card_records_base_corpus_and_new_ids(gpt2_extended):
    _, result, folder = gpt2_extended
    card = json.loads((folder / "tokwork.json").read_text(encoding="utf-8"))
    assert card["kind"] == "extend" and card["parameters"]["add"] == 300
    assert card["notes"]["base"]["format"] == "tokenizer.json" and card["notes"]["base"]["vocab_size"] == 50257
    assert [Path(f["path"]).name for f in card["corpus"]] == ["rus.txt"]
    assert new_token_ids(folder) == range(50257, 50557)
    assert card["files"] == ["tokenizer.json", "tokenizer_config.json"]


def test_tiktoken_base_gives_the_same_tokens_as_its_tokenizer_json(gpt2_extended):
    # r50k_base is GPT-2's vocabulary: extending either on the same text gives the same new tokens.
    _, from_json, _ = gpt2_extended
    from_tiktoken = extend(reference_tokenizer_path("r50k_base"), [RUS], 300)
    assert from_tiktoken.tokenizer.format == "tokenizer.json"
    new = range(50257, 50557)
    assert [from_tiktoken.tokenizer.byte_view[i] for i in new] == [from_json.tokenizer.byte_view[i] for i in new]


# --- special tokens above the BPE vocabulary (Llama 3 layout) --------------------------------------------

def llama3_style(folder: Path) -> Path:
    """A small byte-level BPE whose specials come after its vocabulary and are not in the model (as in
    Llama 3 and Qwen 3), with one special in the model at id 0 (as GPT-2's `<|endoftext|>`)."""
    trained = train_bpe([ENG], BPEConfig(vocab_size=400), progress=False)
    trained.tokenizer.backend.add_special_tokens(["<|begin_of_text|>", "<|reserved_0|>", "<|eot_id|>"])
    trained.tokenizer.config.update(bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
    return saved(trained, folder)


@pytest.fixture(scope="module")
def llama3_style_extended(tmp_path_factory):
    folder = llama3_style(tmp_path_factory.mktemp("llama3-style") / "base")
    result = extend(folder, [RUS], 100)
    return folder, result, saved(result, tmp_path_factory.mktemp("llama3-style") / "out")


def test_new_ids_come_after_specials_above_the_vocabulary(llama3_style_extended):
    folder, result, out = llama3_style_extended
    base, ext = load_tokenizer(folder), result.tokenizer
    assert [base.token_to_id(t) for t in ("<|begin_of_text|>", "<|reserved_0|>", "<|eot_id|>")] == [400, 401, 402]
    assert new_token_ids(out) == range(403, 503)
    for token_id in range(base.vocab_size):
        assert ext.id_to_token(token_id) == base.id_to_token(token_id)
    assert ext.specials == base.specials
    assert ext.encode("<|eot_id|>", parse_special=True) == [402]
    assert all(ext.byte_view[i] for i in range(403, 503))
    assert_base_tokens_encode_as_before(base, ext)


def test_extension_is_deterministic(llama3_style_extended, tmp_path):
    base, _, folder = llama3_style_extended
    again = saved(extend(base, [RUS], 100), tmp_path / "again")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (again / name).read_bytes() == (folder / name).read_bytes()


def test_extended_files_load_in_plain_tokenizers_and_transformers(gpt2_extended, llama3_style_extended, plain_loader):
    text = "Все люди рождаются свободными. All human beings are born free."
    cases = {"gpt2": (gpt2_extended[2], text), "llama3-style": (llama3_style_extended[2], text)}
    seen = plain_loader(cases)
    for name, (folder, _) in cases.items():
        ours = load_tokenizer(folder)
        assert seen[name]["tokenizers"] == seen[name]["transformers"] == ours.encode(text), name
        assert seen[name]["decoded"] == text and seen[name]["eos"] == ours.specials.eos


@pytest.mark.slow
@pytest.mark.parametrize("name", ["llama3", "qwen3"])
def test_real_llama3_and_qwen3_keep_their_specials(name, tmp_path, reference_tokenizer):
    base = reference_tokenizer(name)
    result = extend(reference_tokenizer_path(name), [RUS], 100)
    ext = result.tokenizer
    first = result.card.notes["new_ids"]["start"]
    assert first == base.vocab_size == {"llama3": 128256, "qwen3": 151669}[name]
    added = base.backend.get_added_tokens_decoder()
    assert {i: t.content for i, t in ext.backend.get_added_tokens_decoder().items()} == \
        {i: t.content for i, t in added.items()}
    assert tokens_per_byte(ext, RUS) < 0.95 * tokens_per_byte(base, RUS)
    # Qwen 3 has tokens that its own text does not give (not NFC, or no merges reach them): only the others,
    # and one token in ten (the full vocabulary is GPT-2's test).
    strings = base_token_texts(base)[::10]
    strings = [t for t, ids in zip(strings, base.encode_batch(strings), strict=True) if len(ids) == 1]
    assert base.encode_batch(strings) == ext.encode_batch(strings)


# --- SentencePiece .model (unigram and BPE) --------------------------------------------------------------

@pytest.fixture(scope="module", params=["unigram", "bpe"])
def sentencepiece_extended(request, tmp_path_factory):
    # A model of English and German only: Russian is all byte fallback, so its letters become pieces first.
    base = train_unigram([ENG, UDHR / "deu_1996.txt"], UnigramConfig(vocab_size=800, model_type=request.param),
                         progress=False)
    folder = saved(base, tmp_path_factory.mktemp(request.param) / "base")
    result = extend(folder, [RUS], 300)
    return load_tokenizer(folder), result, saved(result, tmp_path_factory.mktemp(request.param) / "out")


def test_sentencepiece_keeps_old_pieces_and_adds_used_ones(sentencepiece_extended):
    base, result, folder = sentencepiece_extended
    ext = result.tokenizer
    assert ext.vocab_size == base.vocab_size + 300 and new_token_ids(folder) == range(800, 1100)
    for i in range(base.vocab_size):
        assert ext.id_to_token(i) == base.id_to_token(i)
        assert ext.processor.get_score(i) == base.processor.get_score(i)
    assert result.card.notes["new_characters"] >= 30 and ext.id_to_token(800) == "о"
    assert tokens_per_byte(ext, RUS) < 0.3 * tokens_per_byte(base, RUS)
    english = ENG.read_text(encoding="utf-8")
    assert ext.encode(english) == base.encode(english)
    assert_base_tokens_encode_as_before(base, ext)
    assert_round_trips_any_text(ext)


def test_plain_sentencepiece_reads_the_extended_model(sentencepiece_extended):
    _, result, folder = sentencepiece_extended
    assert sorted(p.name for p in folder.iterdir()) == ["tokenizer.model", "tokwork.json"]
    plain = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    russian = RUS.read_text(encoding="utf-8")
    assert plain.get_piece_size() == result.tokenizer.vocab_size
    assert plain.encode(russian) == result.tokenizer.encode(russian)
    assert plain.decode(plain.encode(russian)) == russian


def test_sentencepiece_extension_learns_no_piece_holding_nul(tmp_path):
    # SentencePiece refuses a piece holding NUL, and reads a lone NUL piece as unused: NUL stays a byte piece
    base = train_unigram([ENG], UnigramConfig(vocab_size=400, model_type="bpe"), progress=False)
    folder = saved(base, tmp_path / "base")
    corpus = tmp_path / "nul.txt"
    corpus.write_text("x\x00y and \x00\x00 more\n" * 300, encoding="utf-8")
    result = extend(folder, [corpus], 5)
    new = [result.tokenizer.id_to_token(i) for i in new_token_ids(saved(result, tmp_path / "out"))]
    assert new and not any("\x00" in piece for piece in new)
    assert_round_trips_any_text(result.tokenizer)


# --- SentencePiece-style tokenizer.json (Gemma 3 layout) --------------------------------------------------

def gemma_style(folder: Path) -> Path:
    """A Gemma 3 style tokenizer.json on English: spaces as `▁`, no pre-tokenizer split, byte fallback
    pieces `<0xNN>` in the vocabulary, `<pad>`, `<eos>`, `<bos>`, `<unk>` first. Merges are learned within
    words (a Metaspace split only while training), as SentencePiece learns them."""
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    learner = BackendTokenizer(models.BPE(unk_token="<unk>"))
    learner.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never")
    learner.train([str(ENG)], trainers.BpeTrainer(vocab_size=300, show_progress=False, special_tokens=specials))
    learned = json.loads(learner.to_str())["model"]
    vocab = {t: i for i, t in enumerate(specials + [f"<0x{b:02X}>" for b in range(256)])}
    for token in sorted(learned["vocab"], key=learned["vocab"].get):
        vocab.setdefault(token, len(vocab))
    backend = BackendTokenizer(models.BPE(vocab, [tuple(m) for m in learned["merges"]], unk_token="<unk>",
                                          byte_fallback=True, fuse_unk=True))
    backend.normalizer = normalizers.Replace(" ", "▁")
    backend.pre_tokenizer = pre_tokenizers.Split(" ", behavior="merged_with_previous")
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    backend.add_special_tokens([AddedToken(t, special=True) for t in specials])
    folder.mkdir(parents=True)
    backend.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<bos>", "eos_token": "<eos>",
                                                              "unk_token": "<unk>", "pad_token": "<pad>"}))
    return folder


def test_gemma_style_tokenizer_json_learns_within_words(tmp_path):
    folder = gemma_style(tmp_path / "base")
    base = load_tokenizer(folder)
    result = extend(folder, [RUS], 200)
    ext = result.tokenizer
    new = [ext.id_to_token(i) for i in new_token_ids(saved(result, tmp_path / "out"))]
    assert result.card.notes["new_characters"] >= 30 and "о" in new
    assert all("▁" not in token[1:] for token in new)  # `▁` only at the start: no new token spans words
    assert tokens_per_byte(ext, RUS) < 0.3 * tokens_per_byte(base, RUS)
    spell = base_spelling(base, ext)
    russian = RUS.read_text(encoding="utf-8")
    assert spell(ext.encode(russian)) == base.encode(russian)
    assert_base_tokens_encode_as_before(base, ext)
    assert_round_trips_any_text(ext, normalize=ext.normalize)


def test_a_chat_template_kept_beside_the_config_comes_along(tmp_path):
    # SmolLM2's folder keeps its template in chat_template.jinja; the extension writes only the config
    from transformers import AutoTokenizer

    folder = gemma_style(tmp_path / "base")
    template = "{% for m in messages %}<bos>{{ m.content }}<eos>{% endfor %}"
    (folder / "chat_template.jinja").write_text(template, encoding="utf-8")
    out = saved(extend(folder, [RUS], 20), tmp_path / "out")
    loaded = AutoTokenizer.from_pretrained(out)
    assert loaded.chat_template == template
    assert loaded.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False) == "<bos>hi<eos>"


@pytest.mark.slow
def test_real_gemma3_extends_within_words_keeping_digits_and_newlines_apart(tmp_path, reference_tokenizer):
    # Gemma 3's file splits nothing (its normaliser turns spaces into ▁ first); its vocabulary shows that its
    # trainer kept each digit and each run of newlines alone, and so does an extension of it
    import random

    draw = random.Random(0)
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("".join(f"Version {draw.randint(10, 99)} of page {draw.randint(100, 999)}.\n\nNext line.\n\n"
                               for _ in range(600)), encoding="utf-8")
    base = reference_tokenizer("gemma3")
    result = extend(reference_tokenizer_path("gemma3"), [RUS, numbers], 100)
    ext = result.tokenizer
    assert result.card.notes["new_ids"]["start"] == base.vocab_size
    new = [ext.id_to_token(i) for i in range(base.vocab_size, ext.vocab_size)]
    assert len(new) == 100 and all("▁" not in token[1:] for token in new)
    assert not any(any(c.isdigit() for c in t) and len(t.lstrip("▁")) > 1 for t in new), new
    assert not any("\n" in t and t.strip("\n") for t in new), new
    assert tokens_per_byte(ext, RUS) < tokens_per_byte(base, RUS)
    russian = RUS.read_text(encoding="utf-8")
    assert ext.decode(ext.encode(russian)) == russian
    text = "In 1999 the population was 12345.\n\nNext year"
    assert ext.encode(text) == base.encode(text)


# --- transplant ---------------------------------------------------------------------------------------------

def test_transplant_onto_the_extension_copies_every_old_row(tmp_path):
    import torch

    import tokwork.pico
    from tokwork.transplant.align import Match
    from tokwork.transplant.pipeline import transplant_vocabulary

    source = llama3_style(tmp_path / "source")
    rows = load_tokenizer(source).vocab_size
    tokwork.pico.pico_model(rows, tied=False, spread=0.02, head_spread=0.5, max_positions=128,
                            end_of_text_id=402, dtype=torch.float32).save_pretrained(source)
    target = saved(extend(source, [RUS], 100), tmp_path / "target")
    done = transplant_vocabulary(source, target, tmp_path / "out", method="subword-mean")
    alignment, report = done.alignment, done.report
    assert (report.exact, report.special, report.new) == (400 - 1, 1 + 3, 100)  # specials: eot, bos, eos, reserved
    assert np.array_equal(alignment.source_ids[:rows], np.arange(rows))
    assert set(alignment.kinds[:rows].tolist()) <= {Match.EXACT, Match.SPECIAL}
    assert alignment.new_ids.tolist() == list(new_token_ids(target))
    from tokwork.transplant.checkpoint import load_checkpoint

    before, after = load_checkpoint(source), load_checkpoint(tmp_path / "out")
    assert torch.equal(after.input_embeddings()[:rows], before.input_embeddings()[:rows])
    assert torch.equal(after.output_embeddings()[:rows], before.output_embeddings()[:rows])
    assert after.input_embeddings().shape[0] == rows + 100
    # subword mean (FVT): a new token's row is the mean of the rows of the old tokens that spell it: the base
    # tokenizer's own encoding where the token is text, else (a token that ends inside a character) the
    # fewest old tokens whose bytes join to it
    base, extended = load_tokenizer(source), load_tokenizer(target)
    by_bytes = {piece: i for i, piece in enumerate(base.byte_view.token_bytes) if piece is not None}
    text_tokens = 0
    for token_id in range(rows, rows + 100):
        data = extended.byte_view[token_id]
        try:
            pieces = base.encode(data.decode("utf-8"))
            text_tokens += 1
        except UnicodeDecodeError:
            pieces = list(alignment.new_pieces[token_id])
            assert len(pieces) == fewest_pieces(data, by_bytes), data
        assert base.byte_view.join(pieces) == data
        for new, old in [(after.input_embeddings(), before.input_embeddings()),
                         (after.output_embeddings(), before.output_embeddings())]:
            assert torch.allclose(new[token_id], old[pieces].mean(dim=0), atol=1e-7), data
    assert text_tokens > 50  # most new Russian tokens are whole characters


def fewest_pieces(data: bytes, by_bytes: dict[bytes, int]) -> int:
    """How few tokens of a vocabulary (bytes -> id) can spell `data`, by dynamic programming."""
    best = [0] + [len(data) + 1] * len(data)
    for end in range(1, len(data) + 1):
        best[end] = min([best[start] + 1 for start in range(end) if data[start:end] in by_bytes] + [best[end]])
    return best[-1]


# --- bad input ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    (root / "empty.txt").write_bytes(b"")
    (root / "latin1.txt").write_bytes("caf\u00e9 ".encode() + "na\u00efve".encode("latin-1"))
    (root / "one.txt").write_text("a", encoding="utf-8")
    wordpiece = root / "wordpiece"
    wordpiece.mkdir()
    backend = BackendTokenizer(models.WordPiece({"[UNK]": 0, "a": 1, "##b": 2}, unk_token="[UNK]"))
    backend.save(str(wordpiece / "tokenizer.json"))
    saved(train_char([ENG], CharConfig(vocab_size=300, mode="char"), progress=False), root / "char")
    saved(train_char([ENG], CharConfig(vocab_size=300), progress=False), root / "char-bpe")
    saved(train_bpe([ENG], BPEConfig(vocab_size=300), progress=False), root / "bpe")
    precious = root / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("do not lose me", encoding="utf-8")
    return root


BAD = {
    "zero new tokens": (["{rus}", "--base", "{root}/bpe", "--add", "0"], "--add 0 must be at least 1"),
    "negative new tokens": (["{rus}", "--base", "{root}/bpe", "--add", "-5"], "--add -5 must be at least 1"),
    "missing base": (["{rus}", "--base", "{root}/nowhere", "--add", "5"], "'{root}/nowhere' does not exist"),
    "WordPiece base": (["{rus}", "--base", "{root}/wordpiece", "--add", "5"], "is a WordPiece tokenizer"),
    "character-level base": (["{rus}", "--base", "{root}/char", "--add", "5"], "is a character-level tokenizer"),
    "KL3M character BPE base": (["{rus}", "--base", "{root}/char-bpe", "--add", "5"], "character-level"),
    "empty corpus": (["{root}/empty.txt", "--base", "{root}/bpe", "--add", "5"], "corpus is empty"),
    "non-UTF-8 corpus": (["{root}/latin1.txt", "--base", "{root}/bpe", "--add", "5"], "is not UTF-8 at byte 8"),
    "missing corpus": (["{root}/nope.txt", "--base", "{root}/bpe", "--add", "5"], "does not exist"),
    "nothing to learn": (["{root}/one.txt", "--base", "{root}/bpe", "--add", "5"], "no pair of tokens"),
    "output not a tokwork output": (["{rus}", "--base", "{root}/bpe", "--add", "5", "-o", "{root}/precious"],
                                    "pass --force"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(bad_inputs, case, capsys):
    args, message = BAD[case]
    fill = {"root": str(bad_inputs), "rus": str(RUS)}
    args = [a.format(**fill) for a in args]
    if "-o" not in args:
        args += ["-o", str(bad_inputs / "out")]
    before = sorted(p.name for p in bad_inputs.iterdir())
    assert main(["train", "extend", *args, "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tokwork: error: ") and message.format(**fill) in err[0], err
    assert sorted(p.name for p in bad_inputs.iterdir()) == before
    assert (bad_inputs / "precious" / "notes.txt").read_text(encoding="utf-8") == "do not lose me"


def test_cli_writes_the_extension_and_says_which_ids_are_new(bad_inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["train", "extend", str(RUS), "--base", str(bad_inputs / "bpe"), "--add", "50", "-o", str(out),
                 "-q"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "new ids 300..349: 50 tokens" in printed and "written to" in printed
    assert new_token_ids(out) == range(300, 350) and load_tokenizer(out).vocab_size == 350
