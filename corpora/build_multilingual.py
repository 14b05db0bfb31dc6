"""Build multilingual corpora: megabytes of running text per language, from Debian documentation packages.

The UDHR (corpora/udhr/) is one short parallel text; training a multilingual tokenizer and measuring it on
held-out text needs megabytes per language under clear licences. Debian ships translated documentation:
LibreOffice's help (parallel by page in ~35 languages), GNOME's user help, the Debian Administrator's
Handbook and the manual pages of manpages-l10n and manpages-ja/-zh. Where those hold under a megabyte of a
language, the sentences of translation catalogues (MediaWiki's messages, LibreOffice's interface) make up
the rest. This script fetches the packages with `apt-get download`, unpacks them with `dpkg-deb -x` and keeps
their running text, one document per source page or catalogue file:

- markup: HTML, XHTML and Mallard (GNOME help) block elements end a paragraph; code, navigation, page chrome,
  index terms, hidden variants and bug notes are left out (per source: `MARKUPS`); troff man pages keep
  their text paragraphs, without tables, verbatim (`.nf`, `.EX`) blocks, macro definitions, conditionals
  or font escapes; catalogue messages lose their markup and placeholders and count only as sentences
  (`MIN_MESSAGE_WORDS` words or more). Whitespace runs inside a paragraph become one space.
- untranslated text: a paragraph equal to one of the English edition of the same source is dropped, and
  so is a paragraph whose letters are mostly of another script than the language's (English left in a
  translation, code, file names; `tokwork.metrics.scripts.dominant_script`). A source without an English
  edition here (man pages, LibreOffice's catalogues) serves only languages not written in Latin script,
  where the script test finds the English.
- duplicates: a paragraph already kept for the language is dropped (exact, after the whitespace runs),
  so no paragraph is in both train and held-out; documents under `MIN_DOCUMENT_CHARS` are dropped.
- split by document: a document is held out when sha256 of its language-independent name
  (`source:path under the language's folder`) is 0 modulo `HELDOUT_ONE_IN`, so the held-out pages of a
  parallel source are the same pages in every language.

Writes, under $TOKWORK_CACHE (else ~/.cache/tokwork): corpora/<code>/ {train.txt, heldout.txt,
documents.tsv, manifest.json} per language (<code> is the language's file name in corpora/udhr/),
corpora/multilingual.json (every language, package and version), keeps the .deb files in debian/, and
rewrites the tables between the `<!-- build_multilingual.py -->` markers of corpora/PROVENANCE.md.

Run: .venv/bin/python corpora/build_multilingual.py   (needs apt-get, dpkg-deb and the project's venv)
"""

import argparse
import gettext
import hashlib
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from build_english import (
    HELDOUT_ONE_IN,
    PageText,
    copyright_license,
    sha256,
    squeeze,
    write_atomic,
    write_splits,
)

from tokwork.cache import cache_root
from tokwork.errors import TokworkError
from tokwork.metrics.scripts import LATIN, dominant_script

HERE = Path(__file__).resolve().parent
PROVENANCE = HERE / "PROVENANCE.md"
SECTION_BEGIN, SECTION_END = "<!-- build_multilingual.py: begin -->", "<!-- build_multilingual.py: end -->"
MIN_DOCUMENT_CHARS = 100
MANIFEST = "multilingual.json"


@dataclass(frozen=True)
class Markup:
    """What of a markup dialect is text: elements that end a paragraph, elements left out entirely (by tag or
    class), and the element whose inside is the page's text (None: the whole page)."""

    blocks: frozenset
    skip_tags: frozenset
    skip_classes: frozenset = frozenset()
    root_id: str | None = None


HTML_BLOCKS = PageText.BLOCKS | {"th", "td", "main", "header", "footer", "aside", "figure", "details"}
HTML_SKIPS = PageText.SKIP_TAGS | {"footer", "aside", "header", "code-block", "template", "object"}
MARKUPS = {
    # DocBook turned into HTML by Publican (the handbook)
    "docbook": Markup(HTML_BLOCKS, HTML_SKIPS, PageText.SKIP_CLASSES | {
        "indexterm", "programlisting", "screen", "synopsis", "cmdsynopsis", "reportbug", "literallayout"}),
    # LibreOffice's help pages: the text is inside <div id="DisplayArea">; Basic, Python and formula code,
    # "[... not found]" bug notes, related-topic link lists and the debug footer are left out
    "libreoffice": Markup(HTML_BLOCKS, HTML_SKIPS, frozenset({
        "bug", "debug", "related", "relatedtopics", "relatedbody", "bascode", "pycode", "code",
        "codeintable", "smathcode", "example"}), root_id="DisplayArea"),
    # Mallard, GNOME's help format: <info> (credits, link descriptions), terminal screens, media and
    # editorial comments are left out, as are the platform-specific branches of <if:choose>
    "mallard": Markup(
        frozenset({"page", "section", "title", "subtitle", "p", "item", "list", "steps", "terms", "tree",
                   "note", "table", "tr", "td", "th", "figure", "example", "quote", "desc", "synopsis"}),
        frozenset({"info", "screen", "media", "comment", "links", "if:when", "if:if", "credit"})),
}
VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
                       "source", "track", "wbr"})
