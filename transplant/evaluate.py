"""Bits per byte: how well a model with any tokenizer predicts a text, comparable across tokenizers.

Per-token perplexity depends on how much text a token holds, so two tokenizers cannot be compared by it;
the total negative log-likelihood of a text divided by its UTF-8 bytes can (the measure of Gao et al.
2020, "The Pile", and of every transplant paper since). Each text is scored in non-overlapping windows;
a window's first input is the token before it, and a text starts after the tokenizer's bos token (its
eos where it has no bos). Without either, the first token is not scored and its bytes are not counted.
"""

from __future__ import annotations

import gzip
import math
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from tokwork.causal_lm import context_length
from tokwork.corpus import expand_corpus_paths
from tokwork.errors import CorpusError, ParameterError
from tokwork.progress import track
from tokwork.tokenizer import Tokenizer


@dataclass(frozen=True)
class TextScore:
    """The score of one text: bytes and tokens scored, total negative log-likelihood in bits."""

    name: str
    bytes: int
    tokens: int
    bits: float

    @property
    def bits_per_byte(self) -> float:
        return self.bits / self.bytes if self.bytes else float("nan")

    @property
    def token_perplexity(self) -> float:
        return 2 ** (self.bits / self.tokens) if self.tokens else float("nan")

    def as_json(self) -> dict:
        return {**asdict(self), "bits_per_byte": self.bits_per_byte, "token_perplexity": self.token_perplexity}


@dataclass
class Evaluation:
    """Scores per text and in total, with the window they were measured with."""

    window: int
    texts: list[TextScore] = field(default_factory=list)

    @property
    def total(self) -> TextScore:
        return TextScore("total", sum(t.bytes for t in self.texts), sum(t.tokens for t in self.texts),
                         sum(t.bits for t in self.texts))

    def as_json(self) -> dict:
        return {"window": self.window, "texts": [t.as_json() for t in self.texts], "total": self.total.as_json()}


def _windows(ids: list[int], window: int) -> list[tuple[list[int], list[int]]]:
    """(inputs, targets) pairs that score ids[1:], each window fed the token before its targets."""
    return [(ids[start:start + window], ids[start + 1:start + window + 1])
            for start in range(0, len(ids) - 1, window)]


def score_text(model, tokenizer: Tokenizer, text: str, *, name: str = "text", window: int = 1024) -> TextScore:
    """Total negative log-likelihood (bits) of `text` under `model` with `tokenizer`, and what it covers."""
    ids = tokenizer.encode(text)
    specials = tokenizer.specials
    prefix = specials.bos if specials.bos is not None else specials.eos
    size = len(text.encode("utf-8"))
    if prefix is not None:
        ids = [prefix, *ids]
    elif ids:
        first = tokenizer.byte_view[ids[0]]
        size -= len(first) if first is not None else 0
    bits = 0.0
    device = next(model.parameters()).device
    with torch.inference_mode():
        for inputs, targets in _windows(ids, window):
            logits = model(torch.tensor([inputs], device=device)).logits[0, : len(targets)].float()
            nats = torch.nn.functional.cross_entropy(logits, torch.tensor(targets, device=device), reduction="sum")
            bits += float(nats) / math.log(2)
    return TextScore(name, size, max(len(ids) - 1, 0), bits)


def bits_per_byte(model, tokenizer: Tokenizer, texts: dict[str, str], *, window: int = 1024,
                  progress: bool = False) -> Evaluation:
    """Score each named text (a language, a file) and return bits per byte per text and in total, in windows
    of `window` tokens (at most the model's context length)."""
    if not isinstance(texts, Mapping) or not all(isinstance(t, str) for t in texts.values()):
        raise ParameterError("texts must map names to texts, e.g. {'eng': text}; read_texts(paths) gives that "
                             f"from files, not a {type(texts).__name__}")
    if window < 2:
        raise ParameterError(f"window {window} is too small; use at least 2 tokens (1024 is usual)")
    if model.get_input_embeddings().weight.shape[0] < tokenizer.vocab_size:
        raise ParameterError(
            f"the model has {model.get_input_embeddings().weight.shape[0]} embedding rows but the tokenizer "
            f"has {tokenizer.vocab_size} tokens; they do not belong together"
        )
    limit = context_length(model)
    window = min(window, limit) if limit is not None else window  # positions past it were never trained
    model.eval()
    evaluation = Evaluation(window=window)
    for name, text in track(list(texts.items()), "scoring", enabled=progress):
        evaluation.texts.append(score_text(model, tokenizer, text, name=name, window=window))
    return evaluation


def read_texts(paths: list[str | Path]) -> dict[str, str]:
    """Texts to score, named by file stem, or by path where two files share a stem (a folder gives one
    text per file: per language for UDHR). A `.gz` file is scored as the text it holds; a `.jsonl` file
    is refused, since its records are separate texts, not one."""
    files = expand_corpus_paths(paths)
    texts: dict[str, str] = {}
    stems = Counter(_stem(path) for path in files)
    for path in files:
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            raise CorpusError(f"text '{path}' is a .jsonl file of separate records; score them as text files "
                              "(one per record or joined), not as one JSON text")
        try:
            data = path.read_bytes()
            text = (gzip.decompress(data) if path.name.endswith(".gz") else data).decode("utf-8")  # as stored
        except UnicodeDecodeError as err:
            raise CorpusError(f"text '{path}' is not UTF-8 at byte {err.start}") from None
        except (OSError, EOFError, zlib.error) as err:
            raise CorpusError(f"text '{path}' is not a readable .gz file ({err})") from None
        if not text:
            raise CorpusError(f"text '{path}' is empty")
        texts[_stem(path) if stems[_stem(path)] == 1 else str(path)] = text
    return texts


def _stem(path: Path) -> str:
    return path.name.removesuffix(".gz").rsplit(".", 1)[0] if "." in path.name else path.name
