"""Reading a source checkpoint safely and writing the transplanted one as a plain HF folder.

A checkpoint is an HF folder: `config.json`, safetensors weights and a tokenizer. Pickle weights
(`pytorch_model.bin`) can run code when loaded, so they are refused unless the caller says it trusts
them; remote code is never run. The written folder loads with `AutoModelForCausalLM.from_pretrained`
and `AutoTokenizer.from_pretrained` as it is: its vocabulary size, tied flag and special-token ids are
those of the new tokenizer, and it is written to a temporary sibling that is renamed into place.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokwork.card import MODEL_LIBRARIES, library_versions, write_card
from tokwork.causal_lm import check_causal_lm, check_tokenizer_fits, context_length
from tokwork.errors import TokenizerFormatError, TokworkError
from tokwork.formats.hf_json import CHAT_TEMPLATE, read_chat_template
from tokwork.loader import load_tokenizer
from tokwork.outputs import output_directory
from tokwork.progress import transformers_bars_off
from tokwork.smollm2 import resolve_model_path
from tokwork.tokenizer import Tokenizer
from tokwork.transplant.align import Alignment
from tokwork.transplant.registry import Embeddings

# The kinds of the model checkpoints tokwork writes (transplant, distill, the best student, adapt; None for
# a transplant's card from before cards named their kind): one may be replaced by another without --force.
# The outputs each model command replaces without --force: its own kind only (None: a transplant's card
# from before cards had kinds), so that no command overwrites another's trained model unasked.
TRANSPLANT_KINDS = (None, "transplant")
DISTILL_KINDS = ("distill",)
BEST_KINDS = ("distill-best",)
ADAPT_KINDS = ("adapt",)

SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")


class CheckpointError(TokworkError):
    """A model folder is missing, corrupt, pickled without permission, or not a causal LM."""


@dataclass
class Checkpoint:
    """A loaded causal LM with its tokenizer and the folder it came from."""

    path: Path
    model: Any
    tokenizer: Tokenizer
    stored_dtype: torch.dtype = torch.float32  # of the weights in the folder (they are loaded in float32)

    @property
    def tied(self) -> bool:
        """Whether the output head shares its matrix with the input embeddings."""
        head = self.model.get_output_embeddings()
        return head is None or head.weight is self.model.get_input_embeddings().weight

    def input_embeddings(self) -> torch.Tensor:
        return self.model.get_input_embeddings().weight.detach()

    def output_embeddings(self) -> torch.Tensor | None:
        """The head's matrix, None when it is tied to the input embeddings."""
        return None if self.tied else self.model.get_output_embeddings().weight.detach()


def check_checkpoint_folder(path: str | Path, *, allow_pickle: bool = False) -> Path:
    """Refuse a folder that is not an HF checkpoint or whose weights are a pickle the user did not allow;
    return the folder, which for the alias 'smollm2' is the SmolLM2 folder (`resolve_model_path`)."""
    path = resolve_model_path(path)
    if not path.exists():
        raise CheckpointError(f"model '{path}' does not exist")
    if not path.is_dir() or not (path / "config.json").is_file():
        raise CheckpointError(f"'{path}' is not an HF model folder (no config.json)")
    if any((path / name).is_file() for name in SAFE_WEIGHTS):
        return path
    if any((path / name).is_file() for name in PICKLE_WEIGHTS):
        if not allow_pickle:
            raise CheckpointError(
                f"'{path}' holds only pickle weights (pytorch_model.bin), which can run code when loaded; "
                "convert them to safetensors or pass --allow-pickle if you trust the file"
            )
        return path
    raise CheckpointError(f"'{path}' holds no weights (model.safetensors or pytorch_model.bin)")


def check_model_fits_tokenizer(folder: Path) -> None:
    """Refuse, from its config and tokenizer alone (no weights loaded), a model folder whose tokenizer has
    more tokens than the model has rows: steps that would only fail once the model is loaded do not run."""
    rows = check_causal_lm(folder).get("vocab_size")
    tokens = load_tokenizer(folder).vocab_size
    if isinstance(rows, int) and rows < tokens:
        raise TokenizerFormatError(f"model and tokenizer do not belong together: '{folder}' predicts {rows:,} "
                                   f"tokens, its tokenizer has {tokens:,}")


