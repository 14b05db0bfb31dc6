"""Lexicons: the word lists that integrity is measured against, one per language, pluggable.

A lexicon is either a word-list file (one word per line; anything after a tab is ignored, as in frequency
lists) or, by default, a PyPI `wordfreq` list where wordfreq has one close to the language (same language,
or a macrolanguage such as Serbo-Croatian for Croatian and Serbian; never a distant fallback: wordfreq
itself would answer English for Swahili). A language with neither has no lexicon, and is reported as such.
Words match after the lexicon's own normalisation: wordfreq's per-language preprocessing (case folding,
NFC/NFKC, Arabic marks removed, Serbian Cyrillic transliterated) or, for files, NFC and case folding.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from tokwork.cache import cache_dir, file_stamp
from tokwork.errors import ParameterError, TokworkError
from tokwork.outputs import output_file

WORDFREQ_LISTS = ("small", "large", "best")
# langcodes distance up to which a wordfreq list counts as the language's own: 0 same language, 5
# Serbian (Cyrillic) -> Serbo-Croatian, 9 Croatian -> Serbo-Croatian; Basque -> Spanish is 20.
MAX_LANGUAGE_DISTANCE = 9


@dataclass(frozen=True)
class LexiconSpec:
    """Where one language's lexicon comes from (plain data, so benchmark jobs can carry it)."""

    source: str  # "wordfreq" or "file"
    name: str  # the language tag asked of wordfreq, or the file path
    wordlist: str = "small"
    stamp: tuple | None = None  # a file's `file_stamp` when the spec was made: an edited list is read again

    def describe(self) -> str:
        if self.source == "file":
            return f"word list {self.name}"
        return f"wordfreq '{self.wordlist}' list for {_wordfreq_match(self.name, self.wordlist)}"


class Lexicon:
    """A set of words with the normalisation that words must get before they are looked up.

    Every answer is kept (texts recur across tokenizers: each word is normalised once). A lexicon made by
    `Lexicon.remembering` also keeps its answers in a file, from one run to the next, and reads its words
    and normaliser (`load`) only for a word it never answered: the same benchmark run again then needs
    neither the word list nor wordfreq, whose import costs more than a small benchmark measures.
    """

    def __init__(self, words: frozenset[str], normalize: Callable[[str], str], description: str):
        self._words, self._normalize = words, normalize
        self.description = description
        self._seen: dict[str, bool] = {}
        self._load: Callable[[], tuple[frozenset[str], Callable[[str], str]]] | None = None
        self._answers: Path | None = None
        self._unsaved = False

    @classmethod
    def remembering(cls, load: Callable[[], tuple[frozenset[str], Callable[[str], str]]], description: str,
                    answers: Path) -> Lexicon:
        """A lexicon whose words and normaliser `load` gives when first needed, answering from `answers`
        (a JSON file of {word: in the lexicon}) what earlier runs asked."""
        lexicon = cls(frozenset(), str, description)
        lexicon._load, lexicon._answers = load, answers
        lexicon._seen = _read_json_object(answers)
        return lexicon

    def _loaded(self) -> None:
        if self._load is not None:
            (self._words, self._normalize), self._load = self._load(), None

    @property
    def words(self) -> frozenset[str]:
        self._loaded()
        return self._words

    @property
    def normalize(self) -> Callable[[str], str]:
        """How a word is folded before it is looked up (the lexicon's own case and form rule)."""
        self._loaded()
        return self._normalize

    def __contains__(self, word: str) -> bool:
        known = self._seen.get(word)
        if known is None:
            known = self._seen[word] = self.normalize(word) in self.words
            self._unsaved = self._answers is not None
        return known

    def __len__(self) -> int:
        return len(self.words)

    def keep_answers(self) -> None:
        """Add the answers given since the last call to the answers file, with those other processes have
        added meanwhile (a lost race only loses answers, which are asked again)."""
        if not self._unsaved:
            return
        answers = {**_read_json_object(self._answers), **self._seen}
        with output_file(self._answers, cache=True) as staging:
            staging.write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
        self._unsaved = False


def _read_json_object(path: Path) -> dict:
    """A JSON object kept in the cache, or {} when there is none yet (or a file that is not one)."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _file_normalize(word: str) -> str:
    return unicodedata.normalize("NFC", word).casefold()


def read_word_list(path: str | Path) -> frozenset[str]:
    """The words of a word-list file (UTF-8, one per line, text after a tab ignored), normalised."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ParameterError(f"lexicon file '{path}' does not exist") from None
    except UnicodeDecodeError as err:
        raise ParameterError(f"lexicon file '{path}' is not UTF-8 at byte {err.start}") from None
    except OSError as err:  # a folder, a file this user cannot read
        raise ParameterError(f"cannot read lexicon file '{path}': {err.strerror or err}") from None
    words = frozenset(_file_normalize(w) for line in lines if (w := line.split("\t")[0].strip()))
    if not words:
        raise ParameterError(f"lexicon file '{path}' holds no words")
    return words


