"""The card of a trained tokenizer (`tokwork.json`) and how a trained tokenizer is written to disk.

The card says how the tokenizer was made: its kind and parameters, the corpus files with their sha256 and
sizes, the time taken and the library versions, so that a result can be traced and rebuilt. The tokenizer
files beside it are standard (`tokenizer.json`, `tokenizer.model`) and load without tokwork.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from tokwork.corpus import CorpusFile
from tokwork.outputs import CARD_NAME, output_directory
from tokwork.tokenizer import Tokenizer

CARD_LIBRARIES = ("tokwork", "tokenizers", "sentencepiece", "transformers")


def library_versions() -> dict[str, str]:
    """Versions of the libraries a tokenizer's behaviour depends on (missing ones are left out)."""
    versions = {"python": platform.python_version()}
    for name in CARD_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@dataclass
class TrainingCard:
    """How a tokenizer was made; saved as `tokwork.json` beside the tokenizer files."""

    kind: str
    parameters: dict
    corpus: list[dict]
    seconds: float
    libraries: dict = field(default_factory=library_versions)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    files: list[str] = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    @classmethod
    def for_corpus(cls, kind: str, parameters: dict, corpus: list[CorpusFile], seconds: float, **extra):
        return cls(kind=kind, parameters=parameters, corpus=[f.as_json() for f in corpus], seconds=seconds, **extra)

    @property
    def corpus_bytes(self) -> int:
        return sum(f["bytes"] for f in self.corpus)

    def as_json(self) -> dict:
        return {**asdict(self), "corpus_bytes": self.corpus_bytes}

    @classmethod
    def read(cls, directory: str | Path) -> TrainingCard:
        data = json.loads((Path(directory) / CARD_NAME).read_text(encoding="utf-8"))
        data.pop("corpus_bytes", None)
        return cls(**data)


@dataclass
class TrainedTokenizer:
    """A freshly trained tokenizer and its card."""

    tokenizer: Tokenizer
    card: TrainingCard

    def save(self, directory: str | Path, *, force: bool = False) -> Path:
        """Write the tokenizer files and `tokwork.json` into `directory`, atomically; return the path."""
        with output_directory(directory, force=force) as staging:
            written = self.tokenizer.save(staging)
            self.card.files = sorted(p.name for p in written)
            text = json.dumps(self.card.as_json(), indent=2, ensure_ascii=False) + "\n"
            (staging / CARD_NAME).write_text(text, encoding="utf-8")
        return Path(directory)