def load_checkpoint(path: str | Path, *, tokenizer: str | Path | None = None, allow_pickle: bool = False,
                    role: str = "model", why: str = "") -> Checkpoint:
    """Load a causal LM folder (or 'smollm2') in float32 (no remote code, nothing fetched) and its tokenizer.

    `tokenizer` overrides the folder's own tokenizer. Raises `CheckpointError` for a missing or corrupt
    folder and for pickle weights without `allow_pickle`, and `TokworkError` for a model that is no causal
    LM (named as `role`, the message ending with `why`).
    """
    path = check_checkpoint_folder(path, allow_pickle=allow_pickle)
    config = check_causal_lm(path, role=role, why=why)
    loaded_tokenizer = load_tokenizer(tokenizer or path)
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    try:
        with transformers_bars_off():  # stderr stays free for one-line errors; tokwork draws its own bars
            model = AutoModelForCausalLM.from_pretrained(
                path, dtype=torch.float32, trust_remote_code=False, local_files_only=True,
                use_safetensors=None if allow_pickle else True,
            )
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as err:
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise CheckpointError(f"model '{path}' cannot be loaded: {reason}") from None
    model.eval()
    if tokenizer is not None:  # the folder's own fits by construction; another one may not
        check_tokenizer_fits(model, loaded_tokenizer)
    return Checkpoint(path=path, model=model, tokenizer=loaded_tokenizer, stored_dtype=stored_dtype(config))


def stored_dtype(config: dict) -> torch.dtype:
    """The dtype a config.json says the weights are stored in (bfloat16 and float16 kept, float32 else)."""
    name = config.get("dtype") or config.get("torch_dtype")
    return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(name, torch.float32)


@dataclass
class TransplantCard:
    """What was done, saved as `tokwork.json` beside the weights; round-trips through JSON."""

    method: str
    options: dict[str, Any]
    donor: str | None
    source: str
    target: str
    alignment: dict[str, Any]
    tied: bool
    seconds: float
    versions: dict[str, str] = field(default_factory=lambda: library_versions(MODEL_LIBRARIES))
    kind: str = "transplant"
    dtype: str = "float32"  # of the written weights: the source's own where it was stored in 16 bits
    specials: dict[str, str] = field(default_factory=dict)  # target special -> the source token whose row it got
    chat_template: str | None = None  # "carried", "dropped: ...", or None when the source has none
    new_ids: list[list[int]] = field(default_factory=list)  # [start, stop) runs of the ids given new rows

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TransplantCard:
        return cls(**data)


# The special ids generation reads (GenerationConfig keeps no others: an unk id set there is lost on reload).
GENERATION_ROLES = ("bos", "eos", "pad")


def _set_special_ids(config: Any, target: Tokenizer, roles: tuple[str, ...] | None = None) -> None:
    for role, token_id in target.specials.as_json().items():
        if roles is None or role in roles:
            setattr(config, f"{role}_token_id", token_id)


def check_target_tokenizer(target: Tokenizer) -> None:
    """Fail early when the new checkpoint could not carry this tokenizer (transformers needs tokenizer.json)."""
    from tokwork.formats.hf_json import HFTokenizer

    if not isinstance(target, HFTokenizer):
        raise TokworkError(
            f"the target tokenizer '{target.source}' is a {target.format} file; transformers needs a "
            "tokenizer.json to load the new checkpoint, so convert it to one first"
        )


def _save_target_tokenizer(target: Tokenizer, folder: Path, context: int | None) -> None:
    """The target tokenizer's files, its length limit the model's context (GPT-2's 1,024 would cut every
    text for a model that reads 8,192 tokens) where the model says what that is."""
    from tokwork.formats.hf_json import hf_config

    check_target_tokenizer(target)
    target.backend.save(str(folder / "tokenizer.json"))
    config = dict(target.config) or hf_config(target)
    config.setdefault("tokenizer_class", "PreTrainedTokenizerFast")
    if context is not None:
        config["model_max_length"] = context
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n",
                                                  encoding="utf-8")


