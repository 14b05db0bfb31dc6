"""An independent, slow reference for the byte-level layer: enumerate every covering token sequence.

Nothing here shares code with `tokwork.bytelevel`: token sequences are enumerated by recursion over the
vocabulary, canonicity is decided by calling the tokenizer on the text (or on every completion of a cut
character), and each sequence's probability comes from a full forward of the model without any cache.
"""

from __future__ import annotations

import functools

import numpy as np
import torch


class BruteForce:
    def __init__(self, model, tokenizer, start_ids, end_id, *, dummy_prefix: bool = False):
        """With `dummy_prefix` the token stream spells " " + text (Llama-2 style SentencePiece): byte
        strings here are stream bytes, and a stream prefix is canonical when it is " " + E(text)."""
        self.model = model
        self.strip = 1 if dummy_prefix else 0
        self.tokenizer = tokenizer
        rows = model.get_output_embeddings().weight.shape[0]
        view = tokenizer.byte_view
        self.tokens = {i: view[i] for i in range(min(len(view), rows)) if view[i]}
        self.start = list(start_ids)
        self.end = end_id

    @functools.cache  # noqa: B019 - one instance per test session
    def log_distribution(self, seq: tuple[int, ...]) -> np.ndarray:
        with torch.no_grad():
            logits = self.model(torch.tensor([self.start + list(seq)])).logits[0, -1]
        return torch.log_softmax(logits.double(), -1).numpy()

    def log_probability(self, seq: tuple[int, ...]) -> float:
        return sum(self.log_distribution(seq[:k])[seq[k]] for k in range(len(seq)))

    @functools.cache  # noqa: B019
    def spellings(self, data: bytes) -> list[tuple[int, ...]]:
        """Every token sequence whose bytes are exactly `data`."""
        if not data:
            return [()]
        found = []
        for token, piece in self.tokens.items():
            if data.startswith(piece):
                found.extend((token, *rest) for rest in self.spellings(data[len(piece):]))
        return found

    @functools.cache  # noqa: B019
    def completed_encodings(self, head: bytes, cut: bytes) -> list[tuple[int, ...]]:
        """The tokenizer's encodings of `head` followed by every character that starts with `cut`."""
        lead = cut[0]
        if lead >= 0xF0:
            codes = range((lead & 0x07) << 18, ((lead & 0x07) << 18) + (1 << 18))
        elif lead >= 0xE0:
            codes = range((lead & 0x0F) << 12, ((lead & 0x0F) << 12) + (1 << 12))
        else:
            codes = range((lead & 0x1F) << 6, ((lead & 0x1F) << 6) + (1 << 6))
        texts = []
        for code in codes:
            try:
                encoded = chr(code).encode("utf-8")
            except (UnicodeEncodeError, ValueError):
                continue
            if encoded.startswith(cut) and encoded != cut:
                texts.append(head.decode("utf-8") + chr(code))
        return [tuple(ids) for ids in self.tokenizer.encode_batch(texts)]  # as encode, one text at a time

    @functools.cache  # noqa: B019
    def canonical(self, seq: tuple[int, ...]) -> bool:
        data = b"".join(self.tokens[t] for t in seq)
        if not seq:
            return True
        if self.strip and not data.startswith(b" "):
            return False
        if self.strip and data == b" ":
            return seq in self.space_cuts
        text = data[self.strip:]
        try:
            return tuple(self.tokenizer.encode(text.decode("utf-8"))) == seq
        except UnicodeDecodeError as err:
            if err.end != len(text) or err.reason != "unexpected end of data":
                return False
            start = err.start + self.strip
        return seq in self.completed_cuts(data[:self.strip], data[self.strip:start], data[start:])

    @functools.cached_property
    def space_cuts(self) -> set[tuple[int, ...]]:
        """The token prefixes spelling exactly the dummy-prefix space in the encodings of one-character
        texts: each character a token starts with (after its leading space, if any) and U+E000, a
        private-use character no vocabulary has. No text is the space alone, so these are the tokenizer's
        own steps through it, as for a cut character."""
        chars = {"\ue000"}
        for piece in self.tokens.values():
            for part in (piece, piece[1:] if piece.startswith(b" ") else b""):
                decoded = part.decode("utf-8", errors="ignore")
                if decoded:
                    chars.add(decoded[0])
        return self.cuts_spelling(self.tokenizer.encode_batch(sorted(chars)), b" ")

    @functools.cache  # noqa: B019
    def completed_cuts(self, lead: bytes, head: bytes, cut: bytes) -> set[tuple[int, ...]]:
        """The token prefixes spelling exactly `lead` + `head` + `cut` in the encodings of `head` followed
        by every character that starts with `cut` (`lead`: the dummy-prefix space, if any)."""
        return self.cuts_spelling(self.completed_encodings(head, cut), lead + head + cut)

    def cuts_spelling(self, encodings, data: bytes) -> set[tuple[int, ...]]:
        """The distinct token prefixes of `encodings` whose bytes are exactly `data`."""
        found = set()
        for ids in encodings:
            spelled, taken = b"", []
            for token in ids:
                if len(spelled) >= len(data):
                    break
                spelled += self.tokens.get(token, b"\x00" * 99)
                taken.append(token)
            if spelled == data:
                found.add(tuple(taken))
        return found

    def prefix_mass(self, x: bytes) -> float:
        """P(x): every cover with a canonical committed part."""
        if not x:
            return 1.0
        total = 0.0
        for j in range(len(x)):
            for seq in self.spellings(x[:j]):
                if not self.canonical(seq):
                    continue
                rest = x[j:]
                probs = np.exp(self.log_distribution(seq))
                last = sum(probs[t] for t, piece in self.tokens.items() if piece.startswith(rest))
                total += np.exp(self.log_probability(seq)) * last
        return total

    def next_byte_probs(self, prefix: bytes) -> np.ndarray:
        """P(b | prefix) over 256 bytes and end of text: covers of prefix·b, committed part within prefix."""
        masses = np.zeros(257)
        for j in range(len(prefix) + 1):
            rest = prefix[j:]
            for seq in self.spellings(prefix[:j]):
                if not self.canonical(seq):
                    continue
                weight = np.exp(self.log_probability(seq))
                probs = np.exp(self.log_distribution(seq))
                for token, piece in self.tokens.items():
                    if len(piece) > len(rest) and piece.startswith(rest):
                        masses[piece[len(rest)]] += weight * probs[token]
        try:
            encoded = tuple(self.tokenizer.encode(prefix[self.strip:].decode("utf-8")))
        except UnicodeDecodeError:
            encoded = None
        if encoded is not None and self.end is not None and self.spelled(encoded) == prefix:
            masses[256] = np.exp(self.log_probability(encoded) + self.log_distribution(encoded)[self.end])
        for b in range(256):  # only bytes that keep the prefix a prefix of UTF-8 text
            try:
                (prefix + bytes([b])).decode("utf-8")
            except UnicodeDecodeError as err:
                if err.reason != "unexpected end of data" or err.end != len(prefix) + 1:
                    masses[b] = 0.0
        return masses / masses.sum()

    def spelled(self, seq):
        return b"".join(self.tokens.get(t, b"") for t in seq)
