"""Stochastic tokenizers behind one seeded interface: StochasTok, BPE-dropout and unigram sampling.

A stochastic tokenizer gives a different segmentation of the same text each time, always exact, always
in the base vocabulary; language models trained on such segmentations learn what is inside their tokens.
`StochasticTokenizer(base, method=..., p=..., seed=...)` wraps any tokwork `Tokenizer`:

- `stochastok`: StochasTok (Sims et al., "StochasTok: Improving Fine-Grained Subword Understanding in
  LLMs", 2025) on any base: random splits of deterministic tokens, `p` the expansion rate.
- `bpe-dropout`: BPE-dropout (Provilkov et al., "BPE-Dropout: Simple and Effective Subword
  Regularization", 2020) on BPE bases, `p` the dropout probability; seeded by tokwork's own kernel for
  `tokenizers` BPE (whose built-in dropout cannot be seeded), by sentencepiece for SentencePiece BPE.
- `unigram-sampling`: subword sampling (Kudo, "Subword Regularization", 2018) on SentencePiece unigram
  models, with `alpha` and `nbest_size`.

Reproducibility: the tokenizer counts the texts it encodes; text number k under seed s always gets the
same segmentation, whether it came alone or in a batch. `reset()` starts the count again (with a new seed
for a new epoch, say). Saved, it is a directory with the base tokenizer's files, unchanged, plus
`stochastic.json` (method, parameters and, for StochasTok, the expansion table): `load_tokenizer` and
plain Hugging Face still read the deterministic base from it, `open_tokenizer` and `load_stochastic`
(`tokwork.loader`) the stochastic one.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from tokwork.byteview import ByteView
from tokwork.errors import ParameterError, TokenizerFormatError
from tokwork.formats.hf_json import CONFIG_NAME, HFTokenizer, hf_config
from tokwork.formats.sentencepiece_model import SentencePieceTokenizer
from tokwork.formats.tiktoken_file import TiktokenTokenizer
from tokwork.setting_types import check_setting_types
from tokwork.tokenizer import SpecialTokens, Tokenizer, checked_texts

STOCHASTIC_NAME = "stochastic.json"
# Method name -> what its parameters mean (the CLI lists these).
METHODS = {
    "stochastok": "any base; splits random tokens in two, -p is the expansion rate",
    "bpe-dropout": "BPE bases; -p is the probability of dropping a merge",
    "unigram-sampling": "SentencePiece unigram models; --alpha, --nbest-size",
}
MAX_SEED = (1 << 63) - 1
_HF_SIDE_FILES = (CONFIG_NAME, "special_tokens_map.json")


@dataclass
class StochasticConfig:
    """The method and its parameters; saved in `stochastic.json` and reloadable from it."""

    method: str = "stochastok"
    p: float = 0.1
    alpha: float = 0.1
    nbest_size: int = -1
    seed: int = 0

    def validate(self) -> None:
        """Raise `ParameterError` for an unknown method or parameters outside their range."""
        check_setting_types(self)
        if self.method not in METHODS:
            raise ParameterError(f"unknown stochastic method '{self.method}'; choose one of {', '.join(METHODS)}")
        if not 0.0 <= self.p <= 1.0:  # a number: check_setting_types saw to that
            raise ParameterError(f"p = {self.p} is outside [0, 1]; it is a probability (StochasTok rate, dropout)")
        if not (math.isfinite(self.alpha) and self.alpha >= 0.0):
            raise ParameterError(f"alpha = {self.alpha} must be a finite number >= 0")
        if self.nbest_size != -1 and self.nbest_size < 2:
            raise ParameterError(f"nbest size {self.nbest_size} must be -1 (whole lattice) or at least 2")
        if not 0 <= self.seed <= MAX_SEED:
            raise ParameterError(f"seed {self.seed} must lie in [0, 2**63 - 1]")

    @property
    def parameters(self) -> dict:
        """Only the parameters the method uses (for reports and the card)."""
        used = ("alpha", "nbest_size") if self.method == "unigram-sampling" else ("p",)
        return {"method": self.method, **{k: getattr(self, k) for k in used}, "seed": self.seed}


def make_sampler(base: Tokenizer, config: StochasticConfig, *, saved: dict | None = None):
    """The sampler behind a method: an object with `sample(texts, *, seed, first_index, ...)`.

    Raises `ParameterError` when the method does not apply to the base (dropout on a non-BPE base,
    unigram sampling on anything but a SentencePiece unigram model).
    """
    from tokwork.sampling.bpe_dropout import BPEDropout  # the samplers import numba: only when needed
    from tokwork.sampling.stochastok import ExpansionTable, StochasTok
    from tokwork.sampling.subword_sampling import SentencePieceSampling

    if config.method == "stochastok":
        table = ExpansionTable.from_json(saved["expansion"], base) if saved and "expansion" in saved else None
        return StochasTok(base, p=config.p, table=table)
    if config.method == "bpe-dropout":
        if isinstance(base, SentencePieceTokenizer):
            return SentencePieceSampling(base, method="bpe-dropout", alpha=config.p)
        return BPEDropout(base, p=config.p)
    if isinstance(base, HFTokenizer) and base.spec["model"].get("type") == "BPE":
        name = base.source or "the base tokenizer"
        raise ParameterError(f"unigram-sampling needs a SentencePiece unigram model, and '{name}' is a BPE tokenizer; "
                             "use --method bpe-dropout or stochastok")
    return SentencePieceSampling(base, method="unigram-sampling", alpha=config.alpha, nbest_size=config.nbest_size)


class StochasticTokenizer(Tokenizer):
    """A base tokenizer whose `encode` samples a segmentation; seeded per text, exact, in-vocabulary."""

    format = "stochastic"

    def __init__(self, base: Tokenizer, *, method: str = "stochastok", p: float = 0.1, alpha: float = 0.1,
                 nbest_size: int = -1, seed: int = 0, saved: dict | None = None):
        config = StochasticConfig(method=method, p=p, alpha=alpha, nbest_size=nbest_size, seed=seed)
        config.validate()
        super().__init__(base.source)
        self.base = base
        self.config = config
        self.sampler = make_sampler(base, config, saved=saved)
        self.position = 0

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in self.config.parameters.items())
        return f"<StochasticTokenizer {settings} over {self.base!r}>"

    @property
    def seed(self) -> int:
        return self.config.seed

    def reset(self, *, seed: int | None = None, position: int = 0) -> None:
        """Start counting texts again at `position`, with `seed` if given (a new seed per epoch, say)."""
        if seed is not None:
            StochasticConfig(**{**asdict(self.config), "seed": seed}).validate()
            self.config.seed = seed
        if isinstance(position, bool) or not isinstance(position, int | np.integer) or position < 0:
            raise ParameterError(f"position {position!r} must be a text number >= 0")
        self.position = int(position)

    def deterministic(self) -> Tokenizer:
        """The base tokenizer: the deterministic segmentation of the same vocabulary."""
        return self.base

    def encode(self, text: str, *, add_special_tokens: bool = False, parse_special: bool = False) -> list[int]:
        """A sampled segmentation of `text`: the next text number's stream under the seed."""
        return self.encode_batch([text], add_special_tokens=add_special_tokens, parse_special=parse_special)[0]

    def encode_batch(self, texts: Sequence[str], *, add_special_tokens: bool = False,
                     parse_special: bool = False) -> list[list[int]]:
        """Sampled segmentations; the same as encoding the texts one by one in this order."""
        texts = checked_texts(texts)
        out = self.sampler.sample(texts, seed=self.config.seed, first_index=self.position,
                                  add_special_tokens=add_special_tokens, parse_special=parse_special)
        self.position += len(texts)
        return out

    def decode(self, ids: Sequence[int]) -> str:
        return self.base.decode(ids)

    @property
    def vocab_size(self) -> int:
        return self.base.vocab_size

    def id_to_token(self, token_id: int) -> str | None:
        return self.base.id_to_token(token_id)

    def token_to_id(self, token: str) -> int | None:
        return self.base.token_to_id(token)

    @property
    def specials(self) -> SpecialTokens:
        return self.base.specials

    def normalize(self, text: str) -> str:
        return self.base.normalize(text)

    def _build_byte_view(self) -> ByteView:
        return self.base.byte_view

    def describe(self) -> dict:
        return {**self.base.describe(), "stochastic": self.config.parameters}

    def _write_files(self, directory: Path) -> list[Path]:
        """Copy the base tokenizer's files into `directory` unchanged and add `stochastic.json`."""
        directory = Path(directory)
        written = copy_base_files(self.base, directory)
        if any(p.name == STOCHASTIC_NAME for p in written):
            raise TokenizerFormatError(f"the base tokenizer has a file named {STOCHASTIC_NAME}; rename it first")
        record = {
            "format": "tokwork-stochastic",
            "version": 1,
            "config": asdict(self.config),
            "base": {"format": self.base.format, "vocab_size": self.base.vocab_size,
                     "files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in written}},
            **self.sampler.saved_state(),
        }
        path = directory / STOCHASTIC_NAME
        path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
        return [*written, path]


def copy_base_files(base: Tokenizer, directory: Path) -> list[Path]:
    """Write the base tokenizer's files into `directory` as they are on disk (byte for byte where they
    come from files), so that the folder still loads as the base in tokwork and in plain HF."""
    source = base.source
    if source is None or isinstance(base, TiktokenTokenizer):
        return base._write_files(directory)  # in memory, or a .tiktoken file (copied) with its sidecar
    if isinstance(base, SentencePieceTokenizer):
        target = directory / source.name
        shutil.copyfile(source, target)
        return [target]
    folder = source if source.is_dir() else source.parent
    file = source / "tokenizer.json" if source.is_dir() else source
    written = [directory / "tokenizer.json"]
    shutil.copyfile(file, written[0])
    with_side_files = source.is_dir() or source.name == "tokenizer.json"
    for name in _HF_SIDE_FILES:
        if with_side_files and (folder / name).is_file():
            shutil.copyfile(folder / name, directory / name)
            written.append(directory / name)
    if not (directory / CONFIG_NAME).exists():
        config = hf_config(base)
        (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", "utf-8")
        written.append(directory / CONFIG_NAME)
    return written


def is_stochastic_directory(path: str | Path) -> bool:
    """True for a folder written by `StochasticTokenizer.save` (it holds `stochastic.json`)."""
    return (Path(path) / STOCHASTIC_NAME).is_file()


def read_stochastic_record(directory: str | Path) -> tuple[StochasticConfig, dict]:
    """The config and the whole record of the stochastic tokenizer saved in `directory`.

    Raises `TokenizerFormatError` when `stochastic.json` is missing or corrupt.
    """
    directory = Path(directory)
    path = directory / STOCHASTIC_NAME
    if not path.is_file():
        raise TokenizerFormatError(f"'{directory}' is not a stochastic tokenizer: it has no {STOCHASTIC_NAME}")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        names = {f.name for f in fields(StochasticConfig)}
        config = StochasticConfig(**{k: v for k, v in record["config"].items() if k in names})
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        raise TokenizerFormatError(f"'{path}' is not a valid {STOCHASTIC_NAME}") from None
    return config, record
