"""Training a tokenizer into an output folder: the one call behind each `tokwork train` command.

Each kind of tokenizer has a config dataclass (saved in its card) and a trainer
`train(corpus, config, *, text_field, progress, ...) -> TrainedTokenizer`; `TRAINERS` maps the config's
type to its trainer, so `train_tokenizer(corpus, config, output)` trains any kind. It checks the config
and the output folder (`tokwork.outputs`) before the long work starts, so that a mistake is reported at
once, and writes the tokenizer with its card atomically. `make_stochastic_tokenizer` does the same for a
stochastic tokenizer made over an existing one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tokwork.corpus import corpus_list
from tokwork.outputs import check_output_directory
from tokwork.sampling import StochasticConfig
from tokwork.trainers.bpe import train_bpe
from tokwork.trainers.bpe_model import BPEConfig
from tokwork.trainers.card import TOKENIZER_KINDS, TrainedTokenizer
from tokwork.trainers.char import CharConfig, train_char
from tokwork.trainers.extend import ExtendConfig, extend_tokenizer
from tokwork.trainers.stochastic import make_stochastic
from tokwork.trainers.supertoken import SupertokenConfig, train_supertoken
from tokwork.trainers.unigram import UnigramConfig, train_unigram

TRAINERS: dict[type, Callable[..., TrainedTokenizer]] = {
    BPEConfig: train_bpe,
    UnigramConfig: train_unigram,
    CharConfig: train_char,
    SupertokenConfig: train_supertoken,
    ExtendConfig: extend_tokenizer,
}


def train_tokenizer(corpus: Sequence[str | Path], config: Any, output: str | Path, *, force: bool = False,
                    text_field: str = "text", progress: bool = True,
                    **options: Any) -> tuple[TrainedTokenizer, Path]:
    """Train the kind of tokenizer `config` configures on `corpus`, write it with its card into `output`,
    and return it with the folder written.

    `options` go to the kind's trainer (BPE: `engine` and `address`, see `train_bpe`). Raises
    `ParameterError` for a config that cannot give a tokenizer and `OutputError` for an output folder that
    is not a tokwork output (without `force`), both before training.
    """
    trainer = TRAINERS[type(config)]
    config.validate()
    parity = options.get("parity")
    inputs = [*corpus_list(corpus), *(p for p in (getattr(config, "base", None), getattr(parity, "dev", None)) if p)]
    check_output_directory(output, force=force, kinds=TOKENIZER_KINDS, inputs=inputs)
    trained = trainer(corpus, config, text_field=text_field, progress=progress, **options)
    return trained, trained.save(output, force=force)


def make_stochastic_tokenizer(base: str | Path, config: StochasticConfig, output: str | Path, *,
                              force: bool = False) -> tuple[TrainedTokenizer, Path]:
    """A stochastic tokenizer over the tokenizer at `base` (`make_stochastic`), written with its card into
    `output`; returns it with the folder written. The config and the output folder are checked first."""
    config.validate()
    check_output_directory(output, force=force, kinds=TOKENIZER_KINDS, inputs=[base])
    made = make_stochastic(base, config)
    return made, made.save(output, force=force)