# Mallard's key and menu sequences render with these between their parts ("Ctrl+C", "Files ▸ Preferences")
SEQUENCE_JOINS = {"key": "+", "gui": " ▸ "}


class MarkupText(HTMLParser):
    """Paragraphs of running text in an HTML or XML page, as `Markup` says what is text.

    An element with a `hidden` attribute is left out (LibreOffice shows one platform's variant of a switch;
    the one kept is the default, whose id starts with "default"). Void HTML elements never open a skipped
    region, so an <input class="search"> does not swallow the rest of the page.
    """

    def __init__(self, markup):
        super().__init__(convert_charrefs=True)
        self.markup, self.paragraphs, self.pieces = markup, [], []
        self.skip_tag, self.skip_depth = None, 0
        self.root_depth = 0 if markup.root_id else 1  # > 0 while inside the text's root element
        self.root_tag, self.last_closed = None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.skip_tag:
            self.skip_depth += tag == self.skip_tag
            return
        if self.root_tag and tag == self.root_tag:
            self.root_depth += 1
        elif self.markup.root_id and attrs.get("id") == self.markup.root_id and not self.root_depth:
            self.root_tag, self.root_depth = tag, 1
            return
        hidden = "hidden" in attrs and not (attrs.get("id") or "").startswith("default")
        classes = set((attrs.get("class") or "").split())
        if tag not in VOID_TAGS and (tag in self.markup.skip_tags or classes & self.markup.skip_classes
                                     or hidden or any(c.startswith("index-") for c in classes)):
            self.skip_tag, self.skip_depth = tag, 1
        elif tag in self.markup.blocks:
            self.flush()
        elif tag == self.last_closed and tag in SEQUENCE_JOINS:
            self.pieces.append(SEQUENCE_JOINS[tag])
        self.last_closed = None

    def handle_endtag(self, tag):
        if self.skip_tag:
            self.skip_depth -= tag == self.skip_tag
            self.skip_tag = self.skip_tag if self.skip_depth else None
            return
        if tag == self.root_tag:
            self.root_depth -= 1
            if not self.root_depth:
                self.flush()
                self.root_tag = None
        elif tag in self.markup.blocks:
            self.flush()
        self.last_closed = tag

    def handle_data(self, data):
        if not self.skip_tag and self.root_depth:
            self.pieces.append(data)
            self.last_closed = self.last_closed if not data.strip() else None

    def flush(self):
        if text := squeeze("".join(self.pieces)):
            self.paragraphs.append(text)
        self.pieces = []


def markup_text(source, markup):
    """The paragraphs of running text of one HTML/XML page (see `MarkupText`)."""
    parser = MarkupText(markup)
    parser.feed(source)
    parser.close()
    parser.flush()
    return parser.paragraphs


# troff glyph names (\(xx, \[xx]) that man pages use for running text
MAN_GLYPHS = {
    "em": "—", "en": "–", "hy": "-", "mi": "-", "aq": "'", "dq": '"', "lq": "“", "rq": "”", "oq": "‘",
    "cq": "’", "Fo": "«", "Fc": "»", "fo": "‹", "fc": "›", "bu": "•", "co": "©", "rg": "®", "tm": "™",
    "de": "°", "pl": "+", "mu": "×", "di": "÷", "<=": "≤", ">=": "≥", "!=": "≠", "->": "→", "<-": "←",
    "rs": "\\", "sl": "/", "ba": "|", "ga": "`", "aa": "´", "ti": "~", "ha": "^", "at": "@", "sh": "#",
    "Do": "$", "ct": "¢", "Eu": "€", "Po": "£", "ps": "¶", "sc": "§", "dg": "†", "lB": "[", "rB": "]",
    "lC": "{", "rC": "}", "la": "⟨", "ra": "⟩", "Sd": "ð", "ss": "ß", "+-": "±", "12": "½", "14": "¼",
}
# one-character escapes; any other escaped character stands for itself
MAN_ESCAPES = {"e": "\\", "-": "-", "&": "", "|": "", "^": "", "%": "", " ": " ", "~": "\u00a0", "0": " ",
               "c": "", ",": "", "/": "", ":": "", ")": "", "t": " ", "a": "", "d": "", "u": "", "r": "",
               "p": "", "{": "", "}": "", "'": "´", "`": "`", "E": "\\", ".": "."}
