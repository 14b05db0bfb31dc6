"""The byte-level BPE both training engines build (as in GPT-2): its settings, its empty `tokenizers`
model, the `tokenizers` trainer for it, and the wrapping of a trained one with its special tokens.

All 256 bytes are in the initial alphabet and no prefix space is added, so every string encodes and
decodes back to itself exactly. `tokwork.trainers.bpe` trains it with the `tokenizers` trainer,
`tokwork.trainers.bpe_learner` from pre-token counts; the supertoken trainers start from it too.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from tokenizers import Tokenizer as BackendTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers

from tokwork.errors import ParameterError
from tokwork.formats.hf_json import HFTokenizer
from tokwork.setting_types import check_setting_types
from tokwork.split_patterns import SPLIT_PATTERNS, byte_level_pretokenizer

BYTE_ALPHABET = 256
MAX_VOCAB_SIZE = 1 << 21
# Text files reach the Rust trainer in blocks of whole paragraphs: the same text as the file, with a
# per-item cost small enough that feeding from Python is as fast as the library reading files itself.
TRAINING_BLOCK_CHARS = 1 << 16


def check_special_tokens(tokens: list[str]) -> None:
    """Refuse special tokens that would break ordinary text: an empty one, or one of a single character
    (text is cut at every occurrence of a special token, so a special "a" takes every a out of words)."""
    for token in tokens:
        if not token.strip():
            raise ParameterError(f"special token {token!r} is empty or blank; give a marker such as <|endoftext|>")
        if len(token) == 1:
            raise ParameterError(f"special token {token!r} is one character, which ordinary text holds: the "
                                 "tokenizer would cut it out of every word; give a marker such as <|endoftext|>")


def check_vocab_size(vocab_size: int, *, minimum: int, what: str = "the byte alphabet") -> None:
    """Refuse vocabulary sizes below what the tokenizer needs or absurdly above any real vocabulary."""
    if vocab_size < minimum:
        raise ParameterError(f"vocab size {vocab_size} is below {what}; use at least {minimum}")
    if vocab_size > MAX_VOCAB_SIZE:
        raise ParameterError(f"vocab size {vocab_size} is absurdly large; use at most {MAX_VOCAB_SIZE}")


@dataclass
class BPEConfig:
    """Settings of a byte-level BPE run; saved in the card and reloadable from it."""

    vocab_size: int
    min_frequency: int = 2
    split: str = "gpt2"
    max_token_length: int | None = None
    nfkc: bool = False
    eos_token: str = "<|endoftext|>"
    special_tokens: list[str] = field(default_factory=list)
    pad_token: str | None = None  # declared as transformers' pad token (added as a special if not listed)

    @property
    def all_special_tokens(self) -> list[str]:
        listed = [self.eos_token, *self.special_tokens, *([self.pad_token] if self.pad_token else [])]
        return list(dict.fromkeys(listed))

    def validate(self) -> None:
        """Raise `ParameterError` for settings that cannot give a sensible tokenizer."""
        check_setting_types(self)
        check_special_tokens(self.all_special_tokens)
        check_vocab_size(self.vocab_size, minimum=BYTE_ALPHABET + len(self.all_special_tokens),
                         what=f"the byte alphabet plus {len(self.all_special_tokens)} special token(s)")
        if self.split not in SPLIT_PATTERNS:
            raise ParameterError(f"unknown split pattern '{self.split}'; choose one of {', '.join(SPLIT_PATTERNS)}")
        if self.min_frequency < 1:
            raise ParameterError(f"min frequency {self.min_frequency} must be at least 1")
        if self.max_token_length is not None and self.max_token_length < 2:
            raise ParameterError(f"max token length {self.max_token_length} must be at least 2 bytes")


def empty_byte_level_bpe(config: BPEConfig) -> BackendTokenizer:
    """An untrained byte-level BPE with the pre-tokenizer, decoder and normaliser the config asks for."""
    backend = BackendTokenizer(models.BPE())
    if config.nfkc:
        backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = byte_level_pretokenizer(SPLIT_PATTERNS[config.split])
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    return backend


def trainer_length_limit(config: BPEConfig) -> int | None:
    """The `tokenizers` trainer's token length limit for the config's "at most N bytes".

    The Rust trainer keeps a merged token only when it is strictly shorter than its limit, so "at most
    N bytes" is a limit of N + 1 there (tests/trainers/test_char.py checks the resulting lengths).
    """
    return None if config.max_token_length is None else config.max_token_length + 1


def bpe_trainer(config: BPEConfig, *, show_progress: bool) -> trainers.BpeTrainer:
    """The `tokenizers` trainer for the config (all 256 bytes in the alphabet, specials first). Its bars
    draw on stdout and leave blank lines there when that is not a terminal, so they show only on one."""
    return trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=config.all_special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        max_token_length=trainer_length_limit(config),
        show_progress=show_progress and sys.stdout.isatty(),
    )


def trained_tokenizer(backend: BackendTokenizer, config: BPEConfig) -> HFTokenizer:
    """Wrap a trained byte-level BPE with the roles its `tokenizer_config.json` will name."""
    roles = {"bos_token": config.eos_token, "eos_token": config.eos_token}
    if config.pad_token:
        roles["pad_token"] = config.pad_token
    extra = [t for t in config.all_special_tokens if t not in roles.values()]
    if extra:  # transformers counts them as special (all_special_ids, skip_special_tokens) only when listed
        roles["additional_special_tokens"] = extra
    return HFTokenizer(backend, config={"tokenizer_class": "PreTrainedTokenizerFast",
                                        "clean_up_tokenization_spaces": False, **roles})
