"""The byte-level BPE backends both supertoken methods work with: the bytes of every id, a copy that encodes
each input whole, merges appended to a trained backend, and the two-stage tokenizer's pre-tokenizer."""

from __future__ import annotations

import json

import numpy as np
from tokenizers import Regex, pre_tokenizers
from tokenizers import Tokenizer as BackendTokenizer

from tokwork.byteview import byte_level_to_bytes
from tokwork.split_patterns import SUPERWORD, onig_pattern


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
