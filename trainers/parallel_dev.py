"""A parity-aware trainer's dev set and training languages: the parallel text that says how well each
language is compressed, and which language each training file is in.

Languages of the corpus: a training file's language is the dev code its name spells without suffixes
(`eng.txt`, `eng.jsonl.gz`), else the nearest folder above it named by a code, up to the corpus argument
it was found in (`train/eng/part-01.txt` under `train`). Every training file needs a dev language and
every dev language training text. The dev set is a folder of `<code>.txt` files, parallel when they have
the same number of non-empty paragraphs (blocks between blank lines), or of lines in files without blank
lines (one sentence per line).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokwork.corpus import expand_corpus_paths
from tokwork.errors import CorpusError, ParameterError

DEFAULT_PIVOT = "eng"
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")


@dataclass(frozen=True)
class ParallelDev:
    """A checked parallel dev set: each language's text and file, and the pivot language."""

    texts: dict[str, str]
    files: dict[str, Path]
    pivot: str


def _segments(text: str) -> tuple[int, str]:
    """How many non-empty paragraphs the text has, or lines when it has no blank line, and which unit."""
    body = text.strip()
    if _BLANK_LINE.search(body):
        return sum(1 for piece in _BLANK_LINE.split(body) if piece.strip()), "paragraphs"
    return sum(1 for line in body.splitlines() if line.strip()), "lines"


def read_parallel_dev(folder: str | Path, *, pivot: str | None = None) -> ParallelDev:
    """Read the dev files `<code>.txt` of `folder` and check that they are parallel (see the module).

    Raises `CorpusError` for a missing or empty folder, a file that is empty or not UTF-8, or files that
    are not parallel (naming the file that differs from the pivot's), and `ParameterError` for a pivot
    with no dev file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise CorpusError(f"parity dev folder '{folder}' {what}; pass a folder of <code>.txt files")
    files = {path.name[: -len(".txt")]: path for path in sorted(folder.glob("*.txt")) if path.is_file()}
    if not files:
        raise CorpusError(f"parity dev folder '{folder}' holds no <code>.txt files")
    texts = {}
    for code, path in files.items():
        try:
            texts[code] = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as err:
            raise CorpusError(f"dev file '{path}' is not UTF-8 at byte {err.start}; clean the file") from None
        if not texts[code].strip():
            raise CorpusError(f"dev file '{path}' is empty; remove it or give it the dev text in '{code}'")
    if pivot is None:
        pivot = DEFAULT_PIVOT if DEFAULT_PIVOT in files else next(iter(files))
    if pivot not in files:
        raise ParameterError(f"parity pivot '{pivot}' has no dev file in '{folder}'; choose one of "
                             f"{', '.join(files)}")
    expected = _segments(texts[pivot])
    for code, text in texts.items():
        found = _segments(text)
        if found != expected:
            raise CorpusError(f"dev set not parallel: '{files[code]}' has {found[0]} {found[1]} but the pivot "
                              f"'{files[pivot]}' has {expected[0]} {expected[1]}; dev files must hold the same "
                              "text, paragraph for paragraph (or line for line)")
    return ParallelDev(texts, files, pivot)


def _language_of(path: Path, root: Path | None, languages: Iterable[str]) -> str | None:
    names = [path.name.split(".")[0]]
    if root is not None:
        names += [*reversed(path.relative_to(root).parent.parts), root.resolve().name]
    return next((name for name in names if name in languages), None)


def training_languages(corpus: Sequence[str | Path], dev: ParallelDev) -> dict[str, str]:
    """The language of every training file (path -> code, see the module), checked against the dev set.

    Raises `CorpusError` for a training file in no dev language, a file given twice under different
    languages, and a dev language without training files.
    """
    language_of: dict[str, str] = {}
    for raw in corpus:
        root = Path(raw) if Path(raw).is_dir() else None
        for path in expand_corpus_paths([raw]):
            code = _language_of(path, root, dev.texts)
            if code is None:
                raise CorpusError(f"training file '{path}' is in no dev language: name it <code>.txt or put it "
                                  f"in a folder <code>/, for a code of the dev set ({', '.join(dev.texts)})")
            if language_of.setdefault(str(path), code) != code:
                raise CorpusError(f"training file '{path}' is given as both '{language_of[str(path)]}' and "
                                  f"'{code}'; give it once")
    for code in dev.texts:
        if code not in language_of.values():
            raise CorpusError(f"dev language '{code}' has no training text: add {code}.txt or a folder {code}/ "
                              f"to the corpus, or remove '{dev.files[code]}'")
    return language_of
