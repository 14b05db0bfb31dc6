"""Parallel corpora: the same content in many languages, cut into aligned blocks.

A parallel corpus is a folder of `<code>.txt` files, one per language, whose blocks are separated by one
blank line and correspond one to one across languages (the shipped UDHR: block 0 is the preamble, block N
is article N). A `languages.tsv` beside them (columns `code`, `name`, `script`, optionally `bcp47`) names
each language and its ISO 15924 script; a language without a row (or without a script in it) keeps its code
as name and gets the script most letters of its text are written in (`scripts.dominant_script`).
Cross-lingual premiums (Petrov et al. 2023, "Language Model Tokenizers Introduce Unfairness Between
Languages") need this alignment: the same block in two languages carries the same content.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from tokwork.errors import CorpusError
from tokwork.metrics.scripts import dominant_script, is_script_code

SHIPPED_UDHR = Path(__file__).resolve().parent.parent / "corpora" / "udhr"

# The languages `tokwork bench` measures on the shipped UDHR unless told otherwise: 56 of the 76, in 26 of
# its 28 scripts, the most spoken languages of each. Any other language with a text file (Maldivian `div`,
# Vai `vai`, ...) works with --languages, or `all`.
DEFAULT_LANGUAGES = (
    "eng", "deu_1996", "fra", "spa", "por_BR", "ita", "nld", "pol", "ces", "ron_2006", "hun", "fin",
    "tur", "vie", "ind", "swh", "hau_NG", "yor", "zul", "tgl", "som", "rus", "ukr", "bul", "srp_cyrl",
    "kaz", "ell_monotonic", "hye", "kat", "heb", "arb", "pes_1", "urd", "pbu", "hin", "mar", "nep", "ben",
    "pan", "guj", "tam", "tel", "kan", "mal", "sin", "tha", "lao", "khm", "mya", "bod", "tir", "jpn",
    "kor", "cmn_hans", "cmn_hant", "yue",
)


@dataclass(frozen=True)
class Language:
    """One language of a parallel corpus: its code, name, script and aligned blocks of text.

    `script_from_text` is true when no table gave the script and it was read off the text.
    """

    code: str
    name: str
    script: str
    bcp47: str
    blocks: tuple[str, ...]
    script_from_text: bool = False


@dataclass(frozen=True)
class ParallelCorpus:
    """Languages whose blocks are aligned with the pivot language's (English for the shipped UDHR)."""

    path: Path
    pivot: str
    languages: dict[str, Language]

    @property
    def blocks(self) -> int:
        return len(self.languages[self.pivot].blocks)


def split_blocks(text: str) -> list[str]:
    """The blocks of one language's file: text separated by one blank line (LF or CRLF line ends),
    trailing line ends dropped; a block keeps its own line ends as the file has them."""
    return re.split(r"\r?\n\r?\n", text.rstrip("\r\n"))


def resolve_corpus(corpus: str | Path) -> Path:
    """The folder of a parallel corpus: `udhr` is the shipped UDHR, anything else a folder path."""
    path = SHIPPED_UDHR if str(corpus) == "udhr" else Path(corpus)
    if not path.is_dir():
        if str(corpus) == "udhr":
            raise CorpusError(f"the shipped UDHR corpus is not at '{path}'; pass --corpus with its folder")
        raise CorpusError(f"parallel corpus '{path}' is not a folder of <language code>.txt files")
    return path


def read_language_table(folder: Path) -> dict[str, dict[str, str]]:
    """The rows of `languages.tsv` by code (empty when the folder has none)."""
    table = folder / "languages.tsv"
    if not table.is_file():
        return {}
    try:
        with table.open(encoding="utf-8-sig", newline="") as handle:  # spreadsheets write a BOM
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except UnicodeDecodeError as err:
        raise CorpusError(f"'{table}' is not UTF-8 at byte {err.start}") from None
    if rows and "code" not in rows[0]:
        raise CorpusError(f"'{table}' has no 'code' column; expected columns code, name, script")
    for line, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            raise CorpusError(f"'{table}' line {line} has {'more' if None in row else 'fewer'} tab-separated "
                              "fields than its header")
        script = row.get("script")
        if script and not is_script_code(script):
            raise CorpusError(f"'{table}' line {line} gives script '{script}' for '{row['code']}', which is not an "
                              "ISO 15924 code (Latn, Cyrl, Arab, Jpan, ...); leave it empty to read it from the text")
    return {row["code"]: row for row in rows}


