"""A SentencePiece model's pieces as tokwork's own samplers read them, straight from the serialized model.

sentencepiece samples from a generator that tokwork cannot make repeat across processes (0.2.3 reseeds it
per call but mixes in something of the process; 0.2.0-0.2.2 do not reseed it at all), so unigram sampling
(`tokwork.sampling.unigram_lattice`) and SentencePiece BPE-dropout (`tokwork.sampling.piece_bpe_dropout`)
segment over the model's own pieces, scores and types, read here without the protobuf package. A piece
the model does not know becomes its bytes' pieces where the model falls back to bytes, else the unknown
piece (one for a run of them, as sentencepiece writes it).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

import numpy as np

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
MATCHABLE = (NORMAL, USER_DEFINED, UNUSED)  # the pieces text is matched against (sentencepiece's `pieces_`)
MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}  # trainer_spec.model_type


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def protobuf_fields(data: bytes):
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


@dataclass(eq=False)  # compared and hashed by identity: the samplers cache tables built from one
class PieceTable:
    """What segmenting needs of a SentencePiece model: its pieces, with ids, scores and types."""

    texts: list[str]
    scores: np.ndarray  # float64 of the model's float32 scores
    types: np.ndarray  # int8 piece types (NORMAL ... BYTE)
    byte_fallback: bool
    model_type: str = "unigram"  # 'unigram', 'bpe', 'word', 'char' (unigram when unset, as in the proto)
    ids: dict[str, int] = field(init=False)  # the matchable pieces by text
    byte_ids: dict[int, int] = field(init=False)
    unknown_id: int = field(init=False)
    user_defined: list[str] = field(init=False)  # longest first
    user_pattern: re.Pattern | None = field(init=False)  # finds them, the longest at each position
    min_score: float = field(init=False)  # over normal pieces, as sentencepiece takes them
    max_score: float = field(init=False)

    def __post_init__(self) -> None:
        self.ids = {t: i for i, t in enumerate(self.texts) if self.types[i] in MATCHABLE}
        self.byte_ids = {int(t[3:5], 16): i for i, t in enumerate(self.texts) if self.types[i] == BYTE}
        unknown = np.flatnonzero(self.types == UNKNOWN)
        self.unknown_id = int(unknown[0]) if len(unknown) else 0
        self.user_defined = sorted((t for i, t in enumerate(self.texts) if self.types[i] == USER_DEFINED),
                                   key=len, reverse=True)
        self.user_pattern = (re.compile("|".join(map(re.escape, self.user_defined))) if self.user_defined
                             else None)
        # sentencepiece starts the extremes at the float limits, so with the usual negative scores the
        # highest is the smallest positive float: a user-defined piece then scores length x that - 0.1
        float32 = np.finfo(np.float32)
        normal = self.scores[self.types == NORMAL]
        self.min_score = min(float(float32.max), float(normal.min())) if len(normal) else float(float32.max)
        self.max_score = max(float(float32.tiny), float(normal.max())) if len(normal) else float(float32.tiny)

    @classmethod
    def from_model(cls, serialized: bytes) -> PieceTable:
        """The table of a serialized ModelProto (`SentencePieceProcessor.serialized_model_proto()`)."""
        texts, scores, types = [], [], []
        byte_fallback, model_type = False, "unigram"
        for number, wire, value in protobuf_fields(serialized):
            if number == 1 and wire == 2:  # repeated SentencePiece pieces: piece, score, type
                text, score, kind = "", 0.0, NORMAL
                for inner, inner_wire, inner_value in protobuf_fields(value):
                    if inner == 1 and inner_wire == 2:
                        text = inner_value.decode("utf-8")
                    elif inner == 2 and inner_wire == 5:
                        score = struct.unpack("<f", inner_value)[0]
                    elif inner == 3 and inner_wire == 0:
                        kind = inner_value
                texts.append(text)
                scores.append(score)
                types.append(kind)
            elif number == 2 and wire == 2:  # trainer_spec: field 3 is model_type, 35 byte_fallback
                for inner, inner_wire, inner_value in protobuf_fields(value):
                    if inner == 3 and inner_wire == 0:
                        model_type = MODEL_TYPES.get(inner_value, "unknown")
                    elif inner == 35 and inner_wire == 0:
                        byte_fallback = bool(inner_value)
        return cls(texts=texts, scores=np.asarray(scores, dtype=np.float64), types=np.asarray(types, dtype=np.int8),
                   byte_fallback=byte_fallback, model_type=model_type)

    def output_ids(self, pieces: list[tuple[str, int]]) -> list[int]:
        """Ids of (piece text, id, -1 for unknown) in order: an unknown piece as its bytes' pieces where the
        model falls back to bytes, else as the unknown piece, one for a run of unknown pieces."""
        out: list[int] = []
        after_unknown = False
        for text, piece_id in pieces:
            if piece_id >= 0:
                out.append(piece_id)
            elif self.byte_fallback:
                out.extend(self.byte_ids[b] for b in text.encode("utf-8"))
            elif not after_unknown:
                out.append(self.unknown_id)
            after_unknown = piece_id < 0
        return out


def code_points(text: str) -> np.ndarray:
    """The text's code points as int64 (what the kernels walk)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
