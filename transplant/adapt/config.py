"""What an adaptation does (`AdaptConfig`, saved in the output's card), and the texts it reads: the
language's training corpus and the held-out texts it is scored on."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tokwork.cache import cache_root
from tokwork.errors import CorpusError, ParameterError
from tokwork.setting_types import check_setting_types
from tokwork.transplant.distill.config import DistillConfig


@dataclass
class AdaptConfig:
    """What an adaptation does; saved in the output's card and round-tripped through JSON.

    `heldout` names the texts to score, the language's own under its code; `options` are the transplant
    method's; `distill_minutes` stops the distillation (with a checkpoint) after that much wall time.
    """

    model: str
    language: str
    corpus: list[str]
    heldout: dict[str, str]
    add: int = 8000
    min_frequency: int = 2
    method: str = "hybrid"
    options: dict[str, Any] = field(default_factory=dict)
    donor: str | None = "minilm"
    distill: DistillConfig = field(default_factory=DistillConfig)
    distill_minutes: float | None = None
    heldout_chars: int | None = None
    window: int = 1024

    def validate(self) -> None:
        """Raise `ParameterError` for settings that cannot give an adaptation, before any work (one corpus
        path given alone becomes a list of one, as every corpus argument takes it)."""
        if isinstance(self.corpus, str | os.PathLike):
            self.corpus = [os.fspath(self.corpus)]
        check_setting_types(self)
        from tokwork.transplant.registry import check_options, get_method

        if not self.language or "/" in self.language:
            raise ParameterError(f"language '{self.language}' is not a language code such as rus or deu_1996")
        if self.language not in self.heldout:
            raise ParameterError(f"no held-out text for '{self.language}': pass --heldout FILE (text never "
                                 "trained on), or a corpus folder holding train.txt and heldout.txt")
        if self.add < 1:
            raise ParameterError(f"--add {self.add} must be at least 1 new token")
        if self.distill_minutes is not None and not self.distill_minutes > 0:
            raise ParameterError(f"--distill-minutes must be positive, not {self.distill_minutes}")
        if self.heldout_chars is not None and self.heldout_chars < 100:
            raise ParameterError(f"--heldout-chars {self.heldout_chars} is too few; use at least 100")
        if self.window < 2:
            raise ParameterError(f"window {self.window} is too small; use at least 2 tokens (1024 is usual)")
        self.distill.validate()
        check_options(get_method(self.method), dict(self.options))

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> AdaptConfig:
        return cls(**{**data, "distill": DistillConfig.from_json(data["distill"])})


def language_texts(language: str, corpus: Sequence[str | Path] = (),
                   heldout: Sequence[str] = ()) -> tuple[list[str], dict[str, str]]:
    """The training corpus and the held-out texts of `language`, as `AdaptConfig` takes them.

    Without `corpus`, the language's multilingual corpus in the tokwork cache (`corpora/<code>/`). A folder
    holding `train.txt` and `heldout.txt` (that corpus's layout) is trained on the first and scored on the
    second. `heldout` entries are `NAME=FILE` (another text to score, such as English) or a bare FILE (the
    language's own). Raises `CorpusError` when the language has no text.
    """
    if not corpus:
        folder = cache_root() / "corpora" / language
        if not (folder / "train.txt").is_file():
            raise CorpusError(f"no text for language '{language}': no --corpus given and no corpus '{folder}' "
                              "(make corpora-multilingual builds it); pass --corpus FILE")
        corpus = [folder]
    train, texts = [], {}
    for entry in corpus:
        path = Path(entry)
        if (path / "train.txt").is_file() and (path / "heldout.txt").is_file():
            train.append(str(path / "train.txt"))
            texts.setdefault(language, str(path / "heldout.txt"))
        else:
            train.append(str(entry))
    for entry in heldout:
        name, sep, value = entry.partition("=")
        if not sep or Path(entry).exists():
            name, value = language, entry
        if not name:
            raise ParameterError(f"--heldout '{entry}' is not NAME=FILE or FILE")
        texts[name] = value
    return train, texts


def read_heldout(config: AdaptConfig, corpus: Sequence[Path]) -> dict[str, str]:
    """Each held-out text, cut at the paragraph end before `heldout_chars`; `CorpusError` for a missing,
    empty or non-UTF-8 file or one that is also training text."""
    texts = {}
    for name, value in config.heldout.items():
        path = Path(value)
        if not path.is_file():
            raise CorpusError(f"held-out text '{path}' ({name}) does not exist or is not a file")
        if any(path.resolve() == c.resolve() for c in corpus):
            raise CorpusError(f"held-out text '{path}' is also in the training corpus; score text never trained on")
        try:
            text = path.read_bytes().decode("utf-8")  # as stored: CRLF stays two bytes
        except UnicodeDecodeError as err:
            raise CorpusError(f"held-out text '{path}' is not UTF-8 at byte {err.start}") from None
        if config.heldout_chars is not None and len(text) > config.heldout_chars:
            cut = text.rfind("\n\n", 0, config.heldout_chars)
            text = text[:cut if cut > 0 else config.heldout_chars]
        if not text.strip():
            raise CorpusError(f"held-out text '{path}' ({name}) is empty")
        texts[name] = text
    return texts
