"""Build the English corpus en-docs from Debian documentation packages.

Tokenizer training and compression measurements need tens of megabytes of English running
text under clear licences. Debian's documentation packages (the Python, Perl, PostgreSQL and
Git manuals, Debian's handbook and policy documents, fortune cookies) give that: this script
fetches them with `apt-get download`, unpacks them with `dpkg-deb -x` and keeps the running
text, one document per source page. HTML: block elements become paragraphs; <pre>,
<script>, <style>, navigation, tables of contents, index/search pages and duplicated
single-page editions are left out. POD: ordinary paragraphs and heading/item text; indented
verbatim code, =for/=begin blocks and perltoc are left out. Fortunes: cookies split on "%"
lines, overstrikes and control characters removed, one document per file, no ascii-art.
Whitespace runs inside a paragraph become one space; paragraphs and documents are separated
by one blank line; 1 document in 20, picked by a hash of its name, is held out.

Writes $TOKWORK_CACHE (else ~/.cache/tokwork)/corpora/en-docs/ {train.txt, heldout.txt,
documents.tsv, manifest.json} and, for git, corpora/en/sample.txt (~1.5 MB of train
documents) and corpora/en/heldout.txt (~200 KB of held-out documents).
"""

import argparse
import hashlib
import html
import json
import os
import re
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

from fetch_tokenizers import cache_root

HERE = Path(__file__).resolve().parent
HELDOUT_ONE_IN = 20
MIN_DOCUMENT_CHARS = 200
SAMPLE_BYTES, HELDOUT_SAMPLE_BYTES, SAMPLE_CAP = 1_500_000, 200_000, 2_000_000

SKIP_PAGES = re.compile(
    r"(^|/)(index|genindex[\w-]*|search|py-modindex|bookindex|contents)(\.en)?\.html$")
# package -> (text kind, globs under usr/share/ in the .deb, paths left out, sample weight)
PACKAGES = {
    "python3.11-doc": ("html", ["doc/python3.11/html/**/*.html"], r"/_sources/", 6),
    "perl-doc": ("pod", ["perl/*/pod/*.pod"], r"/perltoc\.pod$", 2),
    "postgresql-doc-15": ("html", ["doc/postgresql-doc-15/html/*.html"], None, 3),
    "git-doc": ("html", ["doc/git-doc/*.html", "doc/git-doc/*/*.html"], None, 2.5),
    "fortunes": ("fortune", ["games/fortunes/*"], r"\.(dat|u8)$|/ascii-art$", 2),
    "debian-handbook": ("html", ["doc/debian-handbook/html/en-US/*.html"], None, 2.5),
    "debian-policy": ("html", ["doc/debian-policy/*.html/*.html", "doc/debian-policy/fhs/*.html",
                               "doc/debian-policy/[acd]*.html"], None, 0.5),
    "debian-reference-en": ("html", ["debian-reference/*.en.html"], None, 0.5),
    "bash-doc": ("html", ["doc/bash/bashref.html"], None, 0.5),
    "gnu-standards": ("html", ["doc/gnu-standards/*.html"], None, 0.5),
    "developers-reference": ("html", ["developers-reference/*.html"],
                             r"/developers-reference\.html$", 0.5),
    "debian-faq": ("html", ["doc/debian/FAQ/*.en.html"], None, 0.5),
}


