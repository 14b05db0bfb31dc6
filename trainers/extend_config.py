"""What an extension is asked for and the steps every base format shares: the settings (saved in the card),
counting the corpus's words the way the base pre-tokenizes, and refusing an extension that found nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer as BackendTokenizer
from tokenizers import models

from tokwork.errors import ParameterError
from tokwork.loader import tokenizer_file
from tokwork.setting_types import check_setting_types
from tokwork.trainers.bpe_model import MAX_VOCAB_SIZE, TRAINING_BLOCK_CHARS
from tokwork.trainers.extend_learner import LearnedExtension


@dataclass
class ExtendConfig:
    """Settings of an extension; saved in the card."""

    base: str
    add: int
    min_frequency: int = 2

    def validate(self) -> None:
        """Raise `ParameterError` for a count of new tokens that makes no sense, `TokenizerFormatError` for a
        base that does not exist (whether it can be extended is known once it is read)."""
        check_setting_types(self)
        if self.add < 1:
            raise ParameterError(f"--add {self.add} must be at least 1 new token")
        if self.add > MAX_VOCAB_SIZE:
            raise ParameterError(f"--add {self.add} is absurdly large; use at most {MAX_VOCAB_SIZE}")
        if self.min_frequency < 1:
            raise ParameterError(f"min frequency {self.min_frequency} must be at least 1")
        tokenizer_file(self.base)


def light_pretokenizer_json(backend: BackendTokenizer) -> str:
    """A `tokenizer.json` with only the base's normaliser and pre-tokenizer: what counting pre-tokens needs,
    without a large vocabulary to parse again."""
    light = BackendTokenizer(models.BPE())
    if backend.normalizer is not None:
        light.normalizer = backend.normalizer
    if backend.pre_tokenizer is not None:
        light.pre_tokenizer = backend.pre_tokenizer
    return light.to_str()


def count_words(corpus: Sequence[str | Path], tokenizer_json: str, *, text_field: str, progress: bool):
    """Count the corpus's pre-tokens under `tokenizer_json`'s normaliser and pre-tokenizer (as training
    would: see `tokwork.pretoken_counts`); returns {word: count} and the corpus files for the card.
    Raises `CorpusError` for a missing, empty or non-UTF-8 corpus."""
    from tokwork.pretoken_counts import count_pretokens

    table, files = count_pretokens(corpus, tokenizer_json=tokenizer_json, text_field=text_field,
                                   block_chars=TRAINING_BLOCK_CHARS, progress=progress)
    try:
        return table.to_dict(), files
    finally:
        table.close()


def check_learned(learned: LearnedExtension, config: ExtendConfig) -> None:
    """Refuse an extension that found nothing to add."""
    if not learned.new_tokens:
        raise ParameterError(f"the corpus has no pair of tokens that occurs at least {config.min_frequency} "
                             "times (min frequency) and makes a new token; give more text or lower "
                             "--min-frequency")