MAN_ESCAPE = re.compile(r"""\\(?:
      \((?P<glyph2>..)                              # \(em
    | \[(?P<glyph>[^\]]*)\]                         # \[em], \[u00E9]
    | [fFgkmMnVY*]\((?:..) | [fFgkmMnVY*]\[[^\]]*\] | [fFgkmMnVY*].   # fonts, strings, registers
    | s[-+]?(?:\d\d?|\(\d\d|\[\d+\]|'\d+')          # point sizes
    | [bDhHlLNoRSvwxXZ]'[^']*'                       # drawing, motion, width: no text
    | (?P<char>.))""", re.X | re.S)
# requests whose arguments are text; the alternating-font ones join their arguments without spaces
MAN_TEXT_MACROS = {"B": " ", "I": " ", "SM": " ", "SB": " ", "BI": "", "BR": "", "IB": "", "IR": "",
                   "RB": "", "RI": ""}
# requests that end a paragraph; any other request (.UR, .ad, .ne, .ft ...) is dropped with its arguments
MAN_BREAKS = frozenset({"PP", "P", "LP", "TP", "TQ", "IP", "HP", "br", "sp", "RS", "RE", "in", "ti", "bp",
                        "UC", "TH", "Dd", "Pp", "It", "Bl", "El"})
MAN_SKIPPED_BLOCKS = {"nf": "fi", "EX": "EE", "TS": "TE", "EQ": "EN", "de": "..", "ig": "..", "SY": "YS",
                      "Bd": "Ed"}


def man_escapes(line):
    """A troff text line with its escapes resolved: glyphs to characters, fonts, sizes and motions to nothing."""

    def replace(match):
        if glyph := match.group("glyph2") or match.group("glyph"):
            if re.fullmatch(r"u[0-9A-Fa-f]{4,6}", glyph):
                return chr(int(glyph[1:], 16))
            return MAN_GLYPHS.get(glyph, "")
        char = match.group("char")
        return MAN_ESCAPES.get(char, char) if char is not None else ""

    return MAN_ESCAPE.sub(replace, line)


def man_arguments(rest):
    """The arguments of a troff request line, with double quotes grouping."""
    return [a[1:-1] if a.startswith('"') else a for a in re.findall(r'"[^"]*"?|\S+', rest)]


def man_text(source):
    """Paragraphs of a troff man page (man or mdoc macros): text lines, headings and the text arguments of
    font macros; tables, verbatim blocks, synopses, macro definitions and conditionals are left out."""
    paragraphs, pieces, end_of_block, brace_depth, term_pending = [], [], None, 0, False

    def flush():
        if text := squeeze(" ".join(pieces).replace("\ue000 ", "")):
            paragraphs.append(text)
        pieces.clear()

    for line in source.replace("\r\n", "\n").split("\n"):
        if brace_depth:  # inside a multi-line conditional
            brace_depth += line.count("\\{") - line.count("\\}")
            continue
        request = re.match(r"^[.'][ \t]*(\S*)[ \t]*(.*)$", line)
        name = request.group(1) if request else None
        if end_of_block:  # inside a skipped block until its closing request ("..": a line of two dots)
            if name == end_of_block or (end_of_block == ".." and line.strip() == ".."):
                end_of_block = None
            continue
        line = re.sub(r'\\".*$', "", line)  # comments
        if request is None:
            pieces.append(man_escapes(line) + ("\ue000" if line.rstrip().endswith("\\c") else ""))
            if term_pending:  # the line after .TP is the term it defines: a paragraph of its own
                flush()
                term_pending = False
        elif name in MAN_SKIPPED_BLOCKS:
            flush()
            end_of_block = MAN_SKIPPED_BLOCKS[name]
        elif name in ("if", "ie", "el", "while"):
            brace_depth = line.count("\\{") - line.count("\\}")
        elif name == "so":
            return []  # a page that only includes another
        elif name in MAN_TEXT_MACROS:
            pieces.append(man_escapes(MAN_TEXT_MACROS[name].join(man_arguments(request.group(2)))))
            if term_pending:
                flush()
                term_pending = False
        elif name in ("SH", "SS", "Sh", "Ss"):
            flush()
            pieces.append(man_escapes(" ".join(man_arguments(request.group(2)))))
            flush()
        elif name in MAN_BREAKS:
            flush()
            term_pending = name in ("TP", "TQ")
        elif name in ("Nm", "Nd"):  # mdoc's name and description lines
            pieces.append(man_escapes(" ".join(man_arguments(request.group(2)))))
    flush()
    return paragraphs


