"""Scripts read off the text when no `languages.tsv` gives them, and the non-Latin premium, which pools only
languages of a known script other than Latin (never those of script `unknown`)."""

from __future__ import annotations

import csv
import shutil

import pytest

from tests.conftest import UDHR
from tests.metrics.conftest import TOY_TEXTS
from tokwork.metrics.bench import BenchConfig, run_bench
from tokwork.metrics.parallel import load_parallel_corpus
from tokwork.metrics.report import write_report
from tokwork.metrics.scripts import UNKNOWN_SCRIPT, dominant_script, is_non_latin


@pytest.mark.parametrize(("text", "script"), [
    ("Diné bizaad", "Latn"),  # Navajo
    ("Yáʼátʼééh", "Latn"),  # the modifier-letter apostrophe is Common, only the Latin letters count
    ("Kalaallisut", "Latn"),  # Greenlandic
    ("Ελληνικά", "Grek"),
    ("Русский язык, 1948 (UN)", "Cyrl"),  # two Latin letters against ten Cyrillic ones
    ("中文", "Hani"),
    ("日本語のテキスト", "Jpan"),
    ("한국어", "Kore"),
    ("1948: 10, 12.", UNKNOWN_SCRIPT),
    ("ʼʼ", UNKNOWN_SCRIPT),
])
def test_dominant_script_by_hand(text, script):
    assert dominant_script(text) == script


def test_dominant_script_agrees_with_the_shipped_table():
    """Every UDHR language gets the script languages.tsv gives it, except that Han alone is `Hani`: the
    table tells simplified from traditional by the language tag, which the text does not carry."""
    with (UDHR / "languages.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) >= 76
    for row in rows:
        expected = "Hani" if row["script"] in ("Hans", "Hant") else row["script"]
        assert dominant_script((UDHR / f"{row['code']}.txt").read_text(encoding="utf-8")) == expected, row["code"]


def test_unknown_is_neither_latin_nor_non_latin():
    assert is_non_latin("Cyrl") and not is_non_latin("Latn") and not is_non_latin(UNKNOWN_SCRIPT)


def copy_udhr(folder, codes: dict[str, str]):
    """A corpus folder without languages.tsv: shipped UDHR texts under codes no table knows."""
    folder.mkdir()
    for code, shipped in codes.items():
        shutil.copy(UDHR / f"{shipped}.txt", folder / f"{code}.txt")
    return folder


def text_bytes(folder, code: str) -> int:
    blocks = (folder / f"{code}.txt").read_text(encoding="utf-8").rstrip("\n").split("\n\n")
    return sum(len(block.encode()) for block in blocks)


def test_scripts_come_from_the_text_where_the_table_gives_none(tmp_path):
    folder = copy_udhr(tmp_path / "corpus", {"eng": "eng", "hau": "hau_NG", "yor": "yor", "rus": "rus"})
    (folder / "languages.tsv").write_text("code\tname\tscript\nhau\tHausa\t\nrus\tRussian\tCyrl\n", "utf-8")
    corpus = load_parallel_corpus(folder)
    found = {c: (lang.name, lang.script, lang.script_from_text) for c, lang in corpus.languages.items()}
    assert found == {"eng": ("eng", "Latn", True), "hau": ("Hausa", "Latn", True), "rus": ("Russian", "Cyrl", False),
                     "yor": ("yor", "Latn", True)}


def test_the_non_latin_premium_pools_only_the_non_latin_language(tmp_path, toy_tokenizers):
    """Two Latin-script languages and Russian, no table: with one token per byte a premium is a ratio of
    byte counts, and the non-Latin premium is Russian's alone."""
    folder = copy_udhr(tmp_path / "corpus", {"eng": "eng", "hau": "hau_NG", "yor": "yor", "rus": "rus"})
    config = BenchConfig(tokenizers={"bytes": toy_tokenizers["bytes"]}, corpus=str(folder), wordfreq=False)
    results = run_bench(config, progress=False)
    premium = {c: text_bytes(folder, c) / text_bytes(folder, "eng") for c in ("hau", "yor", "rus")}
    assert {r["language"]: r["script"] for r in results.summary["rows"]} == {
        "eng": "Latn", "hau": "Latn", "yor": "Latn", "rus": "Cyrl"}
    summary = results.summary["tokenizers"][0]
    assert summary["premium_non_latin_mean"] == pytest.approx(premium["rus"])
    assert summary["premium_mean"] == pytest.approx((premium["hau"] + premium["yor"] + premium["rus"]) / 3)
    assert premium["rus"] > summary["premium_mean"] + 0.1  # pooling all three would give the mean
    by_script = {s["script"]: s for s in results.summary["scripts"]}
    assert by_script["Latn"]["premium_mean"] == pytest.approx((premium["hau"] + premium["yor"]) / 2)
    assert results.summary["notes"]["non_latin_languages"] == ["rus"]
    assert results.summary["notes"]["scripts_from_text"] == {"eng": "Latn", "hau": "Latn", "yor": "Latn",
                                                             "rus": "Cyrl"}


def test_latin_languages_alone_have_no_non_latin_premium(tmp_path, toy_tokenizers):
    """The bug this guards against: without a table every language was `unknown` and counted as non-Latin,
    so two Latin-script languages reported a non-Latin premium equal to the mean."""
    folder = copy_udhr(tmp_path / "corpus", {"eng": "eng", "hau": "hau_NG", "yor": "yor"})
    config = BenchConfig(tokenizers={"bytes": toy_tokenizers["bytes"]}, corpus=str(folder), wordfreq=False)
    summary = run_bench(config, progress=False).summary
    assert summary["tokenizers"][0]["premium_non_latin_mean"] is None
    assert summary["tokenizers"][0]["premium_mean"] > 1
    assert summary["notes"]["non_latin_languages"] == []
    assert [s["script"] for s in summary["scripts"]] == ["Latn"]


def test_unknown_script_stays_out_of_the_non_latin_pool(tmp_path, toy_tokenizers):
    """A language with no letters has script `unknown`: it counts in the mean premium and is its own group
    by script, but the non-Latin premium is Greek's alone, and the report says so."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    texts = {**TOY_TEXTS, "num": ["1 2 3.", "4 5 6.", "7 8."]}  # 6 + 6 + 4 bytes
    for code, blocks in texts.items():
        (folder / f"{code}.txt").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    config = BenchConfig(tokenizers={"bytes": toy_tokenizers["bytes"]}, corpus=str(folder), wordfreq=False)
    results = run_bench(config, progress=False)
    summary = results.summary
    assert {r["language"]: r["script"] for r in summary["rows"]} == {"eng": "Latn", "ell": "Grek",
                                                                     "num": UNKNOWN_SCRIPT}
    tokenizer = summary["tokenizers"][0]
    assert tokenizer["premium_non_latin_mean"] == pytest.approx(83 / 34)
    assert tokenizer["premium_mean"] == pytest.approx((83 / 34 + 16 / 34) / 2)
    by_script = {s["script"]: s for s in summary["scripts"]}
    assert by_script[UNKNOWN_SCRIPT]["premium_mean"] == pytest.approx(16 / 34)
    assert summary["notes"]["unknown_script_languages"] == ["num"]
    html = write_report(results, tmp_path / "out").read_text(encoding="utf-8")
    assert "Script unknown for num" in html and "in neither the Latin nor the non-Latin pool" in html
    assert "Non-Latin premium: the mean premium of the 1 language(s)" in html
