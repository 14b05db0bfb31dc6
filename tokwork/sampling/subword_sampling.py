"""Subword sampling by SentencePiece itself, seeded per text: unigram sampling and SentencePiece BPE-dropout.

Unigram sampling follows Kudo, "Subword Regularization: Improving Neural Network Translation Models with
Multiple Subword Candidates" (2018): `enable_sampling` with `alpha` (the inverse temperature of the
segmentation distribution) and `nbest_size` (sample from the n best segmentations, or from the whole
lattice with -1). For SentencePiece BPE models the same call is BPE-dropout (Provilkov et al., 2020) with
`alpha` as the dropout probability.

sentencepiece draws from a generator seeded by `set_random_generator_seed`, a process-wide setting that
re-seeds the generator of the calling thread. Each text gets its own 32-bit seed from (seed, text number)
and is encoded right after the seed is set, under a lock so that no other thread re-seeds in between:
the same text number and seed give the same segmentation in any batch, thread or order. The price is
that sampling runs on one thread (the tests check that this behaviour of sentencepiece still holds).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import sentencepiece as spm

from tokwork.errors import ParameterError
from tokwork.formats.sentencepiece_model import SPACE_MARK, SentencePieceTokenizer
from tokwork.sampling.random_streams import text_seed32
from tokwork.tokenizer import Tokenizer

_SEED_LOCK = threading.Lock()
_MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _fields(data: bytes):
    """(field number, wire type, value) of a serialized protobuf message, one level deep."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 1:
            value, at = data[at:at + 8], at + 8
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at:at + length], at + length
        elif wire == 5:
            value, at = data[at:at + 4], at + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def sentencepiece_model_type(tokenizer: SentencePieceTokenizer) -> str:
    """'unigram', 'bpe', 'word' or 'char': `trainer_spec.model_type` of the model (protobuf field 2.3),
    read from the serialized model without needing the protobuf package. Unigram when unset, as in the proto."""
    model = tokenizer.processor.serialized_model_proto()
    for number, wire, value in _fields(model):
        if number == 2 and wire == 2:
            for inner, inner_wire, inner_value in _fields(value):
                if inner == 3 and inner_wire == 0:
                    return _MODEL_TYPES.get(inner_value, "unknown")
    return "unigram"


class SentencePieceSampling:
    """Seeded sampling by sentencepiece: unigram sampling (alpha, nbest_size) or BPE-dropout (alpha = p)."""

    def __init__(self, base: Tokenizer, *, method: str, alpha: float, nbest_size: int = -1):
        wanted = "unigram" if method == "unigram-sampling" else "bpe"
        name = base.source or "the base tokenizer"
        if not isinstance(base, SentencePieceTokenizer):
            raise ParameterError(f"{method} needs a SentencePiece {wanted} model (.model), and '{name}' is a "
                                 f"{base.format} file; use --method stochastok")
        self.model_type = sentencepiece_model_type(base)
        if self.model_type != wanted:
            other = {"bpe": "bpe-dropout", "unigram": "unigram-sampling"}.get(self.model_type)
            methods = f"--method {other} or stochastok" if other else "--method stochastok"
            raise ParameterError(f"{method} needs a SentencePiece {wanted} model, and '{name}' is a "
                                 f"{self.model_type} model; use {methods}")
        self.method = method
        self.base = base
        self.alpha = alpha
        self.nbest_size = nbest_size if wanted == "unigram" else -1
        # The wrapper spells a literal U+2581 with byte pieces where plain sentencepiece would read a space;
        # sampling keeps that, so that round trips stay exact.
        self.mark_ids = base.encode(SPACE_MARK)
        self.splits_marks = self.mark_ids != base.processor.encode(SPACE_MARK)
        self.prefix = base.encode("", add_special_tokens=True)

    def _encode_one(self, text: str) -> list[int]:
        options = {"enable_sampling": True, "alpha": self.alpha, "nbest_size": self.nbest_size}
        processor = self.base.processor
        if not self.splits_marks or SPACE_MARK not in text:
            return processor.encode(text, **options)
        ids: list[int] = []
        for index, part in enumerate(text.split(SPACE_MARK)):
            if index:
                ids.extend(self.mark_ids)
            if part:
                ids.extend(processor.encode(part, **options))
        return ids

    def sample(self, texts: Sequence[str], *, seed: int, first_index: int, add_special_tokens: bool = False,
               parse_special: bool = False) -> list[list[int]]:
        """One sampled segmentation per text; text i is sampled under its own seed from (seed, first_index + i)."""
        out = []
        for offset, text in enumerate(texts):
            with _SEED_LOCK:
                spm.set_random_generator_seed(text_seed32(seed, first_index + offset))
                ids = self._encode_one(text)
            out.append([*self.prefix, *ids] if add_special_tokens else ids)
        return out

    def saved_state(self) -> dict:
        return {}