# What marks a translation message up rather than says something: MediaWiki's {{PLURAL:$1|a|b}} and
# friends (the last form is kept), [[link|label]], [url label], bold/italic quotes, HTML tags, entities; and
# everywhere placeholders ($1, %s, %1$s, {0}, $(ARG1)) and menu mnemonics (~, _ before a letter);
# LibreOffice's %PRODUCTNAME is what the user reads it as.
WIKI_TEMPLATE = re.compile(r"\{\{([^{}|]*)((?:\|[^{}|]*)*)\}\}")
PLACEHOLDER = re.compile(r"\$\d+|%(?:\d+\$)?[sdiuf]|%\d+|\{\d+\}|\$\([A-Z0-9_]+\)|~|(?<![\w])_(?=\w)")
MIN_MESSAGE_WORDS = 5


def message_paragraphs(messages):
    """Paragraphs of translation messages that are sentences (MIN_MESSAGE_WORDS words or more once markup
    and placeholders are gone): labels and menu names are not running text."""
    paragraphs = []
    for message in messages:
        while True:  # innermost templates first; {{int:name}}, {{SITENAME}} have no text of their own
            message, count = WIKI_TEMPLATE.subn(
                lambda m: ([f for f in m.group(2).split("|") if f.strip()] or [""])[-1], message)
            if not count:
                break
        message = re.sub(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]", r"\1", message)
        message = re.sub(r"\[(?:https?:)?//\S+ ([^\]]*)\]", r"\1", message)
        message = html.unescape(re.sub(r"<[^<>]*>|'{2,}", "", message))
        for block in re.split(r"\n\s*\n", message):
            block = re.sub(r"(?m)^[*#:;]+ ?", "", block).replace("%PRODUCTNAME", "LibreOffice")
            text = squeeze(PLACEHOLDER.sub("", block))
            if len(text.split()) >= MIN_MESSAGE_WORDS:
                paragraphs.append(text)
    return paragraphs


def catalogue_messages(data, kind):
    """The translated messages of a gettext .mo file or of a MediaWiki i18n JSON file, in file order."""
    if kind == "json":
        return [v for k, v in json.loads(data).items() if not k.startswith("@") and isinstance(v, str)]
    catalogue = gettext.GNUTranslations(io.BytesIO(data))._catalog  # msgid -> msgstr
    return [v for k, v in catalogue.items() if k and isinstance(k, str) and v != k]


@dataclass(frozen=True)
class Source:
    """One translated documentation set: the package that holds a language's edition (`{tag}` is the
    language's tag in this source, `{tag_lower}` the same in lower case), the folder of that edition inside
    the package, its pages (a glob under that folder) and how their text is read. `english` is the tag of
    the English edition, whose paragraphs are what untranslated text looks like; None for a source that
    only serves languages not written in Latin script."""

    package: str
    folder: str
    pages: str
    kind: str  # a key of MARKUPS, "man", or "mo"/"json" for translation catalogues
    english: str | None
    skip: str | None = None  # a regex of pages (path under the folder) that are not running text


