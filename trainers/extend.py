"""Vocabulary extension: N new tokens learned on new text, on top of an existing tokenizer that stays as it is.

Every old token keeps its id and every old merge its rank, so a model's embedding rows stay valid and
`tokwork transplant` matches every old token exactly; only the new ids need rows. The new tokens are
learned the way the base would have gone on learning: the new text is normalised and pre-tokenized by the
base itself, each pre-token is segmented into the base's current tokens, and N merges are learned on those
segmentations (the most frequent adjacent pair first, ties to the smaller pair of ids, counts kept up to
date as in `tokwork.trainers.bpe_learner`). On the text a byte-level base was trained on, extending it by n
gives the merges that training n more would have given.

Byte-level BPE `tokenizer.json` files (GPT-2, Llama 3, Qwen 3, tokwork's BPE, and tiktoken files through
tokwork's equivalent BPE) get the new merges after the old ones, so they apply only where the old ones are
done. A merge that spells an existing token uses its id; none may spell an added token's text. New ids
start after the largest id in use, added and special tokens included (Llama 3's and Qwen 3's specials sit
above their BPE vocabularies), so none collides; such specials are then listed in the model's vocabulary
too, with their own ids (as GPT-2's `<|endoftext|>` always was), because `tokenizers` would otherwise number
them after the model's new tokens. The output is a `tokenizer.json` with the base's
`tokenizer_config.json`, also for a tiktoken base: a `.tiktoken` file ranks tokens, not merges, and would
join any two pieces that spell a new token, not only the pair that was learned.

SentencePiece-style bases (a `.model`, see `tokwork.trainers.extend_sentencepiece`, or a `tokenizer.json`
BPE that spells spaces `▁` and falls back to bytes, such as Gemma 3's) learn within words: a token that
starts with `▁` starts a word. A character the base can only spell in byte-fallback pieces becomes a new
token first when it occurs `min_frequency` times (most frequent first); rarer ones stay bytes, and no new
token contains them.

The card (`tokwork.json`) records the base, the corpus and `new_ids` (`{"start", "stop"}`: the ids of
`range(start, stop)` are new, all others are the base's); `new_token_ids(folder)` reads it back.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from tokenizers import Tokenizer as BackendTokenizer

from tokwork.byteview import byte_fallback_value
from tokwork.card import CardError, has_card, read_card
from tokwork.corpus import file_sha256
from tokwork.errors import TokenizerFormatError
from tokwork.formats.hf_json import HFTokenizer, hf_config, read_chat_template
from tokwork.formats.sentencepiece_model import SPACE_MARK, SentencePieceTokenizer
from tokwork.loader import load_tokenizer, tokenizer_file
from tokwork.trainers.card import TrainedTokenizer, TrainingCard
from tokwork.trainers.extend_config import ExtendConfig, check_learned, count_words, light_pretokenizer_json
from tokwork.trainers.extend_learner import (
    Segmentations,
    characters_for_bytes,
    learn_extension,
)

KIND = "extend"


def _bpe_spec(base: HFTokenizer) -> dict:
    """The base's `tokenizer.json` as a dict, refused unless it is a BPE with merges to extend."""
    spec = json.loads(base.backend.to_str())
    model = spec["model"]
    name = f"tokenizer '{base.source}'"
    if model.get("type") != "BPE":
        raise TokenizerFormatError(f"{name} is a {model.get('type')} tokenizer; only BPE tokenizers (and "
                                   "SentencePiece .model files) can be extended with merges")
    if not model.get("merges"):
        raise TokenizerFormatError(f"{name} is a BPE without merges (a character-level tokenizer); "
                                   "extend a BPE tokenizer that has merges")
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        raise TokenizerFormatError(f"{name} marks subwords with a prefix or suffix (WordPiece style); only "
                                   "byte-level or SentencePiece-style BPE can be extended")
    return spec


def _hf_segmentations(base: HFTokenizer, spec: dict, words: Mapping[str, int]) -> Segmentations:
    """Segment each word (pre-token) into the base's tokens; for a BPE that is not byte-level, byte-fallback
    runs become the characters they spell and unknown tokens become cuts, and `▁x` tokens start words."""
    model = base.backend.model
    vocab: dict[str, int] = spec["model"]["vocab"]
    strings = {token_id: token for token, token_id in vocab.items()}
    byte_level = base.decoder_chain.byte_level
    unk = vocab.get(spec["model"].get("unk_token") or "")
    byte_values = {} if byte_level else {i: v for i, t in strings.items() if (v := byte_fallback_value(t)) is not None}
    splitter = None if byte_level else _unit_splitter(vocab)
    segmented = []
    for word, count in words.items():
        for part in (word,) if splitter is None else (p for p in splitter.split(word) if p):
            ids = [token.id for token in model.tokenize(part)]
            segmented.append((ids if byte_level else characters_for_bytes(ids, byte_values, cut={unk}), count))
    starts = frozenset() if byte_level else frozenset(i for i, t in strings.items() if t.startswith(SPACE_MARK))
    return Segmentations(segmented, strings, starts_word=starts)


def _unit_splitter(vocab: Mapping[str, int]) -> re.Pattern | None:
    """For a SentencePiece-style base whose file has no pre-tokenizer to say so (Gemma 3's normaliser turns
    spaces into `▁` before its split on spaces could fire): the units its trainer kept apart, read off its
    vocabulary. No token of two or more ASCII digits: each digit stands alone (SentencePiece's
    split_digits); no token joining a newline to anything else: runs of newlines stand alone (SentencePiece
    trains line by line). A pattern whose split keeps those units apart, or None when the vocabulary
    shows neither rule."""
    tokens = list(vocab)
    units = []
    if not any(len(digits := t.lstrip(SPACE_MARK)) >= 2 and digits.isascii() and digits.isdigit() for t in tokens):
        units.append("[0-9]")
    if not any("\n" in t and t.strip("\n") for t in tokens):
        units.append("\n+")
    return re.compile(f"({'|'.join(units)})") if units else None