def decode(data, stats):
    """UTF-8 text of `data`; a source that is not UTF-8 is decoded with replacement."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        stats["replaced_chars"] += text.count("\ufffd") - data.count("\ufffd".encode())
        stats["non_utf8_files"] += 1
        return text


def squeeze(text):
    return re.sub(r"[ \t\n\r\f]+", " ", text).strip(" ")


class PageText(HTMLParser):
    """Paragraphs of running text in an HTML page, without code, navigation or indexes."""

    BLOCKS = frozenset({
        "p", "div", "li", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "br", "table",
        "ul", "ol", "dl", "blockquote", "section", "article", "hr", "caption", "figcaption",
        "body", "title"})
    SKIP_TAGS = frozenset({
        "head", "script", "style", "pre", "nav", "noscript", "svg", "form", "button"})
    # classes and roles of navigation, tables of contents and page chrome in Sphinx,
    # DocBook, Publican, AsciiDoc and Texinfo output; texinfo index tables are "index-*"
    SKIP_CLASSES = frozenset({
        "navheader", "navfooter", "toc", "docnav", "header", "section-toc", "contents",
        "shortcontents", "headerlink", "related", "sphinxsidebar", "footer", "mobile-nav",
        "menu-wrapper", "Contents_element", "navigation", "search", "contentinfo"})
    SKIP_IDS = frozenset({"toc", "footer", "footer-text", "banner", "title", "navigation"})
    # elements without content or end tag: a skip class on one of them (<input class="search">) must not
    # start a skip that no end tag would close
    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                      "track", "wbr"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs, self.pieces, self.skip_tag, self.skip_depth = [], [], None, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        marks = {*(attrs.get("class") or "").split(), attrs.get("role") or ""}
        if self.skip_tag:
            self.skip_depth += tag == self.skip_tag
        elif tag not in self.VOID and (tag in self.SKIP_TAGS or marks & self.SKIP_CLASSES
                                       or attrs.get("id") in self.SKIP_IDS or any(m.startswith("index-") for m in marks)):
            self.skip_tag, self.skip_depth = tag, 1
        elif tag in self.BLOCKS:
            self.flush()
        elif tag in ("td", "th"):
            self.pieces.append(" ")

    def handle_endtag(self, tag):
        if self.skip_tag:
            self.skip_depth -= tag == self.skip_tag
            self.skip_tag = self.skip_tag if self.skip_depth else None
        elif tag in self.BLOCKS:
            self.flush()

    def handle_data(self, data):
        if not self.skip_tag:
            self.pieces.append(data)

    def flush(self):
        if text := squeeze("".join(self.pieces)):
            self.paragraphs.append(text)
        self.pieces = []


def html_text(source):
    parser = PageText()
    parser.feed(source)
    parser.close()
    parser.flush()
    return parser.paragraphs


POD_ESCAPES = {"lt": "\ue000", "gt": "\ue001", "verbar": "|", "sol": "/"}


def pod_inline(text):
    """Resolve POD formatting codes (B<>, C<< >>, L<>, E<> ...) to their plain text."""
    def link(inner):  # L<text|target>, L<name/"section">, L</section>, L<name>, L<url>
        name, _, section = inner.partition("/")
        if "|" in inner or "://" in inner or not section:
            return inner.split("|", 1)[0]
        return f"{section.strip(chr(34))} in {name}" if name else section.strip('"')

    def code(match):
        letter, inner = match.group(1), match.group(2)
        if letter == "E":  # "<" and ">" stay private until no formatting code is left
            return POD_ESCAPES.get(inner) or (chr(int(inner, 0)) if inner[:1].isdigit()
                                              else html.unescape(f"&{inner};"))
        return {"X": "", "Z": "", "L": link(inner)}.get(letter, inner)

    for n in range(5, 1, -1):  # C<< $a <=> $b >> and its longer forms
        text = re.sub(rf"([A-Z]){'<' * n}\s+(.*?)\s+{'>' * n}", code, text, flags=re.S)
    while True:
        text, count = re.subn(r"([A-Z])<([^<>]*)>", code, text)
        if not count:
            return text.replace("\ue000", "<").replace("\ue001", ">")


def pod_text(source):
    """Paragraphs of a POD document: ordinary text and headings, no verbatim code."""
    paragraphs, in_begin = [], False
    for block in filter(str.strip, re.split(r"\n[ \t]*\n", source.replace("\r\n", "\n"))):
        if in_begin:
            in_begin = not block.startswith("=end")
        elif block.startswith("=begin"):
            in_begin = True
        elif block.startswith(("=head", "=item")):
            text = squeeze(pod_inline(block.split(None, 1)[1] if " " in block else ""))
            if text and text != "*":
                paragraphs.append(text.removeprefix("* "))
        elif block[0] not in "= \t":  # "=" commands and indented verbatim code are left out
            paragraphs.append(squeeze(pod_inline(block)))
    return [p for p in paragraphs if p]


def fortune_text(source):
    """The cookies of a fortune file, without overstrikes or control characters."""
    cookies = []
    for cookie in re.split(r"^%\n", source.replace("\r\n", "\n") + "\n", flags=re.M):
        while re.search(r"[^\x08]\x08", cookie):
            cookie = re.sub(r"[^\x08]\x08", "", cookie)
        cookie = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", cookie)  # bells in the jokes
        cookie = re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in cookie.split("\n")))
        if cookie.strip():
            cookies.append(cookie.strip("\n"))
    return cookies


EXTRACTORS = {"html": html_text, "pod": pod_text, "fortune": fortune_text}


def download(package, debs_dir):
    """Path of the package's .deb in `debs_dir`, fetched with apt-get download if absent."""
    if found := sorted(debs_dir.glob(f"{package}_*.deb")):
        return found[-1]
    debs_dir.mkdir(parents=True, exist_ok=True)
    # root downloads unsandboxed anyway; saying so keeps apt from warning about it
    command = ["apt-get", "download", package] + (["-o", "APT::Sandbox::User=root"]
                                                  if os.geteuid() == 0 else [])
    if subprocess.run(command, cwd=debs_dir).returncode != 0:
        if os.geteuid() != 0:
            raise SystemExit(f"apt-get download {package} failed; run 'apt-get update' as root")
        subprocess.run(["apt-get", "update"], check=True)
        subprocess.run(command, cwd=debs_dir, check=True)
    return download(package, debs_dir)