SOURCES = {
    "libreoffice-help": Source("libreoffice-help-{tag_lower}", "usr/share/libreoffice/help/{tag}",
                               "text/**/*.html", "libreoffice", "en-US"),
    "gnome-user-docs": Source("gnome-user-docs", "usr/share/help/{tag}", "*/*.page", "mallard", "C",
                              skip=r"(^|/)(index|legal)\.page$"),
    "debian-handbook": Source("debian-handbook", "usr/share/doc/debian-handbook/html/{tag}", "*.html",
                              "docbook", "en-US", skip=r"^(index|ix\d+)\.html$"),
    "manpages": Source("manpages-{tag_lower}", "usr/share/man/{tag}", "man*/*", "man", None),
    # translation catalogues, only where the documentation above has under a megabyte of a language
    "mediawiki": Source("mediawiki", "usr/share/mediawiki", "**/i18n/**/{tag}.json", "json", "en"),
    "libreoffice-l10n": Source("libreoffice-l10n-{tag_lower}",
                               "usr/lib/libreoffice/program/resource/{tag}/LC_MESSAGES", "*.mo", "mo", None),
}
# Language code (its file name in corpora/udhr/) -> (the scripts `dominant_script` gives its paragraphs, the
# first being the language's own; {source: the language's tag there, or (tag, package) where the package
# name does not follow from the tag}). Only languages with over 1 MB of train text are here; see
# PROVENANCE.md for those tried.
LANGUAGES = {
    # Latin
    "deu_1996": (("Latn",), {"libreoffice-help": "de", "gnome-user-docs": "de", "debian-handbook": "de-DE"}),
    "fra": (("Latn",), {"libreoffice-help": "fr", "gnome-user-docs": "fr", "debian-handbook": "fr-FR"}),
    "spa": (("Latn",), {"libreoffice-help": "es", "gnome-user-docs": "es", "debian-handbook": "es-ES"}),
    "ita": (("Latn",), {"libreoffice-help": "it", "gnome-user-docs": "it", "debian-handbook": "it-IT"}),
    "por_BR": (("Latn",), {"libreoffice-help": "pt-BR", "gnome-user-docs": "pt_BR",
                           "debian-handbook": "pt-BR"}),
    "nld": (("Latn",), {"libreoffice-help": "nl", "gnome-user-docs": "nl", "debian-handbook": "nl-NL"}),
    "pol": (("Latn",), {"libreoffice-help": "pl", "gnome-user-docs": "pl", "debian-handbook": "pl-PL"}),
    "tur": (("Latn",), {"libreoffice-help": "tr", "gnome-user-docs": "tr", "debian-handbook": "tr-TR"}),
    "vie": (("Latn",), {"libreoffice-help": "vi", "gnome-user-docs": "vi", "debian-handbook": "vi-VN"}),
    "ind": (("Latn",), {"libreoffice-help": "id", "gnome-user-docs": "id", "debian-handbook": "id-ID"}),
    "ces": (("Latn",), {"libreoffice-help": "cs", "gnome-user-docs": "cs", "debian-handbook": "cs-CZ"}),
    "hun": (("Latn",), {"libreoffice-help": "hu", "gnome-user-docs": "hu"}),
    "fin": (("Latn",), {"libreoffice-help": "fi", "gnome-user-docs": "fi"}),
    "swe": (("Latn",), {"libreoffice-help": "sv", "gnome-user-docs": "sv", "debian-handbook": "sv-SE"}),
    "cat": (("Latn",), {"libreoffice-help": "ca", "gnome-user-docs": "ca", "debian-handbook": "ca-ES"}),
    "dan": (("Latn",), {"libreoffice-help": "da", "gnome-user-docs": "da", "debian-handbook": "da-DK"}),
    # Cyrillic
    "rus": (("Cyrl",), {"libreoffice-help": "ru", "gnome-user-docs": "ru", "debian-handbook": "ru-RU",
                        "manpages": "ru"}),
    "ukr": (("Cyrl",), {"gnome-user-docs": "uk", "manpages": "uk"}),
    # Greek
    "ell_monotonic": (("Grek",), {"libreoffice-help": "el", "gnome-user-docs": "el",
                                  "debian-handbook": "el-GR", "manpages": "el"}),
    # Arabic
    "arb": (("Arab",), {"debian-handbook": "ar-MA", "mediawiki": "ar", "libreoffice-l10n": "ar"}),
    "pes_1": (("Arab",), {"gnome-user-docs": "fa", "debian-handbook": "fa-IR", "mediawiki": "fa",
                          "libreoffice-l10n": "fa"}),
    # Devanagari, Tamil
    "hin": (("Deva",), {"libreoffice-help": "hi", "gnome-user-docs": "hi", "mediawiki": "hi",
                        "libreoffice-l10n": "hi"}),
    "tam": (("Taml",), {"gnome-user-docs": "ta", "mediawiki": "ta", "libreoffice-l10n": "ta"}),
    # Khmer
    "khm": (("Khmr",), {"libreoffice-help": "km"}),
    # Han, Japanese, Korean
    "cmn_hans": (("Hani",), {"libreoffice-help": "zh-CN", "gnome-user-docs": "zh_CN",
                             "debian-handbook": "zh-CN", "manpages": ("zh_CN", "manpages-zh")}),
    "cmn_hant": (("Hani",), {"libreoffice-help": "zh-TW", "debian-handbook": "zh-TW",
                             "manpages": ("zh_TW", "manpages-zh")}),
    "jpn": (("Jpan", "Hani"), {"libreoffice-help": "ja", "gnome-user-docs": "ja", "debian-handbook": "ja-JP",
                               "manpages": "ja"}),
    "kor": (("Kore",), {"libreoffice-help": "ko", "gnome-user-docs": "ko", "debian-handbook": "ko-KR"}),
}
MIN_TRAIN_BYTES = 1_000_000


