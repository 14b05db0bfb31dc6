"""corpora/build_english.py: HTML documentation pages to paragraphs of running text."""

from __future__ import annotations

import importlib
import sys

from tests.conftest import REPO


def _builder():
    sys.path.insert(0, str(REPO / "corpora"))  # the corpus scripts import each other by name, as when run
    return importlib.import_module("build_english")


be = _builder()


def test_page_keeps_running_text_and_drops_navigation_code_and_indexes():
    page = """<html><head><title>T</title><style>p {}</style></head><body>
    <div class="navheader"><p>Prev Next</p></div>
    <h1>Shell   Builtins</h1><p>Builtin commands are <b>contained</b> within the shell.</p>
    <pre>echo hello</pre><div class="toc"><ul><li>1. Intro</li></ul></div>
    <table class="index-cp"><tr><td>entry</td></tr></table>
    <ul><li>first item</li><li>second item</li></ul></body></html>"""
    assert be.html_text(page) == ["Shell Builtins", "Builtin commands are contained within the shell.",
                                  "first item", "second item"]


def test_an_element_without_end_tag_never_starts_a_skip():
    # A search box or rule with a skip class has no end tag: skipping from it would drop the rest of the page.
    page = """<body><p>Before the box.</p><input type="text" class="search" name="q">
    <p>After the box.</p><hr class="footer"><p>After the rule.</p><img id="banner" src="x.png">
    <p>After the image.</p><input class="search"/><p>After a self-closed box.</p></body>"""
    assert be.html_text(page) == ["Before the box.", "After the box.", "After the rule.", "After the image.",
                                  "After a self-closed box."]
