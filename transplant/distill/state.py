"""The distilled model's folder: a plain HF checkpoint, its card, and what a resumed run needs.

The folder loads with `AutoModelForCausalLM` and `AutoTokenizer` as it is; beside the weights it holds
`tokwork.json` (the card: teacher, student, corpus, settings, steps, losses, time) and the optimizer's
moments (`distill-optimizer.safetensors`). Every checkpoint is written to a temporary sibling and
renamed into place, so an interrupted run leaves the last complete one.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tokwork.card import (
    MODEL_LIBRARIES,
    CardError,
    JsonCard,
    has_card,
    library_versions,
    read_card,
    write_card,
)
from tokwork.errors import TokworkError
from tokwork.formats.hf_json import CHAT_TEMPLATE
from tokwork.outputs import output_directory
from tokwork.progress import transformers_bars_off
from tokwork.transplant.optimizer_state import load_optimizer, save_optimizer

KIND = "distill"
BEST_KIND = "distill-best"  # the card of `--best-output`: a finished student, not a run to resume
OPTIMIZER = "distill-optimizer.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "vocab.json", "merges.txt", "added_tokens.json", CHAT_TEMPLATE)


class DistillError(TokworkError):
    """A distillation folder is corrupt, or teacher and student cannot be distilled."""


@dataclass
class DistillCard(JsonCard):
    """How a distilled model was made; saved as `tokwork.json` and round-tripped through JSON."""

    teacher: str
    student: str
    corpus: list[str]
    training: dict[str, Any]
    new_rows: int
    trained_parameters: int
    device: str
    threads: int
    step: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=lambda: library_versions(MODEL_LIBRARIES))
    transplant: dict[str, Any] | None = None  # how the student was made, when `tokwork transplant` chained us
    heldout: dict[str, Any] | None = None  # held-out bits per byte: the teacher's and the student's by step
    precision: str | None = None  # what the forwards ran in (`devices.precision_of`); None in older cards
    kind: str = KIND
    files: list[str] | None = None  # what the folder holds, set as it is written (`tokwork.outputs`)



def is_distill_folder(folder: str | Path) -> bool:
    """Whether `folder` holds a distillation card (it may still be corrupt)."""
    try:
        return has_card(folder) and read_card(folder).get("kind") == KIND
    except CardError:
        return False


def read_distill_card(folder: str | Path) -> DistillCard:
    """The card of a distillation folder; `DistillError` for a corrupt one."""
    try:
        return DistillCard.from_json(read_card(folder))
    except (CardError, TypeError) as err:
        raise DistillError(f"distilled model '{folder}' has a corrupt card ({err}); pass --fresh to start "
                           "over") from None


def load_optimizer_state(folder: str | Path, optimizer: torch.optim.Optimizer) -> None:
    """Restore the optimizer's moments saved in a distillation folder."""
    load_optimizer(optimizer, Path(folder) / OPTIMIZER, error=DistillError, what=f"distilled model '{folder}'")


def save_distilled(folder: str | Path, model: Any, tokenizer_folder: Path, card: DistillCard,
                   optimizer: torch.optim.Optimizer | None) -> Path:
    """Write the student (weights, its tokenizer's files, card, optimizer state) to `folder`, atomically."""
    with output_directory(folder, force=True) as staging, transformers_bars_off():
        model.save_pretrained(staging)
        for name in TOKENIZER_FILES:
            if (tokenizer_folder / name).is_file():
                shutil.copyfile(tokenizer_folder / name, staging / name)
        if optimizer is not None:
            save_optimizer(optimizer, staging / OPTIMIZER)
        write_card(staging, card)
    return Path(folder)