def _extend_hf(base: HFTokenizer, corpus, config: ExtendConfig, *, text_field: str, progress: bool):
    """The base `tokenizer.json` BPE with the learned tokens in its vocabulary and their merges after its
    own; returns the extended tokenizer, what was learned, the corpus files and the number of words."""
    spec = _bpe_spec(base)
    words, files = count_words(corpus, light_pretokenizer_json(base.backend), text_field=text_field,
                               progress=progress)
    segmentations = _hf_segmentations(base, spec, words)
    added = {token.content: token_id for token_id, token in base.backend.get_added_tokens_decoder().items()}
    learned = learn_extension(segmentations, next_id=base.vocab_size, add=config.add,
                              min_frequency=config.min_frequency, forbidden=added)
    check_learned(learned, config)
    model = spec["model"]
    # `tokenizers` gives an added token that the model lacks the id after the model's vocabulary, whatever
    # the file says; with new ids above Llama 3's specials, those must be in the model to keep their ids
    # (as GPT-2's `<|endoftext|>` always was). No merge makes them (they are `forbidden`).
    for content, token_id in added.items():
        model["vocab"].setdefault(content, token_id)
    model["vocab"].update({token: token_id for token_id, token in learned.new_tokens.items()})
    strings = {**segmentations.strings, **learned.new_tokens}
    as_text = isinstance(model["merges"][0], str)  # older files spell a merge "a b"
    model["merges"].extend(f"{strings[a]} {strings[b]}" if as_text else [strings[a], strings[b]]
                           for a, b in learned.merges)
    backend = BackendTokenizer.from_str(json.dumps(spec, ensure_ascii=False))
    extended = HFTokenizer(backend, config=_config_with_chat_template(base))
    return extended, learned, files, len(words)


def _config_with_chat_template(base: HFTokenizer) -> dict:
    """The base's `tokenizer_config.json`, carrying the chat template that a model folder keeps beside it in
    `chat_template.jinja` (SmolLM2's), which would otherwise be lost: the extension writes only the config."""
    config = dict(base.config) or hf_config(base)
    if base.source and "chat_template" not in config:
        folder = Path(base.source)
        template = read_chat_template(folder.parent if folder.is_file() else folder)
        if template:
            config["chat_template"] = template
    return config


def _refuse_character_level(path: Path) -> None:
    """tokwork's character-level tokenizers cap their tokens by design (`train char`); merges would undo it."""
    folder = path if path.is_dir() else path.parent
    if not has_card(folder):
        return
    try:
        kind = read_card(folder).get("kind")
    except CardError:
        return
    if kind == "char":
        raise TokenizerFormatError(f"tokenizer '{path}' is a character-level tokenizer (tokwork train char), "
                                   "whose tokens are short by design; extend a BPE tokenizer instead")


def extend_tokenizer(corpus: Sequence[str | Path], config: ExtendConfig, *, text_field: str = "text",
                     progress: bool = True) -> TrainedTokenizer:
    """The base tokenizer at `config.base` with `config.add` new tokens learned on `corpus`, and its card.

    Old ids, tokens and merges are kept; `new_ids` in the card's notes says which ids are new. Fewer
    tokens are added when the corpus has no more pairs occurring `min_frequency` times (the card says so).
    Raises `TokenizerFormatError` for a base that cannot be extended, `CorpusError` for a bad corpus and
    `ParameterError` when the corpus gives nothing to add.
    """
    config.validate()
    start = time.perf_counter()
    path = Path(config.base)
    _refuse_character_level(path)
    base = load_tokenizer(path)
    if isinstance(base, SentencePieceTokenizer):
        from tokwork.trainers.extend_sentencepiece import extend_sentencepiece as extender
    elif isinstance(base, HFTokenizer):  # tiktoken files too, as tokwork's equivalent BPE
        extender = _extend_hf
    else:
        raise TokenizerFormatError(f"tokenizer '{path}' ({base.format}) cannot be extended")
    extended, learned, files, distinct = extender(base, corpus, config, text_field=text_field, progress=progress)
    first = base.vocab_size
    notes = {
        "base": {"path": str(path), "format": base.format, "vocab_size": base.vocab_size,
                 "sha256": file_sha256(tokenizer_file(path))},
        "new_ids": {"start": first, "stop": first + len(learned.new_tokens)},
        "added": len(learned.new_tokens), "new_characters": len(learned.new_characters),
        "merges_added": len(learned.merges), "merges_reusing_base_tokens": learned.reused,
        "fewer_than_asked": learned.exhausted, "distinct_words": distinct,
    }
    card = TrainingCard.for_corpus(KIND, asdict(config), files, time.perf_counter() - start, notes=notes)
    return TrainedTokenizer(extended, card)


def new_token_ids(directory: str | Path) -> range:
    """The ids an extension added (those a transplant must make rows for), read from the card in
    `directory`; raises `CardError` when the folder is not an extension's output."""
    card = read_card(directory)
    new_ids = card.get("notes", {}).get("new_ids")
    if card.get("kind") != KIND or not isinstance(new_ids, dict):
        raise CardError(f"'{directory}' is not an extended tokenizer (its card has no new_ids)")
    return range(int(new_ids["start"]), int(new_ids["stop"]))