def source_edition(source_name, tag):
    """(package, folder inside it, tag) of one language's edition of a source; `tag` may be (tag, package)."""
    source = SOURCES[source_name]
    tag, package = tag if isinstance(tag, tuple) else (tag, None)
    return (package or source.package.format(tag=tag, tag_lower=tag.lower()), source.folder.format(tag=tag),
            tag)


def page_paragraphs(source, data):
    """Paragraphs of one page of `source` (bytes as stored in the package; man pages may be gzipped)."""
    if source.kind in ("mo", "json"):
        return message_paragraphs(catalogue_messages(data, source.kind))
    if data[:2] == b"\x1f\x8b":
        data = zlib.decompress(data, 16 + zlib.MAX_WBITS)
    text = data.decode("utf-8", errors="replace")
    return man_text(text) if source.kind == "man" else markup_text(text, MARKUPS[source.kind])


def edition_pages(source, root, tag):
    """(path under the edition's folder, paragraphs) of each page of one unpacked edition, in path order."""
    pattern = re.compile(source.skip) if source.skip else None
    pages = root.glob(source.pages.format(tag=tag))
    for path in sorted(p for p in pages if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(root).as_posix()
        if not (pattern and pattern.search(relative)):
            yield relative, page_paragraphs(source, path.read_bytes())


def keep_paragraphs(paragraphs, *, scripts, english, seen, dropped):
    """The paragraphs of one document that are running text of the language: not equal to a paragraph of
    the English edition, mostly in one of `scripts`, and not kept before (`seen`, updated). The bytes of
    the others are added to `dropped` under the reason."""
    kept = []
    for paragraph in paragraphs:
        if paragraph in english:
            reason = "untranslated"
        elif dominant_script(paragraph) not in scripts:
            reason = "other_script"
        elif paragraph in seen:
            reason = "duplicate"
        else:
            seen.add(paragraph)
            kept.append(paragraph)
            continue
        dropped[reason] += len(paragraph.encode())
    return kept


def page_key(source_name, relative, tag):
    """The language-independent name of a page: its source and path, a file named after the language
    (MediaWiki's i18n/<tag>.json) renamed {tag}, so that one page of every language gets the same split."""
    if "{tag}" in SOURCES[source_name].pages:
        relative = re.sub(rf"(^|/){re.escape(tag)}(\.[^/]*)$", r"\1{tag}\2", relative)
    return f"{source_name}:{relative}"


def is_heldout(key):
    """True for the documents held out: sha256 of the key, first 8 bytes big-endian, is 0 mod HELDOUT_ONE_IN
    (the rule of en-docs)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % HELDOUT_ONE_IN == 0


def split_documents(documents):
    """{"train": [...], "heldout": [...]} of (name, text) from (name, split key, text), order kept."""
    splits = {"train": [], "heldout": []}
    for name, key, text in documents:
        splits["heldout" if is_heldout(key) else "train"].append((name, text))
    return splits


def download(package, debs_dir):
    """Path of the package's .deb in `debs_dir`, fetched with apt-get download if absent."""
    if found := sorted(debs_dir.glob(f"{package}_*.deb")):
        return found[-1]
    debs_dir.mkdir(parents=True, exist_ok=True)
    # root downloads unsandboxed anyway; saying so keeps apt from warning about it
    command = ["apt-get", "download", "-q", package] + (["-o", "APT::Sandbox::User=root"]
                                                         if os.geteuid() == 0 else [])
    result = subprocess.run(command, cwd=debs_dir, capture_output=True, text=True)
    if result.returncode != 0 and os.geteuid() == 0:  # stale package lists: refresh them once
        subprocess.run(["apt-get", "update", "-q"], capture_output=True)
        result = subprocess.run(command, cwd=debs_dir, capture_output=True, text=True)
    if result.returncode != 0 or not (found := sorted(debs_dir.glob(f"{package}_*.deb"))):
        reason = (result.stderr.strip().splitlines() or ["no .deb file appeared"])[-1]
        raise TokworkError(f"apt-get download {package} failed ({reason}); check the network and the apt"
                           f" sources, or run 'apt-get update' as root")
    return found[-1]


def unpack(deb, into):
    """Unpack `deb` under `into`; return its version and the licence its copyright file states."""
    subprocess.run(["dpkg-deb", "-x", str(deb), str(into)], check=True)
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True,
                             text=True).stdout.strip()
    copyright_file = into / "usr/share/doc" / deb.name.split("_")[0] / "copyright"
    text = copyright_file.read_text(errors="replace") if copyright_file.exists() else ""
    license_name = copyright_license(text)
    if license_name.startswith("unknown") and re.search(r"same\s+license\s+as\s+the\s+original", text):
        license_name = "each page under its original's licence (free-form copyright file)"  # manpages-ja
    return {"version": version, "license": license_name}


