"""Unigram language-model tokenizers trained by SentencePiece, with byte fallback on.

The settings make the model lossless: identity normalisation, no dummy prefix, whitespace kept as it is,
byte fallback for every character outside the vocabulary and a newline piece, so that tokwork's wrapper
gives `decode(encode(text)) == text` for any text (see `tokwork.formats.sentencepiece_model` for the one
character, U+2581, that plain SentencePiece cannot keep). The output is a standard `tokenizer.model`.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm

from tokwork.corpus import CorpusReader
from tokwork.errors import CorpusError, ParameterError
from tokwork.formats.sentencepiece_model import SentencePieceTokenizer
from tokwork.setting_types import check_setting_types
from tokwork.trainers.bpe_model import BYTE_ALPHABET, check_vocab_size
from tokwork.trainers.card import TrainedTokenizer, TrainingCard

CONTROL_PIECES = 3  # <unk>, <s>, </s>
NEWLINE_PIECE = "\n"
MODEL_TYPES = ("unigram", "bpe")


@dataclass
class UnigramConfig:
    """Settings of a SentencePiece run; saved in the card."""

    vocab_size: int
    model_type: str = "unigram"
    character_coverage: float = 0.9995
    split_digits: bool = False
    max_sentence_length: int = 1 << 16  # bytes; a longer line is cut at spaces into parts this long
    input_sentence_size: int = 2_000_000  # lines trained on at most (0: all), drawn by `seed` when more
    seed: int = 0

    def validate(self) -> None:
        """Raise `ParameterError` for settings SentencePiece cannot train with."""
        check_setting_types(self)
        check_vocab_size(self.vocab_size, minimum=BYTE_ALPHABET + CONTROL_PIECES + 1,
                         what="the 256 byte pieces plus <unk>, <s>, </s> and the newline piece")
        if self.model_type not in MODEL_TYPES:
            raise ParameterError(f"unknown model type '{self.model_type}'; choose one of {', '.join(MODEL_TYPES)}")
        if not 0.9 <= self.character_coverage <= 1.0:
            raise ParameterError(f"character coverage {self.character_coverage} must lie in [0.9, 1.0]")
        if not 10 <= self.max_sentence_length <= 1 << 30:  # sentencepiece's own bounds (lines are cut to it)
            raise ParameterError(f"max sentence length {self.max_sentence_length} must lie in [10, 2**30] bytes")
        if self.input_sentence_size < 0:
            raise ParameterError(f"input sentence size {self.input_sentence_size} must be >= 0 (0: every line)")
        if self.seed < 0:
            raise ParameterError(f"seed {self.seed} must be >= 0")


def _lines(texts: Iterable[str], max_bytes: int, cut_lines: list[int] | None = None) -> Iterator[str]:
    """Lines of the corpus without their newlines (SentencePiece trains on lines; newline is a piece); a
    line longer than `max_bytes` in parts that fit, cut after a space where one is near (SentencePiece
    would skip the whole line), counted in `cut_lines[0]` when given."""
    for text in texts:
        for line in text.split("\n"):
            # at most 4 bytes a character: only a line of more than max_bytes / 4 characters is encoded to see
            if len(line) * 4 > max_bytes and len(line.encode("utf-8")) > max_bytes:
                if cut_lines is not None:
                    cut_lines[0] += 1
                while len(data := line.encode("utf-8")) > max_bytes:
                    cut = len(data[:max_bytes].decode("utf-8", "ignore"))
                    space = line.rfind(" ", cut // 2, cut)
                    cut = space + 1 if space > 0 else cut
                    yield line[:cut]
                    line = line[cut:]
            if line:
                yield line


def _chosen_lines(corpus: Sequence[str | Path], config: UnigramConfig, text_field: str) -> np.ndarray | None:
    """Which lines to train on when the corpus has more than `input_sentence_size`: a seeded draw without
    replacement (sentencepiece's own draw cannot be seeded, so a large corpus trained differently each run);
    None when every line is used. Reads the corpus once more to count its lines."""
    if not config.input_sentence_size:
        return None
    count = sum(1 for _ in _lines(CorpusReader(corpus, text_field=text_field, progress=False),
                                  config.max_sentence_length))
    if count <= config.input_sentence_size:
        return None
    keep = np.zeros(count, dtype=bool)
    keep[np.random.default_rng(config.seed).choice(count, config.input_sentence_size, replace=False)] = True
    return keep


def _sentences(texts: Iterable[str], config: UnigramConfig, keep: np.ndarray | None,
               cut_lines: list[int]) -> Iterator[str]:
    lines = _lines(texts, config.max_sentence_length, cut_lines)
    if keep is None:
        yield from lines
    else:
        yield from (line for line, kept in zip(lines, keep, strict=True) if kept)


def train_unigram(
    corpus: Sequence[str | Path], config: UnigramConfig, *, text_field: str = "text", progress: bool = True
) -> TrainedTokenizer:
    """Train a SentencePiece unigram (or BPE) model with byte fallback and return it with its card."""
    config.validate()
    start = time.perf_counter()
    keep = _chosen_lines(corpus, config, text_field)
    cut_lines = [0]
    reader = CorpusReader(corpus, text_field=text_field, progress=progress)
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=_sentences(reader, config, keep, cut_lines),
            model_writer=model,
            vocab_size=config.vocab_size,
            model_type=config.model_type,
            byte_fallback=True,
            character_coverage=config.character_coverage,
            normalization_rule_name="identity",
            add_dummy_prefix=False,
            remove_extra_whitespaces=False,
            allow_whitespace_only_pieces=True,
            split_digits=config.split_digits,
            user_defined_symbols=[NEWLINE_PIECE],
            max_sentence_length=config.max_sentence_length,
            input_sentence_size=0,  # the lines were drawn above, by the seed
            shuffle_input_sentence=False,
            hard_vocab_limit=False,
            num_threads=os.cpu_count() or 1,
            minloglevel=2,
        )
    except RuntimeError as err:
        reason = str(err).strip().splitlines()[-1]
        needed = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", reason)
        if needed:  # sentencepiece's text names its own option; say it in tokwork's terms
            raise ParameterError(
                f"vocab size {config.vocab_size:,} is below the {int(needed.group(2)):,} characters and pieces this "
                f"corpus needs at --character-coverage {config.character_coverage}; raise --vocab-size to at least "
                f"{int(needed.group(2)):,} or lower --character-coverage (down to 0.9)") from None
        if "all_chars_count" in reason or "sentences_.empty()" in reason:  # its internal checks, in tokwork's words
            raise CorpusError("the corpus has no text SentencePiece can learn from: its lines are empty or hold "
                              "only characters it drops (NUL, control characters)") from None
        raise ParameterError(f"sentencepiece cannot train with these settings: {reason}") from None
    tokenizer = SentencePieceTokenizer.from_bytes(model.getvalue())
    card = TrainingCard.for_corpus(config.model_type if config.model_type == "unigram" else "sentencepiece-bpe",
                                   asdict(config), reader.files, time.perf_counter() - start,
                                   notes={"vocab_size_reached": tokenizer.vocab_size,
                                          **({"lines_trained_on": f"{len(keep.nonzero()[0]):,} of {len(keep):,} "
                                              f"(drawn with seed {config.seed})"} if keep is not None else {}),
                                          # lines longer than max_sentence_length bytes, cut into parts
                                          **({"long_lines_cut": cut_lines[0]} if cut_lines[0] else {})})
    return TrainedTokenizer(tokenizer, card)
