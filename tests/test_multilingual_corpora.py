"""corpora/build_multilingual.py: markup and troff to running text, the untranslated/script/duplicate filters,
the document split, the language table, and (when it has been built) the corpus in the cache."""

from __future__ import annotations

import importlib
import json
import sys
from collections import Counter

import pytest

from tests.conftest import REPO
from tokwork.cache import cache_root
from tokwork.metrics.scripts import dominant_script


def _builder():
    sys.path.insert(0, str(REPO / "corpora"))  # the corpus scripts import each other by name, as when run
    return importlib.import_module("build_multilingual")


bm = _builder()
LIBREOFFICE, MALLARD, DOCBOOK = (bm.MARKUPS[k] for k in ("libreoffice", "mallard", "docbook"))


def test_libreoffice_page_keeps_the_display_area_without_chrome_code_or_hidden_variants():
    page = """<html><head><title>Find</title></head><body>
    <header><a class="logo"><p>LibreOffice 7.4 Help</p></a></header>
    <aside class="leftside"><input id="search-bar" type="search" class="search"><nav class="index"></nav></aside>
    <div id="DisplayArea"><h1>Find   Toolbar</h1>
    <p class="paragraph">Use <span class="switchinline"><span hidden="true" id="MACx" class="MAC">Command</span>
    <span hidden="true" id="defaultx">Ctrl</span></span>+F to &amp; open it.</p>
    <div class="bascode"><pre>Sub Main
End Sub</pre></div><p class="bug">[text/x.xhp#y not found].</p>
    <div class="relatedtopics"><p class="related">Related Topics</p></div>
    <table><tr><td><p>Cell one</p></td><td><p>Cell two</p></td></tr></table><br>Tail text</div>
    <footer><div class="debug">debug</div></footer></body></html>"""
    assert bm.markup_text(page, LIBREOFFICE) == [
        "Find Toolbar", "Use Ctrl+F to & open it.", "Cell one", "Cell two", "Tail text"]


def test_mallard_page_joins_key_sequences_and_leaves_out_info_screens_and_platform_branches():
    page = """<page xmlns="http://projectmallard.org/1.0/" xmlns:if="http://projectmallard.org/if/1.0/">
    <info><desc>Link text</desc><credit><name>A. Author</name></credit></info>
    <title>Copy <em>text</em></title>
    <p>Press <keyseq><key>Ctrl</key><key>C</key></keyseq>, then choose <guiseq><gui>Files</gui>
    <gui>Preferences</gui></guiseq>.</p>
    <screen>$ ls -l</screen><media type="image" src="x.png"/>
    <if:choose><if:when test="platform:unity"><p>Unity only</p></if:when><if:else><p>Default</p></if:else>
    </if:choose><list><item><p>One item</p></item></list></page>"""
    assert bm.markup_text(page, MALLARD) == [
        "Copy text", "Press Ctrl+C, then choose Files ▸ Preferences.", "Default", "One item"]


def test_docbook_page_leaves_out_navigation_listings_and_index_terms():
    page = """<html><body><div class="navheader"><table><tr><td>Prev</td></tr></table></div>
    <div class="section"><h2 class="title">6.2. APT</h2><div class="para">APT is a <a class="indexterm"
    name="x"></a>vast   project.</div><pre class="programlisting">apt update</pre>
    <div class="para">Second paragraph.</div></div><div class="navfooter">Next</div></body></html>"""
    assert bm.markup_text(page, DOCBOOK) == ["6.2. APT", "APT is a vast project.", "Second paragraph."]


def test_man_page_keeps_text_and_terms_without_requests_tables_or_verbatim_blocks():
    page = r""".\" Copyright line: a comment
.TH LS 1 2022 "GNU coreutils" "User Commands"
.SH NAME
ls \- list directory contents
.SH DESCRIPTION
List information about the \fIFILE\fPs \(em the current
directory by default.  Caf\[u00E9] \e and \(lqquotes\(rq.
.TP
\fB\-a\fR, \fB\-\-all\fR
do not ignore entries starting with .
.PP
.BR ls (1)
.nf
  verbatim code
.fi
.TS
tab(:);
l l.
a:b
.TE
.if n \{\
.  ds x y
.\}
Last para\c
graph.
"""
    assert bm.man_text(page) == [
        "NAME", "ls - list directory contents", "DESCRIPTION",
        "List information about the FILEs — the current directory by default. Café \\ and “quotes”.",
        "-a, --all", "do not ignore entries starting with .", "ls(1)", "Last paragraph."]
    assert bm.man_text(".so man1/other.1\n") == []


def test_catalogue_messages_become_sentences_without_wiki_markup_or_placeholders():
    data = json.dumps({
        "@metadata": {"authors": ["x"]},
        "a": "{{PLURAL:$1|One page is|$1 pages are}} in this category right now.",
        "b": "Save",
        "c": "See [[Special:Log|the full log]] for '''more''' details here.",
        "d": "<strong>Warning:</strong> this &amp; that cannot be undone.\n\n* a list item of five words",
    }).encode()
    assert bm.message_paragraphs(bm.catalogue_messages(data, "json")) == [
        "pages are in this category right now.", "See the full log for more details here.",
        "Warning: this & that cannot be undone.", "a list item of five words"]
    assert bm.message_paragraphs(["Press ~OK to save the _document in %PRODUCTNAME now."]) == [
        "Press OK to save the document in LibreOffice now."]


def test_pages_named_after_their_language_get_one_key_in_every_language():
    assert bm.page_key("mediawiki", "includes/api/i18n/ar.json", "ar") == "mediawiki:includes/api/i18n/{tag}.json"
    assert bm.page_key("mediawiki", "i18n/hi.json", "hi") == bm.page_key("mediawiki", "i18n/ta.json", "ta")
    assert bm.page_key("libreoffice-help", "text/ar/x.html", "ar") == "libreoffice-help:text/ar/x.html"


