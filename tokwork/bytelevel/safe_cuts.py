"""Points a BPE tokenizer without a pre-tokenizer never merges across, so that long texts are encoded in
windows (Gemma 3).

A BPE model's tokens are all in its vocabulary, so between two characters that no token holds side by side
no merge can cross, and no added token is matched across them when none holds them side by side either:
the encoding of the text is the encoding of what comes before that point followed by the encoding of what
comes after. Gemma 3 has no pre-tokenizer in effect (its normaliser turns spaces into "▁", and its split
on spaces then finds none), so without these points every prefix of a text is encoded whole and the work
grows with the square of the text's length; with them a prefix is encoded from a few points back, as the
pre-tokenized tokenizers are (`canonical.py`). Covered: the tokenizers `fallback_cuts.py` covers (byte
fallback, so that no unknown-token fusing joins characters either).
"""

from __future__ import annotations

from tokwork.bytelevel.fallback_cuts import byte_fallback_parts


class SafeCuts:
    """The points of a text that a BPE tokenizer's merges never cross; build with `for_tokenizer`."""

    def __init__(self, pieces: list[str], replace: tuple[str, str] | None):
        self.replace = replace
        joined = "\x00".join(pieces)  # one string: its pairs are those of the pieces, and some with NUL
        self.joined = set(zip(joined, joined[1:], strict=False))

    @classmethod
    def for_tokenizer(cls, tokenizer) -> SafeCuts | None:
        """The cuts of a `tokenizer.json` BPE with byte fallback as `fallback_cuts.py` covers, None for any
        other tokenizer."""
        found = byte_fallback_parts(tokenizer)
        if found is None:
            return None
        model, replace, _ = found
        byte_pieces = {f"<0x{b:02X}>" for b in range(256)}  # single bytes, whatever their names spell
        pieces = [piece for piece in model["vocab"] if piece not in byte_pieces]
        for token in tokenizer.spec.get("added_tokens", []):  # as matched on the raw text, and normalised
            content = token.get("content") or ""
            pieces += [content, content.replace(*replace)] if replace else [content]
        return cls(pieces, replace)

    def starts(self, text: str) -> list[int]:
        """Byte offsets in `text` where an encoding of it may be cut: 0 and every point between two characters
        (as the model sees them, after the normaliser) that no token or added token holds side by side."""
        if self.replace is not None:
            old, new = self.replace
            seen = [new if char == old else char for char in text]
        else:
            seen = list(text)
        found, position = [0], 0
        for i, char in enumerate(text):
            if i and seen[i - 1] and seen[i] and (seen[i - 1][-1], seen[i][0]) not in self.joined:
                found.append(position)
            position += len(char.encode("utf-8"))
        return found
