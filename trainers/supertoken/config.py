"""What a supertoken run takes and gives: its settings (`SupertokenConfig`, saved in the card) and the trained
tokenizer (`TrainedSupertoken`)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from tokwork.errors import ParameterError
from tokwork.setting_types import check_setting_types
from tokwork.trainers.bpe_model import BYTE_ALPHABET, BPEConfig
from tokwork.trainers.card import TrainedTokenizer

if TYPE_CHECKING:
    from tokwork.trainers.supertoken.stages import SuperwordStages

METHODS = ("two-stage", "random-chunk")
TRANSITION_SHARE = 0.8
DEFAULT_CHUNK_LENGTHS = "1-5:0.02,6-18:0.7,19-28:0.28"
_CHUNK_RANGE = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+))?\s*(?::\s*([0-9.eE+-]+))?\s*$")


def parse_chunk_lengths(spec: str) -> tuple[list[tuple[int, int]], list[float]]:
    """Read a chunk-length distribution such as "6-18:0.7,19-28:0.3" (character ranges with weights; a
    lone "8" or "4-12" is one range of weight 1) into ranges and probabilities."""
    ranges, weights = [], []
    for part in spec.split(","):
        match = _CHUNK_RANGE.match(part)
        if not match:
            raise ParameterError(f"chunk lengths '{spec}' must look like '6-18:0.7,19-28:0.3' (characters:weight)")
        low = int(match[1])
        high = int(match[2]) if match[2] is not None else low
        try:
            weight = float(match[3]) if match[3] is not None else 1.0
        except ValueError:
            raise ParameterError(f"chunk length weight '{match[3]}' in '{spec}' is not a number") from None
        if min(low, high) <= 0:
            raise ParameterError(f"chunk length {min(low, high)} in '{spec}' must be at least 1 character")
        if high < low:
            raise ParameterError(f"chunk length range {low}-{high} in '{spec}' runs backwards; write {high}-{low}")
        if not weight > 0:
            raise ParameterError(f"chunk length weight {weight} in '{spec}' must be above 0")
        ranges.append((low, high))
        weights.append(weight)
    total = sum(weights)
    return ranges, [w / total for w in weights]


@dataclass
class SupertokenConfig:
    """Settings of a supertoken run; saved in the card. `transition` is the stage-1 vocabulary size
    (None: 80% of `vocab_size`); `chunk_lengths` and `seed` are for the random-chunk method."""

    vocab_size: int
    method: str = "two-stage"
    transition: int | None = None
    chunk_lengths: str = DEFAULT_CHUNK_LENGTHS
    seed: int = 0
    min_frequency: int = 2
    split: str = "gpt2"
    eos_token: str = "<|endoftext|>"

    @property
    def transition_point(self) -> int:
        """The vocabulary size at which the first stage (ordinary BPE) ends and superword merges begin."""
        return self.transition if self.transition is not None else int(TRANSITION_SHARE * self.vocab_size)

    def bpe_config(self, vocab_size: int) -> BPEConfig:
        """The plain BPE settings of a stage that learns up to `vocab_size` tokens."""
        return BPEConfig(vocab_size=vocab_size, min_frequency=self.min_frequency, split=self.split,
                         eos_token=self.eos_token)

    def card_parameters(self) -> dict:
        """The settings as the card records them: only those the method uses."""
        unused = ("transition", "split") if self.method != "two-stage" else ("chunk_lengths", "seed")
        return {k: v for k, v in asdict(self).items() if k not in unused}

    def validate(self) -> None:
        """Raise `ParameterError` for settings that cannot give a supertoken tokenizer."""
        check_setting_types(self)
        if not 0 <= self.seed < 1 << 63:
            raise ParameterError(f"seed {self.seed} must lie in [0, 2**63 - 1]")
        if self.method not in METHODS:
            raise ParameterError(f"unknown supertoken method '{self.method}'; choose one of {', '.join(METHODS)}")
        unused = ([("--transition", self.transition is not None), ("--split", self.split != "gpt2")]
                  if self.method != "two-stage" else
                  [("--chunk-lengths", self.chunk_lengths != DEFAULT_CHUNK_LENGTHS), ("--seed", self.seed != 0)])
        for option, given in unused:  # the card records settings: none that did nothing
            if given:
                raise ParameterError(f"{option} does nothing with --method {self.method}; leave it out")
        self.bpe_config(self.vocab_size).validate()
        if self.method == "two-stage":
            t = self.transition_point
            if t >= self.vocab_size:
                raise ParameterError(f"transition point {t} must be below the vocab size {self.vocab_size}; "
                                     "pass a smaller --transition")
            if t < BYTE_ALPHABET + 1:
                raise ParameterError(f"transition point {t} is below the byte alphabet plus the end-of-text token; "
                                     f"use at least {BYTE_ALPHABET + 1}")
        else:
            parse_chunk_lengths(self.chunk_lengths)


@dataclass
class TrainedSupertoken(TrainedTokenizer):
    """A trained supertoken tokenizer; for two-stage runs, `stages` runs the two stages separately."""

    stages: SuperwordStages | None = None
