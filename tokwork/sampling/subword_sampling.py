"""Subword sampling over SentencePiece models, seeded per text: unigram sampling and SentencePiece BPE-dropout.

Unigram sampling follows Kudo, "Subword Regularization: Improving Neural Network Translation Models with
Multiple Subword Candidates" (2018), with `alpha` (the inverse temperature of the segmentation
distribution) and `nbest_size` (sample from the n best segmentations, or from the whole lattice with -1).
For SentencePiece BPE models it is BPE-dropout (Provilkov et al., 2020) with `alpha` as the dropout
probability: sentencepiece's own `enable_sampling` options, with the same meaning.

The draws are tokwork's, not sentencepiece's: sentencepiece's generator does not repeat across processes
(see `tokwork.sampling.piece_table`): tokwork segments over the model's own pieces and scores. Each text
draws from its own stream of (seed, text number), so the same text number and seed give the same
segmentation in any batch, thread, order or process.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tokwork.errors import ParameterError
from tokwork.formats.sentencepiece_model import SPACE_MARK, SentencePieceTokenizer
from tokwork.sampling.piece_bpe_dropout import bpe_dropout_segments
from tokwork.sampling.piece_table import PieceTable
from tokwork.sampling.random_streams import text_states
from tokwork.sampling.unigram_lattice import sample_unigram, sample_unigram_nbest
from tokwork.tokenizer import Tokenizer


class SentencePieceSampling:
    """Seeded sampling over a SentencePiece model: unigram sampling (alpha, nbest_size) or BPE-dropout
    (alpha = p)."""

    def __init__(self, base: Tokenizer, *, method: str, alpha: float, nbest_size: int = -1):
        wanted = "unigram" if method == "unigram-sampling" else "bpe"
        name = base.source or "the base tokenizer"
        if not isinstance(base, SentencePieceTokenizer):
            raise ParameterError(f"{method} needs a SentencePiece {wanted} model (.model), and '{name}' is a "
                                 f"{base.format} file; use --method stochastok")
        self.table = PieceTable.from_model(base.processor.serialized_model_proto())
        self.model_type = self.table.model_type
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

    def _segment(self, part: str, state):
        normalized = self.base.processor.normalize(part)
        if self.nbest_size == -1:
            return sample_unigram(self.table, normalized, self.alpha, state)
        return sample_unigram_nbest(self.table, normalized, self.alpha, self.nbest_size, state)

    def _encode_one(self, text: str, state) -> list[int]:
        if not self.splits_marks or SPACE_MARK not in text:
            return self._segment(text, state)[0]
        ids: list[int] = []
        for index, part in enumerate(text.split(SPACE_MARK)):
            if index:
                ids.extend(self.mark_ids)
            if part:
                segment, state = self._segment(part, state)
                ids.extend(segment)
        return ids

    def _dropout_batch(self, texts: Sequence[str], seed: int, first_index: int) -> list[list[int]]:
        """BPE-dropout of every text in one kernel call, each text drawn as it would be alone (the parts of a
        text between literal U+2581 marks go on with the stream the part before left)."""
        segments, states, chained, plans = [], [], [], []
        starting = text_states(seed, first_index, len(texts))
        for offset, text in enumerate(texts):
            parts = text.split(SPACE_MARK) if self.splits_marks and SPACE_MARK in text else [text]
            plan: list[int] = []  # segment numbers, -1 for a mark
            for index, part in enumerate(parts):
                if index:
                    plan.append(-1)
                if part:
                    chained.append(len(plan) > index)  # a segment of this text came before
                    states.append(0 if chained[-1] else starting[offset])
                    plan.append(len(segments))
                    segments.append(self.base.processor.normalize(part))
            plans.append(plan)
        ids, _ = bpe_dropout_segments(self.table, segments, self.alpha, np.array(states, dtype=np.uint64),
                                      np.array(chained, dtype=np.bool_))
        return [[token for step in plan for token in (self.mark_ids if step < 0 else ids[step])] for plan in plans]

    def sample(self, texts: Sequence[str], *, seed: int, first_index: int, add_special_tokens: bool = False,
               parse_special: bool = False) -> list[list[int]]:
        """One sampled segmentation per text; text i draws from its own stream of (seed, first_index + i)."""
        if self.method == "bpe-dropout":
            encoded = self._dropout_batch(texts, seed, first_index)
        else:
            starting = text_states(seed, first_index, len(texts))
            encoded = [self._encode_one(text, starting[offset]) for offset, text in enumerate(texts)]
        return [[*self.prefix, *ids] if add_special_tokens else ids for ids in encoded]

    def saved_state(self) -> dict:
        return {}
