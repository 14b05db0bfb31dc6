"""Character-level tokenizers after the KL3M recipe, and a pure character mode.

KL3M's character tokenizers are byte-level BPE whose tokens are capped at a few bytes
(`max_token_length`), with NFKC optional and a vocabulary size that is a power of two; the requested size
is rounded up to the next power of two. The pure character mode keeps the most frequent characters as
tokens and spells every other character with byte-fallback pieces `<0xNN>`, so any text still round-trips.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tokenizers import Tokenizer as BackendTokenizer
from tokenizers import decoders, models, normalizers

from tokwork.corpus import CorpusReader
from tokwork.errors import ParameterError
from tokwork.formats.hf_json import HFTokenizer
from tokwork.setting_types import check_setting_types
from tokwork.trainers.bpe import train_bpe
from tokwork.trainers.bpe_model import BYTE_ALPHABET, BPEConfig, check_special_tokens, check_vocab_size
from tokwork.trainers.card import TrainedTokenizer, TrainingCard

MODES = ("bpe", "char")


def next_power_of_two(n: int) -> int:
    """The smallest power of two that is at least `n`."""
    return 1 << max(0, int(n) - 1).bit_length()


@dataclass
class CharConfig:
    """Settings of a character-level run; `vocab_size` is what was asked, rounded up when training."""

    vocab_size: int
    mode: str = "bpe"
    max_token_length: int = 3
    nfkc: bool = False
    min_frequency: int = 2
    eos_token: str = "<|endoftext|>"

    def card_parameters(self) -> dict:
        """The settings as the card records them: in char mode, not the BPE mode's token length and
        frequency, which do nothing there; with the size trained toward."""
        unused = ("max_token_length", "min_frequency") if self.mode == "char" else ()
        return {**{k: v for k, v in asdict(self).items() if k not in unused},
                "vocab_size_rounded": self.rounded_vocab_size}

    @property
    def rounded_vocab_size(self) -> int:
        return next_power_of_two(self.vocab_size)

    def validate(self) -> None:
        """Raise `ParameterError` for settings that cannot give a character-level tokenizer."""
        check_setting_types(self)
        if self.mode not in MODES:
            raise ParameterError(f"unknown char mode '{self.mode}'; choose one of {', '.join(MODES)}")
        check_special_tokens([self.eos_token])
        for size in (self.vocab_size, self.rounded_vocab_size):  # the size asked is named where it is refused
            check_vocab_size(size, minimum=BYTE_ALPHABET + 1, what="the byte alphabet plus the end-of-text token")
        if self.max_token_length < 2:
            raise ParameterError(f"max token length {self.max_token_length} must be at least 2 bytes")


def train_char(
    corpus: Sequence[str | Path], config: CharConfig, *, text_field: str = "text", progress: bool = True
) -> TrainedTokenizer:
    """Train a character-level tokenizer (`mode="bpe"`: KL3M style; `mode="char"`: one token per char)."""
    config.validate()
    if config.mode == "bpe":
        bpe = BPEConfig(vocab_size=config.rounded_vocab_size, min_frequency=config.min_frequency,
                        max_token_length=config.max_token_length, nfkc=config.nfkc, eos_token=config.eos_token)
        trained = train_bpe(corpus, bpe, text_field=text_field, progress=progress)
        trained.card.kind = "char"
        trained.card.parameters = config.card_parameters()
        return trained
    start = time.perf_counter()
    reader = CorpusReader(corpus, text_field=text_field, progress=progress)
    counts = count_characters(reader, nfkc=config.nfkc)
    backend = character_tokenizer(counts, vocab_size=config.rounded_vocab_size, eos_token=config.eos_token,
                                  nfkc=config.nfkc)
    roles = {"bos_token": config.eos_token, "eos_token": config.eos_token}
    tokenizer = HFTokenizer(backend, config={"tokenizer_class": "PreTrainedTokenizerFast",
                                             "clean_up_tokenization_spaces": False, **roles})
    card = TrainingCard.for_corpus(
        "char", config.card_parameters(), reader.files,
        time.perf_counter() - start,
        notes={"vocab_size_reached": tokenizer.vocab_size, "characters_seen": len(counts),
               "characters_kept": tokenizer.vocab_size - BYTE_ALPHABET - 1},
    )
    return TrainedTokenizer(tokenizer, card)


def count_characters(texts: Iterable[str], *, nfkc: bool) -> Counter:
    """How often each character occurs in the texts (after NFKC when asked)."""
    normalizer = normalizers.NFKC() if nfkc else None
    counts: Counter = Counter()
    for text in texts:
        counts.update(normalizer.normalize_str(text) if normalizer else text)
    return counts


def character_tokenizer(counts: Counter, *, vocab_size: int, eos_token: str, nfkc: bool) -> BackendTokenizer:
    """A `tokenizer.json` model with one token per kept character and `<0xNN>` pieces for the rest.

    It is a BPE without merges and with byte fallback, which plain `tokenizers` runs as a character model.
    """
    vocab = {eos_token: 0}
    vocab.update({f"<0x{b:02X}>": 1 + b for b in range(BYTE_ALPHABET)})
    keep = vocab_size - len(vocab)
    for char, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:keep]:
        vocab[char] = len(vocab)
    backend = BackendTokenizer(models.BPE(vocab, [], byte_fallback=True))
    if nfkc:
        backend.normalizer = normalizers.NFKC()
    backend.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    backend.add_special_tokens([eos_token])
    return backend
