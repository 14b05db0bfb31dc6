"""Pico tokenizers and models for transplant tests: built in the test, small enough to run in a second.

The source tokenizer spells tokens in GPT-2's byte alphabet (`Ġx`); the target in SentencePiece's (`▁x`,
`<0x41>` byte-fallback pieces), so that matching through the byte view is what the tests exercise.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tokenizers import AddedToken, decoders, models, normalizers, pre_tokenizers
from tokenizers import Tokenizer as BackendTokenizer

import tokwork.pico
from tokwork import load_tokenizer
from tokwork.byteview import bytes_to_byte_level
from tokwork.progress import transformers_bars_off

SOURCE_TOKENS = [b"a", b"b", b"c", b"d", b"e", b"h", b"l", b"o", b"r", b"w", b"x", b"z", b"A", b" ", b" x",
                 b"he", b"ll", b"hell", b"hello", b" world", b" w", b"or", b"ld", b"\n", b"\xc3", b"\xa9"]
# Target: SentencePiece spelling. `<0x41>` is `A`, `▁x` is ` x`, `▁world` is ` world`; `zz`, `▁hello`,
# `worldly` and `é` are new.
TARGET_PIECES = ["a", "b", "c", "d", "e", "h", "l", "o", "r", "w", "x", "z", "<0x41>", "▁", "▁x", "he",
                 "hello", "▁world", "zz", "▁hello", "ly", "é", "<0x0A>", "<0xC3>", "<0xA9>"]


def _save(backend: BackendTokenizer, folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    backend.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def byte_level_tokenizer(folder: Path, tokens: list[bytes] = SOURCE_TOKENS) -> Path:
    """A GPT-2 style byte-level BPE folder: `<|endoftext|>` (bos and eos) then `tokens`."""
    vocab = {"<|endoftext|>": 0}
    for piece in tokens:
        vocab.setdefault(bytes_to_byte_level(piece), len(vocab))
    backend = BackendTokenizer(models.BPE(vocab, [], ignore_merges=True))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    return _save(backend, folder, {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                                   "tokenizer_class": "PreTrainedTokenizerFast"})


def sentencepiece_style_tokenizer(folder: Path, pieces: list[str] = TARGET_PIECES) -> Path:
    """A Llama-2 style tokenizer.json: `▁` for spaces, byte fallback, `<unk>`, `<s>` (bos), `</s>` (eos)."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for piece in pieces:
        vocab.setdefault(piece, len(vocab))
    backend = BackendTokenizer(models.BPE(vocab, [], unk_token="<unk>", byte_fallback=True, ignore_merges=True))
    backend.normalizer = normalizers.Replace(" ", "▁")
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    backend.add_special_tokens([AddedToken(t, special=True) for t in ("<unk>", "<s>", "</s>")])
    return _save(backend, folder, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                                   "tokenizer_class": "PreTrainedTokenizerFast"})


def pico_model(folder: Path, *, kind: str = "llama", tied: bool = True, rows: int, seed: int = 0) -> Path:
    """A random 2-layer model (hidden 32) with `rows` embedding rows, saved as safetensors in `folder`.

    The initialiser is transformers' default (0.02); an untied head is redrawn wider (0.5) so that it is
    clearly not the input matrix; `<|endoftext|>` (id 0) is bos and eos, as in `byte_level_tokenizer`.
    """
    model = tokwork.pico.pico_model(rows, kind=kind, seed=seed, tied=tied, spread=0.02, head_spread=0.5,
                                    max_positions=128, end_of_text_id=0, dtype=torch.float32)
    with transformers_bars_off():  # the saving bar would land in the calling test's captured stderr
        model.save_pretrained(folder)
    return folder


@pytest.fixture(autouse=True)
def one_thread():
    """Pico models are tiny: one torch thread is faster, and immune to a busy machine's other threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def pico(tmp_path):
    """Build a source checkpoint (tokenizer + pico model) and a target tokenizer; returns their folders."""

    def build(*, kind: str = "llama", tied: bool = True, padding: int = 0):
        source = byte_level_tokenizer(tmp_path / f"source-{kind}-{tied}-{padding}")
        rows = load_tokenizer(source).vocab_size + padding
        pico_model(source, kind=kind, tied=tied, rows=rows)
        target = sentencepiece_style_tokenizer(tmp_path / "target")
        return source, target

    return build
