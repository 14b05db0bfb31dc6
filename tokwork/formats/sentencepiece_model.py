"""SentencePiece `.model` files (unigram or BPE, with or without byte fallback).

SentencePiece writes a space as `▁` and decodes every `▁` back to a space, so a literal U+2581 in the
input would come back as a space. For models with byte fallback and no dummy prefix (the ones tokwork
trains) the wrapper encodes a literal `▁` as its three byte pieces instead, which makes the round trip
exact on any text; plain `sentencepiece` on the same file maps it to a space.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tokwork.byteview import ByteView, build_byte_view, byte_fallback_value
from tokwork.errors import TokenizerFormatError
from tokwork.tokenizer import SpecialTokens, Tokenizer, checked_ids, checked_text, checked_texts

if TYPE_CHECKING:  # the library itself loads with the first model (every command that opens a tokenizer
    import sentencepiece as spm  # imports this module, and most never read a .model file)

SPACE_MARK = "▁"
MODEL_NAME = "tokenizer.model"


class SentencePieceTokenizer(Tokenizer):
    """A SentencePiece model, encoded and decoded by the `sentencepiece` library."""

    format = "sentencepiece"

    def __init__(self, processor: spm.SentencePieceProcessor, *, source: Path | None = None):
        super().__init__(source)
        self.processor = processor
        self._size = processor.get_piece_size()
        self._pieces = {processor.id_to_piece(i): i for i in range(self._size)}
        self.adds_dummy_prefix = b"".join(self._piece_bytes(i) or b"" for i in processor.encode("a")) == b" a"
        mark_bytes = [self._pieces.get(f"<0x{b:02X}>") for b in SPACE_MARK.encode("utf-8")]
        usable = all(i is not None and processor.is_byte(i) for i in mark_bytes)
        self._mark_ids = mark_bytes if usable and not self.adds_dummy_prefix else None

    @classmethod
    def from_path(cls, path: Path) -> SentencePieceTokenizer:
        """Load a `.model` file; raises `TokenizerFormatError` when it is not a SentencePiece model."""
        import sentencepiece as spm

        try:
            processor = spm.SentencePieceProcessor(model_file=str(path))
        except (RuntimeError, OSError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise TokenizerFormatError(f"'{path}' is not a valid SentencePiece model ({reason})") from None
        return cls(processor, source=path)

    @classmethod
    def from_bytes(cls, model: bytes, *, source: Path | None = None) -> SentencePieceTokenizer:
        """Wrap a serialized model (as the trainer returns it)."""
        import sentencepiece as spm

        return cls(spm.SentencePieceProcessor(model_proto=model), source=source)

    def encode(self, text: str, *, add_special_tokens: bool = False, parse_special: bool = False) -> list[int]:
        text = checked_text(text)
        if self._mark_ids is None or SPACE_MARK not in text:
            ids = self.processor.encode(text)
        else:
            ids = []
            for index, part in enumerate(text.split(SPACE_MARK)):
                if index:
                    ids.extend(self._mark_ids)
                if part:
                    ids.extend(self.processor.encode(part))
        return self._with_specials(ids) if add_special_tokens else ids

    def encode_batch(
        self, texts: Sequence[str], *, add_special_tokens: bool = False, parse_special: bool = False
    ) -> list[list[int]]:
        texts = checked_texts(texts)
        if self._mark_ids is not None and any(SPACE_MARK in t for t in texts):
            return super().encode_batch(texts, add_special_tokens=add_special_tokens)
        batches = self.processor.encode(texts)
        return [self._with_specials(ids) for ids in batches] if add_special_tokens else batches

    def _with_specials(self, ids: list[int]) -> list[int]:
        bos = self.processor.bos_id()
        return [bos, *ids] if bos >= 0 else ids

    def decode(self, ids: Sequence[int]) -> str:
        return self.processor.decode(checked_ids(ids, self._size))

    @property
    def vocab_size(self) -> int:
        return self._size

    def id_to_token(self, token_id: int) -> str | None:
        return self.processor.id_to_piece(token_id) if 0 <= token_id < self._size else None

    def token_to_id(self, token: str) -> int | None:
        return self._pieces.get(token)

    @property
    def specials(self) -> SpecialTokens:
        def role(token_id: int) -> int | None:
            return token_id if token_id >= 0 else None

        p = self.processor
        return SpecialTokens(bos=role(p.bos_id()), eos=role(p.eos_id()), pad=role(p.pad_id()), unk=role(p.unk_id()))

    def normalize(self, text: str) -> str:
        if self._mark_ids is not None and SPACE_MARK in text:  # as `encode` parts it: a literal mark is kept
            return SPACE_MARK.join(self._normalize_part(part) for part in text.split(SPACE_MARK))
        return self._normalize_part(text)

    def _normalize_part(self, text: str) -> str:
        normalized = self.processor.normalize(text).replace(SPACE_MARK, " ")
        if self.adds_dummy_prefix and normalized.startswith(" "):
            normalized = normalized[1:]
        return normalized

    def _piece_bytes(self, token_id: int) -> bytes | None:
        p = self.processor
        if p.is_control(token_id) or p.is_unknown(token_id) or p.is_unused(token_id):
            return None
        piece = p.id_to_piece(token_id)
        if p.is_byte(token_id):
            return bytes([byte_fallback_value(piece)])
        return piece.replace(SPACE_MARK, " ").encode("utf-8")

    def _build_byte_view(self) -> ByteView:
        pieces = [self._piece_bytes(i) for i in range(self._size)]
        return build_byte_view(pieces, strips_leading_space=self.adds_dummy_prefix)

    def legacy_tokenizer_json(self):
        """This model (BPE, byte fallback, dummy prefix: Llama 2 style) as the `tokenizers` tokenizer that
        transformers' legacy conversion writes to tokenizer.json: BPE with byte fallback under Prepend("▁")
        and Replace(" ", "▁"), a decoder that strips the dummy prefix. The byte level's tests and benchmark
        compare that layout with the model itself; transformers' own converter fails on such files here."""
        from sentencepiece import sentencepiece_model_pb2
        from tokenizers import AddedToken, decoders, models, normalizers
        from tokenizers import Tokenizer as Backend
        from transformers.convert_slow_tokenizer import generate_merges

        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(self.processor.serialized_model_proto())
        if proto.trainer_spec.model_type != proto.trainer_spec.BPE or not proto.trainer_spec.byte_fallback \
                or not self.adds_dummy_prefix:
            raise TokenizerFormatError("only a SentencePiece BPE with byte fallback and a dummy prefix has a "
                                       "Llama 2 style tokenizer.json")
        vocab = {self.processor.id_to_piece(i): i for i in range(self._size)}
        backend = Backend(models.BPE(vocab, generate_merges(vocab), unk_token="<unk>", byte_fallback=True,
                                     fuse_unk=True))
        backend.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE_MARK),
                                                   normalizers.Replace(" ", SPACE_MARK)])
        backend.decoder = decoders.Sequence([decoders.Replace(SPACE_MARK, " "), decoders.ByteFallback(),
                                             decoders.Fuse(), decoders.Strip(" ", 1, 0)])
        backend.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in ("<unk>", "<s>", "</s>")])
        return backend

    def _write_files(self, directory: Path) -> list[Path]:
        path = Path(directory) / MODEL_NAME
        path.write_bytes(self.processor.serialized_model_proto())
        return [path]
