"""Completion cuts of a BPE tokenizer with byte fallback (Gemma 3's `tokenizer.json`) from its merges.

Such a model merges characters, not bytes: a character in the vocabulary is one symbol, and only a
character it lacks is spelled by byte pieces (`<0xE4>`...). So a prefix that ends inside a character has
canonical encodings only through completions the vocabulary lacks, and for every one of them the symbols
before the cut are the same: the word so far, then the byte pieces of the partial character. Whether the
cut survives the merges is the race of `bpe_race.py`, decided per completion without encoding; the tokens
before the word come from one encode. Gemma's normaliser turns spaces into "▁", so its whole text is one
word up to the last added token (newlines, tab runs, tags...), which is what made encoding every
completion slow: each encode was of the whole text so far.

Covered: BPE with byte fallback, every byte piece in the vocabulary, no normaliser or one that replaces a
single ASCII character, no pre-tokenizer or a split on spaces that such a replacement empties, added tokens
matched on the raw text without stripping options. Completions that occur in an added token are encoded.
Also Llama 2 style files (transformers' legacy conversion of a SentencePiece BPE): Prepend("▁") before the
space replacement, so the word starts with the dummy prefix the byte stream starts with; where an added
token splits the text before the cut (each stretch gets its own "▁"), completions are encoded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tokwork.bytelevel.merge_cuts import CompletionCutter, tokens_before
from tokwork.bytelevel.text_splits import AddedTokenScan
from tokwork.bytelevel.unknown_char_cuts import SPACE_MARK

Encoding = tuple[int, ...]
# transformers' legacy conversion of a SentencePiece model with a dummy prefix (Llama 2, Mistral)
LEGACY_NORMALIZER = {"type": "Sequence", "normalizers": [
    {"type": "Prepend", "prepend": SPACE_MARK},
    {"type": "Replace", "pattern": {"String": " "}, "content": SPACE_MARK}]}


class FallbackCuts(CompletionCutter):
    """`completion_cuts` for BPE with byte fallback, from its merges; build with `for_tokenizer`."""

    def __init__(self, tokenizer, model: dict, replace: tuple[str, str] | None, added: AddedTokenScan,
                 prepend: bool):
        super().__init__(tokenizer, model, [model["vocab"][f"<0x{b:02X}>"] for b in range(256)])
        self.replace = replace
        self.added = added
        self.prepend = prepend  # the normaliser starts the text with "▁" (the stream's dummy-prefix space)

    @classmethod
    def for_tokenizer(cls, tokenizer) -> FallbackCuts | None:
        """The worker for a `tokenizer.json` BPE with byte fallback as described in the module docstring;
        None for any other tokenizer."""
        found = byte_fallback_parts(tokenizer)
        return None if found is None else cls(tokenizer, *found)

    def _symbols(self, text: str) -> list[int]:
        """The symbols BPE starts a word from: each character's id, or its byte pieces."""
        symbols = []
        for char in text:
            found = self.vocab.get(char)
            if found is not None:
                symbols.append(found)
            else:
                symbols.extend(self.byte_symbol[b] for b in char.encode("utf-8"))
        return symbols

    def cuts(self, base: str, partial: bytes, chars: Sequence[str],
             encode: Callable[[list[str]], list[list[int]]], lead: bytes = b"") -> list[Encoding] | None:
        """As `MergeCuts.cuts`: the distinct token prefixes spelling `base` + `partial` in the encodings of
        `base` + c over `chars`, in the order of the first c giving each; None when the encoding of a
        representative does not split as the argument needs."""
        if lead != (b" " if self.prepend else b""):  # only the dummy prefix goes before the text
            return None
        window = len(lead) + len(base.encode("utf-8")) + len(partial)
        found: list[tuple[int, Encoding]] = []
        lacking = [i for i, char in enumerate(chars) if char not in self.vocab and char not in self.added.chars]
        if lacking:
            start = self.added.last_end(base)
            if start and self.prepend:  # the stretch after that added token starts with a "▁" of its own
                return None
            word = base[start:]
            if self.replace is not None:
                word = word.replace(*self.replace)
            if self.prepend:
                word = SPACE_MARK + word  # the dummy prefix: the stream's first byte, a space
            ids = encode([base + chars[lacking[0]]])[0]
            earlier = tokens_before(self._lengths, ids, len(base[:start].encode("utf-8")))
            if earlier is None:
                return None
            left_tokens, left = self.bpe_states(self._symbols(word) + [self.byte_symbol[b] for b in partial])
            kept = self.first_kept(lacking, chars, partial, left, lambda index: word + chars[index])
            if kept is not None:
                found.append((kept, tuple(earlier) + tuple(left_tokens)))
        special = [i for i, char in enumerate(chars) if char in self.added.chars]
        found += self.encoded_cuts(special, encode([base + chars[i] for i in special]), window)
        return self.distinct(found)


def byte_fallback_parts(tokenizer) -> tuple[dict, tuple[str, str] | None, AddedTokenScan, bool] | None:
    """(model, normaliser's replacement, added-token scan, whether the normaliser prepends "▁") of a
    tokenizer as the module docstring describes it, None for any other tokenizer."""
    spec = getattr(tokenizer, "spec", None)
    if not isinstance(spec, dict):
        return None
    model = spec.get("model") or {}
    vocab = model.get("vocab")
    if (model.get("type") != "BPE" or not model.get("byte_fallback") or model.get("dropout")
            or model.get("continuing_subword_prefix") or model.get("end_of_word_suffix")
            or not isinstance(vocab, dict) or any(f"<0x{b:02X}>" not in vocab for b in range(256))):
        return None
    prepend = spec.get("normalizer") == LEGACY_NORMALIZER
    replace = (" ", SPACE_MARK) if prepend else _single_replace(spec.get("normalizer"))
    if replace is False or not _splits_nothing(spec.get("pre_tokenizer"), replace):
        return None
    added = AddedTokenScan.from_spec(spec, normalized_ok=False)
    if added is None:
        return None
    return model, replace or None, added, prepend


def _single_replace(normalizer: dict | None) -> tuple[str, str] | None | bool:
    """(old, new) for a normaliser that replaces one ASCII character, None for none, False otherwise."""
    if normalizer is None:
        return None
    pattern = normalizer.get("pattern") or {}
    old = pattern.get("String")
    if normalizer.get("type") != "Replace" or not isinstance(old, str) or len(old) != 1 or not old.isascii():
        return False
    return old, normalizer.get("content", "")


def _splits_nothing(pre_tokenizer: dict | None, replace: tuple[str, str] | None) -> bool:
    """Whether the pre-tokenizer leaves the normalised text whole: none, or a split on a string that the
    normaliser has replaced everywhere."""
    if pre_tokenizer is None:
        return True
    pattern = pre_tokenizer.get("pattern") or {}
    return (pre_tokenizer.get("type") == "Split" and replace is not None and pattern.get("String") == replace[0]
            and replace[0] not in replace[1] and not pre_tokenizer.get("invert"))