def test_paragraph_filters_drop_untranslated_other_script_and_repeated_text():
    dropped, seen = Counter(), set()
    paragraphs = ["Click OK.", "Нажмите ОК.", "ls -l /etc", "Нажмите ОК.", "Нажмите OK в окне."]
    kept = bm.keep_paragraphs(paragraphs, scripts=("Cyrl",), english={"Click OK."}, seen=seen, dropped=dropped)
    assert kept == ["Нажмите ОК.", "Нажмите OK в окне."]
    assert dropped == {"untranslated": len(b"Click OK."), "other_script": len(b"ls -l /etc"),
                       "duplicate": len("Нажмите ОК.".encode())}
    # the same paragraph in a later document of the language is a duplicate too
    assert bm.keep_paragraphs(["Нажмите ОК."], scripts=("Cyrl",), english=set(), seen=seen, dropped=dropped) == []


def test_duplicates_are_found_after_whitespace_normalisation():
    paragraphs = bm.markup_text("<p>Два  слова\n здесь</p><p>Два слова\tздесь </p>", DOCBOOK)
    assert paragraphs == ["Два слова здесь"] * 2
    kept = bm.keep_paragraphs(paragraphs, scripts=("Cyrl",), english=set(), seen=set(), dropped=Counter())
    assert kept == ["Два слова здесь"]


def test_script_check_accepts_the_language_script_and_kanji_only_japanese():
    def keep(text, scripts):
        return bm.keep_paragraphs([text], scripts=scripts, english=set(), seen=set(), dropped=Counter())

    jpn, cmn, ell = (bm.LANGUAGES[c][0] for c in ("jpn", "cmn_hans", "ell_monotonic"))
    assert keep("ファイルを開きます。", jpn) and keep("文書管理", jpn)  # kana, and kanji alone
    assert not keep("Open the file.", jpn) and not keep("ファイルを開きます。", cmn)
    assert keep("打开文件。", cmn) and keep("Άνοιγμα αρχείου PDF", ell) and not keep("12 + 3", ell)


def test_documents_split_by_language_independent_key_about_one_in_twenty():
    keys = [f"libreoffice-help:text/page{i}.html" for i in range(4000)]
    split = bm.split_documents([(f"libreoffice-help-de:{k}", k, "text") for k in keys])
    again = bm.split_documents([(f"libreoffice-help-el:{k}", k, "κείμενο") for k in keys])
    assert [n.split(":", 1)[1] for n, _ in split["heldout"]] == [n.split(":", 1)[1] for n, _ in again["heldout"]]
    assert 4000 / 20 * 0.8 < len(split["heldout"]) < 4000 / 20 * 1.2
    assert len(split["train"]) + len(split["heldout"]) == 4000


def test_corpus_keeps_whole_documents_and_no_paragraph_in_both_splits():
    corpus = bm.Corpus("rus")
    shared = "Общий абзац, который повторяется на многих страницах руководства."
    pages = [(f"man1/p{i}.1.gz", [f"Страница номер {i}: " + "текст " * 20, shared]) for i in range(200)]
    corpus.add_edition("manpages", "manpages-ru", pages, english=set())
    splits = bm.split_documents(corpus.documents)
    assert splits["heldout"] and splits["train"]
    paragraphs = {s: {p for _, text in docs for p in text.split("\n\n")} for s, docs in splits.items()}
    assert not paragraphs["train"] & paragraphs["heldout"]
    assert corpus.packages["manpages-ru"]["documents"] == 200
    assert corpus.documents[0][:2] == ("manpages-ru:usr/share/man/ru/man1/p0.1.gz", "manpages:man1/p0.1.gz")


def test_language_table_meets_the_coverage_the_corpus_promises():
    scripts = {bm.LANGUAGES[c][0][0] for c in bm.LANGUAGES}
    assert len(bm.LANGUAGES) >= 12 and len(scripts) >= 6
    assert {"Latn", "Cyrl"} <= scripts and scripts & {"Hani", "Jpan"}
    assert len(scripts & {"Arab", "Deva", "Beng", "Taml", "Thai", "Geor", "Armn", "Grek", "Hebr"}) >= 2
    udhr = {p.stem for p in (REPO / "corpora" / "udhr").glob("*.txt")}
    assert set(bm.LANGUAGES) <= udhr  # folder names are the corpora/udhr file names
    for code, (language_scripts, tags) in bm.LANGUAGES.items():
        assert set(tags) <= set(bm.SOURCES), code
        if language_scripts[0] == "Latn":  # only the English edition tells untranslated Latin text apart
            assert all(bm.SOURCES[s].english for s in tags), code


BUILT = cache_root() / "corpora" / bm.MANIFEST


@pytest.mark.slow
@pytest.mark.skipif(not BUILT.exists(), reason="multilingual corpus not built (make corpora-multilingual)")
def test_built_corpus_has_a_megabyte_of_train_text_per_language_in_its_script():
    manifest = json.loads(BUILT.read_text(encoding="utf-8"))
    assert set(manifest["languages"]) == set(bm.LANGUAGES)
    for code, entry in manifest["languages"].items():
        folder = BUILT.parent / code
        train = (folder / "train.txt").read_text(encoding="utf-8")
        heldout = (folder / "heldout.txt").read_text(encoding="utf-8")
        assert len(train.encode()) == entry["train_bytes"] >= bm.MIN_TRAIN_BYTES, code
        assert dominant_script(train) == bm.LANGUAGES[code][0][0], code
        assert heldout.strip() and not set(train.split("\n\n")) & set(heldout.split("\n\n")), code