def available_languages(corpus: str | Path) -> list[str]:
    """Codes of every language that has a text file in the corpus folder, sorted."""
    return sorted(p.stem for p in resolve_corpus(corpus).glob("*.txt") if not p.name.startswith(".") and p.is_file())


def load_parallel_corpus(
    corpus: str | Path, *, languages: list[str] | None = None, pivot: str = "eng"
) -> ParallelCorpus:
    """Read the given languages (default: `DEFAULT_LANGUAGES` for the shipped UDHR, every file elsewhere)
    and the pivot, and check that all have the pivot's number of blocks.

    Raises `CorpusError` naming a language without a text file, an empty or non-UTF-8 file, or a file
    whose blocks do not line up with the pivot's.
    """
    folder = resolve_corpus(corpus)
    present = available_languages(folder)
    if languages is None:
        languages = [c for c in DEFAULT_LANGUAGES if c in present] if folder == SHIPPED_UDHR else present
    elif languages == ["all"]:
        languages = present
    wanted = list(dict.fromkeys([*languages, pivot]))
    missing = [code for code in wanted if code not in present]
    if missing:
        role = "pivot language" if missing[0] == pivot and pivot not in languages else "language"
        raise CorpusError(
            f"{role} '{missing[0]}' has no text in '{folder}' (no {missing[0]}.txt); "
            + (f"available: {', '.join(present[:12])}{' ...' if len(present) > 12 else ''}" if present
               else "the folder holds no <language code>.txt file")
        )
    table = read_language_table(folder)
    read = {code: _read_language(folder, code, table.get(code, {})) for code in wanted}
    expected = len(read[pivot].blocks)
    for code in wanted:
        if len(read[code].blocks) != expected:
            raise CorpusError(
                f"parallel corpus '{folder}' is not aligned: {code}.txt has {len(read[code].blocks)} blocks "
                f"but {pivot}.txt has {expected}; every language needs the same blocks, separated by one blank line"
            )
        _check_no_lone_empty_block(read[code], read[pivot], folder)
    ordered = {code: read[code] for code in dict.fromkeys([*languages, pivot])}
    return ParallelCorpus(path=folder, pivot=pivot, languages=ordered)


def _check_no_lone_empty_block(language: Language, pivot: Language, folder: Path) -> None:
    """Refuse a block that is empty in one text and not in the other: an extra blank line that shifts the
    blocks after it (counts can still agree when another line is missing further on)."""
    for number, (mine, theirs) in enumerate(zip(language.blocks, pivot.blocks, strict=True), start=1):
        if bool(mine.strip()) != bool(theirs.strip()):
            empty, other = (language, pivot) if not mine.strip() else (pivot, language)
            raise CorpusError(f"parallel corpus '{folder}' is not aligned: block {number} of {empty.code}.txt is "
                              f"empty and that of {other.code}.txt is not (an extra blank line?)")


def _read_language(folder: Path, code: str, row: dict[str, str]) -> Language:
    path = folder / f"{code}.txt"
    try:
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")  # as stored: CR and CRLF stay
    except UnicodeDecodeError as err:
        raise CorpusError(f"corpus '{path}' is not UTF-8 at byte {err.start}; convert it or remove it") from None
    if not text.strip():
        raise CorpusError(f"corpus '{path}' is empty")
    script = row.get("script")
    return Language(
        code=code,
        name=row.get("name") or code,
        script=script or dominant_script(text),
        bcp47=row.get("bcp47") or "",
        blocks=tuple(split_blocks(text)),
        script_from_text=not script,
    )
