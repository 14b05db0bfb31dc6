"""The two-stage model as trained, run as two passes (`SuperwordStages`): the reference that the saved
single-file two-stage tokenizer must agree with."""

from __future__ import annotations

import json

import numpy as np
from tokenizers import Tokenizer as BackendTokenizer
from tokenizers import models

from tokwork.errors import ParameterError
from tokwork.trainers.supertoken.byte_level_bpe import superword_pretokenizer, whole_text_encoder


def _symbol(token_id: int) -> str:
    # one character per stage-1 id for the stage-2 model, skipping the surrogate block
    return chr(token_id if token_id < 0xD800 else token_id + 0x800)


class SuperwordStages:
    """The two-stage model as trained, run as two passes: stage 1 encodes each superword chunk on its own,
    then a BPE over stage-1 ids (one symbol per id) applies the stage-2 merges. It is the reference the
    saved single-file tokenizer must agree with; it is slower and meant for checks, not for use."""

    def __init__(self, stage1: BackendTokenizer, merges: np.ndarray):
        self.first_id = stage1.get_vocab_size(with_added_tokens=True)
        if self.first_id + len(merges) > 0x10F7FF:
            raise ParameterError("vocabulary too large to run the two stages separately")
        self.stage1 = whole_text_encoder(stage1)
        self.splitter = superword_pretokenizer(byte_level=False)
        symbols = {token_id: _symbol(token_id) for token_id in range(self.first_id)}
        sym_merges = []
        for k, (a, b) in enumerate(merges.tolist()):
            symbols[self.first_id + k] = symbols[a] + symbols[b]
            sym_merges.append((symbols[a], symbols[b]))
        self.stage2 = BackendTokenizer(models.BPE({s: i for i, s in symbols.items()}, sym_merges))

    @classmethod
    def from_tokenizer(cls, backend: BackendTokenizer, first_id: int) -> SuperwordStages:
        """The two stages of a saved two-stage tokenizer whose stage 1 has `first_id` ids (its card's
        `stage1_vocab_size`): merges that make ids below it are stage 1, the rest stage 2."""
        spec = json.loads(backend.to_str())
        vocab, merges = spec["model"]["vocab"], spec["model"]["merges"]
        stage1_merges = next((k for k, (a, b) in enumerate(merges) if vocab[a + b] >= first_id), len(merges))
        stage2 = np.array([[vocab[a], vocab[b]] for a, b in merges[stage1_merges:]], dtype=np.int32)
        spec["model"]["vocab"] = {token: i for token, i in vocab.items() if i < first_id}
        spec["model"]["merges"] = merges[:stage1_merges]
        return cls(BackendTokenizer.from_str(json.dumps(spec, ensure_ascii=False)), stage2.reshape(-1, 2))

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`: superword chunks, stage 1 inside each chunk, then stage 2."""
        chunks = [piece for piece, _ in self.splitter.pre_tokenize_str(text)]
        if not chunks:
            return []
        first = self.stage1.encode_batch(chunks, add_special_tokens=False)
        symbols = ["".join(map(_symbol, e.ids)) for e in first]
        return [i for e in self.stage2.encode_batch(symbols, add_special_tokens=False) for i in e.ids]
