"""Byte-level BPE: hand-checkable merges, exact round trips, standard files that load without tokwork."""

from __future__ import annotations

import hashlib
import json
import unicodedata

import pytest

from tests.conftest import ENGLISH_SAMPLE, UDHR, assert_round_trips_any_text, udhr_articles
from tests.trainers.conftest import bad_parameters_test
from tokwork import load_tokenizer
from tokwork.trainers.bpe import BPEConfig, train_bpe


def merges_of(result) -> list[list[str]]:
    return json.loads(result.tokenizer.backend.to_str())["model"]["merges"]


def test_golden_merges_on_aaabdaaabac(tmp_path):
    # Pairs in "aaabdaaabac": aa x4, ab x2, others x1, so (a, a) merges first. Then "aaab" is [aa, a, b]:
    # (aa, a) and (a, b) both occur twice; the tie goes to the pair of lower ids, (a, b). Then (aa, ab).
    corpus = tmp_path / "golden.txt"
    corpus.write_text("aaabdaaabac", encoding="utf-8")
    result = train_bpe([corpus], BPEConfig(vocab_size=256 + 1 + 3, min_frequency=1), progress=False)
    assert merges_of(result) == [["a", "a"], ["a", "b"], ["aa", "ab"]]
    tok = result.tokenizer
    assert [tok.id_to_token(i) for i in tok.encode("aaabdaaabac")] == ["aaab", "d", "aaab", "a", "c"]


def test_golden_merges_on_sennrich_example(tmp_path):
    # Pre-tokens: low x1, Ġlow x4, Ġlower x2, Ġnewest x6, Ġwidest x3 (Ġ is the space). (e,s) and (s,t)
    # occur 9 times each, then (l,o) and (o,w) 7 times, then (e,w) and (n,ew) 6 times.
    corpus = tmp_path / "golden.txt"
    corpus.write_text("low" + " low" * 4 + " lower" * 2 + " newest" * 6 + " widest" * 3, encoding="utf-8")
    result = train_bpe([corpus], BPEConfig(vocab_size=256 + 1 + 6, min_frequency=1), progress=False)
    assert merges_of(result) == [["e", "s"], ["es", "t"], ["l", "o"], ["lo", "w"], ["e", "w"], ["n", "ew"]]
    tok = result.tokenizer
    assert [tok.id_to_token(i) for i in tok.encode(" newest lowest")] == ["Ġ", "new", "est", "Ġ", "low", "est"]


@pytest.mark.parametrize("name", ["bpe", "bpe-o200k"])
def test_round_trip_and_byte_view_on_arbitrary_text(trained, name):
    assert_round_trips_any_text(trained(name)[0].tokenizer)


def test_nfkc_variant_round_trips_normalised_text(trained):
    tok = trained("bpe-nfkc")[0].tokenizer
    assert tok.normalize("ﬁ Å") == unicodedata.normalize("NFKC", "ﬁ Å")
    # the tokenizer's own NFKC, not Python's: their Unicode versions differ (U+1FBF0, a digit added in
    # Unicode 13, is mapped to "0" by Python 3.11 and kept by the `tokenizers` normaliser)
    assert_round_trips_any_text(tok, normalize=tok.normalize)


def test_real_data_round_trip_and_compression(trained, udhr_texts):
    tok = trained("bpe")[0].tokenizer
    for code, text in udhr_texts.items():
        assert tok.byte_view.join(tok.encode(text)) == text.encode("utf-8"), code
    english = "\n\n".join(udhr_articles("eng"))

    def bytes_per_token(name):
        return len(english.encode()) / len(trained(name)[0].tokenizer.encode(english))

    # 4k merges shared by 70+ languages still beat 3-byte-capped tokens by a wide margin on English.
    assert bytes_per_token("bpe") > 2.3
    assert bytes_per_token("bpe") > 1.2 * bytes_per_token("char-bpe")
    sample = ENGLISH_SAMPLE.read_text(encoding="utf-8")[:100_000]
    assert tok.decode(tok.encode(sample)) == sample


