"""The hypernetwork folder: its card, its weights, its optimizer state, and the source model it serves.

A folder holds `tokwork.json` (the card: shape, training settings, the source's fingerprint, steps done,
the loss history), `hypernet.safetensors` and `optimizer.safetensors` (AdamW's moments, with its
parameter groups as metadata; no pickle anywhere). It is written to a temporary sibling and renamed into
place, so an interrupted run leaves the last complete checkpoint. A hypernetwork reads the source
model's embedding rows by id, so it serves only the source it was trained for: the fingerprint (the
source tokenizer's byte view and the embedding shape) is checked before it is used or resumed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tokwork.card import (
    CARD_NAME,
    MODEL_LIBRARIES,
    CardError,
    JsonCard,
    has_card,
    library_versions,
    read_card,
    write_card,
)
from tokwork.errors import TokworkError
from tokwork.outputs import output_directory
from tokwork.tokenizer import Tokenizer
from tokwork.transplant.hypernet.model import HypernetConfig, Hypernetwork
from tokwork.transplant.optimizer_state import load_optimizer as load_optimizer_state
from tokwork.transplant.optimizer_state import save_optimizer

KIND = "hypernet"
WEIGHTS = "hypernet.safetensors"
OPTIMIZER = "optimizer.safetensors"


class HypernetError(TokworkError):
    """A hypernetwork folder is missing, corrupt, or was trained for another source model."""


@dataclass(frozen=True)
class SourceInfo:
    """The source model a hypernetwork belongs to: its embedding shape and its vocabulary's fingerprint."""

    fingerprint: str
    vocab_size: int
    rows: int
    hidden_size: int
    tied: bool

    @classmethod
    def of(cls, tokenizer: Tokenizer, input_embeddings: torch.Tensor, output_embeddings: torch.Tensor | None,
           ) -> SourceInfo:
        """Describe a source: sha256 of its byte view (every token's bytes, in id order) and its matrices."""
        digest = hashlib.sha256()
        for piece in tokenizer.byte_view.token_bytes:
            digest.update(b"\xff" if piece is None else len(piece).to_bytes(2, "little") + piece)
        rows, hidden = input_embeddings.shape
        return cls(fingerprint=digest.hexdigest()[:32], vocab_size=tokenizer.vocab_size, rows=int(rows),
                   hidden_size=int(hidden), tied=output_embeddings is None)

    def check(self, other: SourceInfo, *, folder: Path, model: str) -> None:
        """Raise `HypernetError` when `other` (a source model at hand) is not the one trained for."""
        hint = "train one for this model with `tokwork hypernet train`"
        if self.hidden_size != other.hidden_size:
            raise HypernetError(f"hypernetwork '{folder}' was trained for a source with hidden size "
                                f"{self.hidden_size}, but '{model}' has {other.hidden_size}; {hint}")
        if self.tied != other.tied:
            raise HypernetError(f"hypernetwork '{folder}' was trained for a source with "
                                f"{'tied' if self.tied else 'untied'} embeddings, but '{model}' has "
                                f"{'tied' if other.tied else 'untied'} ones; {hint}")
        if self.fingerprint != other.fingerprint or self.rows != other.rows:
            raise HypernetError(f"hypernetwork '{folder}' was trained for another source vocabulary "
                                f"({self.vocab_size:,} tokens, {self.rows:,} rows) than '{model}' "
                                f"({other.vocab_size:,} tokens, {other.rows:,} rows); {hint}")


@dataclass
class HypernetCard(JsonCard):
    """What a hypernetwork folder holds; saved as `tokwork.json` and round-tripped through JSON."""

    model: dict[str, Any]
    training: dict[str, Any]
    source: dict[str, Any]
    source_path: str
    corpus: list[dict]
    step: int = 0
    seconds: float = 0.0
    history: list[dict] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=lambda: library_versions(MODEL_LIBRARIES))
    precision: str | None = None  # what the model's forwards ran in (`devices.precision_of`); None in older cards
    kind: str = KIND
    files: list[str] | None = None  # what the folder holds, set as it is written (`tokwork.outputs`)


    @property
    def config(self) -> HypernetConfig:
        return HypernetConfig.from_json(self.model)

    @property
    def source_info(self) -> SourceInfo:
        return SourceInfo(**self.source)


def is_hypernet_folder(folder: str | Path) -> bool:
    """Whether `folder` holds a hypernetwork card (it may still be corrupt)."""
    try:
        return read_card(folder).get("kind") == KIND
    except CardError:
        return False


def read_hypernet_card(folder: str | Path) -> HypernetCard:
    """The card of a hypernetwork folder; `HypernetError` for a missing, foreign or corrupt folder."""
    folder = Path(folder)
    if not folder.exists():
        raise HypernetError(f"hypernetwork '{folder}' does not exist; train one with `tokwork hypernet train`")
    if not has_card(folder):
        raise HypernetError(f"'{folder}' is not a hypernetwork folder (no {CARD_NAME}); "
                            "train one with `tokwork hypernet train`")
    try:
        data = read_card(folder)
        if data.get("kind") != KIND:
            raise HypernetError(f"'{folder}' is a tokwork output of another kind, not a hypernetwork")
        card = HypernetCard.from_json(data)
        card.config.validate()
        card.source_info  # noqa: B018  (raises for a card without a complete source)
    except CardError as err:
        raise HypernetError(f"hypernetwork {err}") from None
    except (TypeError, AttributeError, TokworkError) as err:
        if isinstance(err, HypernetError):
            raise
        raise HypernetError(f"hypernetwork '{folder}' has a corrupt {CARD_NAME} ({err})") from None
    return card


def load_hypernet(folder: str | Path, *, device: torch.device | str = "cpu") -> tuple[Hypernetwork, HypernetCard]:
    """The hypernetwork saved in `folder` (in eval mode, on `device`) and its card."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    card = read_hypernet_card(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise HypernetError(f"hypernetwork '{folder}' has no {WEIGHTS}; train it again")
    hypernet = Hypernetwork(card.config)
    try:
        hypernet.load_state_dict(load_file(weights))
    except (SafetensorError, RuntimeError, OSError) as err:
        reason = " ".join(str(err).split())[:160]
        raise HypernetError(f"hypernetwork '{folder}' has corrupt weights ({reason})") from None
    return hypernet.to(device).eval(), card


def load_optimizer(folder: str | Path, optimizer: torch.optim.Optimizer) -> None:
    """Restore AdamW's moments and parameter groups saved beside the weights."""
    load_optimizer_state(optimizer, Path(folder) / OPTIMIZER, error=HypernetError,
                         what=f"hypernetwork '{Path(folder)}'")


def save_hypernet(folder: str | Path, hypernet: Hypernetwork, card: HypernetCard, *,
                  optimizer: torch.optim.Optimizer | None = None) -> Path:
    """Write card, weights and (if given) optimizer state to `folder`, atomically (replacing it)."""
    from safetensors.torch import save_file

    with output_directory(folder, force=True) as staging:
        weights = {name: tensor.detach().cpu().contiguous() for name, tensor in hypernet.state_dict().items()}
        save_file(weights, str(staging / WEIGHTS))
        if optimizer is not None:
            save_optimizer(optimizer, staging / OPTIMIZER)
        write_card(staging, card)
    return Path(folder)
