"""Points a BPE tokenizer without a pre-tokenizer never merges across, so that long texts are encoded in
windows (Gemma 3, SentencePiece).

A BPE model's tokens are all in its vocabulary, so between two characters that no token holds side by side
no merge can cross, and no added token is matched across them when none holds them side by side either:
the encoding of the text is the encoding of what comes before that point followed by the encoding of what
comes after. Gemma 3 has no pre-tokenizer in effect (its normaliser turns spaces into "▁", and its split
on spaces then finds none), so without these points every prefix of a text is encoded whole and the work
grows with the square of the text's length; with them a prefix is encoded from a few points back, as the
pre-tokenized tokenizers are (`canonical.py`). SentencePiece (BPE or unigram) segments into pieces of its
vocabulary too, so the same holds for its `.model` files; where it adds a dummy-prefix space, windows start
at a space, which the tokenizer puts back when it encodes the window without it. Covered: the tokenizers
`fallback_cuts.py` covers, and SentencePiece models with byte fallback and the identity normaliser that
keep every space (Llama 2, Mistral, tokwork's own), and their `tokenizer.json` conversions (BPE with byte
fallback under a Prepend("▁") and Replace(" ", "▁") normaliser, no pre-tokenizer); byte fallback means no
unknown-token fusing joins characters either. `tokenizers` normalises each stretch between added tokens on
its own, so such a conversion prepends "▁" after every added token too: no window starts right after one.
"""

from __future__ import annotations

from tokwork.bytelevel.fallback_cuts import byte_fallback_parts
from tokwork.bytelevel.unknown_char_cuts import SPACE_MARK, identity_byte_fallback_proto


class SafeCuts:
    """The points of a text that a BPE tokenizer's merges never cross; build with `for_tokenizer`."""

    def __init__(self, pieces: list[str], replace: tuple[str, str] | None, *, at_spaces: bool = False,
                 not_after: tuple[str, ...] = ()):
        self.replace = replace
        self.at_spaces = at_spaces  # only before a space (the tokenizer puts it back as its dummy prefix)
        self.not_after = not_after  # no cut right after these (added tokens, after which a dummy prefix goes)
        joined = "\x00".join(pieces)  # one string: its pairs are those of the pieces, and some with NUL
        self.joined = set(zip(joined, joined[1:], strict=False))

    @classmethod
    def for_tokenizer(cls, tokenizer, *, at_spaces: bool = False) -> SafeCuts | None:
        """The cuts of a `tokenizer.json` BPE with byte fallback as `fallback_cuts.py` covers, or of a
        SentencePiece model with byte fallback and the identity normaliser that keeps every space (with
        `at_spaces` when it adds a dummy prefix), None for any other tokenizer."""
        if getattr(tokenizer, "format", None) == "sentencepiece":
            return cls._for_sentencepiece(tokenizer, at_spaces)
        found = byte_fallback_parts(tokenizer)
        if found is None:
            return None
        model, replace, _, prepend = found
        if prepend != at_spaces:  # a tokenizer.json's dummy prefix is a Llama 2 style Prepend("▁")
            return None
        byte_pieces = {f"<0x{b:02X}>" for b in range(256)}  # single bytes, whatever their names spell
        pieces = [piece for piece in model["vocab"] if piece not in byte_pieces]
        contents = tuple(token["content"] for token in tokenizer.spec.get("added_tokens", []) if token.get("content"))
        for content in contents:  # as matched on the raw text, and normalised
            pieces += [content, content.replace(*replace)] if replace else [content]
        return cls(pieces, replace, at_spaces=prepend, not_after=contents if prepend else ())

    @classmethod
    def _for_sentencepiece(cls, tokenizer, at_spaces: bool) -> SafeCuts | None:
        proto = identity_byte_fallback_proto(tokenizer)
        if proto is None:
            return None
        spec, trainer = proto.normalizer_spec, proto.trainer_spec
        if (spec.remove_extra_whitespaces or not spec.escape_whitespaces or trainer.treat_whitespace_as_suffix
                or spec.add_dummy_prefix != at_spaces):
            return None
        kinds = type(proto).SentencePiece
        pieces = [piece.piece for piece in proto.pieces if piece.type in (kinds.NORMAL, kinds.USER_DEFINED)]
        return cls(pieces, (" ", SPACE_MARK), at_spaces=at_spaces)

    def starts(self, text: str) -> list[int]:
        """Byte offsets in `text` where an encoding of it may be cut: 0 and every point between two characters
        (as the model sees them, after the normaliser) that no token or added token holds side by side."""
        if self.replace is not None:
            old, new = self.replace
            seen = [new if char == old else char for char in text]
        else:
            seen = list(text)
        blocked = {start + len(content) for content in self.not_after for start in _occurrences(text, content)}
        found, position = [0], 0
        for i, char in enumerate(text):
            if (i and seen[i - 1] and seen[i] and (seen[i - 1][-1], seen[i][0]) not in self.joined
                    and (char == " " or not self.at_spaces) and i not in blocked):
                found.append(position)
            position += len(char.encode("utf-8"))
        return found


def _occurrences(text: str, content: str) -> list[int]:
    """Where `content` occurs in `text` (character offsets, overlapping ones too)."""
    found, start = [], text.find(content)
    while start >= 0:
        found.append(start)
        start = text.find(content, start + 1)
    return found
