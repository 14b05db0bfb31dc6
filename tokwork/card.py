"""The card, `tokwork.json`: what every tokwork output says about how it was made.

Trained and stochastic tokenizers, benchmark reports, token-id shards, transplanted checkpoints and
hypernetworks each write one beside their files, so that a result can be traced and rebuilt; its fields
are the output's own (a trainer's parameters, a transplant's method), but it is written by `write_card`,
read by `read_card`, and its library versions come from `library_versions`, the same way for all. A
folder holding a card is a tokwork output, which `tokwork.outputs` may replace.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from tokwork.errors import TokworkError

CARD_NAME = "tokwork.json"
# The libraries a tokenizer's behaviour depends on ("python" is the interpreter), and a model's.
TOKENIZER_LIBRARIES = ("python", "tokwork", "tokenizers", "sentencepiece", "transformers")
MODEL_LIBRARIES = ("torch", "transformers", "tokenizers")


class CardError(TokworkError):
    """A folder's `tokwork.json` is missing or corrupt."""


class JsonCard:
    """`as_json`/`from_json` for a card dataclass whose fields are plain JSON values."""

    def as_json(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, data: dict):
        return cls(**data)


def library_versions(names: Sequence[str] = TOKENIZER_LIBRARIES) -> dict[str, str]:
    """The installed versions of the named libraries, in that order; missing ones are left out."""
    versions = {}
    for name in names:
        if name == "python":
            versions[name] = platform.python_version()
            continue
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def created_now() -> str:
    """The time a card records as `created`: UTC, to the second, ISO 8601 (`2025-01-31T12:00:00Z`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def has_card(directory: str | Path) -> bool:
    """Whether `directory` holds a card (it may still be corrupt); False for a file or a missing path."""
    return (Path(directory) / CARD_NAME).is_file()


def write_card(directory: str | Path, card: Mapping[str, Any] | Any) -> Path:
    """Write `card` (a dict, or an object with `as_json()`, such as a card dataclass) as `tokwork.json` in
    `directory` and return its path. Outputs write it into their staging folder, which is renamed into
    place as a whole (`tokwork.outputs.output_directory`)."""
    data = dict(card) if isinstance(card, Mapping) else card.as_json()
    path = Path(directory) / CARD_NAME
    path.write_text(card_text(data), encoding="utf-8")
    return path


def card_text(data: Mapping[str, Any]) -> str:
    """A card as its file holds it: indented JSON, non-ASCII text as it is."""
    return json.dumps(dict(data), indent=2, ensure_ascii=False, default=_plain) + "\n"


def _plain(value: Any) -> Any:
    """A value given from Python as a numpy number or a Path, as JSON holds it (json refuses them)."""
    from tokwork.setting_types import plain_value

    plain = plain_value(value)
    if plain is value:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return plain


def recorded_path(path: str | Path) -> str:
    """A path as a card records it: absolute where it exists (so that a run resumes from any folder, and
    two spellings of one place compare equal), else as given (a model name such as smollm2)."""
    return str(Path(path).resolve()) if Path(path).exists() else str(path)


def read_card(directory: str | Path) -> dict[str, Any]:
    """The card of the tokwork output in `directory`, as written.

    Raises `CardError` when there is none (a path that is not a tokwork output) or it is not a JSON object.
    """
    path = Path(directory) / CARD_NAME
    if not path.is_file():
        raise CardError(f"'{directory}' has no {CARD_NAME}: it is not a tokwork output")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CardError(f"'{directory}' has a corrupt {CARD_NAME} ({err})") from None
    if not isinstance(data, dict):
        raise CardError(f"'{directory}' has a corrupt {CARD_NAME} (not a JSON object)")
    return data
