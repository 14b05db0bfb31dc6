"""A three-sentence parallel toy corpus and two hand-checkable byte-level BPE tokenizers for the metrics.

`toy` knows the English words of the corpus as whole tokens (` cat` is one token) and nothing else, so
English costs one token per word or full stop, and Greek, whose letters are two UTF-8 bytes each, costs
one token per byte. `bytes` has no merges at all: one token per byte in every language.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models

from tokwork.byteview import byte_to_unicode
from tokwork.split_patterns import byte_level_pretokenizer

TOY_TEXTS = {
    "eng": ["the cat sat.", "the dog ran.", "a cat ran."],
    "ell": ["η γάτα κάθισε.", "ο σκύλος έτρεξε.", "μια γάτα έτρεξε."],
}
TOY_WORDS = ["the", " cat", " sat", " dog", " ran"]


def byte_level_bpe(words: list[str]) -> Tokenizer:
    """Byte-level BPE over GPT-2's byte alphabet whose only merges spell `words` left to right."""
    alphabet = byte_to_unicode()
    vocab = {alphabet[b]: i for i, b in enumerate(range(256))}
    merges = []
    for word in words:
        symbols = [alphabet[b] for b in word.encode("utf-8")]
        left = symbols[0]
        for right in symbols[1:]:
            merges.append((left, right))
            left += right
            vocab.setdefault(left, len(vocab))
    backend = Tokenizer(models.BPE(vocab, merges))
    backend.pre_tokenizer = byte_level_pretokenizer(None)
    backend.decoder = decoders.ByteLevel()
    return backend


def write_parallel(folder: Path, texts: dict[str, list[str]], scripts: dict[str, str]) -> Path:
    """Write `<code>.txt` files (blocks separated by one blank line) and a `languages.tsv`."""
    folder.mkdir(parents=True, exist_ok=True)
    for code, blocks in texts.items():
        (folder / f"{code}.txt").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    rows = ["code\tbcp47\tname\tscript"] + [f"{c}\t\t{c}-name\t{scripts[c]}" for c in texts]
    (folder / "languages.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def toy_corpus(tmp_path_factory) -> Path:
    return write_parallel(tmp_path_factory.mktemp("toy") / "corpus", TOY_TEXTS, {"eng": "Latn", "ell": "Grek"})


@pytest.fixture(scope="session")
def toy_tokenizers(tmp_path_factory) -> dict[str, str]:
    """name -> tokenizer.json path: `toy` (English words merged) and `bytes` (no merges)."""
    folder = tmp_path_factory.mktemp("toy-tokenizers")
    paths = {}
    for name, words in (("toy", TOY_WORDS), ("bytes", [])):
        path = folder / f"{name}.json"
        byte_level_bpe(words).save(str(path))
        paths[name] = str(path)
    return paths


@pytest.fixture(scope="session")
def toy_lexicon(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("lexicon") / "eng.txt"
    path.write_text("The\ncat\t120\ndog\n", encoding="utf-8")
    return str(path)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def letters_tokenizer(path: Path) -> Path:
    """A unigram model of the English toy letters without byte fallback: each Greek word is one unknown
    token (a tokenizer whose tokens do not all stand for text)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    letters = sorted(set("".join(TOY_TEXTS["eng"])) - {" "})
    backend = Tokenizer(models.Unigram([("<unk>", 0.0), ("▁", -2.0)] + [(c, -3.0) for c in letters], unk_id=0))
    backend.pre_tokenizer, backend.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    backend.add_special_tokens(["<unk>"])
    backend.save(str(path))
    return path