def _wordfreq():
    try:
        import wordfreq
    except ImportError:  # pragma: no cover - wordfreq is a dependency; this guards stripped installs
        raise TokworkError("lexicons need the 'wordfreq' package: pip install wordfreq") from None
    return wordfreq


@functools.cache
def _available(wordlist: str) -> list[str]:
    return sorted(_wordfreq().available_languages(wordlist))


@functools.cache
def _wordfreq_match(tag: str, wordlist: str) -> str | None:
    """The wordfreq list that is this language's own (within `MAX_LANGUAGE_DISTANCE`), or None; kept in
    the tokwork cache per wordfreq version, so that finding it again needs no wordfreq import."""
    matches = _stored_matches(wordlist)
    if tag not in matches:
        matches[tag] = _closest_wordfreq_list(tag, wordlist)
        path = _matches_file(wordlist)
        with output_file(path, cache=True) as staging:
            staging.write_text(json.dumps({**_read_json_object(path), **matches}), encoding="utf-8")
    return matches[tag]


def _matches_file(wordlist: str) -> Path:
    return cache_dir("lexicons") / f"wordfreq-{_version('wordfreq')}-{wordlist}-matches.json"


@functools.cache
def _stored_matches(wordlist: str) -> dict[str, str | None]:
    return _read_json_object(_matches_file(wordlist))


def _closest_wordfreq_list(tag: str, wordlist: str) -> str | None:
    import langcodes

    available = _available(wordlist)
    if tag in available:  # what closest_match answers too, without its cost
        return tag
    try:
        best, _ = langcodes.closest_match(tag, available, max_distance=MAX_LANGUAGE_DISTANCE)
    except (ValueError, LookupError, langcodes.tag_parser.LanguageTagError):
        return None
    return None if best == "und" else best


def lexicon_spec(code: str, bcp47: str, *, files: Mapping[str, str] | None = None,
                 wordlist: str = "small") -> LexiconSpec | None:
    """The lexicon of a language: its file if one is given for `code`, else the wordfreq list matching
    its BCP 47 tag (or its code), else None."""
    if wordlist not in WORDFREQ_LISTS:
        raise ParameterError(f"unknown wordfreq list '{wordlist}'; choose one of {', '.join(WORDFREQ_LISTS)}")
    if files and code in files:
        return LexiconSpec("file", str(files[code]), stamp=file_stamp(files[code]))
    tag = bcp47 or code
    return LexiconSpec("wordfreq", tag, wordlist) if _wordfreq_match(tag, wordlist) else None


@functools.cache
def load_lexicon(spec: LexiconSpec) -> Lexicon:
    """Load (once per process) the lexicon a spec names."""
    if spec.source == "file":
        return Lexicon(read_word_list(spec.name), _file_normalize, spec.describe())
    match = _wordfreq_match(spec.name, spec.wordlist)
    if match is None:
        raise ParameterError(f"wordfreq has no '{spec.wordlist}' list for language '{spec.name}'")

    def load() -> tuple[frozenset[str], Callable[[str], str]]:
        wordfreq = _wordfreq()
        import langcodes
        from wordfreq.preprocess import preprocess_text

        words = _wordfreq_words(wordfreq, match, spec.wordlist)
        return words, functools.partial(preprocess_text, language=langcodes.get(spec.name))

    answers = f"wordfreq-{_version('wordfreq')}-{spec.wordlist}-{match}-{spec.name}.answers.json"
    return Lexicon.remembering(load, spec.describe(), cache_dir("lexicons") / answers)


@functools.cache
def _version(package: str) -> str:
    return metadata.version(package)  # reads the package's metadata files: once, not once per language


def _wordfreq_words(wordfreq, match: str, wordlist: str) -> frozenset[str]:
    """The words of one wordfreq list, read from a plain-text copy in the tokwork cache that is written on
    first use (unpacking wordfreq's packed lists costs several times more than reading the copy)."""
    version = _version("wordfreq")
    copy = cache_dir("lexicons") / f"wordfreq-{version}-{wordlist}-{match}.txt"
    if copy.is_file():
        return frozenset(copy.read_text(encoding="utf-8").split("\n"))
    words = [word for bucket in wordfreq.get_frequency_list(match, wordlist) for word in bucket]
    with output_file(copy, cache=True) as staging:
        staging.write_text("\n".join(words), encoding="utf-8")
    return frozenset(words)
