"""Hand-computed compression, premium, integrity and entropy values on the three-sentence toy corpus.

English blocks: "the cat sat." (12 bytes), "the dog ran." (12), "a cat ran." (10): 34 bytes, 9 words.
`toy` spells them `the| cat| sat|.`, `the| dog| ran|.`, `a| cat| ran|.`: 4 + 4 + 4 = 12 tokens.
Greek blocks: 25, 29 and 29 bytes (11, 13 and 13 letters of two bytes, 2-3 spaces, a full stop), 14 + 16
+ 16 = 46 characters, 9 words; `toy` has no Greek merges, so one token per byte: 83 tokens.
`bytes` spells everything one token per byte: 34 English tokens, 83 Greek.
"""

from __future__ import annotations

import math

import pytest

from tokwork.loader import load_tokenizer
from tokwork.metrics.bench import BenchConfig, run_bench
from tokwork.metrics.entropy import conditional_entropy, renyi_efficiency, shannon_efficiency
from tokwork.metrics.premiums import block_premiums, premium, premium_summary, premiums_by_script


@pytest.fixture(scope="module")
def results(toy_corpus, toy_tokenizers, toy_lexicon):
    config = BenchConfig(tokenizers=toy_tokenizers, corpus=str(toy_corpus), reference="bytes",
                         lexicons={"eng": toy_lexicon}, wordfreq=False)
    return run_bench(config, progress=False)


def row(results, tokenizer, language):
    return next(r for r in results.summary["rows"] if r["tokenizer"] == tokenizer and r["language"] == language)


def test_compression_by_hand(results):
    eng, ell = row(results, "toy", "eng"), row(results, "toy", "ell")
    assert (eng["bytes"], eng["chars"], eng["tokens"], eng["words"], eng["split_words"]) == (34, 34, 12, 9, 0)
    assert eng["block_tokens"] == [4, 4, 4]
    assert eng["bytes_per_token"] == pytest.approx(34 / 12)
    # fertility counts the tokens that carry words: the three full stops carry none
    assert eng["word_tokens"] == 9 and eng["fertility"] == 1.0
    assert eng["split_share"] == 0.0
    assert (ell["bytes"], ell["chars"], ell["tokens"], ell["words"], ell["split_words"]) == (83, 46, 83, 9, 9)
    assert ell["block_tokens"] == [25, 29, 29]
    assert ell["bytes_per_token"] == 1.0
    assert ell["chars_per_token"] == pytest.approx(46 / 83)
    # 83 byte tokens less 6 spaces and 3 full stops carry the 9 words
    assert ell["word_tokens"] == 74 and ell["fertility"] == pytest.approx(74 / 9)
    assert ell["split_share"] == 1.0  # every Greek letter is two byte tokens, so every word is split
    # `bytes` spells one token per byte: its block counts are the blocks' byte counts
    assert row(results, "bytes", "eng")["block_tokens"] == [12, 12, 10]
    assert row(results, "bytes", "ell")["block_tokens"] == [25, 29, 29]


def test_normalized_sequence_length_against_the_byte_tokenizer(results):
    assert row(results, "toy", "eng")["nsl"] == pytest.approx(12 / 34)
    assert row(results, "toy", "ell")["nsl"] == 1.0
    assert row(results, "bytes", "eng")["nsl"] == 1.0
    toy = next(t for t in results.summary["tokenizers"] if t["tokenizer"] == "toy")
    assert toy["nsl"] == pytest.approx((12 + 83) / (34 + 83))
    assert toy["bytes_per_token"] == pytest.approx((34 + 83) / (12 + 83))


def test_premiums_by_hand(results):
    ell = row(results, "toy", "ell")
    assert ell["premium"] == pytest.approx(83 / 12)
    assert ell["premium_median"] == pytest.approx(29 / 4)
    assert (ell["premium_min"], ell["premium_max"]) == (pytest.approx(25 / 4), pytest.approx(29 / 4))
    assert ell["premium_mean"] == pytest.approx((25 / 4 + 29 / 4 + 29 / 4) / 3)
    assert row(results, "toy", "eng")["premium"] == 1.0
    assert row(results, "bytes", "ell")["premium"] == pytest.approx(83 / 34)
    scripts = {(s["tokenizer"], s["script"]): s for s in results.summary["scripts"]}
    assert scripts[("toy", "Grek")]["premium_mean"] == pytest.approx(83 / 12)
    assert scripts[("toy", "Latn")]["premium_mean"] is None  # English is the pivot, left out


def test_premium_functions_by_hand():
    assert premium(83, 12) == pytest.approx(6.9167, abs=1e-4)
    assert block_premiums([25, 29, 29], [4, 4, 4]) == [6.25, 7.25, 7.25]
    summary = premium_summary([25, 29, 29], [4, 4, 4])
    assert summary["premium"] == pytest.approx(83 / 12) and summary["median"] == 7.25
    assert summary["sd"] == pytest.approx(((6.25 - 83 / 12) ** 2 + 2 * (7.25 - 83 / 12) ** 2) ** 0.5 / 2 ** 0.5)
    grouped = premiums_by_script({"eng": 1.0, "ell": 6.0, "rus": 2.0, "ukr": 4.0},
                                 {"eng": "Latn", "ell": "Grek", "rus": "Cyrl", "ukr": "Cyrl"}, exclude=["eng"])
    assert grouped == {"Cyrl": {"languages": 2, "mean": 3.0, "median": 3.0, "max": 4.0},
                       "Grek": {"languages": 1, "mean": 6.0, "median": 6.0, "max": 6.0}}
    with pytest.raises(ValueError, match="not aligned"):
        block_premiums([1, 2], [1])


