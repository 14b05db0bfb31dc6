"""Canonical states inside a character for SentencePiece models with byte fallback, without encoding every
completion of the character.

A prefix that ends inside a character has as canonical states the cuts, at the prefix's end, of the
encodings of the text followed by each character that starts with those bytes (2,048 to 196,608 of them
after the first byte of a three- or four-byte character). SentencePiece, BPE or unigram, works on whole
characters and spells a character its vocabulary lacks by its bytes only at the end (byte fallback): a
character that is a piece of its own is never cut inside, and one that occurs in no piece can join
nothing, so the text before it is segmented as if it ended there and its bytes follow as byte pieces.
Every such completion gives the same cut, so one of them is encoded. This holds where the model's
normaliser is the identity (Llama 2, Mistral and the models tokwork trains); characters that occur inside
longer pieces or user-defined symbols without being a piece of their own, and the space mark `▁`, are
encoded one by one as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tokwork.bytelevel.merge_cuts import EncodedCuts, Encoding

SPACE_MARK = "▁"


def identity_byte_fallback_proto(tokenizer):
    """The model proto of a SentencePiece tokenizer with byte fallback and the identity normaliser, None for
    any other tokenizer."""
    if getattr(tokenizer, "format", None) != "sentencepiece":
        return None
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(tokenizer.processor.serialized_model_proto())
    spec = proto.normalizer_spec
    if not proto.trainer_spec.byte_fallback or spec.name != "identity" or spec.precompiled_charsmap:
        return None
    return proto


class UnknownCharCuts(EncodedCuts):
    """`completion_cuts` for SentencePiece models with byte fallback and no normalisation; build with
    `for_tokenizer`, which returns None for other tokenizers."""

    def __init__(self, tokenizer, known: frozenset[str], doubtful: frozenset[str]):
        super().__init__(tokenizer)
        self.known = known  # characters that are pieces of their own: never cut inside
        self.doubtful = doubtful  # characters that some longer piece holds: encoded one by one

    @classmethod
    def for_tokenizer(cls, tokenizer) -> UnknownCharCuts | None:
        """The worker for a SentencePiece model with byte fallback and the identity normaliser; None for
        any other tokenizer."""
        proto = identity_byte_fallback_proto(tokenizer)
        if proto is None:
            return None
        kinds = type(proto).SentencePiece
        known, held = set(), {SPACE_MARK}
        for piece in proto.pieces:
            if piece.type in (kinds.CONTROL, kinds.UNKNOWN, kinds.BYTE):
                continue
            if piece.type == kinds.NORMAL and len(piece.piece) == 1:
                known.add(piece.piece)
            else:
                held.update(piece.piece)
        return cls(tokenizer, frozenset(known - {SPACE_MARK}), frozenset(held - known | {SPACE_MARK}))

    def cuts(self, base: str, partial: bytes, chars: Sequence[str],
             encode: Callable[[list[str]], list[list[int]]], lead: bytes = b"") -> list[Encoding]:
        """The distinct token prefixes spelling `lead` + `base` + `partial` in the encodings of `base` + c
        for every c in `chars`: one encoding stands for all completions in no piece, the doubtful ones are
        encoded each, the completions that are pieces add none; in the order of the first c giving each."""
        unknown = next((i for i, c in enumerate(chars) if c not in self.known and c not in self.doubtful), None)
        indices = sorted(([] if unknown is None else [unknown]) + [i for i, c in enumerate(chars) if c in self.doubtful])
        window = len(lead) + len(base.encode("utf-8")) + len(partial)
        found = self.encoded_cuts(indices, encode([base + chars[i] for i in indices]), window)
        return self.distinct(found)