def carry_chat_template(source: Path, target: Tokenizer, folder: Path) -> str | None:
    """Copy the source model's chat template (its `chat_template.jinja`, or the one in its
    `tokenizer_config.json`) into `folder` when the target tokenizer has every special token the template
    writes (`<|im_start|>`, ...), as an extension of the model's own tokenizer does: the chat model stays a
    chat model. A target without them (another family's vocabulary) gets none. Returns what happened, for
    the card: "carried", "dropped: ..." naming the missing tokens, or None when the source has none."""
    template = read_chat_template(source)
    if not template:
        return None
    specials = set(re.findall(r"<\|[^|<>\s]+\|>|<(?:s|/s|start_of_turn|end_of_turn|bos|eos)>", template))
    missing = sorted(token for token in specials if target.token_to_id(token) is None)
    if missing:
        return f"dropped: the target tokenizer has no {', '.join(missing)}"
    (folder / CHAT_TEMPLATE).write_text(template, encoding="utf-8")
    return "carried"


def apply_embeddings(model: Any, alignment: Alignment, embeddings: Embeddings) -> Any:
    """Replace `model`'s input and output matrices (in place) and set its vocabulary size and specials."""
    rows = alignment.target_rows
    if embeddings.input.shape[0] != rows or (embeddings.output is not None and embeddings.output.shape[0] != rows):
        raise ValueError(f"new matrices must have {rows} rows")
    head = model.get_output_embeddings()
    tied = head is None or head.weight is model.get_input_embeddings().weight
    if (embeddings.output is None) != tied:
        raise ValueError("a tied model needs one matrix, an untied one two")
    model.resize_token_embeddings(rows, mean_resizing=False)
    model.get_input_embeddings().weight.data = embeddings.input.contiguous().to(torch.float32)
    if embeddings.output is not None:
        model.get_output_embeddings().weight.data = embeddings.output.contiguous().to(torch.float32)
    else:
        model.tie_weights()
    model.config.vocab_size = rows
    _set_special_ids(model.config, alignment.target)
    if getattr(model, "generation_config", None) is not None:
        _set_special_ids(model.generation_config, alignment.target, GENERATION_ROLES)
    return model


def write_checkpoint(source: Checkpoint, alignment: Alignment, embeddings: Embeddings, output: str | Path, *,
                     card: TransplantCard, force: bool = False) -> Path:
    """Put the new matrices into the source model and write it with the target tokenizer, atomically.

    The in-memory source model is changed (its matrices are replaced, and for a source stored in 16 bits
    its weights are rounded to them as they are written); the source folder is not.
    """
    model = apply_embeddings(source.model, alignment, embeddings)
    card.dtype = str(source.stored_dtype).removeprefix("torch.")
    card.specials = special_rows(alignment)
    card.new_ids = id_runs(alignment.new_ids)
    with output_directory(output, force=force, kinds=TRANSPLANT_KINDS) as staging:
        with transformers_bars_off():
            if source.stored_dtype != torch.float32:  # written as the source is stored: 16-bit stays 16-bit
                model.to(source.stored_dtype).save_pretrained(staging)
                model.to(torch.float32)
            else:
                model.save_pretrained(staging)
        _save_target_tokenizer(alignment.target, staging, context_length(model))
        card.chat_template = carry_chat_template(source.path, alignment.target, staging)
        write_card(staging, card)
    return Path(output)


def id_runs(ids) -> list[list[int]]:
    """Sorted ids as [start, stop) runs of consecutive ids (shorter than the list where ids come in runs)."""
    ids = np.unique(np.asarray(ids, dtype=np.int64))
    if not len(ids):
        return []
    breaks = np.flatnonzero(np.diff(ids) != 1)
    starts = np.concatenate([[ids[0]], ids[breaks + 1]])
    stops = np.concatenate([ids[breaks] + 1, [ids[-1] + 1]])
    return [[int(a), int(b)] for a, b in zip(starts, stops, strict=True)]


def special_rows(alignment: Alignment) -> dict[str, str]:
    """For each target special token, the source token whose row it got ('' for a new row)."""
    source, target = alignment.source, alignment.target
    found = {}
    for token_id in target.byte_view.special_ids():
        if token_id < len(alignment.source_ids):
            row = int(alignment.source_ids[token_id])
            found[str(target.id_to_token(token_id))] = str(source.id_to_token(row)) if row >= 0 else ""
    return found