def test_card_records_how_it_was_made(trained, udhr_corpus):
    result, folder = trained("bpe")
    card = json.loads((folder / "tokwork.json").read_text(encoding="utf-8"))
    assert card["kind"] == "bpe" and card["parameters"]["vocab_size"] == 4000
    first = udhr_corpus[0]
    entry = next(c for c in card["corpus"] if c["path"] == str(first))
    assert entry["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert entry["bytes"] == len(first.read_bytes())
    assert card["corpus_bytes"] == sum(len(p.read_bytes()) for p in udhr_corpus)
    assert card["seconds"] > 0 and "tokenizers" in card["libraries"]
    assert card["files"] == ["tokenizer.json", "tokenizer_config.json"]
    assert result.tokenizer.vocab_size == 4000


PLAIN_KINDS = ["bpe", "char", "char-bpe"]
PLAIN_TEXT = "Tokenizers split text. Токенизаторы делят текст. 分词器把文本切开。  \n\n\tend"


@pytest.fixture(scope="module")
def plain_loads(trained, plain_loader):
    return plain_loader({name: (trained(name)[1], PLAIN_TEXT) for name in PLAIN_KINDS})


@pytest.mark.parametrize("name", PLAIN_KINDS)
def test_loads_in_plain_tokenizers_and_transformers_without_tokwork(trained, plain_loads, name):
    seen = plain_loads[name]
    ours = load_tokenizer(trained(name)[1])
    assert seen["tokenizers"] == seen["transformers"] == ours.encode(PLAIN_TEXT)
    assert seen["decoded"] == PLAIN_TEXT
    assert seen["eos"] == ours.specials.eos


test_bad_parameters = bad_parameters_test([
    (BPEConfig(vocab_size=100), "below the byte alphabet"),
    (BPEConfig(vocab_size=256), "use at least 257"),
    (BPEConfig(vocab_size=10**9), "absurdly large"),
    (BPEConfig(vocab_size=1000, split="nope"), "unknown split pattern"),
    (BPEConfig(vocab_size=1000, min_frequency=0), "min frequency"),
])


def test_extra_specials_and_the_pad_token_are_declared_to_transformers(tmp_path):
    # tokenizer.json marks extra specials special; transformers also needs them named in tokenizer_config.json
    from transformers import AutoTokenizer

    config = BPEConfig(vocab_size=400, special_tokens=["<|im_start|>"], pad_token="<pad>")
    result = train_bpe([UDHR / "eng.txt"], config, progress=False)
    result.save(tmp_path / "tok")
    loaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    ours = load_tokenizer(tmp_path / "tok")
    assert set(loaded.all_special_tokens) == {"<|endoftext|>", "<|im_start|>", "<pad>"}
    assert loaded.pad_token_id == ours.specials.pad == ours.token_to_id("<pad>")
    batch = loaded(["the rights of", "all"], padding=True)["input_ids"]
    assert batch[1][-1] == ours.specials.pad and len(batch[0]) == len(batch[1])
    ids = loaded("<|im_start|>hello")["input_ids"]
    assert loaded.get_special_tokens_mask(ids, already_has_special_tokens=True)[0] == 1


def test_saving_onto_the_corpus_it_was_trained_on_is_refused_even_with_force(tmp_path):
    # TrainedTokenizer.save (the README's own Python example) replaced the corpus folder with the tokenizer
    from tokwork.card import CardError
    from tokwork.errors import OutputError
    from tokwork.trainers.card import TrainingCard

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "eng.txt").write_text((UDHR / "eng.txt").read_text(encoding="utf-8"), encoding="utf-8")
    trained = train_bpe([corpus], BPEConfig(vocab_size=300), progress=False)
    for output in (corpus, tmp_path):
        with pytest.raises(OutputError, match="is the input|holds the input"):
            trained.save(output, force=True)
    assert sorted(p.name for p in corpus.iterdir()) == ["eng.txt"]
    assert repr(trained).startswith("<TrainedTokenizer bpe: 300 ids, trained on 1 file")
    folder = trained.save(tmp_path / "tok")
    assert TrainingCard.read(folder).kind == "bpe"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "tokwork.json").write_text('{"kind": "transplant", "method": "omp"}', encoding="utf-8")
    with pytest.raises(CardError, match="holds a tokwork card of kind 'transplant', not a trained tokenizer's"):
        TrainingCard.read(tmp_path / "other")
