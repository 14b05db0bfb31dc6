"""Lexicons: word-list files, wordfreq lists only where they are the language's own, no invented ones."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tokwork.errors import ParameterError
from tokwork.metrics.integrity import lexicon_token_share, word_candidate
from tokwork.metrics.lexicon import LexiconSpec, lexicon_spec, load_lexicon, read_word_list


def test_word_list_file_is_normalised(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("Cafe\u0301\t12\n\nSTRASSE\n", encoding="utf-8")
    assert read_word_list(path) == {"café", "strasse"}  # NFC, case folded, frequency column dropped
    lexicon = load_lexicon(LexiconSpec("file", str(path)))
    assert "CAFÉ" in lexicon and "Straße" in lexicon and "cafe" not in lexicon


def test_an_edited_word_list_is_read_again(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("cat\n", encoding="utf-8")
    assert "dog" not in load_lexicon(lexicon_spec("eng", "en", files={"eng": str(path)}))
    path.write_text("dog\nbird\n", encoding="utf-8")  # edited in place, as a user would
    edited = load_lexicon(lexicon_spec("eng", "en", files={"eng": str(path)}))
    assert "dog" in edited and "cat" not in edited


def test_bad_word_lists_are_user_errors(tmp_path):
    with pytest.raises(ParameterError, match="does not exist"):
        read_word_list(tmp_path / "none.txt")
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="holds no words"):
        read_word_list(tmp_path / "empty.txt")


def test_wordfreq_only_for_its_own_languages():
    assert lexicon_spec("eng", "en").describe() == "wordfreq 'small' list for en"
    assert lexicon_spec("hrv", "hr").describe() == "wordfreq 'small' list for sh"  # Serbo-Croatian
    # wordfreq itself would answer English for Swahili and Spanish for Basque: those are no lexicons
    assert lexicon_spec("swh", "sw") is None
    assert lexicon_spec("eus", "eu") is None
    assert lexicon_spec("vai", "vai") is None
    # a given file wins
    assert lexicon_spec("swh", "sw", files={"swh": "sw.txt"}) == LexiconSpec("file", "sw.txt")
    with pytest.raises(ParameterError, match="unknown wordfreq list"):
        lexicon_spec("eng", "en", wordlist="huge")


def test_wordfreq_preprocessing_is_the_lexicon_normalisation():
    serbian = load_lexicon(lexicon_spec("srp_cyrl", "sr-Cyrl"))
    assert "Свако" in serbian and "svako" in serbian  # Cyrillic is transliterated as wordfreq does
    english = load_lexicon(lexicon_spec("eng", "en"))
    assert "Rights" in english and "xqzv" not in english


def test_word_candidates():
    assert word_candidate(b" the") == "the"
    assert word_candidate(b"\xe0\xa4") == ""  # part of a character: word material, never a word
    assert word_candidate(b" , ") is None and word_candidate(b"42") is None and word_candidate(None) is None
    english = load_lexicon(lexicon_spec("eng", "en"))
    # "the" x3 is a word, a fragment x2 and "zzxq" x1 are word material but no words, punctuation is ignored
    share = lexicon_token_share(["the", "", None, "zzxq"], [3, 2, 5, 1], english)
    assert share == pytest.approx(3 / 6)


def test_wordfreq_words_come_from_a_faithful_cached_copy():
    import wordfreq

    from tokwork.cache import cache_dir

    load_lexicon.cache_clear()
    english = load_lexicon(lexicon_spec("eng", "en"))
    copies = list(cache_dir("lexicons").glob("wordfreq-*-small-en.txt"))
    assert len(copies) == 1
    assert english.words == set(wordfreq.get_frequency_dict("en", "small"))
    load_lexicon.cache_clear()
    assert load_lexicon(lexicon_spec("eng", "en")).words == english.words  # read back from the copy


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A cache of its own, and lexicon caches that forget it afterwards."""
    from tokwork.metrics import lexicon

    caches = (lexicon.load_lexicon, lexicon._wordfreq_match, lexicon._stored_matches)
    for cache in caches:
        cache.cache_clear()
    monkeypatch.setenv("TOKWORK_CACHE", str(tmp_path))
    yield tmp_path
    for cache in caches:
        cache.cache_clear()


def ask_english_in_a_new_process(words: tuple[str, ...], cache) -> str:
    """The answers of the English lexicon, its description and whether wordfreq got imported."""
    script = ("import sys; from tokwork.metrics.lexicon import lexicon_spec, load_lexicon; "
              f"lexicon = load_lexicon(lexicon_spec('eng', 'en')); print([w in lexicon for w in {words!r}], "
              "lexicon.description, 'wordfreq' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={**os.environ, "TOKWORK_CACHE": str(cache)})
    return done.stdout.strip()


def test_answers_are_kept_so_that_a_second_run_needs_no_wordfreq(own_cache):
    words = ("Rights", "xqzv", "the", "Свако")
    english = load_lexicon(lexicon_spec("eng", "en"))
    assert [w in english for w in words] == [True, False, True, False]
    english.keep_answers()
    description = "wordfreq 'small' list for en"
    assert ask_english_in_a_new_process(words, own_cache) == f"[True, False, True, False] {description} False"
    # a word never asked before is looked up in the word list, with wordfreq's normalisation
    assert ask_english_in_a_new_process(("RIGHTS", "the"), own_cache) == f"[True, True] {description} True"