def copyright_license(copyright_text):
    """Short licence name from a Debian copyright file (DEP-5 'Files: *', else by wording)."""
    if match := re.search(r"^Files:\s+\*\s*\n(?:[ \t].*\n|[A-Z][\w-]*:.*\n)*?License:\s*(.+)",
                          copyright_text, flags=re.M):
        return match.group(1).strip()
    for phrase, name in [("Python Software Foundation", "PSF-2.0"),
                         ("Free Documentation License, Version 1.3 or", "GFDL-1.3+"),
                         ("BSD copyright", "BSD-3-clause"),
                         ("make and distribute verbatim copies", "verbatim-copying permission")]:
        if re.search(re.escape(phrase).replace(r"\ ", r"\s+"), copyright_text):
            return name
    return "unknown (see copyright file)"


def package_documents(package, deb, stats):
    """Yield (document name, text) for each source page of one package."""
    kind, globs, exclude, _ = PACKAGES[package]
    with tempfile.TemporaryDirectory() as root:
        subprocess.run(["dpkg-deb", "-x", str(deb), root], check=True)
        share = Path(root) / "usr/share"
        stats["license"] = copyright_license(
            (share / "doc" / package / "copyright").read_text(errors="replace"))
        paths = {p for g in globs for p in share.glob(g) if p.is_file() and not p.is_symlink()}
        for path in sorted(paths):
            relative = path.relative_to(root).as_posix()
            if SKIP_PAGES.search(relative) or (exclude and re.search(exclude, "/" + relative)):
                continue
            text = "\n\n".join(EXTRACTORS[kind](decode(path.read_bytes(), stats)))
            if len(text) >= MIN_DOCUMENT_CHARS:
                yield f"{package}:{relative}", text