def test_integrity_against_a_word_list(results):
    eng = row(results, "toy", "eng")
    # word-material tokens: the x2, cat x2, sat, dog, ran x2, a = 9; lexicon words among them: the, cat, dog = 5
    assert eng["lexicon_tokens"] == pytest.approx(5 / 9)
    assert eng["lexicon_coverage"] == pytest.approx(5 / 9)
    assert eng["lexicon_words_whole"] == 1.0
    # one token per byte: single letters are no lexicon words, and every lexicon word is split
    eng_bytes = row(results, "bytes", "eng")
    assert eng_bytes["lexicon_tokens"] == 0.0 and eng_bytes["lexicon_words_whole"] == 0.0
    assert row(results, "toy", "ell")["lexicon_tokens"] is None
    assert results.summary["notes"]["without_lexicon"] == ["ell"]
    assert results.summary["notes"]["lexicons"]["eng"].startswith("word list ")


def test_a_letter_in_the_word_list_is_a_word_only_where_it_stands_alone(toy_corpus, toy_tokenizers, tmp_path):
    # word lists hold single letters (wordfreq's hold every letter): one token per byte must not score as words
    lexicon = tmp_path / "eng.txt"
    lexicon.write_text("the\ncat\na\nt\nc\n", encoding="utf-8")
    config = BenchConfig(tokenizers={"bytes": toy_tokenizers["bytes"]}, corpus=str(toy_corpus), reference="bytes",
                         lexicons={"eng": str(lexicon)}, wordfreq=False, languages=["eng"])
    eng = row(run_bench(config, progress=False), "bytes", "eng")
    # 25 letters, each a token; only the article "a" of "a cat ran." is a whole word held by one token
    assert eng["lexicon_tokens"] == pytest.approx(1 / 25)


def test_tokens_that_stand_for_no_text_are_counted_and_noted(toy_corpus, toy_tokenizers, tmp_path):
    # a unigram model of English letters without byte fallback: each Greek word is one unknown token
    from tests.metrics.conftest import letters_tokenizer
    from tokwork.metrics.report import write_report

    letters_tokenizer(tmp_path / "letters.json")
    config = BenchConfig(tokenizers={"letters": str(tmp_path / "letters.json"), "bytes": toy_tokenizers["bytes"]},
                         corpus=str(toy_corpus), reference="bytes", wordfreq=False)
    results = run_bench(config, progress=False)
    ell, eng = row(results, "letters", "ell"), row(results, "letters", "eng")
    assert eng["tokens_without_bytes"] == 0 and row(results, "bytes", "ell")["tokens_without_bytes"] == 0
    assert 0 < ell["tokens_without_bytes"] < ell["tokens"]
    shares = results.summary["notes"]["tokens_without_bytes"]
    assert shares == {"letters": {"ell": ell["tokens_without_bytes"] / ell["tokens"]}}
    report = write_report(results, tmp_path / "report").read_text(encoding="utf-8")
    assert "letters gives tokens that stand for no text" in report and "not comparable" in report


def test_entropy_of_the_token_stream(results):
    eng = row(results, "toy", "eng")
    # the x2, " cat" x2, " sat", ".", " dog", " ran" x2, "a" ... as counts: "." 3, the 2, cat 2, ran 2, 1, 1, 1
    counts = [3, 2, 2, 2, 1, 1, 1]
    assert eng["types"] == 7
    assert eng["renyi_efficiency"] == pytest.approx(renyi_efficiency(counts, alpha=2.5))
    assert eng["shannon_efficiency"] == pytest.approx(shannon_efficiency(counts))
    sequences = [["the", "cat", "sat", "."], ["the", "dog", "ran", "."], ["a", "cat", "ran", "."]]
    ids = {t: i for i, t in enumerate(sorted({t for s in sequences for t in s}))}
    assert eng["conditional_entropy"] == pytest.approx(conditional_entropy([[ids[t] for t in s] for s in sequences]))


def test_full_vocab_option(toy_corpus, toy_tokenizers):
    config = BenchConfig(tokenizers={"toy": toy_tokenizers["toy"]}, corpus=str(toy_corpus), full_vocab=True,
                         wordfreq=False)
    eng = row(run_bench(config, progress=False), "toy", "eng")
    vocab_size = load_tokenizer(toy_tokenizers["toy"]).vocab_size
    assert vocab_size == 256 + 2 + 3 * 4  # bytes, then the merges of "the" and the four " xxx" words
    assert eng["renyi_efficiency"] == pytest.approx(eng["renyi_entropy"] / math.log2(vocab_size))
    assert eng["utilisation"] == pytest.approx(7 / vocab_size)
