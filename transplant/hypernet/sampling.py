"""What the hypernetwork is shown in training: sampled tokenizers, text windows and split source tokens.

ZeTT (Minixhofer et al. 2024, "Zero-Shot Tokenizer Transfer") generalises to unseen tokenizers because
training shows it many. Each sampled tokenizer here is trained from scratch on a random slice of the
training corpus, with a random vocabulary size and split pattern: mostly byte-level BPE (the family of
GPT-2 and of the BPEs tokwork trains), sometimes a UnigramLM over such a vocabulary whose piece scores
get Gumbel noise, as in ZeTT. Every draw is seeded and reproducible. Tokens it shares with the source (by bytes, through `align_vocabularies`) keep the source's rows;
the others are the new tokens whose rows the hypernetwork predicts.

A step's vocabulary is every shared token plus the new tokens that occur in the step's text and a random
sample of the rest: all of them compete in the softmax, so the network learns what a new token that
does not belong in a context must cost, not only what one that does is worth. Each sampled token stands
for the ones left out (its logit gets log(left out / sampled), the correction of a sampled softmax, Jean
et al. 2015, "On Using Very Large Target Vocabulary for Neural Machine Translation"); without it the
network would learn that new tokens occur far more often than they do.

For the auxiliary loss, a source token is also cut as if the source tokenizer lacked it, into the two
tokens its BPE merge joins (sometimes three, one part cut again), and its own row is the target: the
MIMICK-style warm-up (Pinter et al. 2017, "Mimicking Word Embeddings using Subword RNNs") of ZeTT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import AddedToken, decoders, models
from tokenizers import Tokenizer as BackendTokenizer

from tokwork.corpus import CorpusReader
from tokwork.errors import CorpusError
from tokwork.formats.hf_json import HFTokenizer
from tokwork.split_patterns import SPLIT_PATTERNS, byte_level_pretokenizer
from tokwork.tokenizer import Tokenizer
from tokwork.trainers.bpe_model import BPEConfig, bpe_trainer, empty_byte_level_bpe, trained_tokenizer
from tokwork.transplant.align import align_vocabularies


class TrainingText:
    """The training corpus in memory as paragraphs, with slices for tokenizers and windows for steps."""

    def __init__(self, paragraphs: list[str], files: list[dict]):
        if not paragraphs:
            raise CorpusError("the hypernetwork training corpus holds no text")
        self.paragraphs = paragraphs
        self.files = files
        self.nbytes = sum(len(p.encode("utf-8")) for p in paragraphs)

    @classmethod
    def read(cls, corpus: Sequence[str | Path], *, max_bytes: int, text_field: str = "text") -> TrainingText:
        """Read paragraphs of `corpus` (files, folders, `.jsonl` records' `text_field`, `.gz`) up to
        `max_bytes` of text."""
        reader = CorpusReader(corpus, text_field=text_field)
        paragraphs: list[str] = []
        size = 0
        for text in reader:
            paragraphs.append(text)
            size += len(text.encode("utf-8"))
            if size >= max_bytes:
                break
        files = [f.as_json() for f in reader.files] or [{"path": str(p)} for p in reader.paths]
        return cls(paragraphs, files)

    def slice(self, rng: np.random.Generator, nbytes: int) -> list[str]:
        """Consecutive paragraphs from a random place, about `nbytes` of them (wrapping at the end)."""
        start = int(rng.integers(len(self.paragraphs)))
        taken: list[str] = []
        size = 0
        while size < nbytes and len(taken) < len(self.paragraphs):
            taken.append(self.paragraphs[(start + len(taken)) % len(self.paragraphs)])
            size += len(taken[-1])
        return taken

    def window(self, rng: np.random.Generator, tokenizer: Tokenizer, length: int) -> list[int]:
        """`length` token ids of text from a random paragraph on, cut by `tokenizer`."""
        start = int(rng.integers(len(self.paragraphs)))
        text = ""
        ids: list[int] = []
        for offset in range(len(self.paragraphs)):
            text += self.paragraphs[(start + offset) % len(self.paragraphs)]
            if len(text) >= 4 * length:
                ids = tokenizer.encode(text)
                if len(ids) >= length:
                    return ids[:length]
        ids = tokenizer.encode(text)
        return (ids * (length // max(len(ids), 1) + 1))[:length]


@dataclass(frozen=True)
class TokenizerDraw:
    """How to sample tokenizers: slice sizes, vocabulary sizes, split patterns, Unigram share and noise."""

    slice_bytes: tuple[int, int] = (1_000_000, 3_000_000)
    vocab_sizes: tuple[int, int] = (8_000, 48_000)
    splits: tuple[str, ...] = ("gpt2", "cl100k", "o200k")
    unigram_share: float = 0.25
    score_noise: float = 1.0  # scale of the Gumbel noise on UnigramLM piece scores


def sample_tokenizer(text: TrainingText, rng: np.random.Generator, draw: TokenizerDraw) -> HFTokenizer:
    """A byte-level tokenizer trained on a random slice of `text`: BPE, or UnigramLM with noised scores.

    The UnigramLM has the vocabulary of a BPE trained on the slice, each piece scored by the log of its
    frequency in the slice as that BPE cuts it, plus Gumbel noise (ZeTT's noised UnigramLM). Built so,
    rather than by the `tokenizers` Unigram trainer, it is the same for the same draw: that trainer sums
    and lists in hash-map order, and a resumed run must see exactly what an unbroken one saw.
    """
    lines = text.slice(rng, int(rng.integers(draw.slice_bytes[0], draw.slice_bytes[1] + 1)))
    vocab_size = int(rng.integers(draw.vocab_sizes[0], draw.vocab_sizes[1] + 1))
    split = str(draw.splits[int(rng.integers(len(draw.splits)))])
    config = BPEConfig(vocab_size=vocab_size, split=split)
    backend = empty_byte_level_bpe(config)
    backend.train_from_iterator(lines, trainer=bpe_trainer(config, show_progress=False))
    if rng.random() >= draw.unigram_share:
        return trained_tokenizer(backend, config)
    counts = np.zeros(backend.get_vocab_size(), dtype=np.float64)
    for encoding in backend.encode_batch(lines):
        np.add.at(counts, encoding.ids, 1.0)
    scores = np.log((counts + 0.5) / (counts.sum() + 0.5 * len(counts)))
    if draw.score_noise > 0:
        scores += rng.gumbel(scale=draw.score_noise, size=len(scores))
    pieces = sorted(backend.get_vocab().items(), key=lambda item: item[1])
    special = config.eos_token
    unigram = BackendTokenizer(models.Unigram([(piece, 0.0 if piece == special else float(scores[i]))
                                               for piece, i in pieces], None, False))
    unigram.pre_tokenizer = byte_level_pretokenizer(SPLIT_PATTERNS[split])
    unigram.decoder = decoders.ByteLevel()
    unigram.add_special_tokens([AddedToken(special, special=True)])
    return trained_tokenizer(unigram, config)


@dataclass
class StepVocabulary:
    """The vocabulary of one step: shared tokens (source rows) first, then new tokens (predicted rows)."""

    shared_source_ids: np.ndarray
    new_decompositions: list[tuple[int, ...]]
    ids: np.ndarray  # the step's windows as positions in this vocabulary
    log_weights: np.ndarray  # added to the logits: log of how many tokens each one stands for


class SampledVocabulary:
    """A sampled tokenizer read against the source: which tokens are shared and how new ones are cut."""

    def __init__(self, source: Tokenizer, tokenizer: Tokenizer, *, source_rows: int):
        self.tokenizer = tokenizer
        alignment = align_vocabularies(source, tokenizer, source_rows=source_rows)
        self.shared_target_ids = alignment.shared_target_ids
        self.shared_source_ids = alignment.shared_source_ids
        pieces = alignment.new_pieces
        self.new_target_ids = np.array(sorted(pieces), dtype=np.int64)
        self.new_decompositions = [pieces[int(i)] for i in self.new_target_ids]
        self.start = tokenizer.specials.bos if tokenizer.specials.bos is not None else tokenizer.specials.eos

    def windows(self, text: TrainingText, rng: np.random.Generator, *, batch: int, length: int) -> np.ndarray:
        """`batch` windows of `length` + 1 ids (the start token, then text), cut by this tokenizer."""
        prefix = [] if self.start is None else [self.start]
        rows = [prefix + text.window(rng, self.tokenizer, length + 1 - len(prefix)) for _ in range(batch)]
        return np.array(rows, dtype=np.int64)

    def step(self, windows: np.ndarray, rng: np.random.Generator, *, new_tokens: int) -> StepVocabulary:
        """The step's vocabulary: all shared tokens, every new token in `windows`, others up to `new_tokens`."""
        vocab = max(int(windows.max()) + 1, self.tokenizer.vocab_size)
        position = np.full(vocab, -1, dtype=np.int64)
        position[self.shared_target_ids] = np.arange(len(self.shared_target_ids))
        is_new = np.zeros(vocab, dtype=bool)
        is_new[self.new_target_ids] = True
        occurring = np.unique(windows[is_new[windows]])
        rest = np.setdiff1d(self.new_target_ids, occurring)
        extra = max(0, min(len(rest), new_tokens - len(occurring)))
        chosen = np.concatenate([occurring, rng.choice(rest, size=extra, replace=False)]) if extra else occurring
        position[chosen] = len(self.shared_target_ids) + np.arange(len(chosen))
        ids = position[windows]
        if (ids < 0).any():
            raise ValueError("a window holds a token that has neither a source row nor bytes")
        index = np.searchsorted(self.new_target_ids, chosen)
        log_weights = np.zeros(len(self.shared_target_ids) + len(chosen), dtype=np.float32)
        if extra:
            log_weights[-extra:] = np.log(len(rest) / extra)
        return StepVocabulary(self.shared_source_ids, [self.new_decompositions[i] for i in index], ids,
                              log_weights)


def source_splits(tokenizer: Tokenizer, *, rows: int) -> dict[int, tuple[int, int]]:
    """Each source token that two shorter source tokens spell, with those two tokens.

    For a BPE source they are the two tokens its merge joins: what the source tokenizer gives for the
    token's bytes without that merge. Otherwise the most even split into two source tokens.
    """
    view = tokenizer.byte_view
    lookup = {piece: ids[0] for piece, ids in view.ids_by_bytes().items() if ids[0] < rows}
    splits: dict[int, tuple[int, int]] = {}
    spec = getattr(tokenizer, "spec", None) or {}
    for merge in (spec.get("model") or {}).get("merges") or []:
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        ids = (tokenizer.token_to_id(left), tokenizer.token_to_id(right), tokenizer.token_to_id(left + right))
        if None not in ids and max(ids) < rows:
            splits[ids[2]] = (ids[0], ids[1])
    for token_id in range(min(rows, tokenizer.vocab_size)):
        piece = view[token_id]
        if token_id in splits or piece is None or len(piece) < 2 or lookup.get(piece) != token_id:
            continue
        cuts = [k for k in range(1, len(piece)) if piece[:k] in lookup and piece[k:] in lookup]
        if cuts:
            cut = min(cuts, key=lambda k: abs(len(piece) - 2 * k))
            splits[token_id] = (lookup[piece[:cut]], lookup[piece[cut:]])
    return splits


def mimick_pieces(splits: dict[int, tuple[int, int]], token_id: int, rng: np.random.Generator, *,
                  deeper: float = 0.25) -> tuple[int, ...]:
    """The pieces of a split source token: its two parts, and with probability `deeper` one part cut again."""
    left, right = splits[token_id]
    if rng.random() < deeper:
        if rng.random() < 0.5 and left in splits:
            return (*splits[left], right)
        if right in splits:
            return (left, *splits[right])
    return (left, right)
