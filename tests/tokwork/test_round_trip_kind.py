"""`Tokenizer.round_trip`: whether an encoding decodes to the text, to its normalised form, or to neither."""

from __future__ import annotations

import unicodedata


def test_exact_normalized_and_lost(reference_tokenizer):
    gpt2, qwen3 = reference_tokenizer("gpt2"), reference_tokenizer("qwen3")
    decomposed = unicodedata.normalize("NFD", "café naïve")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    assert gpt2.round_trip(decomposed, gpt2.encode(decomposed)) == "exact"  # byte-level, no normaliser
    assert qwen3.round_trip(decomposed, qwen3.encode(decomposed)) == "normalized"  # NFC first
    assert qwen3.decode(qwen3.encode(decomposed)) == unicodedata.normalize("NFC", decomposed)
    text = "one text"
    assert gpt2.round_trip(text, gpt2.encode("another text")) == "lost"