class Corpus:
    """One language's corpus while it is built: documents in order, paragraphs kept so far, what was dropped."""

    def __init__(self, code):
        self.code, self.scripts, self.tags = code, LANGUAGES[code][0], LANGUAGES[code][1]
        self.documents, self.seen, self.packages = [], set(), {}
        self.dropped = Counter(untranslated=0, other_script=0, duplicate=0, short_documents=0)

    def add_edition(self, source_name, package, pages, english):
        documents = nbytes = 0
        for relative, paragraphs in pages:
            kept = keep_paragraphs(paragraphs, scripts=self.scripts, english=english, seen=self.seen,
                                   dropped=self.dropped)
            text = "\n\n".join(kept)
            if len(text) < MIN_DOCUMENT_CHARS:
                self.dropped["short_documents"] += len(text.encode())
                continue
            _, folder, tag = source_edition(source_name, self.tags[source_name])
            self.documents.append((f"{package}:{folder}/{relative}", page_key(source_name, relative, tag), text))
            documents, nbytes = documents + 1, nbytes + len(text.encode())
        self.packages[package] = {"source": source_name, "documents": documents, "bytes": nbytes}


def build_corpora(cache):
    """Fetch, unpack and extract every source of every language; write each language's files and the
    top manifest; return the manifest."""
    debs_dir, corpora = cache / "debian", {code: Corpus(code) for code in LANGUAGES}
    packages = {}
    for source_name, source in SOURCES.items():
        users = [c for c in corpora.values() if source_name in c.tags]
        if not users:
            continue
        if any(c.scripts[0] == LATIN for c in users):
            assert source.english, f"{source_name} has no English edition, so it cannot serve Latin script"
        editions = {}  # package -> [(corpus, folder, tag)]
        for corpus in users:
            package, folder, tag = source_edition(source_name, corpus.tags[source_name])
            editions.setdefault(package, []).append((corpus, folder, tag))
        english_edition = source_edition(source_name, source.english) if source.english else None
        for package in sorted(set(editions) | ({english_edition[0]} if english_edition else set())):
            packages[package] = {"deb": download(package, debs_dir).name}
        english = set()
        with tempfile.TemporaryDirectory() as root:
            if english_edition:
                package, folder, tag = english_edition
                packages[package].update(unpack(debs_dir / packages[package]["deb"], Path(root) / package))
                english = {p for _, paragraphs in edition_pages(source, Path(root) / package / folder, tag)
                           for p in paragraphs}
            for package, users_of_package in editions.items():
                unpacked = Path(root) / package
                if not unpacked.exists():
                    packages[package].update(unpack(debs_dir / packages[package]["deb"], unpacked))
                for corpus, folder, tag in users_of_package:
                    pages = edition_pages(source, unpacked / folder, tag)
                    corpus.add_edition(source_name, package, pages, english)
                    print(f"{corpus.code:<14} {package:<28} {corpus.packages[package]['bytes']:>11,} bytes")
                if not english_edition or package != english_edition[0]:
                    shutil.rmtree(unpacked)
    release = re.search(r"^VERSION_CODENAME=(\S+)", Path("/etc/os-release").read_text(), re.M)
    manifest = {"source": f"Debian {release.group(1) if release else '?'} via apt-get download",
                "heldout_one_in": HELDOUT_ONE_IN, "packages": dict(sorted(packages.items())),
                "languages": {code: write_language(cache / "corpora" / code, corpus, packages)
                              for code, corpus in corpora.items()}}
    write_atomic(cache / "corpora" / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def write_language(out_dir, corpus, packages):
    """Write one language's train/held-out text, documents.tsv and manifest.json; return its summary."""
    splits = split_documents(corpus.documents)
    write_splits(out_dir, splits)
    train_text = (out_dir / "train.txt").read_text(encoding="utf-8")
    summary = {
        "script": dominant_script(train_text), "scripts_kept": list(corpus.scripts),
        # source -> [its tag for the language, bytes of text kept from it, before the split]
        "sources": {e["source"]: [source_edition(e["source"], corpus.tags[e["source"]])[2], e["bytes"]]
                    for e in corpus.packages.values()},
        "documents": {s: len(d) for s, d in splits.items()},
        **{f"{s}_bytes": (out_dir / f"{s}.txt").stat().st_size for s in splits},
        **{f"{s}_sha256": sha256(out_dir / f"{s}.txt") for s in splits}}
    if summary["train_bytes"] < MIN_TRAIN_BYTES:
        print(f"warning: {corpus.code} has only {summary['train_bytes']:,} bytes of train text",
              file=sys.stderr)
    manifest = {"language": corpus.code, **summary, "heldout_one_in": HELDOUT_ONE_IN,
                "packages": {p: {**packages[p], **entry} for p, entry in corpus.packages.items()},
                "dropped_bytes": dict(corpus.dropped)}
    write_atomic(out_dir / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return summary


def is_built(cache):
    """The top manifest if it lists exactly LANGUAGES and every language's files match it, else None."""
    try:
        manifest = json.loads((cache / "corpora" / MANIFEST).read_text())
        if set(manifest["languages"]) != set(LANGUAGES):
            return None
        for code, entry in manifest["languages"].items():
            folder = cache / "corpora" / code
            if not all(sha256(folder / f"{s}.txt") == entry[f"{s}_sha256"] for s in ("train", "heldout")):
                return None
        return manifest
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        return None


def provenance_tables(manifest):
    """The Markdown tables of PROVENANCE.md's multilingual section: languages and packages, from the manifest."""
    languages, packages = manifest["languages"], manifest["packages"]
    lines = [f"Built from {manifest['source']}; {len(languages)} languages in "
             f"{len({e['script'] for e in languages.values()})} scripts,\n"
             f"{sum(e['train_bytes'] for e in languages.values()):,} bytes of train text and "
             f"{sum(e['heldout_bytes'] for e in languages.values()):,} held out.", "",
             "| code | script | sources (tag: kept bytes) | documents train / held-out | train bytes |"
             " held-out bytes |", "|---|---|---|---:|---:|---:|"]
    for code, entry in languages.items():
        sources = ", ".join(f"{s} ({tag}: {n:,})" for s, (tag, n) in entry["sources"].items())
        lines.append(f"| {code} | {entry['script']} | {sources} | {entry['documents']['train']:,} / "
                     f"{entry['documents']['heldout']:,} | {entry['train_bytes']:,} | {entry['heldout_bytes']:,} |")
    lines += ["", "| package | version | licence (from its copyright file) |", "|---|---|---|"]
    lines += [f"| {p} | {e['version']} | {e['license']} |" for p, e in packages.items()]
    return "\n".join(lines)


def update_provenance(manifest, path=PROVENANCE):
    """Rewrite the tables between the section markers of PROVENANCE.md (appending the section if absent)."""
    text = path.read_text(encoding="utf-8")
    block = f"{SECTION_BEGIN}\n{provenance_tables(manifest)}\n{SECTION_END}"
    if SECTION_BEGIN in text and SECTION_END in text:
        start, end = text.index(SECTION_BEGIN), text.index(SECTION_END) + len(SECTION_END)
        updated = text[:start] + block + text[end:]
    else:
        updated = text.rstrip("\n") + "\n\n### `$CACHE/corpora/<code>/` — multilingual running text\n\n" \
            + block + "\n"
    if updated != text:
        write_atomic(path, updated)
    else:
        print(f"{path} is up to date")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache directory (default $TOKWORK_CACHE or ~/.cache/tokwork)")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args()
    cache, started = args.cache or cache_root(), time.perf_counter()
    try:
        if not args.force and (manifest := is_built(cache)):
            print(f"{cache / 'corpora' / MANIFEST} is up to date (use --force to rebuild)")
        else:
            manifest = build_corpora(cache)
    except TokworkError as error:
        print(f"build_multilingual.py: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    update_provenance(manifest)
    for code, entry in manifest["languages"].items():
        print(f"{code:<14} {entry['script']:<5} train {entry['train_bytes']:>11,}  held-out"
              f" {entry['heldout_bytes']:>9,}  {', '.join(entry['sources'])}")
    print(f"{len(manifest['languages'])} languages; {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
