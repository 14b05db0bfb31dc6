"""Extending a SentencePiece `.model` (unigram or BPE): new pieces after the old ones, old ones untouched.

The new text is cut into lines (SentencePiece encodes line by line) and segmented by the base model; new
pieces are learned on those segmentations by `tokwork.trainers.extend_learner`, within words (a
piece that starts with `▁` starts one), with the characters the base spells only in bytes first. A merge
whose result is already a piece adds nothing: a SentencePiece model has pieces, not merges.

The scores make the new pieces used where they were learned, and change nothing else:
- unigram: a new piece scores the sum of the two pieces it joins plus `MARGIN`, so every segmentation with
  new pieces scores what the base gave the same text split into base pieces, plus `MARGIN` per join; the
  extended model therefore keeps the base's best segmentation (unless another was within a few `MARGIN`)
  and joins the learned pairs in it. A new character scores what the base charged for an unknown one
  (the lowest score minus SentencePiece's penalty of 10), plus `MARGIN`.
- BPE: SentencePiece joins the adjacent pair whose result scores highest; new pieces score below every old
  one, in the order learned, so they join only where the old merges are done, like appended merges.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer as BackendTokenizer
from tokenizers import models, pre_tokenizers

from tokwork.errors import TokenizerFormatError
from tokwork.formats.sentencepiece_model import SPACE_MARK, SentencePieceTokenizer
from tokwork.trainers.extend_config import ExtendConfig, check_learned, count_words
from tokwork.trainers.extend_learner import (
    LearnedExtension,
    Segmentations,
    characters_for_bytes,
    learn_extension,
)

MARGIN = 1e-3
UNKNOWN_PENALTY = 10.0  # SentencePiece's kUnkPenalty: an unknown character scores the lowest score minus this
UNIGRAM, BPE = 1, 2  # TrainerSpec.ModelType
NORMAL, USER_DEFINED = 1, 4  # ModelProto.SentencePiece.Type


def _lines_json() -> str:
    """A `tokenizer.json` whose only pre-tokenizer cuts text into lines, for counting distinct lines."""
    backend = BackendTokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Split("\n", behavior="removed")
    return backend.to_str()


def _model_proto(base: SentencePieceTokenizer):
    try:
        from sentencepiece import sentencepiece_model_pb2
    except ImportError:  # pragma: no cover - shipped with sentencepiece >= 0.1.99
        raise TokenizerFormatError("extending a .model needs sentencepiece's model protobuf; run: "
                                   "pip install 'sentencepiece>=0.1.99' protobuf") from None
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(base.processor.serialized_model_proto())
    if proto.trainer_spec.model_type not in (UNIGRAM, BPE):
        raise TokenizerFormatError(f"SentencePiece model '{base.source}' is a word or character model; only "
                                   "unigram and BPE models can be extended")
    return proto


def _segmentations(base: SentencePieceTokenizer, proto, lines: dict[str, int]) -> Segmentations:
    """Each line's pieces; byte pieces become the characters they spell, control, unknown and user-defined
    pieces become cuts."""
    processor = base.processor
    strings = {i: piece.piece for i, piece in enumerate(proto.pieces)}
    cut = {i for i in strings if processor.is_control(i) or processor.is_unknown(i) or processor.is_unused(i)
           or proto.pieces[i].type == USER_DEFINED}  # SentencePiece matches those on their own
    byte_values = {i: int(strings[i][3:5], 16) for i in strings if processor.is_byte(i)}
    # SentencePiece refuses a piece holding NUL (and reads a lone NUL piece as unused): NUL stays its byte piece
    nul = {i for i, value in byte_values.items() if value == 0}
    cut |= nul
    byte_values = {i: value for i, value in byte_values.items() if i not in nul}
    words = [(characters_for_bytes(ids, byte_values, cut=cut), count)
             for ids, count in zip(processor.encode(list(lines)), lines.values(), strict=True)]
    normal = {i for i in strings if i not in cut and i not in byte_values}
    if proto.trainer_spec.treat_whitespace_as_suffix:
        return Segmentations(words, strings, ends_word=frozenset(i for i in normal if strings[i].endswith(SPACE_MARK)))
    return Segmentations(words, strings, starts_word=frozenset(i for i in normal if strings[i].startswith(SPACE_MARK)))


def _new_scores(proto, learned: LearnedExtension) -> dict[int, float]:
    """The score of each new piece (see the module's docstring)."""
    lowest = min((piece.score for piece in proto.pieces if piece.type == NORMAL), default=0.0)
    if proto.trainer_spec.model_type == BPE:
        return {token_id: lowest - 1.0 - rank for rank, token_id in enumerate(learned.new_tokens)}
    scores = {i: piece.score for i, piece in enumerate(proto.pieces)}
    for token_id in learned.new_tokens:  # in id order: the parts of a piece come before it
        if token_id in learned.parts:
            first, second = learned.parts[token_id]
            scores[token_id] = scores[first] + scores[second] + MARGIN
        else:
            scores[token_id] = lowest - UNKNOWN_PENALTY + MARGIN
    return {token_id: scores[token_id] for token_id in learned.new_tokens}


def extend_sentencepiece(base: SentencePieceTokenizer, corpus: Sequence[str | Path], config: ExtendConfig, *,
                         text_field: str, progress: bool):
    """The base `.model` with new pieces learned on `corpus`; returns the extended tokenizer, what was
    learned, the corpus files and the number of distinct lines (see `tokwork.trainers.extend`)."""
    proto = _model_proto(base)
    lines, files = count_words(corpus, _lines_json(), text_field=text_field, progress=progress)
    segmentations = _segmentations(base, proto, lines)
    learned = learn_extension(segmentations, next_id=len(proto.pieces), add=config.add,
                              min_frequency=config.min_frequency, reuse_base_tokens=False)
    check_learned(learned, config)
    for token_id, score in _new_scores(proto, learned).items():
        piece = proto.pieces.add()
        piece.piece, piece.score, piece.type = learned.new_tokens[token_id], score, NORMAL
    proto.trainer_spec.vocab_size = len(proto.pieces)
    return SentencePieceTokenizer.from_bytes(proto.SerializeToString()), learned, files, len(lines)
