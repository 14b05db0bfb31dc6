"""Supertoken tokenizers: byte-level BPE whose tokens may span several words, as one standard `tokenizer.json`.

Two methods:

- **two-stage** superword BPE, after SuperBPE (Liu et al., "SuperBPE: Space Travel for Language Models",
  2025). Stage 1 is ordinary byte-level BPE on whitespace-bounded pretokens, stopped at the transition
  point t (a stage-1 vocabulary of t tokens). Stage 2 goes on learning merges over much longer pretokens
  that end only before digit groups and runs of punctuation and after line breaks
  (`tokwork.split_patterns.SUPERWORD`), so merges can join words (" of the", ", I am"). Stage 2 counts the
  distinct chunks (`superword_chunks`), encodes them with stage 1 (`superword_units`) and learns over their
  stage-1 ids with incremental pair counts (`superword_merges`).
- **random-chunk** supertokens, after TokenAdapt (Sharthak et al., "Achieving Tokenizer Flexibility in
  Language Models through Heuristic Adaptation and Supertoken Learning", 2025): the text is cut into
  chunks of random length (seeded; the length distribution is a parameter) that ignore word boundaries,
  and byte-level BPE is trained on the chunks (`tokwork.trainers.random_chunk`). The saved file does not
  cut text at all: its merges apply over the whole input.

How two-stage inference matches training: the saved file splits text with the superword pattern, spells
bytes in GPT-2's alphabet, then applies the stage-1 merges followed by the stage-2 merges, in learning order.
Inside a chunk, BPE applies every stage-1 merge that can apply before any stage-2 merge (they rank lower),
which is exactly stage 1 encoding the chunk; stage-2 merges then act on stage-1 ids as during training,
because no stage-2 merge makes a string that already is a token. `SuperwordStages.encode` runs the two
stages as separate passes; the tests check that it gives the same ids as the saved file.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tokenizers import Regex, models, pre_tokenizers
from tokenizers import Tokenizer as BackendTokenizer

from tokwork.byteview import byte_level_to_bytes
from tokwork.corpus import CorpusReader
from tokwork.errors import ParameterError
from tokwork.formats.hf_json import HFTokenizer
from tokwork.progress import track
from tokwork.split_patterns import SUPERWORD, onig_pattern
from tokwork.trainers.bpe import (
    BYTE_ALPHABET,
    TRAINING_BLOCK_CHARS,
    BPEConfig,
    bpe_trainer,
    empty_byte_level_bpe,
)
from tokwork.trainers.card import TrainedTokenizer, TrainingCard

METHODS = ("two-stage", "random-chunk")
TRANSITION_SHARE = 0.8
DEFAULT_CHUNK_LENGTHS = "1-5:0.02,6-18:0.7,19-28:0.28"
STAGE2_PHASES = ("count_chunks", "stage1_ids", "learn_merges")
_CHUNK_RANGE = re.compile(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+))?\s*(?::\s*([0-9.eE+-]+))?\s*$")


def parse_chunk_lengths(spec: str) -> tuple[list[tuple[int, int]], list[float]]:
    """Read a chunk-length distribution such as "6-18:0.7,19-28:0.3" (character ranges with weights; a
    lone "8" or "4-12" is one range of weight 1) into ranges and probabilities."""
    ranges, weights = [], []
    for part in spec.split(","):
        match = _CHUNK_RANGE.match(part)
        if not match:
            raise ParameterError(f"chunk lengths '{spec}' must look like '6-18:0.7,19-28:0.3' (characters:weight)")
        low = int(match[1])
        high = int(match[2]) if match[2] is not None else low
        try:
            weight = float(match[3]) if match[3] is not None else 1.0
        except ValueError:
            raise ParameterError(f"chunk length weight '{match[3]}' in '{spec}' is not a number") from None
        if min(low, high) <= 0:
            raise ParameterError(f"chunk length {min(low, high)} in '{spec}' must be at least 1 character")
        if high < low:
            raise ParameterError(f"chunk length range {low}-{high} in '{spec}' runs backwards; write {high}-{low}")
        if not weight > 0:
            raise ParameterError(f"chunk length weight {weight} in '{spec}' must be above 0")
        ranges.append((low, high))
        weights.append(weight)
    total = sum(weights)
    return ranges, [w / total for w in weights]


@dataclass
class SupertokenConfig:
    """Settings of a supertoken run; saved in the card. `transition` is the stage-1 vocabulary size
    (None: 80% of `vocab_size`); `chunk_lengths` and `seed` are for the random-chunk method."""

    vocab_size: int
    method: str = "two-stage"
    transition: int | None = None
    chunk_lengths: str = DEFAULT_CHUNK_LENGTHS
    seed: int = 0
    min_frequency: int = 2
    split: str = "gpt2"
    eos_token: str = "<|endoftext|>"

    @property
    def transition_point(self) -> int:
        return self.transition if self.transition is not None else int(TRANSITION_SHARE * self.vocab_size)

    def bpe_config(self, vocab_size: int) -> BPEConfig:
        return BPEConfig(vocab_size=vocab_size, min_frequency=self.min_frequency, split=self.split,
                         eos_token=self.eos_token)

    def validate(self) -> None:
        """Raise `ParameterError` for settings that cannot give a supertoken tokenizer."""
        if self.method not in METHODS:
            raise ParameterError(f"unknown supertoken method '{self.method}'; choose one of {', '.join(METHODS)}")
        self.bpe_config(self.vocab_size).validate()
        if self.method == "two-stage":
            t = self.transition_point
            if t >= self.vocab_size:
                raise ParameterError(f"transition point {t} must be below the vocab size {self.vocab_size}; "
                                     "pass a smaller --transition")
            if t < BYTE_ALPHABET + 1:
                raise ParameterError(f"transition point {t} is below the byte alphabet plus the end-of-text token; "
                                     f"use at least {BYTE_ALPHABET + 1}")
        else:
            parse_chunk_lengths(self.chunk_lengths)


@dataclass
class TrainedSupertoken(TrainedTokenizer):
    """A trained supertoken tokenizer; for two-stage runs, `stages` runs the two stages separately."""

    stages: SuperwordStages | None = None


def superword_pretokenizer(*, byte_level: bool = True):
    """The two-stage tokenizer's pre-tokenizer: split on the superword pattern, then GPT-2's byte alphabet."""
    split = pre_tokenizers.Split(Regex(onig_pattern(SUPERWORD)), behavior="isolated")
    if not byte_level:
        return split
    return pre_tokenizers.Sequence([split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


def whole_text_encoder(backend: BackendTokenizer) -> BackendTokenizer:
    """A copy of a byte-level BPE that encodes each input as one pretoken (no splitting) and never
    reads special-token strings in the text as specials."""
    copy = BackendTokenizer.from_str(backend.to_str())
    copy.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    copy.post_processor = None
    copy.encode_special_tokens = True
    return copy


def vocab_bytes(backend: BackendTokenizer) -> list[bytes | None]:
    """The bytes of every id of a byte-level BPE (None for specials and other non-byte-level entries)."""
    size = backend.get_vocab_size(with_added_tokens=True)
    specials = {t.content for t in backend.get_added_tokens_decoder().values()}
    pieces: list[bytes | None] = [None] * size
    for token, token_id in backend.get_vocab(with_added_tokens=True).items():
        if token not in specials:
            pieces[token_id] = byte_level_to_bytes(token)
    return pieces


def learn_merges(base: BackendTokenizer, tokens, starts, lengths, counts, *, num_merges: int,
                 min_frequency: int) -> tuple[np.ndarray, int]:
    """Merges (pairs of ids) learned on top of `base` over chunks of its ids (stage 2 of the two-stage
    method, or all merges of random-chunk over bytes); also how many were refused because their result
    already was a token."""
    from tokwork.trainers.superword_merges import learn_superword_merges

    pieces = vocab_bytes(base)
    sizes = np.array([len(p or b"") for p in pieces], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    pool = np.frombuffer(b"".join(p or b"" for p in pieces), dtype=np.uint8)
    known = np.array([p is not None for p in pieces], dtype=np.bool_)
    merges, refused = learn_superword_merges(tokens, starts, lengths, counts, pool, offsets, sizes, known,
                                             len(pieces), max(0, num_merges), min_frequency)
    return merges, int(refused)


def with_merges(base: BackendTokenizer, merges: np.ndarray, pretokenizer) -> BackendTokenizer:
    """One byte-level BPE: the vocabulary and merges of `base`, then `merges` (pairs of ids; new ids in
    order), with the given pre-tokenizer."""
    spec = json.loads(base.to_str())
    vocab = spec["model"]["vocab"]
    names = {token_id: token for token, token_id in vocab.items()}
    first_id = base.get_vocab_size(with_added_tokens=True)
    for k, (a, b) in enumerate(merges.tolist()):
        names[first_id + k] = vocab_name = names[a] + names[b]
        vocab[vocab_name] = first_id + k
        spec["model"]["merges"].append([names[a], names[b]])
    backend = BackendTokenizer.from_str(json.dumps(spec, ensure_ascii=False))
    backend.pre_tokenizer = pretokenizer
    return backend


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


class TextBuffer:
    """Passes texts through (to a first trainer) while keeping their UTF-8 bytes back to back."""

    def __init__(self, texts: Iterable[str]):
        self.texts = texts
        self.buffer = bytearray()
        self.ends: list[int] = []

    def __iter__(self) -> Iterator[str]:
        for text in self.texts:
            self.buffer += text.encode("utf-8")
            self.ends.append(len(self.buffer))
            yield text

    def read(self) -> tuple[np.ndarray, np.ndarray]:
        """The bytes and where each text ends, reading the texts first if nothing has read them."""
        if not self.ends:
            for _ in self:
                pass
        return np.frombuffer(self.buffer, dtype=np.uint8), np.array(self.ends, dtype=np.int64)


def release_freed_memory() -> None:
    """Hand memory that was freed back to the system (glibc's `malloc_trim`; nothing elsewhere), so that the
    next phase does not pile up on top of what the previous one used and let go."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def hf_tokenizer(backend: BackendTokenizer, eos_token: str) -> HFTokenizer:
    """The tokwork wrapper of a trained backend, with the end-of-text token as bos and eos."""
    roles = {"bos_token": eos_token, "eos_token": eos_token}
    return HFTokenizer(backend, config={"tokenizer_class": "PreTrainedTokenizerFast",
                                        "clean_up_tokenization_spaces": False, **roles})


def train_two_stage(corpus: Sequence[str | Path], config: SupertokenConfig, *, text_field: str = "text",
                    progress: bool = True) -> TrainedSupertoken:
    """Two-stage superword BPE (SuperBPE, Liu et al. 2025): stage 1 to the transition point, stage 2 over
    superword chunks; returns the single-file tokenizer, its card and the separate stages."""
    start = time.perf_counter()
    reader = CorpusReader(corpus, text_field=text_field, progress=progress, block_chars=TRAINING_BLOCK_CHARS)
    stage1_config = config.bpe_config(config.transition_point)
    stage1 = empty_byte_level_bpe(stage1_config)
    texts = TextBuffer(reader)
    stage1.train_from_iterator(texts, trainer=bpe_trainer(stage1_config, show_progress=progress))
    timings = {"stage1": time.perf_counter() - start}
    release_freed_memory()
    first_id = stage1.get_vocab_size(with_added_tokens=True)

    for phase in track(STAGE2_PHASES, "stage 2: superword merges", enabled=progress):
        began = time.perf_counter()
        if phase == "count_chunks":
            from tokwork.trainers.superword_chunks import count_chunks  # numba loads after stage 1

            chunks = count_chunks(*texts.read())
            del texts  # the chunks hold the text now
        elif phase == "stage1_ids":
            from tokwork.trainers.superword_units import stage1_ids

            ids = stage1_ids(stage1, chunks)
            counts = chunks.counts
            del chunks  # the stage-1 ids replace the text
        else:
            merges, refused = learn_merges(stage1, *ids, counts, num_merges=config.vocab_size - first_id,
                                           min_frequency=config.min_frequency)
            del ids
        release_freed_memory()
        timings[phase] = time.perf_counter() - began
    backend = with_merges(stage1, merges, superword_pretokenizer())
    tokenizer = hf_tokenizer(backend, config.eos_token)
    timings["stage2"] = time.perf_counter() - start - timings["stage1"]
    notes = {
        "vocab_size_reached": tokenizer.vocab_size,
        "stage1_vocab_size": first_id,
        "stage2_merges": len(merges),
        "stage2_refused_merges": refused,
        "distinct_chunks": len(counts),
        "chunks": int(counts.sum()),
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "pretokenizer": SUPERWORD,
        "inference": "split on the superword pattern, byte-level alphabet, stage-1 merges then stage-2 "
                     "merges in learning order; equal to stage 1 inside each chunk followed by stage 2",
    }
    card = TrainingCard.for_corpus("supertoken", {**asdict(config), "transition": config.transition_point},
                                   reader.files, time.perf_counter() - start, notes=notes)
    return TrainedSupertoken(tokenizer, card, SuperwordStages(stage1, merges))


def train_supertoken(corpus: Sequence[str | Path], config: SupertokenConfig, *, text_field: str = "text",
                     progress: bool = True) -> TrainedSupertoken:
    """Train a supertoken tokenizer with `config.method` ("two-stage" or "random-chunk")."""
    config.validate()
    if config.method == "random-chunk":
        from tokwork.trainers.random_chunk import train_random_chunk

        return train_random_chunk(corpus, config, text_field=text_field, progress=progress)
    return train_two_stage(corpus, config, text_field=text_field, progress=progress)