def write_atomic(path, text):
    """Write `text` to `path` through a temporary sibling of its own renamed into place (this script runs on
    any python3, so not through tokwork.outputs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"wrote {path} ({len(text.encode()):,} bytes)")


def write_splits(out_dir, splits):
    """Write each split's documents as `<split>.txt` (separated by a blank line) and where each document
    lies in them as `documents.tsv` (name, split, byte offset, bytes)."""
    rows = []
    for split, documents in splits.items():
        write_atomic(out_dir / f"{split}.txt", "\n\n".join(text for _, text in documents) + "\n")
        offset = 0
        for name, text in documents:
            rows.append(f"{name}\t{split}\t{offset}\t{len(text.encode())}")
            offset += len(text.encode()) + 2
    write_atomic(out_dir / "documents.tsv", "name\tsplit\toffset\tbytes\n" + "\n".join(rows) + "\n")


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_corpus(out_dir, debs_dir):
    """Extract every package into train/held-out documents; return the manifest."""
    splits, packages, seen = {"train": [], "heldout": []}, {}, set()
    for package in PACKAGES:
        deb = download(package, debs_dir)
        version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True,
                                 capture_output=True, text=True).stdout.strip()
        stats, documents, nbytes = {"replaced_chars": 0, "non_utf8_files": 0}, 0, 0
        for name, text in package_documents(package, deb, stats):
            if text not in seen:  # a page shipped twice counts once
                seen.add(text)
                bucket = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
                splits["train" if bucket % HELDOUT_ONE_IN else "heldout"].append((name, text))
                documents, nbytes = documents + 1, nbytes + len(text.encode())
        packages[package] = {"version": version, "deb": deb.name, "documents": documents,
                             "bytes": nbytes, **stats}
    write_splits(out_dir, splits)
    release = re.search(r"^VERSION_CODENAME=(\S+)", Path("/etc/os-release").read_text(), re.M)
    manifest = {"source": f"Debian {release.group(1) if release else '?'} via apt-get download",
                "packages": packages, "total_bytes": sum(p["bytes"] for p in packages.values()),
                "heldout_one_in": HELDOUT_ONE_IN,
                **{f"{s}_bytes": (out_dir / f"{s}.txt").stat().st_size for s in splits},
                **{f"{s}_sha256": sha256(out_dir / f"{s}.txt") for s in splits}}
    write_atomic(out_dir / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_documents(out_dir, split):
    """(name, text) of each document of one split, cut out by documents.tsv offsets."""
    data = (out_dir / f"{split}.txt").read_bytes()
    for line in (out_dir / "documents.tsv").read_text().splitlines()[1:]:
        name, doc_split, offset, nbytes = line.split("\t")
        if doc_split == split:
            yield name, data[int(offset):int(offset) + int(nbytes)].decode("utf-8")


def spread_sample(documents, target):
    """Whole documents, a hash-ordered spread over packages in proportion to their weights."""
    by_hash = sorted(documents, key=lambda d: hashlib.sha256(d[0].encode()).digest())
    weights = {p: PACKAGES[p][3] for p in {name.split(":")[0] for name, _ in by_hash}}
    quota = {p: target * w / sum(weights.values()) for p, w in weights.items()}
    chosen, used, total = {}, dict.fromkeys(weights, 0), 0
    for fill in (False, True):  # each package up to its quota, then fill what is left over
        for name, text in by_hash:
            package, size = name.split(":")[0], len(text.encode()) + 2
            fits = total + size <= target if fill else used[package] + size <= quota[package]
            if name not in chosen and fits:
                chosen[name], used[package], total = text, used[package] + size, total + size
    return "\n\n".join(chosen[name] for name in sorted(chosen)) + "\n"


def is_built(out_dir):
    """The manifest if train/held-out exist and match its sha256, else None."""
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text())
        matches = all(sha256(out_dir / f"{s}.txt") == manifest[f"{s}_sha256"]
                      for s in ("train", "heldout"))
        return manifest if matches and (out_dir / "documents.tsv").exists() else None
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache directory (default $TOKWORK_CACHE or ~/.cache/tokwork)")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args()
    cache = args.cache or cache_root()
    out_dir, started = cache / "corpora" / "en-docs", time.perf_counter()

    if not args.force and (manifest := is_built(out_dir)):
        print(f"{out_dir} is up to date (use --force to rebuild)")
    else:
        manifest = build_corpus(out_dir, cache / "debian")
    for path, split, target in [(HERE / "en" / "sample.txt", "train", SAMPLE_BYTES),
                                (HERE / "en" / "heldout.txt", "heldout", HELDOUT_SAMPLE_BYTES)]:
        text = spread_sample(read_documents(out_dir, split), target)
        assert len(text.encode()) <= SAMPLE_CAP
        if not path.exists() or path.read_bytes() != text.encode():
            write_atomic(path, text)
        else:
            print(f"{path} is up to date")
    for package, entry in manifest["packages"].items():
        print(f"{package:<22} {entry['version']:<20} {entry['documents']:>5} docs"
              f" {entry['bytes']:>11,} bytes  {entry['license']}")
    print(f"en-docs: {manifest['total_bytes']:,} bytes of text, train {manifest['train_bytes']:,},"
          f" held-out {manifest['heldout_bytes']:,}; {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
